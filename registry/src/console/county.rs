//! 县（区）详情 (/counties/{code}): one county as the province sees it — its figures for the
//! last six months (one `Report` call of `mpx.v1.Compliance` per month, in process, as the
//! signed-in operator: the figures of the compliance page and of `registry report --county`,
//! audited alike), a bar chart of its timely rate with the table beside it, its open overdue
//! cases oldest first, its disputed cases with the reason in words, and its node's state as far
//! as the registry knows it (what nodes do not report is said to be not reported), with its
//! restore from a backup and recovery from its peers when it says it was restored.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::compliance_server::Compliance;
use mpx_proto::v1::{ComplianceReportRequest, ComplianceReportResponse};
use serde::Deserialize;

use super::auth::Signed;
use super::counties::{Expiry, county_name, expiry, prefecture_of, status_text};
use super::evidence::{deadline, kind_name, message, moment};
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleQuery, ConsoleState, in_words};

/// How many months the page shows, the instant's month last.
const MONTHS: usize = 6;
/// How many open overdue cases are listed (the count covers them all).
const OVERDUE_LISTED: u32 = 200;

/// `?as_of=YYYY-MM-DD`: the figures as they stood at the end of that day (empty: now).
#[derive(Debug, Default, Deserialize)]
pub struct CountyQuery {
    #[serde(default)]
    as_of: String,
}

/// One month's figures, as shown.
struct MonthRow {
    period: String,
    label: String,
    rank: String,
    requests_due: i64,
    responses: i64,
    timely: i64,
    timely_rate: String,
    response_rate: String,
    acceptance_rate: String,
    median: String,
    disputed: i64,
    /// The bar: its top (y) and height in the chart's 0–100 scale; 0 height when nothing was due.
    bar_y: u32,
    bar_height: u32,
    /// The bar's left edge in the chart.
    bar_x: u32,
    /// Where the month's label goes (the bar's centre).
    label_x: u32,
}

struct OverdueRow {
    case_id: String,
    kind: &'static str,
    requester: String,
    delivered: String,
    due: String,
    working_days: i64,
    escalated: bool,
}

struct DisputedRow {
    case_id: String,
    period: String,
    requester: String,
    words: Option<&'static str>,
    reason: String,
}

/// The node as the registry knows it.
struct NodeState {
    status: &'static str,
    revoked: bool,
    revoked_reason: String,
    endpoint: String,
    enrolled: String,
    fingerprint: String,
    expiry: Expiry,
    last_case_report: Option<(String, i64)>,
    roster_seq: i64,
    /// Its last directory fetch (None: never, or an older node that says nothing).
    contact: Option<Contact>,
}

/// A node's last directory fetch as shown: when, the version it held, its backlog as it said.
struct Contact {
    seen: String,
    version: i64,
    version_current: bool,
    pending: i64,
    /// When the oldest queued message was queued (empty: none queued).
    oldest: String,
    /// Its restore and recovery in words (None: it never said it was restored).
    recovery: Option<RecoveryLine>,
}

/// A restored node's recovery as the page says it.
struct RecoveryLine {
    words: String,
    /// `state-warn` while peers are to answer or a clerk has items, else `state-ok`.
    class: &'static str,
}

/// "restored from a backup of T; recovering from N peers; M messages replayed; K rebuilt; J
/// items need a clerk" ("recovered" once no peer is to answer), in the page's language.
fn recovery_line(t: &'static Msgs, recovery: &crate::compliance::Recovery) -> RecoveryLine {
    let backup = t.instant(recovery.backup_of_unix_ms);
    let (replayed, rebuilt, clerk) = (recovery.replayed, recovery.rebuilt, recovery.needs_clerk);
    let words = match (t.lang, recovery.recovered()) {
        ("en", false) => format!(
            "restored from a backup of {backup}; recovering from {} peers; {replayed} messages replayed; {rebuilt} rebuilt; {clerk} items need a clerk",
            recovery.peers_pending
        ),
        ("en", true) => format!(
            "restored from a backup of {backup}; recovered; {replayed} messages replayed; {rebuilt} rebuilt; {clerk} items need a clerk"
        ),
        (_, false) => format!(
            "从 {backup} 的备份恢复；正在向 {} 个节点恢复；已重放 {replayed} 条消息；已重建 {rebuilt} 条；{clerk} 项需人工处理",
            recovery.peers_pending
        ),
        (_, true) => format!(
            "从 {backup} 的备份恢复；已恢复完毕；已重放 {replayed} 条消息；已重建 {rebuilt} 条；{clerk} 项需人工处理"
        ),
    };
    RecoveryLine {
        words,
        class: if recovery.recovered() && clerk == 0 {
            "state-ok"
        } else {
            "state-warn"
        },
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "county.html")]
struct CountyPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    code: String,
    name: String,
    prefecture: String,
    /// The instant as typed, for the form.
    as_of_input: String,
    /// The instant as accepted, percent-encoded, for the links (empty: now).
    as_of_link: String,
    as_of_error: Option<&'static str>,
    as_of: String,
    months: Vec<MonthRow>,
    /// The chart's width (a bar and a gap per month).
    chart_width: u32,
    overdue: Vec<OverdueRow>,
    overdue_total: i64,
    disputed: Vec<DisputedRow>,
    /// `None`: the county is not in the directory.
    node: Option<NodeState>,
    directory_version: u64,
}

