//! 预警 (/alerts): the province alerts — overdue, escalated, disputed, evidence rejected, a node
//! restored from a backup — newest first, filtered by county and kind with a GET form (a link to its answer; no script needed),
//! and updated live: `GET /alerts/events` streams what the `mpx.v1.Compliance` `Watch` call
//! (in process, as the signed-in operator, the call of `registry watch`) raises after the
//! page's list, as server-sent events that [`console_kit::web::SCRIPT`] (`/console.js`, the
//! county console's script too) puts at the top of the table. Without JavaScript the page is
//! the whole list as of loading it, with a refresh link.
//!
//! The list is the store's read of the same table `Watch` reads
//! ([`crate::store::Store::recent_province_alerts`]), newest first and limited, as a page needs;
//! a county filter means what `registry watch --county` means: alerts about the county or
//! with it as the other side.
//!
//! Events: `alert` (one new row as rendered cells, HTML-escaped; the SSE id is the alert id,
//! so a reconnecting browser's `Last-Event-ID` resumes after it) and `ended` (live updates
//! stop). A stream ends when its session does — signed out, or idle past the limit, looked at
//! without counting the look as use ([`console_kit::accounts::Accounts::session_lives`], as on
//! the county console) — when the browser goes, or when the registry stops (the `Watch` stream
//! ends on the registry's shutdown).

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use askama::filters::{Html, escape};
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use mpx_proto::division::CountyCode;
use mpx_proto::v1::compliance_server::Compliance;
use mpx_proto::v1::{ProvinceAlert, WatchRequest};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::auth::Signed;
use super::i18n::Msgs;
use super::names::CountyNames;
use super::{ConsoleError, ConsoleQuery, ConsoleState};

/// The kinds of province alert, as `ProvinceAlert.kind` names them.
pub const KINDS: [&str; 5] = [
    "OVERDUE",
    "ESCALATED",
    "DISPUTED",
    "EVIDENCE_REJECTED",
    crate::compliance::RESTORED,
];

/// At most this many alerts listed (newest first).
const LISTED: u32 = 500;

/// How often a quiet stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a browser waits before reconnecting a stream that ended (e.g. a registry restart).
const RECONNECT: Duration = Duration::from_secs(3);

/// The filter, as the form sends it.
#[derive(Debug, Default, Deserialize)]
pub struct AlertFilter {
    #[serde(default)]
    county: String,
    #[serde(default)]
    kind: String,
}

/// The filter read, or what is wrong with it, beside its field.
struct Checked {
    county: Option<String>,
    kind: Option<&'static str>,
    county_error: Option<String>,
    kind_error: Option<&'static str>,
}

fn check(filter: &AlertFilter, t: &'static Msgs) -> Checked {
    let mut checked = Checked {
        county: None,
        kind: None,
        county_error: None,
        kind_error: None,
    };
    match filter.county.trim() {
        "" => {}
        text => match CountyCode::parse(text) {
            Ok(code) => checked.county = Some(code.to_string()),
            Err(error) => checked.county_error = Some(format!("{}（{error}）", t.expect_county)),
        },
    }
    match filter.kind.trim() {
        "" => {}
        text => match KINDS.iter().find(|kind| **kind == text) {
            Some(kind) => checked.kind = Some(kind),
            None => checked.kind_error = Some(t.expect_kind),
        },
    }
    checked
}

/// A kind in words (the kind's name when this console does not know it).
fn kind_words(t: &'static Msgs, kind: &str) -> String {
    match kind {
        "OVERDUE" => t.kind_overdue.into(),
        "ESCALATED" => t.kind_escalated.into(),
        "DISPUTED" => t.kind_disputed.into(),
        "EVIDENCE_REJECTED" => t.kind_evidence_rejected.into(),
        crate::compliance::RESTORED => t.kind_restored.into(),
        other => other.into(),
    }
}

/// One alert as the table shows it.
struct AlertRow {
    id: i64,
    kind: String,
    /// The kind's name (OVERDUE, …), for a stylesheet or a test.
    kind_code: String,
    county: String,
    counterpart: String,
    case_id: String,
    raised: String,
    due: String,
    detail: String,
}

