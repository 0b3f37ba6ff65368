//! 目录与状态: the counties of the province directory by name and code, each with its route
//! (enrolled with an endpoint, enrolled without one yet, revoked, or not listed at all) and what
//! this node has queued for it; and this node's own health: whether the registry answered
//! lately, the directory version in force, and when the node's certificate expires.
//!
//! Everything is read from memory or one store query (`outbox_stats`): the page makes no call
//! to the registry, so looking at it costs the registry nothing and never waits on it. Every
//! state is said in words; colour only repeats it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use mpx_proto::division::{CountyCode, DivisionTable};

use super::auth::Signed;
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleState};
use crate::registry_client::{Reachability, ReplicaHealth};

/// A certificate that expires within this many days is flagged for renewal.
const RENEW_WITHIN_DAYS: i64 = 30;

const DAY_MS: i64 = 86_400_000;

/// One county of the table.
struct CountyRow {
    code: String,
    name: String,
    state: &'static str,
    /// `state-ok`, `state-warn` or `state-bad` (repeats `state` in colour).
    class: &'static str,
    depth: i64,
    oldest: String,
    /// The oldest message waited past the monitor's `UNDELIVERED` threshold.
    stuck: bool,
}

struct ReplicaRow {
    url: String,
    state: String,
    class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "directory.html")]
struct DirectoryPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    county: String,
    registry_state: &'static str,
    registry_class: &'static str,
    replicas: Vec<ReplicaRow>,
    /// "12（签发时间 2026年12月3日 09:14）", or that none is loaded.
    directory_version: String,
    certificate_expiry: String,
    certificate_note: String,
    certificate_class: &'static str,
    counties: Vec<CountyRow>,
}

/// `GET /directory`.
pub async fn page(
    State(state): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let now = state.workflow.clock().now_unix_ms();
    let queued = state
        .store()
        .outbox_stats()
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let counties = county_rows(&state, t, queued, now);

    let health = state.registry.health();
    let (registry_state, registry_class) = registry_summary(t, &health);
    let replicas = health
        .iter()
        .map(|replica| {
            let (state, class) = match replica.reachability {
                Reachability::Answered { answered_ago } => (
                    format!(
                        "{}{}{}{}{}",
                        t.registry_reachable,
                        t.paren_open,
                        answered_ago.as_secs(),
                        t.answered_seconds_ago,
                        t.paren_close
                    ),
                    "state-ok",
                ),
                Reachability::Down { down_for } => (
                    format!(
                        "{}{}{}{}{}",
                        t.registry_unreachable,
                        t.paren_open,
                        down_for.as_secs(),
                        t.down_for_seconds,
                        t.paren_close
                    ),
                    "state-bad",
                ),
                Reachability::NotCalledYet => (t.registry_not_called.to_string(), "state-warn"),
            };
            ReplicaRow {
                url: replica.url.clone(),
                state,
                class,
            }
        })
        .collect();

    let directory = state.workflow.directory();
    let directory_version = if directory.is_loaded() {
        format!(
            "{}{}{} {}{}",
            directory.version(),
            t.paren_open,
            t.directory_issued,
            t.instant(directory.issued_at_unix_ms()),
            t.paren_close
        )
    } else {
        t.directory_not_loaded.to_string()
    };

    let (certificate_expiry, certificate_note, certificate_class) =
        match state.certificate_not_after_unix_ms {
            Some(not_after) => {
                let days_left = (not_after - now).div_euclid(DAY_MS);
                let (note, class) = if not_after <= now {
                    (t.certificate_expired.to_string(), "state-bad")
                } else if days_left < RENEW_WITHIN_DAYS {
                    (
                        format!(
                            "{days_left} {}{}{}",
                            t.certificate_days_left, t.comma, t.certificate_renew_soon
                        ),
                        "state-warn",
                    )
                } else {
                    (
                        format!("{days_left} {}", t.certificate_days_left),
                        "state-ok",
                    )
                };
                (t.date(not_after), note, class)
            }
            None => (
                t.certificate_unknown.to_string(),
                String::new(),
                "state-bad",
            ),
        };

    Ok(DirectoryPage {
        t,
        signed: Some(signed),
        county: state.county_text(state.county.as_str()),
        registry_state,
        registry_class,
        replicas,
        directory_version,
        certificate_expiry,
        certificate_note,
        certificate_class,
        counties,
    }
    .into_response())
}