/// The six months ending with the one `as_of` falls in, oldest first, as `YYYY-MM` (the trend
/// page's months).
fn months_ending_at(as_of_unix_ms: i64) -> Vec<String> {
    mpx_proto::time::date_of_unix_ms(as_of_unix_ms)
        .map(|day| super::periods::months_up_to(day, MONTHS))
        .unwrap_or_default()
}

const BAR_WIDTH: u32 = 40;
const BAR_GAP: u32 = 24;

fn month_row(t: &'static Msgs, index: usize, report: &ComplianceReportResponse) -> MonthRow {
    let figures = report.counties.first().cloned().unwrap_or_default();
    let height = if figures.requests_due > 0 && figures.timely_rate.is_finite() {
        (figures.timely_rate.clamp(0.0, 1.0) * 100.0).round() as u32
    } else {
        0
    };
    let bar_x = BAR_GAP + (BAR_WIDTH + BAR_GAP) * u32::try_from(index).unwrap_or(0);
    let label = mpx_proto::time::parse_date(&report.period_start)
        .map(|first| match t.lang {
            "en" => format!("{:04}-{:02}", first.year(), first.month()),
            _ => format!("{}年{}月", first.year(), first.month()),
        })
        .unwrap_or_else(|_| report.period.clone());
    MonthRow {
        period: report.period.clone(),
        label,
        rank: if figures.rank == 0 {
            "—".into()
        } else {
            figures.rank.to_string()
        },
        requests_due: figures.requests_due,
        responses: figures.responses,
        timely: figures.timely,
        timely_rate: crate::render::percent(figures.timely_rate, figures.requests_due),
        response_rate: crate::render::percent(figures.response_rate, figures.requests_due),
        acceptance_rate: crate::render::percent(figures.acceptance_rate, figures.acceptance_due),
        median: crate::render::median(&figures),
        disputed: figures.disputed,
        bar_y: 10 + 100 - height,
        bar_height: height,
        bar_x,
        label_x: bar_x + BAR_WIDTH / 2,
    }
}

/// One month's report of `county`, as `registry report --period P --county C --as-of` has it.
async fn month_report(
    state: &ConsoleState,
    signed: &Signed,
    county: &str,
    period: &str,
    as_of_unix_ms: i64,
) -> Result<ComplianceReportResponse, ConsoleError> {
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        ComplianceReportRequest {
            period: period.to_string(),
            as_of_unix_ms,
            county: county.to_string(),
            overdue_limit: OVERDUE_LISTED,
        },
    );
    match state.compliance.report(request).await {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => {
            tracing::error!(%status, %county, %period, "province console: a county's report failed");
            Err(ConsoleError::Unavailable(signed.t))
        }
    }
}

/// The node's state from the directory, the revocations, the case-event stream and its last
/// directory fetch.
async fn node_state(
    state: &ConsoleState,
    t: &'static Msgs,
    node: &crate::store::NodeRecord,
    revocations: &[crate::store::RevocationRecord],
    directory_version: u64,
    now: i64,
) -> Result<NodeState, ConsoleError> {
    let store_error = |error| ConsoleError::from_store(error, t);
    let last = state
        .store
        .last_case_report(&node.county)
        .await
        .map_err(store_error)?;
    let roster_seq = state
        .store
        .index_cursor(&node.county)
        .await
        .map_err(store_error)?;
    let contact = state
        .store
        .node_contact(&node.county)
        .await
        .map_err(store_error)?
        .map(|contact| Contact {
            seen: moment(t, contact.seen_at_unix_ms),
            version: contact.directory_version,
            version_current: u64::try_from(contact.directory_version).ok()
                == Some(directory_version),
            pending: contact.outbox_pending,
            oldest: if contact.outbox_pending > 0 && contact.oldest_pending_unix_ms > 0 {
                moment(t, contact.oldest_pending_unix_ms)
            } else {
                String::new()
            },
            recovery: Some(contact.recovery())
                .filter(crate::compliance::Recovery::restored)
                .map(|recovery| recovery_line(t, &recovery)),
        });
    let revoked_reason = revocations
        .iter()
        .filter(|r| r.county == node.county)
        .max_by_key(|r| r.revoked_at_unix_ms)
        .map(|r| format!("{}（{}）", r.reason, t.date(r.revoked_at_unix_ms)))
        .unwrap_or_default();
    Ok(NodeState {
        status: status_text(t, &node.status),
        revoked: node.status == "revoked",
        revoked_reason,
        endpoint: node.endpoint.clone(),
        enrolled: t.date(node.enrolled_at_unix_ms),
        fingerprint: node.certificate_sha256.clone(),
        expiry: expiry(t, &node.certificate_pem, now),
        last_case_report: last.map(|last| (moment(t, last.received_at_unix_ms), last.seq)),
        roster_seq,
        contact,
    })
}