fn alert_row(t: &'static Msgs, names: &CountyNames, alert: &ProvinceAlert) -> AlertRow {
    // A restore is about a county, not a case: its case id is only the alert's key.
    let restore = alert.kind == crate::compliance::RESTORED;
    AlertRow {
        id: alert.alert_id,
        kind: kind_words(t, &alert.kind),
        kind_code: alert.kind.clone(),
        county: names.label(&alert.county),
        counterpart: names.label(&alert.counterpart_county),
        case_id: if alert.case_id.is_empty() || restore {
            "—".into()
        } else {
            alert.case_id.clone()
        },
        raised: t.instant(alert.raised_at_unix_ms),
        // Due is the end of the due day: the instant the next day begins.
        due: if alert.due_at_unix_ms > 0 {
            t.date(alert.due_at_unix_ms - 1)
        } else {
            "—".into()
        },
        detail: if restore {
            crate::compliance::restore_detail_in(&alert.detail, t.lang == "en").to_string()
        } else {
            alert.detail.clone()
        },
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "alerts.html")]
struct AlertsPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    filter: AlertFilter,
    /// The county filter's choices: code and label.
    counties: Vec<(String, String)>,
    /// The kind filter's choices: name and words.
    kinds: Vec<(&'static str, String)>,
    county_error: Option<String>,
    kind_error: Option<&'static str>,
    rows: Vec<AlertRow>,
    /// This page's filter as a query string (the refresh link and the events).
    filter_query: String,
    /// The newest alert when the page was read: the stream sends those after it.
    last_id: i64,
}

/// A filter as a query string (county codes and kind names are ASCII letters, digits, `_`).
fn filter_query(county: Option<&str>, kind: Option<&str>) -> String {
    format!(
        "county={}&kind={}",
        county.unwrap_or_default(),
        kind.unwrap_or_default()
    )
}

/// `GET /alerts`.
pub async fn page(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(filter): ConsoleQuery<AlertFilter>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let store_failed = |error| ConsoleError::from_store(error, t);
    let checked = check(&filter, t);
    let names = CountyNames::load(&state.store)
        .await
        .map_err(store_failed)?;
    let refused = checked.county_error.is_some() || checked.kind_error.is_some();
    let last_id = state
        .store
        .last_province_alert_id()
        .await
        .map_err(store_failed)?;
    let rows = if refused {
        Vec::new()
    } else {
        state
            .store
            .recent_province_alerts(last_id, checked.county.as_deref(), checked.kind, LISTED)
            .await
            .map_err(store_failed)?
            .iter()
            .map(|alert| alert_row(t, &names, alert))
            .collect()
    };
    let page = AlertsPage {
        t,
        signed: Some(signed),
        counties: names
            .codes()
            .map(|code| (code.to_string(), names.label(code)))
            .collect(),
        kinds: KINDS
            .iter()
            .map(|kind| (*kind, kind_words(t, kind)))
            .collect(),
        county_error: checked.county_error,
        kind_error: checked.kind_error,
        rows,
        filter_query: filter_query(checked.county.as_deref(), checked.kind),
        last_id,
        filter,
    };
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    /// The newest alert the page listed.
    #[serde(default)]
    after: i64,
    #[serde(default)]
    county: String,
    #[serde(default)]
    kind: String,
}

/// `GET /alerts/events`: the alerts raised after the page's list, matching its filter.
pub async fn events(
    State(state): State<ConsoleState>,
    signed: Signed,
    headers: HeaderMap,
    ConsoleQuery(query): ConsoleQuery<EventsQuery>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let checked = check(
        &AlertFilter {
            county: query.county,
            kind: query.kind,
        },
        t,
    );
    if checked.county_error.is_some() || checked.kind_error.is_some() {
        return Err(ConsoleError::BadForm(t));
    }
    // A reconnecting browser says the last alert it had.
    let after = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok())
        .unwrap_or(query.after)
        .max(0);
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        WatchRequest {
            after_alert_id: after,
            county: checked.county.unwrap_or_default(),
        },
    );
    let watched = match state.compliance.watch(request).await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            return Err(ConsoleError::BadForm(t));
        }
        Err(status) => {
            tracing::error!(%status, "province console: cannot watch the alerts");
            return Err(ConsoleError::Unavailable(t));
        }
    };
    let names = CountyNames::load(&state.store)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let session = console_kit::session::cookie(&headers, super::auth::SESSION_COOKIE)
        .map(|id| console_kit::session::stored_session_id(&id))
        .unwrap_or_default();
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(forward(
        Forwarding {
            t,
            names,
            kind: checked.kind,
            state: state.clone(),
            session,
        },
        watched,
        sender,
    ));
    let events = tokio_stream::wrappers::ReceiverStream::new(receiver);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// What one stream's rows need.
struct Forwarding {
    t: &'static Msgs,
    names: CountyNames,
    kind: Option<&'static str>,
    state: ConsoleState,
    /// The stored id of the page's session.
    session: String,
}

