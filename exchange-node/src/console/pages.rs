//! Sign-in and sign-out, the start page (工作台) and open alerts, and what the case pages
//! share: calling the operator services as the signed-in operator (so each read is audited as
//! it is from the command line, and working days left are the service's), and how a deadline
//! is shown. The start page only counts (one query, [`crate::store::Store::case_tallies`]);
//! due soon and overdue are the monitor's rule ([`crate::monitor::DueBounds`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mpx_proto::v1::alerts_server::Alerts;
use mpx_proto::v1::{self, CaseDirection};
use serde::Deserialize;

use super::auth::{self, SignIn, Signed, cookie};
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleForm, ConsoleState};
use crate::monitor::DueClass;

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

/// A request as the signed-in operator, as the operator API's interceptor would pass it on.
pub use mpx_proto::runtime::as_operator;

fn sign_in_csrf_cookie(state: &ConsoleState) -> String {
    format!("mpx_sign_in_{}", state.county)
}

/// The sign-in form. Its CSRF token is a cookie and a field that must match (no session yet).
fn sign_in_page(
    state: &ConsoleState,
    t: &'static Msgs,
    status: StatusCode,
    error: Option<&'static str>,
    name: String,
) -> Response {
    let Ok(csrf) = auth::random_hex() else {
        return ConsoleError::Unavailable(t).into_response();
    };
    let set =
        console_kit::session::sign_in_csrf_cookie(&sign_in_csrf_cookie(state), &csrf, state.https);
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
    ConnectInfo(super::tls::Peer(from)): ConnectInfo<super::tls::Peer>,
    parts: axum::http::request::Parts,
    ConsoleForm(form): ConsoleForm<SignInForm>,
) -> Result<Response, ConsoleError> {
    let t = auth::language(&parts);
    let expected = cookie(&parts.headers, &sign_in_csrf_cookie(&state)).unwrap_or_default();
    if expected.is_empty() || !auth::same_secret(&expected, &form.csrf) {
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
            Redirect::to("/"),
        )
            .into_response(),
        SignIn::WrongNameOrPassword => sign_in_page(
            &state,
            t,
            StatusCode::UNAUTHORIZED,
            Some(t.bad_sign_in),
            form.name,
        ),
        SignIn::Unavailable => ConsoleError::Unavailable(t).into_response(),
        SignIn::Locked | SignIn::LockedNow { .. } => sign_in_page(
            &state,
            t,
            StatusCode::FORBIDDEN,
            Some(t.locked_out),
            form.name,
        ),
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
    tracing::info!(operator = %signed.operator, "console sign-out");
    Ok((
        [(header::SET_COOKIE, state.session_cookie(None))],
        Redirect::to("/sign-in"),
    )
        .into_response())
}

pub async fn not_found(parts: axum::http::request::Parts) -> ConsoleError {
    ConsoleError::NotFound(auth::language(&parts))
}

/// How near a case's deadline is, by the monitor's rule ([`crate::monitor::DueBounds`]);
/// `None` when it is answered, finished or without a deadline.
pub type Due = Option<DueClass>;

/// Working days left as text and its CSS class: a number, and 逾期 in words when overdue (never
/// colour alone).
pub fn days_text(t: &Msgs, case: &v1::Case, due: Due) -> (String, &'static str) {
    let extended = if case.extended_due_at_unix_ms > 0 {
        format!(" ({})", t.extended)
    } else {
        String::new()
    };
    match due {
        None => ("—".into(), "none"),
        Some(DueClass::Overdue) => (
            format!("{} {}{extended}", case.working_days_left, t.overdue),
            "overdue",
        ),
        Some(DueClass::Soon) => (format!("{}{extended}", case.working_days_left), "soon"),
        Some(DueClass::Later) => (format!("{}{extended}", case.working_days_left), "ok"),
    }
}

/// The other county of a case, as this node sees it.
pub fn peer_of(case: &v1::Case) -> &str {
    if case.direction() == CaseDirection::Inbound {
        &case.requester_county
    } else {
        &case.recipient_county
    }
}

// ---- start page -----------------------------------------------------------------------------

struct Tile {
    id: &'static str,
    label: &'static str,
    count: usize,
    href: &'static str,
    class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "start.html")]
struct StartPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    county: String,
    tiles: Vec<Tile>,
    /// A restore from a backup (while it recovers, and for 30 days after), in words.
    restore: Option<String>,
}

/// How long the start page mentions a finished recovery.
const RESTORE_SHOWN_FOR_MS: i64 = 30 * 24 * 3600 * 1000;