/// The registry as a whole: reachable when any replica answered last time it was asked.
fn registry_summary(t: &'static Msgs, health: &[ReplicaHealth]) -> (&'static str, &'static str) {
    if health
        .iter()
        .any(|replica| matches!(replica.reachability, Reachability::Answered { .. }))
    {
        (t.registry_reachable, "state-ok")
    } else if health
        .iter()
        .any(|replica| matches!(replica.reachability, Reachability::Down { .. }))
    {
        (t.registry_unreachable, "state-bad")
    } else {
        (t.registry_not_called, "state-warn")
    }
}

/// Every county the directory lists, and every other county this node has messages queued for,
/// by code.
fn county_rows(
    state: &ConsoleState,
    t: &'static Msgs,
    queued: Vec<(String, i64, i64)>,
    now: i64,
) -> Vec<CountyRow> {
    let directory = state.workflow.directory();
    let loaded = directory.is_loaded();
    let shipped_name = |code: &str| {
        CountyCode::parse(code)
            .ok()
            .and_then(|county| DivisionTable::shipped().name(&county).map(str::to_string))
            .unwrap_or_default()
    };
    let mut rows: Vec<CountyRow> = directory
        .listed_counties()
        .into_iter()
        .map(|listed| {
            let (state_text, class) = if listed.county == state.county.as_str() {
                (t.county_self, "state-ok")
            } else if listed.revoked {
                (t.county_revoked, "state-bad")
            } else if listed.has_endpoint {
                (t.county_route, "state-ok")
            } else {
                (t.county_no_endpoint, "state-warn")
            };
            let name = if listed.name.is_empty() {
                shipped_name(&listed.county)
            } else {
                listed.name
            };
            CountyRow {
                code: listed.county,
                name,
                state: state_text,
                class,
                depth: 0,
                oldest: "—".into(),
                stuck: false,
            }
        })
        .collect();
    for (peer, depth, oldest) in queued {
        let stuck = now - oldest >= state.stuck_after_ms;
        let oldest = t.instant(oldest);
        match rows.iter_mut().find(|row| row.code == peer) {
            Some(row) => {
                row.depth = depth;
                row.oldest = oldest;
                row.stuck = stuck;
            }
            None => {
                // Not listed: held for want of a route (or nobody knows yet, with no directory).
                let (state_text, class) = if loaded {
                    (t.county_not_listed, "state-bad")
                } else {
                    (t.directory_not_loaded, "state-warn")
                };
                rows.push(CountyRow {
                    name: shipped_name(&peer),
                    code: peer,
                    state: state_text,
                    class,
                    depth,
                    oldest,
                    stuck,
                });
            }
        }
    }
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    rows
}

/// When a certificate (DER) stops being valid, in Unix milliseconds.
pub fn certificate_not_after_unix_ms(certificate_der: &[u8]) -> Option<i64> {
    mpx_proto::identity::certificate_not_after_unix_ms(certificate_der)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_certificates_expiry_is_its_not_after() {
        let mut params = rcgen::CertificateParams::new(vec!["node.example".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2027, 12, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        let expected: jiff::Timestamp = "2027-12-04T00:00:00Z".parse().unwrap();
        assert_eq!(
            certificate_not_after_unix_ms(certificate.der()),
            Some(expected.as_millisecond())
        );
        assert_eq!(certificate_not_after_unix_ms(b"not a certificate"), None);
    }
}
