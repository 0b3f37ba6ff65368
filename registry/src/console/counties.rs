//! 县区管理 (/counties): the directory's counties grouped by prefecture (市/州, from the shipped
//! GB/T 2260 table: no map), each with its status, endpoint, enrolment, certificate fingerprint
//! and expiry (within 30 days or past: marked in words), for every role; for admins the
//! enrolment of a county — a one-time token, shown once, issued by the same function as
//! `registry enroll` ([`crate::service::enrollment::issue_enrollment_token`]) — and its
//! revocation, by the store function `registry revoke` calls ([`crate::store::Store::revoke_county`]).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mpx_proto::text::{Shape, limits};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleForm, ConsoleQuery, ConsoleState};
use crate::service::enrollment::{IssueTokenError, county_of_province, issue_enrollment_token};
use crate::store::NodeRecord;

/// A certificate this close to its end is marked for renewal.
pub(super) const RENEW_WITHIN_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// A node certificate's end, as shown: the day, what it means, and the class that repeats it.
pub(super) struct Expiry {
    pub date: String,
    pub note: String,
    /// `state-bad` (expired or none), `state-warn` (within 30 days) or `state-ok`.
    pub class: &'static str,
}

/// When the certificate in `certificate_pem` ends, relative to `now`, in words.
pub(super) fn expiry(t: &'static Msgs, certificate_pem: &str, now_unix_ms: i64) -> Expiry {
    let not_after = mpx_proto::identity::certificate_der_from_pem(certificate_pem)
        .ok()
        .and_then(|der| mpx_proto::identity::certificate_not_after_unix_ms(&der));
    let Some(not_after) = not_after else {
        return Expiry {
            date: "—".into(),
            note: t.no_certificate.into(),
            class: "state-bad",
        };
    };
    let days_left = (not_after - now_unix_ms).div_euclid(DAY_MS);
    let (note, class) = if not_after <= now_unix_ms {
        (t.certificate_expired.to_string(), "state-bad")
    } else if days_left < RENEW_WITHIN_DAYS {
        (
            format!("{days_left} {}，{}", t.days_left, t.expires_within_30),
            "state-warn",
        )
    } else {
        (format!("{days_left} {}", t.days_left), "state-ok")
    };
    Expiry {
        date: t.date(not_after),
        note,
        class,
    }
}

/// The prefecture (市/州) of a county, code and name, from the shipped table; `None` for a
/// county under none (directly under the province) or a code the table does not know.
pub(super) fn prefecture_of(county: &str) -> Option<(String, String)> {
    let code = mpx_proto::division::CountyCode::parse(county).ok()?;
    mpx_proto::division::DivisionTable::shipped()
        .prefecture_of(&code)
        .map(|(code, name)| (code.to_string(), name.to_string()))
}

/// A county's name: the directory's, else the shipped table's, else nothing.
pub(super) fn county_name(county: &str, directory_name: &str) -> String {
    if !directory_name.trim().is_empty() {
        return directory_name.to_string();
    }
    mpx_proto::division::DivisionTable::shipped()
        .county_name(county)
        .unwrap_or_default()
        .to_string()
}