pub async fn page(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(code): Path<String>,
    ConsoleQuery(query): ConsoleQuery<CountyQuery>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let store_error = |error| ConsoleError::from_store(error, t);
    let (directory_version, _, revocations) = state.store.directory().await.map_err(store_error)?;
    // Pending nodes are not in the directory snapshot but are in the store's list.
    let all_nodes = state.store.list_nodes().await.map_err(store_error)?;
    let code = code.trim().to_string();
    let node = all_nodes.iter().find(|node| node.county == code).cloned();
    let known = node.is_some()
        || crate::service::enrollment::county_of_province(&code, state.province).is_ok();
    if !known {
        return Ok(message(
            StatusCode::NOT_FOUND,
            signed,
            t.counties,
            t.unknown_county,
        ));
    }
    let now = mpx_proto::time::now_unix_ms();
    let (as_of_unix_ms, as_of_error) = match query.as_of.trim() {
        "" => (now, None),
        text => match crate::compliance::parse_as_of(text) {
            Ok(instant) => (instant, None),
            Err(_) => (now, Some(t.expect_as_of)),
        },
    };
    let mut months = Vec::with_capacity(MONTHS);
    let mut disputed: Vec<DisputedRow> = Vec::new();
    let mut latest = None;
    for (index, period) in months_ending_at(as_of_unix_ms).iter().enumerate() {
        let report = month_report(&state, &signed, &code, period, as_of_unix_ms).await?;
        months.push(month_row(t, index, &report));
        for case in &report.disputed {
            if disputed.iter().all(|row| row.case_id != case.case_id) {
                disputed.push(DisputedRow {
                    case_id: case.case_id.clone(),
                    period: report.period.clone(),
                    requester: super::evidence::county_text(t, &case.requester_county),
                    words: in_words::dispute(&case.reason, t),
                    reason: case.reason.clone(),
                });
            }
        }
        latest = Some(report);
    }
    // Open overdue cases are of any period: the latest report (at the instant) lists them.
    let latest = latest.unwrap_or_default();
    let overdue = latest
        .overdue
        .iter()
        .map(|case| OverdueRow {
            case_id: case.case_id.clone(),
            kind: kind_name(t, case.kind),
            requester: super::evidence::county_text(t, &case.requester_county),
            delivered: moment(t, case.delivered_at_unix_ms),
            due: deadline(t, case.due_at_unix_ms),
            working_days: case.working_days_overdue,
            escalated: case.escalated,
        })
        .collect();
    let node_state = match &node {
        Some(node) => {
            Some(node_state(&state, t, node, &revocations, directory_version, now).await?)
        }
        None => None,
    };
    let chart_width = BAR_GAP + (BAR_WIDTH + BAR_GAP) * MONTHS as u32;
    let page = CountyPage {
        t,
        signed: Some(signed),
        name: county_name(&code, node.as_ref().map_or("", |node| node.name.as_str())),
        prefecture: prefecture_of(&code).map_or_else(
            || t.no_prefecture.to_string(),
            |(code, name)| format!("{name}（{code}）"),
        ),
        code,
        as_of_link: if as_of_error.is_none() {
            super::compliance::encode(query.as_of.trim())
        } else {
            String::new()
        },
        as_of_input: query.as_of.trim().to_string(),
        as_of_error,
        as_of: t.instant(as_of_unix_ms),
        months,
        chart_width,
        overdue,
        overdue_total: latest.overdue_total,
        disputed,
        node: node_state,
        directory_version,
    };
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_is_said_with_its_recovery_in_either_language() {
        use crate::console::i18n::{EN, ZH};
        // 2026-12-03 10:00 in Asia/Shanghai.
        let recovering = crate::compliance::Recovery {
            backup_of_unix_ms: 1_796_263_200_000,
            peers_pending: 3,
            replayed: 507,
            rebuilt: 12,
            needs_clerk: 0,
        };
        let line = recovery_line(&ZH, &recovering);
        assert_eq!(
            line.words,
            "从 2026年12月3日 10:00 的备份恢复；正在向 3 个节点恢复；已重放 507 条消息；已重建 12 条；0 项需人工处理"
        );
        assert_eq!(line.class, "state-warn");
        let recovered = crate::compliance::Recovery {
            peers_pending: 0,
            ..recovering
        };
        let line = recovery_line(&EN, &recovered);
        assert_eq!(
            line.words,
            "restored from a backup of 2026-12-03 10:00; recovered; 507 messages replayed; 12 rebuilt; 0 items need a clerk"
        );
        assert_eq!(line.class, "state-ok");
        let for_a_clerk = crate::compliance::Recovery {
            needs_clerk: 2,
            ..recovered
        };
        assert_eq!(recovery_line(&EN, &for_a_clerk).class, "state-warn");
    }

    #[test]
    fn six_months_end_with_the_instants_month_across_a_new_year() {
        let day = mpx_proto::time::parse_date("2027-02-10").unwrap();
        let instant = mpx_proto::calendar::end_of_day_unix_ms(day) - 1;
        assert_eq!(
            months_ending_at(instant),
            [
                "2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02"
            ]
        );
    }
}
