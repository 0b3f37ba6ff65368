//! The province console (省级监管平台): server-rendered pages in Chinese (English switchable)
//! over the same calls the registry's operator API makes. Thin: the compliance page calls the
//! `mpx.v1.Compliance` service in process as the signed-in operator, so its figures are those of
//! `registry report` for the same period and instant (one code path), and each read is audited
//! as it is from the command line.
//!
//! # Layout
//!
//! - [`i18n`]: the words, one table per language.
//! - [`auth`]: registry operators (roles supervisor, viewer, admin), sessions, CSRF, lock-out.
//! - [`counties`]: the directory's counties grouped by prefecture, with certificate expiry;
//!   enrolling and revoking one (admins).
//! - [`county`]: one county's page: its figures month by month, open overdue and disputed
//!   cases, its node's state.
//! - [`evidence`]: one case's evidence (both sides' reports, signatures checked, the verdict).
//! - [`in_words`]: the registry's recorded reasons (disputes, refused evidence) in Chinese.
//! - [`pages`]: sign-in, sign-out, the operators page (admins only), messages.
//! - [`compliance`]: the compliance page (合规统计): a period (with [`periods`]' quick
//!   choices), the ranked table, rates as bars; its CSV, JSON and the 通报 (Markdown, and a
//!   printable page) as `registry report` writes them.
//! - [`trend`]: each county's timely rate month by month, a line beside the numbers.
//! - [`queries`], [`findings`]: the province-wide queries (查询) with a purpose, audited as from
//!   the command line; "open cases for these" on conflicts and untracked people.
//! - [`alerts`]: the province alerts (预警), filtered, live by server-sent events.
//! - [`names`]: counties by name (the directory's, else GB/T 2260).
//!
//! What this console shares with the county console — passwords, sessions, the language
//! choice, dates, the security headers (CSP `default-src 'self'`), the stylesheet, HTTPS — is
//! [`console_kit`]'s; no page needs JavaScript (the alerts page's live rows are an addition).

pub mod alerts;
pub mod auth;
pub mod compliance;
pub mod counties;
pub mod county;
pub mod evidence;
pub mod findings;
pub mod i18n;
pub mod in_words;
pub mod names;
pub mod pages;
pub mod periods;
pub mod queries;
pub mod trend;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::service::compliance::ComplianceService;
use crate::service::queries::QueriesService;
use crate::store::{Store, StoreError};

/// What every console handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsoleState {
    inner: Arc<Inner>,
}

/// The parts of [`ConsoleState`].
#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    /// The `mpx.v1.Compliance` service of the operator listener, called in process as the
    /// signed-in operator.
    pub compliance: ComplianceService,
    /// Sessions idle this long end.
    pub idle_minutes: i64,
    /// Served over TLS: cookies are `Secure`, and HSTS is sent.
    pub https: bool,
    /// The province: counties enrolled here must be of it.
    pub province: mpx_proto::division::ProvinceCode,
    /// How long an enrolment token issued here stays valid.
    pub enrollment_token_ttl_hours: u32,
    /// The `mpx.v1.Queries` service of the operator listener, called in process as the
    /// signed-in operator (purpose required, audited as from the command line).
    pub queries: QueriesService,
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
}

/// Why a console request was not served; each becomes a page (or a redirect to sign in).
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: to the sign-in page.
    SignInFirst(&'static i18n::Msgs),
    /// A POST without this session's CSRF token.
    Csrf(&'static i18n::Msgs),
    /// A role that may not do this.
    Role(&'static i18n::Msgs),
    NotFound(&'static i18n::Msgs),
    /// The registry failed (database, RNG); nothing was changed.
    Unavailable(&'static i18n::Msgs),
    /// A form or query string that cannot be read at all.
    BadForm(&'static i18n::Msgs),
}

impl ConsoleError {
    pub fn from_store(error: StoreError, t: &'static i18n::Msgs) -> Self {
        tracing::error!(%error, "province console: store failure");
        Self::Unavailable(t)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, t, text) = match self {
            Self::SignInFirst(_) => return Redirect::to("/sign-in").into_response(),
            Self::Csrf(t) => (StatusCode::FORBIDDEN, t, t.forbidden_csrf),
            Self::Role(t) => (StatusCode::FORBIDDEN, t, t.forbidden_role),
            Self::NotFound(t) => (StatusCode::NOT_FOUND, t, t.not_found),
            Self::Unavailable(t) => (StatusCode::SERVICE_UNAVAILABLE, t, t.unavailable),
            Self::BadForm(t) => (StatusCode::BAD_REQUEST, t, t.bad_form),
        };
        let page = pages::MessagePage {
            t,
            signed: None,
            title: t.console,
            text: text.to_string(),
        };
        (status, page).into_response()
    }
}

/// A posted form; one that cannot be read is refused with a page in the request's language.
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
        let t = i18n::choose(console_kit::web::lang_of(request.uri()), request.headers());
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

/// The security headers on every response ([`console_kit::web`]), and a `?lang=` choice
/// remembered in a cookie.
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

/// Every route of the province console.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/compliance") }))
        .route("/console.css", get(console_kit::web::stylesheet))
        .route("/sign-in", get(pages::sign_in_form).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/compliance", get(compliance::page))
        .route("/compliance.csv", get(compliance::export_csv))
        .route("/compliance.json", get(compliance::export_json))
        .route("/compliance.md", get(compliance::export_notice))
        .route("/compliance/print", get(compliance::print_notice))
        .route("/compliance/trend", get(trend::page))
        .route("/operators", get(pages::operators))
        .route("/counties", get(counties::list))
        .route("/counties/enrol", post(counties::enrol))
        // county page, case evidence, revocation (issue 16)
        .route("/counties/revoke", post(counties::revoke))
        .route("/counties/{code}", get(county::page))
        .route("/cases/{case_id}", get(evidence::page))
        // queries, alerts (issue 16)
        .route("/queries", get(queries::page))
        .route("/queries/locate", post(queries::locate))
        .route("/queries/counts", get(queries::counts))
        .route("/queries/flows", get(queries::flows))
        .route("/queries/conflicts", get(findings::conflicts))
        .route("/queries/untracked", get(findings::untracked))
        .route("/queries/open-cases", post(findings::open_cases))
        .route("/alerts", get(alerts::page))
        .route("/alerts/events", get(alerts::events))
        .route("/console.js", get(console_kit::web::script))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// Serves the console on `listener` until `cancel`: over TLS with `tls`, else plain HTTP
/// (which the config allows only on loopback).
pub async fn serve(
    listener: TcpListener,
    tls: Option<console_kit::tls::TlsAcceptor>,
    state: ConsoleState,
    cancel: CancellationToken,
) {
    console_kit::tls::serve(listener, tls, router(state), cancel.cancelled_owned()).await;
}
