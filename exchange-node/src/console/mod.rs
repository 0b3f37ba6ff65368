//! The county web console: server-rendered pages in Chinese (English switchable) over the same
//! calls the gRPC operator API makes. Thin: a handler turns a form into a call of the operator
//! services in [`crate::service`] (in process, as the signed-in operator), so validation, the
//! working-day figures and the audit of every read of personal data are theirs, written once.
//!
//! # Layout
//!
//! - [`i18n`]: the words, one table per language; dates.
//! - [`auth`]: passwords, sessions, CSRF, lock-out, roles.
//! - [`pages`]: sign-in, the start page (工作台), open alerts; reading cases for the pages.
//! - [`live`]: the open alerts page's live rows (server-sent events) and the script that adds
//!   them.
//! - [`directory`]: the counties of the province directory with their routes and queued
//!   messages, and this node's health (目录与状态).
//! - [`lists`]: the inbox and outbox (收件箱 / 发件箱), and their CSV export.
//! - [`case`]: a case with its timeline and actions; a new request (新建协查).
//! - [`operators`]: the rules for operator accounts (shared with the command line) and the
//!   admin's page.
//! - [`tls`]: HTTPS when a certificate and key are configured (the province console's too:
//!   [`console_kit::tls`]).
//! - [`roster`], [`bulk`], [`import`], [`roster_words`]: the roster (花名册): search, a person,
//!   register, move, depart; import (a job with a progress page), export and reconcile files;
//!   their words.
//!
//! What this console shares with the province console (passwords, sessions, the language
//! choice, dates, security headers, the stylesheet, HTTPS) is [`console_kit`]'s.
//!
//! Every response carries a content security policy of `default-src 'self'`; no page needs
//! JavaScript. The one script (`/console.js`, [`console_kit`]'s, served like the stylesheet) only
//! adds live rows to the alerts page.

pub mod auth;
pub mod bulk;
pub mod case;
pub mod directory;
pub mod i18n;
pub mod import;
pub mod lists;
pub mod live;
pub mod operators;
pub mod pages;
pub mod roster;
pub mod roster_words;
pub use console_kit::tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mpx_proto::division::CountyCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::registry_client::RegistryClient;
use crate::service::alerts::AlertsService;
use crate::service::cases::CasesService;
use crate::store::{Store, StoreError};
use crate::workflow::Workflow;

/// What every console handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsoleState {
    inner: Arc<Inner>,
}

/// The parts of [`ConsoleState`] (public so `run` builds them from the node's own).
#[derive(Debug)]
pub struct Inner {
    pub workflow: Workflow,
    /// The gRPC `mpx.v1.Cases` service, called in process as the signed-in operator.
    pub cases: CasesService,
    /// The gRPC `mpx.v1.Alerts` service, likewise.
    pub alerts: AlertsService,
    /// The gRPC `mpx.v1.Records` service, likewise (the roster pages).
    pub records: crate::service::records::RecordsService,
    /// The node's data directory: uploads and files to download are kept under it, 0600.
    pub data_dir: std::path::PathBuf,
    pub county: CountyCode,
    /// Sessions idle this long end.
    pub idle_minutes: i64,
    /// Served over TLS: cookies are `Secure`.
    pub https: bool,
    /// Working days before a deadline that count as "due soon" (the monitor's setting).
    pub due_soon_working_days: i32,
    /// A queued message waiting this long is stuck (the monitor's `UNDELIVERED` threshold).
    pub stuck_after_ms: i64,
    /// Roster imports running or recently finished (each has a page of its own).
    pub imports: import::ImportJobs,
    /// The registry client, for what it last knew of the registry (the directory page asks it
    /// nothing: no call per page view).
    pub registry: RegistryClient,
    /// When this node's certificate (`tls/node.crt`) expires; `None` if it cannot be read.
    pub certificate_not_after_unix_ms: Option<i64>,
    /// Cancelled when the node begins to stop: live streams end, so the listener can drain.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for ConsoleState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl ConsoleState {
    pub fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn store(&self) -> &Store {
        self.workflow.store()
    }

    /// Where deadlines stand now, by the monitor's rule and its due-soon lead.
    pub fn due_bounds(&self) -> crate::monitor::DueBounds {
        let clock = self.workflow.clock();
        crate::monitor::DueBounds::at(
            &self.workflow.directory().deadlines().calendar,
            clock.now_unix_ms(),
            clock.today(),
            i64::from(self.due_soon_working_days),
        )
    }

    /// A county as a clerk knows it: its name (from the directory, else from the GB/T 2260
    /// table) and its code, e.g. 临夏县（621221）.
    pub fn county_text(&self, code: &str) -> String {
        let name = self
            .workflow
            .directory()
            .county_name(code)
            .filter(|name| !name.is_empty())
            .or_else(|| {
                let county = CountyCode::parse(code).ok()?;
                mpx_proto::division::DivisionTable::shipped()
                    .name(&county)
                    .map(str::to_string)
            });
        match name {
            Some(name) => format!("{name}（{code}）"),
            None => code.to_string(),
        }
    }
}

