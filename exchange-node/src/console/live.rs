//! Live alerts: `GET /alerts/events`, server-sent events that put each alert the deadline monitor
//! raises at the top of the open alerts page (开放提醒) without a reload. The small script that
//! does it is [`console_kit::web::SCRIPT`] (`/console.js`, shared with the province console and
//! served like the stylesheet: the content security policy is `default-src 'self'`, so no inline
//! script). The page itself stays server-rendered and complete without JavaScript; the script
//! only adds rows.
//!
//! The events come from [`AlertsService::watch`](crate::service::alerts::AlertsService::watch),
//! the same path as the gRPC `Alerts.WatchAlerts`. Events:
//!
//! - `alert`: one new row as JSON (`cells`, in the table's column order), every cell already
//!   rendered in the page's language and HTML-escaped, so the script inserts them as they are
//!   (`id` is the alert's, for
//!   de-duplication; the SSE id is its raised time, so a reconnecting browser's `Last-Event-ID`
//!   asks for what it missed).
//! - `reload`: this stream fell behind the monitor's broadcast and alerts were dropped for it;
//!   the page reloads to list them from the store.
//! - `ended`: the session ended (signed out, idle, account removed); the page says live updates
//!   stopped.
//!
//! Cleared alerts are not removed live: the monitor broadcasts only raised alerts (clears are
//! bulk updates of the store), so a cleared row stays until the page is reloaded.
//!
//! A stream ends when the browser goes away, the session ends, or the node shuts down (the
//! console's cancellation token: the listener's graceful shutdown waits for open responses).

use std::convert::Infallible;
use std::time::Duration;

use askama::filters::{Html, escape};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::Alert;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::auth::{Signed, cookie};
use super::i18n::Msgs;
use super::pages::alert_row;
use super::{ConsoleError, ConsoleQuery, ConsoleState};
use crate::service::alerts::WatchedAlert;

/// How often a quiet stream sends a keep-alive comment, and looks whether its session still
/// lives.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a browser waits before reconnecting a stream that ended (e.g. a node restart).
const RECONNECT: Duration = Duration::from_secs(3);

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Send the open alerts raised at or after this instant first: the page's render time, so
    /// an alert raised between the page and the stream is not missed.
    #[serde(default)]
    since: Option<i64>,
}

/// `GET /alerts/events`: the live alerts of the signed-in operator's page.
pub async fn alert_events(
    State(state): State<ConsoleState>,
    signed: Signed,
    headers: HeaderMap,
    ConsoleQuery(query): ConsoleQuery<EventsQuery>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    // A reconnecting browser says the last event it had (its raised time).
    let last_seen = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok());
    let since = last_seen
        .or(query.since)
        .unwrap_or_else(|| state.workflow.clock().now_unix_ms());
    let watched = state
        .alerts
        .watch(Some(since))
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let session = cookie(&headers, &state.session_cookie_name())
        .map(|id| mpx_proto::sha256_hex(id.as_bytes()))
        .unwrap_or_default();
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(forward(state, t, session, watched, sender));
    let events = tokio_stream::wrappers::ReceiverStream::new(receiver);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Turns watched alerts into events until the browser goes, the session ends or the node stops.
async fn forward(
    state: ConsoleState,
    t: &'static Msgs,
    session: String,
    mut watched: mpsc::Receiver<WatchedAlert>,
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
    loop {
        let (event, last) = tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = sender.closed() => return,
            _ = check.tick() => {
                if session_lives(&state, &session).await {
                    continue;
                }
                (Event::default().event("ended").data("session"), true)
            }
            received = watched.recv() => match received {
                Some(WatchedAlert::Raised(alert)) => (alert_event(&state, t, &alert), false),
                Some(WatchedAlert::Missed(missed)) => {
                    tracing::warn!(missed, "a console alerts page fell behind; telling it to reload");
                    (Event::default().event("reload").data(missed.to_string()), true)
                }
                None => return,
            },
        };
        if sender.send(Ok(event)).await.is_err() || last {
            return;
        }
    }
}

/// False once the session is gone or idle past the limit ([`Accounts::session_lives`]).
///
/// [`Accounts::session_lives`]: console_kit::accounts::Accounts::session_lives
async fn session_lives(state: &ConsoleState, session: &str) -> bool {
    let now = state.workflow.clock().now_unix_ms();
    state
        .accounts()
        .session_lives(session, now, state.idle_minutes * 60_000)
        .await
}

/// HTML-escaped, as the templates escape.
fn html(text: &str) -> String {
    escape(text, Html)
        .map(|safe| safe.to_string())
        .unwrap_or_default()
}

/// One new row of the alerts page, rendered as the page renders it, as an `alert` event.
fn alert_event(state: &ConsoleState, t: &'static Msgs, alert: &Alert) -> Event {
    let row = alert_row(state, t, alert.clone());
    // The cells of alerts.html's row, in its column order.
    let case = if row.case_id.is_empty() {
        "—".to_string()
    } else {
        format!(
            "<a href=\"{}\">{}</a>",
            html(&format!("/cases/{}", row.case_id)),
            html(t.open_case)
        )
    };
    let data = serde_json::json!({
        "id": html(&row.id),
        "cells": [
            html(&row.kind),
            html(&row.peer),
            case,
            html(&row.raised),
            html(&row.due),
            html(&row.detail),
        ],
        "announce": html(&format!("{}{} {}", t.live_new_alert, row.kind, row.peer)),
    });
    Event::default()
        .event("alert")
        .id(alert.raised_at_unix_ms.to_string())
        .data(data.to_string())
}