/// The start page's line about a restore, if there is one to mention.
fn restore_line(
    t: &'static Msgs,
    summary: &crate::store::RecoverySummary,
    now: i64,
) -> Option<String> {
    let restore = summary.restore.as_ref()?;
    let finished = restore.finished_at_unix_ms;
    if finished > 0 && now - finished > RESTORE_SHOWN_FOR_MS {
        return None;
    }
    let progress = if finished == 0 {
        t.restore_recovering
            .replace("{pending}", &summary.peers_pending.to_string())
            .replace("{peers}", &summary.peers.to_string())
    } else {
        t.restore_done.replace("{at}", &t.instant(finished))
    };
    Some(
        t.restore_line
            .replace("{backup}", &t.instant(restore.backup_of_unix_ms))
            .replace("{progress}", &progress)
            .replace("{replayed}", &summary.replayed.to_string())
            .replace("{rebuilt}", &summary.rebuilt.to_string())
            .replace("{clerk}", &summary.needs_clerk.to_string()),
    )
}

pub async fn start(
    State(state): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    // Counts only (no personal data is read, so nothing to audit), in one query over the
    // indexes of migration 0015; due soon and overdue by the monitor's rule.
    let bounds = state.due_bounds();
    let tallies = state
        .store()
        .case_tallies(
            bounds.now_unix_ms,
            bounds.soon_until_unix_ms,
            // Our requests answered (or redirected) since the operator's previous sign-in.
            signed.previous_sign_in_unix_ms,
        )
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let store = state.store();
    let open_alerts: i64 = store
        .open_alert_counts()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?
        .iter()
        .map(|(_, _, n)| n)
        .sum();
    // Messages to a peer whose oldest has waited past the monitor's UNDELIVERED threshold.
    let now = state.workflow.clock().now_unix_ms();
    let stuck: i64 = store
        .outbox_stats()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?
        .iter()
        .filter(|(_, _, oldest)| now - oldest >= state.stuck_after_ms)
        .map(|(_, depth, _)| depth)
        .sum();
    let tiles = vec![
        Tile {
            id: "answers",
            label: t.answers_since,
            count: count(tallies.answered),
            href: "/outbox?state=responded",
            class: "",
        },
        Tile {
            id: "awaiting",
            label: t.awaiting_acceptance,
            count: count(tallies.awaiting_acceptance),
            href: "/inbox?state=delivered",
            class: "",
        },
        Tile {
            id: "due-soon",
            label: t.due_soon,
            count: count(tallies.due_soon),
            href: "/inbox?due=soon",
            class: "soon",
        },
        Tile {
            id: "overdue",
            label: t.overdue,
            count: count(tallies.overdue),
            href: "/inbox?due=overdue",
            class: "overdue",
        },
        Tile {
            id: "alerts",
            label: t.open_alerts,
            count: usize::try_from(open_alerts).unwrap_or(0),
            href: "/alerts",
            class: "",
        },
        Tile {
            id: "outbox",
            label: t.stuck_outbox,
            count: usize::try_from(stuck).unwrap_or(0),
            href: "/outbox?state=queued",
            class: "",
        },
    ];
    let recovery = store
        .recovery_summary()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    Ok(StartPage {
        t,
        county: state.county_text(state.county.as_str()),
        signed: Some(signed),
        tiles,
        restore: restore_line(t, &recovery, now),
    }
    .into_response())
}

// ---- alerts -----------------------------------------------------------------------------------

/// One row of the alerts page, rendered for the page's language (the live page's events carry
/// the same fields: [`super::live`]).
pub(super) struct AlertRow {
    pub id: String,
    pub kind: String,
    pub peer: String,
    pub case_id: String,
    pub raised: String,
    pub due: String,
    pub detail: String,
}

pub(super) fn alert_row(state: &ConsoleState, t: &'static Msgs, alert: v1::Alert) -> AlertRow {
    AlertRow {
        kind: t.alert_kind(alert.kind()),
        id: alert.alert_id,
        peer: state.county_text(&alert.counterpart_county),
        raised: t.instant(alert.raised_at_unix_ms),
        due: t.due_date(alert.due_at_unix_ms),
        detail: alert.detail,
        case_id: alert.case_id,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "alerts.html")]
struct AlertsPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    rows: Vec<AlertRow>,
    /// When the page was read: its live stream starts with alerts raised since.
    since: i64,
}

/// Open alerts, newest first, through `mpx.v1.Alerts/ListAlerts` (one page of up to 1000); the
/// page's script adds new ones as they are raised ([`super::live`]).
pub async fn alerts(
    State(state): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let since = state.workflow.clock().now_unix_ms();
    let request = v1::ListAlertsRequest {
        open_only: true,
        page_size: 1000,
        page_token: String::new(),
    };
    let alerts = state
        .alerts
        .list_alerts(as_operator(&signed.operator, request))
        .await
        .map_err(|status| ConsoleError::from_status(status, t))?
        .into_inner()
        .alerts;
    let rows = alerts
        .into_iter()
        .map(|alert| alert_row(&state, t, alert))
        .collect();
    Ok(AlertsPage {
        t,
        signed: Some(signed),
        rows,
        since,
    }
    .into_response())
}
