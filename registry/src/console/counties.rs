//! 县区管理 (/counties): the directory's counties (status, endpoint, enrolled, certificate
//! fingerprint) for every role, and for admins the enrolment of a county: a one-time token,
//! shown once, issued by the same function as `registry enroll`
//! ([`crate::service::enrollment::issue_enrollment_token`]).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleForm, ConsoleState};
use crate::service::enrollment::{IssueTokenError, county_of_province, issue_enrollment_token};

struct CountyRow {
    county: String,
    name: String,
    status: &'static str,
    endpoint: String,
    enrolled: String,
    fingerprint: String,
}

/// A token just issued, shown this once.
struct Issued {
    county: String,
    token: String,
    ttl_hours: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "counties.html")]
struct CountiesPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    rows: Vec<CountyRow>,
    issued: Option<Issued>,
    county: String,
    name: String,
    /// Field → message.
    errors: BTreeMap<&'static str, String>,
}

impl CountiesPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

async fn counties_page(
    state: &ConsoleState,
    signed: Signed,
    issued: Option<Issued>,
    form: EnrolForm,
    errors: BTreeMap<&'static str, String>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let rows = state
        .store
        .list_nodes()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?
        .into_iter()
        .map(|node| CountyRow {
            status: match node.status.as_str() {
                "active" => t.status_active,
                "revoked" => t.status_revoked,
                _ => t.status_pending,
            },
            enrolled: t.date(node.enrolled_at_unix_ms),
            fingerprint: node.certificate_sha256.chars().take(16).collect(),
            county: node.county,
            name: node.name,
            endpoint: node.endpoint,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = CountiesPage {
        t,
        signed: Some(signed),
        rows,
        issued,
        county: form.county,
        name: form.name,
        errors,
    };
    Ok((status, page).into_response())
}

pub async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    counties_page(&state, signed, None, EnrolForm::default(), BTreeMap::new()).await
}

#[derive(Debug, Default, Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    county: String,
    #[serde(default)]
    name: String,
}

/// Enrols a county (admins only): the token is shown once and stored hashed.
pub async fn enrol(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<EnrolForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.check_may_administer()?;
    let t = signed.t;
    let county = match county_of_province(&form.county, state.province) {
        Ok(county) => county,
        Err(reason) => {
            let errors = BTreeMap::from([("county", format!("{}（{reason}）", t.expect_county))]);
            return counties_page(&state, signed, None, form, errors).await;
        }
    };
    let now = mpx_proto::time::now_unix_ms();
    let ttl_hours = state.enrollment_token_ttl_hours;
    let token =
        match issue_enrollment_token(&state.store, &county, &form.name, ttl_hours, now).await {
            Ok(token) => token,
            Err(IssueTokenError::Store(error)) => return Err(ConsoleError::from_store(error, t)),
            Err(error) => {
                tracing::error!(%error, "province console: no enrolment token");
                return Err(ConsoleError::Unavailable(t));
            }
        };
    tracing::info!(operator = %signed.operator, %county, "province console: enrolment token issued");
    let issued = Issued {
        county: county.to_string(),
        token,
        ttl_hours,
    };
    counties_page(
        &state,
        signed,
        Some(issued),
        EnrolForm::default(),
        BTreeMap::new(),
    )
    .await
}