/// The state of a node in words.
pub(super) fn status_text(t: &'static Msgs, status: &str) -> &'static str {
    match status {
        "active" => t.status_active,
        "revoked" => t.status_revoked,
        _ => t.status_pending,
    }
}

struct CountyRow {
    county: String,
    name: String,
    status: &'static str,
    revoked: bool,
    endpoint: String,
    enrolled: String,
    fingerprint: String,
    expiry: Expiry,
}

/// The counties of one prefecture (or of none).
struct PrefectureGroup {
    code: String,
    name: String,
    rows: Vec<CountyRow>,
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
    groups: Vec<PrefectureGroup>,
    /// Counties an admin may revoke (active ones): code and name.
    revocable: Vec<(String, String)>,
    issued: Option<Issued>,
    /// A county just revoked (after the redirect).
    revoked: Option<String>,
    county: String,
    name: String,
    revoke: RevokeForm,
    /// Field → message.
    errors: BTreeMap<&'static str, String>,
}

impl CountiesPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// The directory's counties by prefecture (in code order; those under none last).
fn groups_of(t: &'static Msgs, nodes: &[NodeRecord], now: i64) -> Vec<PrefectureGroup> {
    let mut groups: BTreeMap<(bool, String), PrefectureGroup> = BTreeMap::new();
    for node in nodes {
        let (code, name) = prefecture_of(&node.county)
            .unwrap_or_else(|| (String::new(), t.no_prefecture.to_string()));
        let group = groups
            .entry((code.is_empty(), code.clone()))
            .or_insert_with(|| PrefectureGroup {
                code,
                name,
                rows: Vec::new(),
            });
        group.rows.push(CountyRow {
            status: status_text(t, &node.status),
            revoked: node.status == "revoked",
            enrolled: t.date(node.enrolled_at_unix_ms),
            fingerprint: node.certificate_sha256.chars().take(16).collect(),
            expiry: expiry(t, &node.certificate_pem, now),
            name: county_name(&node.county, &node.name),
            county: node.county.clone(),
            endpoint: node.endpoint.clone(),
        });
    }
    groups.into_values().collect()
}

async fn counties_page(
    state: &ConsoleState,
    signed: Signed,
    shown: Shown,
    errors: BTreeMap<&'static str, String>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let nodes = state
        .store
        .list_nodes()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let revocable = nodes
        .iter()
        .filter(|node| node.status == "active")
        .map(|node| (node.county.clone(), county_name(&node.county, &node.name)))
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = CountiesPage {
        t,
        signed: Some(signed),
        groups: groups_of(t, &nodes, mpx_proto::time::now_unix_ms()),
        revocable,
        issued: shown.issued,
        revoked: shown.revoked.filter(|code| {
            nodes
                .iter()
                .any(|node| &node.county == code && node.status == "revoked")
        }),
        county: shown.enrol.county,
        name: shown.enrol.name,
        revoke: shown.revoke,
        errors,
    };
    Ok((status, page).into_response())
}

/// What the page shows besides the directory: a token just issued, a revocation just done, and
/// the forms as last sent (after a refusal).
#[derive(Default)]
struct Shown {
    issued: Option<Issued>,
    revoked: Option<String>,
    enrol: EnrolForm,
    revoke: RevokeForm,
}

/// `?revoked=CODE`: where a revocation redirects to.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    revoked: String,
}

pub async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<ListQuery>,
) -> Result<Response, ConsoleError> {
    let shown = Shown {
        revoked: (!query.revoked.is_empty()).then_some(query.revoked),
        ..Shown::default()
    };
    counties_page(&state, signed, shown, BTreeMap::new()).await
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
            let shown = Shown {
                enrol: form,
                ..Shown::default()
            };
            return counties_page(&state, signed, shown, errors).await;
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
    let shown = Shown {
        issued: Some(Issued {
            county: county.to_string(),
            token,
            ttl_hours,
        }),
        ..Shown::default()
    };
    counties_page(&state, signed, shown, BTreeMap::new()).await
}

#[derive(Debug, Default, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    county: String,
    #[serde(default)]
    reason: String,
    /// The confirmation box: `yes` when ticked.
    #[serde(default)]
    confirm: String,
}

/// Revokes a county's certificate (admins only), as `registry revoke` does, and records who did
/// it and why in the audit chain; then back to the list (Post/Redirect/Get). A form without a
/// reason or the confirmation is shown again with the field's error, and changes nothing.
pub async fn revoke(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<RevokeForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.check_may_administer()?;
    let t = signed.t;
    let mut errors = BTreeMap::new();
    let nodes = state
        .store
        .list_nodes()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let county = form.county.trim().to_string();
    if !nodes
        .iter()
        .any(|node| node.county == county && node.status == "active")
    {
        errors.insert("revoke_county", t.expect_enrolled_county.to_string());
    }
    let reason = match mpx_proto::text::check(&form.reason, limits::REASON, Shape::Multiline, false)
    {
        Ok(reason) => reason,
        Err(_) => {
            errors.insert("reason", t.expect_reason.to_string());
            String::new()
        }
    };
    if form.confirm != "yes" {
        errors.insert("confirm", t.expect_confirm.to_string());
    }
    if !errors.is_empty() {
        let shown = Shown {
            revoke: form,
            ..Shown::default()
        };
        return counties_page(&state, signed, shown, errors).await;
    }
    let now = mpx_proto::time::now_unix_ms();
    let fingerprint = state
        .store
        .revoke_county(&county, &reason, now)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    state
        .store
        .audit(&signed.operator, "revoke county", &reason, &county, 1)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    tracing::info!(operator = %signed.operator, %county, %fingerprint, "province console: county certificate revoked");
    Ok(Redirect::to(&format!("/counties?revoked={county}")).into_response())
}
