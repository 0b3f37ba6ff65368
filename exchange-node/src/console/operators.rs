//! Console operators: the rules for a name, a role and a password, written once for the
//! command line (`operator add --role`, `operator unlock`) and the admin's page (/operators),
//! and that page. Each change made in the console is recorded as a security event naming the
//! admin who made it.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{Role, Signed};
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleForm, ConsoleQuery, ConsoleState};
use console_kit::accounts::{OperatorAccount, PutOperatorError};

pub use console_kit::accounts::OperatorRefusal;
pub use console_kit::password::{MAX_NAME_CHARS, MIN_PASSWORD_CHARS};

// ---- the admin's page -----------------------------------------------------------------------

struct AccountRow {
    name: String,
    role: &'static str,
    failed: i64,
    locked: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "operators.html")]
struct OperatorsPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    csrf: String,
    rows: Vec<AccountRow>,
    done: bool,
    name: String,
    /// Field → message.
    errors: BTreeMap<&'static str, String>,
}

impl OperatorsPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

fn admin_only(signed: &Signed) -> Result<(), ConsoleError> {
    if signed.role == Role::Admin {
        Ok(())
    } else {
        Err(ConsoleError::Role(signed.t))
    }
}

async fn operators_page(
    state: &ConsoleState,
    signed: Signed,
    done: bool,
    name: String,
    errors: BTreeMap<&'static str, String>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let now = state.workflow.clock().now_unix_ms();
    let accounts: Vec<OperatorAccount> = state
        .accounts()
        .list()
        .await
        .map_err(|error| ConsoleError::from_store(error.into(), t))?;
    let rows = accounts
        .into_iter()
        .map(|account| AccountRow {
            role: t.role(&account.role),
            failed: account.failed_sign_ins,
            locked: if account.locked_until_unix_ms > now {
                t.instant(account.locked_until_unix_ms)
            } else {
                String::new()
            },
            name: account.name,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = OperatorsPage {
        t,
        csrf: signed.csrf.clone(),
        signed: Some(signed),
        rows,
        done,
        name,
        errors,
    };
    Ok((status, page).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<DoneQuery>,
) -> Result<Response, ConsoleError> {
    admin_only(&signed)?;
    operators_page(
        &state,
        signed,
        query.done.is_some(),
        String::new(),
        BTreeMap::new(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// Records who changed which operator, as a security event.
async fn record_change(
    state: &ConsoleState,
    signed: &Signed,
    detail: String,
) -> Result<(), ConsoleError> {
    state
        .store()
        .record_security_event(
            &format!("console admin {}", signed.operator),
            "console_operator_changed",
            &detail,
        )
        .await
        .map_err(|error| ConsoleError::from_store(error, signed.t))
}

pub async fn add(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<OperatorForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    admin_only(&signed)?;
    let t = signed.t;
    if form.password != form.password_again {
        let errors = BTreeMap::from([("password", t.passwords_differ.to_string())]);
        return operators_page(&state, signed, false, form.name, errors).await;
    }
    let now = state.workflow.clock().now_unix_ms();
    let put = state
        .accounts()
        .put_operator::<Role>(&form.name, &form.role, &form.password, now)
        .await;
    match put {
        Ok((name, role)) => {
            record_change(
                &state,
                &signed,
                format!("operator {name:?} set to role {}", role.label()),
            )
            .await?;
            Ok(Redirect::to("/operators?done=1").into_response())
        }
        Err(PutOperatorError::Refused(refusal)) => {
            let message = t.refusal(refusal.field(), &refusal.to_string());
            let errors = BTreeMap::from([(refusal.field(), message)]);
            operators_page(&state, signed, false, form.name, errors).await
        }
        Err(PutOperatorError::Database(error)) => Err(ConsoleError::from_store(error.into(), t)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn unlock(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<UnlockForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    admin_only(&signed)?;
    let t = signed.t;
    let found = state
        .accounts()
        .clear_failed_sign_ins(form.name.trim())
        .await
        .map_err(|error| ConsoleError::from_store(error.into(), t))?;
    if !found {
        return Err(ConsoleError::NotFound(t));
    }
    record_change(
        &state,
        &signed,
        format!("operator {:?} unlocked", form.name.trim()),
    )
    .await?;
    Ok(Redirect::to("/operators?done=1").into_response())
}