/// Turns watched alerts into events until the browser goes, the session ends, or the registry
/// stops.
async fn forward(
    forwarding: Forwarding,
    mut watched: <crate::service::compliance::ComplianceService as Compliance>::WatchStream,
    sender: mpsc::Sender<Result<Event, Infallible>>,
) {
    if sender
        .send(Ok(Event::default().retry(RECONNECT).comment("live")))
        .await
        .is_err()
    {
        return;
    }
    let mut check = tokio::time::interval(KEEP_ALIVE);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.tick().await;
    let accounts = forwarding.state.accounts();
    let idle_ms = forwarding.state.idle_minutes * 60_000;
    loop {
        let alert = tokio::select! {
            () = sender.closed() => return,
            _ = check.tick() => {
                let now = mpx_proto::time::now_unix_ms();
                if accounts.session_lives(&forwarding.session, now, idle_ms).await {
                    continue;
                }
                let _ = sender.send(Ok(Event::default().event("ended").data("session"))).await;
                return;
            }
            next = watched.next() => match next {
                Some(Ok(alert)) => alert,
                Some(Err(status)) => {
                    tracing::warn!(%status, "province console: the alerts stream failed");
                    return;
                }
                None => return,
            },
        };
        if forwarding.kind.is_some_and(|kind| kind != alert.kind) {
            continue;
        }
        if sender
            .send(Ok(alert_event(&forwarding, &alert)))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// HTML-escaped, as the templates escape.
fn html(text: &str) -> String {
    escape(text, Html)
        .map(|safe| safe.to_string())
        .unwrap_or_default()
}

/// One new row of the alerts page, its cells as alerts.html renders them, as an `alert` event.
fn alert_event(forwarding: &Forwarding, alert: &ProvinceAlert) -> Event {
    let t = forwarding.t;
    let row = alert_row(t, &forwarding.names, alert);
    let data = serde_json::json!({
        "id": row.id,
        "cells": [
            html(&row.kind),
            html(&row.county),
            html(&row.counterpart),
            format!("<span class=\"id\">{}</span>", html(&row.case_id)),
            html(&row.raised),
            html(&row.due),
            html(&row.detail),
        ],
        "announce": html(&format!("{}{} {}", t.live_new_alert, row.kind, row.county)),
    });
    Event::default()
        .event("alert")
        .id(alert.alert_id.to_string())
        .data(data.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_a_county_code_and_a_known_kind() {
        let t = &super::super::i18n::EN;
        let of = |county: &str, kind: &str| {
            check(
                &AlertFilter {
                    county: county.into(),
                    kind: kind.into(),
                },
                t,
            )
        };
        let good = of("621221", "DISPUTED");
        assert_eq!(
            (good.county.as_deref(), good.kind),
            (Some("621221"), Some("DISPUTED"))
        );
        assert!(of("62122", "").county_error.is_some());
        assert!(of("", "LATE").kind_error.is_some());
        let none = of(" ", "");
        assert!(none.county.is_none() && none.kind.is_none() && none.county_error.is_none());
        assert_eq!(of("", "RESTORED").kind, Some("RESTORED"));
    }

    #[test]
    fn a_restore_is_about_no_case_and_said_in_the_pages_language() {
        use super::super::i18n::{EN, ZH};
        let recovery = crate::compliance::Recovery {
            backup_of_unix_ms: 1_796_263_200_000,
            peers_pending: 3,
            ..Default::default()
        };
        let raised = crate::compliance::restore_alert("621221", "", &recovery);
        let alert = ProvinceAlert {
            alert_id: 7,
            kind: raised.kind.into(),
            case_id: crate::compliance::restore_case_id("621221", recovery.backup_of_unix_ms),
            county: raised.county,
            counterpart_county: raised.counterpart_county,
            raised_at_unix_ms: 1_796_300_000_000,
            due_at_unix_ms: 0,
            detail: raised.detail,
        };
        let names = CountyNames::default();
        let row = alert_row(&ZH, &names, &alert);
        assert_eq!(
            (row.kind.as_str(), row.case_id.as_str(), row.due.as_str()),
            ("节点从备份恢复", "—", "—")
        );
        assert_eq!(row.county, "成县（621221）");
        assert!(
            row.detail
                .starts_with("621221 成县 从 2026-12-03 10:00 的备份恢复")
        );
        assert!(!row.detail.contains("restored"), "{}", row.detail);
        let row = alert_row(&EN, &names, &alert);
        assert!(
            row.detail
                .starts_with("county 621221 成县 restored a backup of 2026-12-03 10:00"),
            "{}",
            row.detail
        );
    }
}