/// Why a console request was not served; each becomes a page (or a redirect to sign in).
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: to the sign-in page.
    SignInFirst(&'static i18n::Msgs),
    /// A POST without this session's CSRF token.
    Csrf(&'static i18n::Msgs),
    /// A viewer tried to act.
    Role(&'static i18n::Msgs),
    NotFound(&'static i18n::Msgs),
    /// The node failed (database, RNG); nothing was changed.
    Unavailable(&'static i18n::Msgs),
    /// The operator service refused the request, with its message.
    Refused(&'static i18n::Msgs, String),
    /// A form or query string that cannot be read at all.
    BadForm(&'static i18n::Msgs),
}

impl ConsoleError {
    pub fn from_store(error: StoreError, t: &'static i18n::Msgs) -> Self {
        tracing::error!(%error, "console: store failure");
        Self::Unavailable(t)
    }

    /// An operator-service refusal as a page.
    pub fn from_status(status: tonic::Status, t: &'static i18n::Msgs) -> Self {
        match status.code() {
            tonic::Code::NotFound => Self::NotFound(t),
            tonic::Code::Unavailable | tonic::Code::Internal | tonic::Code::Unknown => {
                Self::Unavailable(t)
            }
            _ => Self::Refused(t, status.message().to_string()),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, t, text) = match self {
            Self::SignInFirst(_) => return Redirect::to("/sign-in").into_response(),
            Self::Csrf(t) => (StatusCode::FORBIDDEN, t, t.forbidden_csrf.to_string()),
            Self::Role(t) => (StatusCode::FORBIDDEN, t, t.forbidden_role.to_string()),
            Self::NotFound(t) => (StatusCode::NOT_FOUND, t, t.not_found.to_string()),
            Self::Unavailable(t) => (
                StatusCode::SERVICE_UNAVAILABLE,
                t,
                t.unavailable.to_string(),
            ),
            Self::Refused(t, message) => (StatusCode::CONFLICT, t, message),
            Self::BadForm(t) => (StatusCode::BAD_REQUEST, t, t.bad_form.to_string()),
        };
        let page = pages::MessagePage {
            t,
            signed: None,
            title: t.console,
            text,
        };
        (status, page).into_response()
    }
}

/// A posted form; one that cannot be read is refused with a page in the request's language
/// (axum's own rejection is an English line of plain text).
#[derive(Debug)]
pub struct ConsoleForm<T>(pub T);

impl<T, S> FromRequest<S> for ConsoleForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ConsoleError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, ConsoleError> {
        let t = i18n::choose(lang_of(request.uri()), request.headers());
        axum::Form::<T>::from_request(request, state)
            .await
            .map(|axum::Form(value)| Self(value))
            .map_err(|_| ConsoleError::BadForm(t))
    }
}

/// A query string, read as [`ConsoleForm`] reads a form.
#[derive(Debug)]
pub struct ConsoleQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ConsoleQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ConsoleError> {
        let t = auth::language(parts);
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|_| ConsoleError::BadForm(t))
    }
}

pub use console_kit::web::lang_of;

/// Adds the security headers to every response and remembers a `?lang=` choice in a cookie.
async fn security_headers(
    axum::extract::State(state): axum::extract::State<ConsoleState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let chosen = console_kit::web::chosen_language(request.uri());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    console_kit::web::add_security_headers(headers, state.https);
    if let Some(lang) = chosen {
        console_kit::web::remember_language(headers, lang);
    }
    response
}

/// Every route of the console.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(pages::start))
        .route("/console.css", get(console_kit::web::stylesheet))
        .route("/sign-in", get(pages::sign_in_form).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/inbox", get(lists::inbox))
        .route("/outbox", get(lists::outbox))
        .route("/inbox.csv", get(lists::inbox_csv))
        .route("/outbox.csv", get(lists::outbox_csv))
        .route("/console.js", get(console_kit::web::script))
        .route("/alerts", get(pages::alerts))
        .route("/alerts/events", get(live::alert_events))
        .route("/directory", get(directory::page))
        .route("/operators", get(operators::list).post(operators::add))
        .route("/operators/unlock", post(operators::unlock))
        .route("/cases/new", get(case::new_form).post(case::create))
        .route("/cases/{case_id}", get(case::show))
        .route("/cases/{case_id}/print", get(case::print))
        .route("/cases/{case_id}/{action}", post(case::act))
        .merge(roster::routes())
        .merge(bulk::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// Serves the console on `listener` until `cancel`: over TLS with `tls`, else plain HTTP (which
/// the command line allows only on loopback).
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: ConsoleState,
    cancel: CancellationToken,
) {
    tls::serve(listener, tls, router(state), cancel.cancelled_owned()).await;
}

/// The console's TLS from the config: both `console_certificate` and `console_key`, or neither
/// (then plain HTTP, refused on anything but a loopback address).
pub fn tls_from_config(
    config: &crate::config::NodeConfig,
) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    tls::from_config(
        &config.console_listen,
        config.console_certificate.as_deref(),
        config.console_key.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;

    /// The refusal of a config, as the operator reads it.
    fn refusal(config: &NodeConfig) -> String {
        match tls_from_config(config) {
            Ok(_) => panic!("accepted"),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn plain_http_only_on_loopback_and_certificate_with_key() {
        let mut config = NodeConfig::default();
        assert!(tls_from_config(&config).unwrap().is_none());
        config.console_listen = "[::1]:7090".into();
        assert!(tls_from_config(&config).unwrap().is_none());
        config.console_listen = String::new();
        assert!(tls_from_config(&config).unwrap().is_none(), "disabled");
        config.console_listen = "0.0.0.0:7090".into();
        let refused = refusal(&config);
        assert!(refused.contains("console_certificate"), "{refused}");
        config.console_certificate = Some("console.crt".into());
        let half = refusal(&config);
        assert!(half.contains("go together"), "{half}");
        config.console_key = Some("console.key".into());
        let missing = refusal(&config);
        assert!(missing.contains("console.crt"), "{missing}");
    }
}
