//! Sign-in and sign-out, the operators page (admins only) and the pages that only say
//! something (refusals, errors).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use console_kit::session::{same_secret, sign_in_csrf_cookie};
use console_kit::tls::Peer;
use console_kit::web::cookie;
use serde::Deserialize;

use super::auth::{self, SIGN_IN_COOKIE, SignIn, Signed};
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleForm, ConsoleState};

/// A page that only says something (errors, refusals).
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub t: &'static Msgs,
    pub signed: Option<Signed>,
    pub title: &'static str,
    pub text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignInPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    error: Option<&'static str>,
    name: String,
    csrf: String,
}

/// The sign-in form. Its CSRF token is a cookie and a field that must match (no session yet).
fn sign_in_page(
    state: &ConsoleState,
    t: &'static Msgs,
    status: StatusCode,
    error: Option<&'static str>,
    name: String,
) -> Response {
    let Ok(csrf) = console_kit::session::random_hex() else {
        return ConsoleError::Unavailable(t).into_response();
    };
    let set = sign_in_csrf_cookie(SIGN_IN_COOKIE, &csrf, state.https);
    let page = SignInPage {
        t,
        signed: None,
        error,
        name,
        csrf,
    };
    (status, [(header::SET_COOKIE, set)], page).into_response()
}

pub async fn sign_in_form(
    State(state): State<ConsoleState>,
    parts: axum::http::request::Parts,
) -> Response {
    sign_in_page(
        &state,
        auth::language(&parts),
        StatusCode::OK,
        None,
        String::new(),
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn sign_in(
    State(state): State<ConsoleState>,
    ConnectInfo(Peer(from)): ConnectInfo<Peer>,
    parts: axum::http::request::Parts,
    ConsoleForm(form): ConsoleForm<SignInForm>,
) -> Result<Response, ConsoleError> {
    let t = auth::language(&parts);
    let expected = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, &form.csrf) {
        return Err(ConsoleError::Csrf(t));
    }
    // A browser signing in again (perhaps as someone else) drops the session it had.
    state
        .sign_out(&parts.headers)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let outcome = state
        .sign_in(&form.name, &form.password, &from.to_string())
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    Ok(match outcome {
        SignIn::Session(id) => (
            [(header::SET_COOKIE, state.session_cookie(Some(&id)))],
            Redirect::to("/compliance"),
        )
            .into_response(),
        SignIn::WrongNameOrPassword => sign_in_page(
            &state,
            t,
            StatusCode::UNAUTHORIZED,
            Some(t.bad_sign_in),
            form.name,
        ),
        SignIn::Locked | SignIn::LockedNow { .. } => sign_in_page(
            &state,
            t,
            StatusCode::FORBIDDEN,
            Some(t.locked_out),
            form.name,
        ),
        SignIn::Unavailable => ConsoleError::Unavailable(t).into_response(),
    })
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<ConsoleState>,
    signed: Signed,
    headers: HeaderMap,
    ConsoleForm(form): ConsoleForm<CsrfForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    state
        .sign_out(&headers)
        .await
        .map_err(|error| ConsoleError::from_store(error, signed.t))?;
    tracing::info!(operator = %signed.operator, "province console sign-out");
    Ok((
        [(header::SET_COOKIE, state.session_cookie(None))],
        Redirect::to("/sign-in"),
    )
        .into_response())
}

pub async fn not_found(parts: axum::http::request::Parts) -> ConsoleError {
    ConsoleError::NotFound(auth::language(&parts))
}

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
    rows: Vec<AccountRow>,
}

/// The registry's console operators (admins only): name, role, failures, lock.
pub async fn operators(
    State(state): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    signed.check_may_administer()?;
    let t = signed.t;
    let now = mpx_proto::time::now_unix_ms();
    let rows = state
        .accounts()
        .list()
        .await
        .map_err(|error| ConsoleError::from_store(error.into(), t))?
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
    Ok(OperatorsPage {
        t,
        signed: Some(signed),
        rows,
    }
    .into_response())
}
