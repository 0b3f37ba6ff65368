//! 案件证据 (/cases/{id}): everything both sides reported about one case, from the
//! `CaseEvidence` call of `mpx.v1.Compliance` (in process, as the signed-in operator, audited
//! as `registry evidence` is), with each signature's check, the times that decided lateness,
//! the verdict and why, and the dispute in words. Printable as it stands.
//!
//! The verdict is read from the verified evidence the page shows, by the rules of
//! `compliance::figures`: on time when the signed response is earlier than the signed due
//! instant; a withdrawal before the due instant takes the case out of the figures.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::compliance_server::Compliance;
use mpx_proto::v1::{CaseDirection, CaseEvidenceRequest, CaseEvidenceResponse, StoredCaseEvent};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::{ConsoleError, ConsoleQuery, ConsoleState, in_words};

/// A page that only says something: a refusal or an absence, with its status.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    t: &'static Msgs,
    signed: Option<Signed>,
    title: &'static str,
    text: String,
}

/// A message page with `status` (e.g. an unknown county: 404, a malformed id: 400).
pub(super) fn message(
    status: StatusCode,
    signed: Signed,
    title: &'static str,
    text: &str,
) -> Response {
    let page = MessagePage {
        t: signed.t,
        signed: Some(signed),
        title,
        text: text.to_string(),
    };
    (status, page).into_response()
}

/// An instant to the second in the province's time zone, as the page's language writes days:
/// evidence is read to the second.
pub(super) fn moment(t: &'static Msgs, unix_ms: i64) -> String {
    if unix_ms <= 0 {
        return "—".into();
    }
    let Ok(timestamp) = jiff::Timestamp::from_millisecond(unix_ms) else {
        return "—".into();
    };
    let local = timestamp.to_zoned_datetime(mpx_proto::time::province_time_zone());
    format!(
        "{} {:02}:{:02}:{:02}",
        t.date(unix_ms),
        local.hour(),
        local.minute(),
        local.second()
    )
}

/// A deadline (an exclusive end-of-day instant) as its last day and 24:00, so nobody reads
/// it as a day later than meant.
pub(super) fn deadline(t: &'static Msgs, due_at_unix_ms: i64) -> String {
    if due_at_unix_ms <= 0 {
        return "—".into();
    }
    let day = t.date(due_at_unix_ms - 1);
    let at_midnight = jiff::Timestamp::from_millisecond(due_at_unix_ms).is_ok_and(|instant| {
        let local = instant.to_zoned_datetime(mpx_proto::time::province_time_zone());
        local.hour() == 0 && local.minute() == 0 && local.second() == 0
    });
    if at_midnight {
        format!("{day} 24:00")
    } else {
        moment(t, due_at_unix_ms)
    }
}

/// A county as clerks know it: name (from the shipped GB/T 2260 table) and code; the province
/// itself for the cases it assigned.
pub(super) fn county_text(t: &'static Msgs, code: &str) -> String {
    if crate::compliance::is_provincial(code) {
        return format!("{}（{code}）", t.province_assigned);
    }
    mpx_proto::division::DivisionTable::shipped()
        .county_name(code)
        .map_or_else(|| code.to_string(), |name| format!("{name}（{code}）"))
}

/// A case kind's name in the page's language.
pub(super) fn kind_name(t: &'static Msgs, kind: i32) -> &'static str {
    match mpx_proto::case_kind::spec(kind) {
        Some(spec) if t.lang == "en" => spec.name_en,
        Some(spec) => spec.name_zh,
        None => "—",
    }
}

/// The times that decide lateness, from verified evidence only (as `compliance::merge` takes
/// them), and the requester's own acts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Decisive {
    delivered: i64,
    due: i64,
    acceptance_due: i64,
    accepted: i64,
    responded: i64,
    extended_due: i64,
    withdrawn: i64,
    closed: i64,
}

fn decisive(events: &[StoredCaseEvent]) -> Decisive {
    let mut times = Decisive::default();
    for stored in events {
        let Some(report) = &stored.report else {
            continue;
        };
        let verified = stored.verification == "verified";
        let by_requester = report.role() == CaseDirection::Outbound;
        match report.event.as_str() {
            "delivered" if verified && times.delivered == 0 => {
                if let Some(receipt) = report.receipt.as_ref().and_then(|e| e.receipt.as_ref()) {
                    times.delivered = receipt.received_at_unix_ms;
                    times.due = receipt.due_at_unix_ms;
                    times.acceptance_due = receipt.acceptance_due_at_unix_ms;
                }
            }
            "accepted" if verified && times.accepted == 0 => {
                times.accepted = report
                    .response
                    .as_ref()
                    .map_or(0, |r| r.responded_at_unix_ms);
            }
            "responded" | "redirected" if verified && times.responded == 0 => {
                times.responded = report
                    .response
                    .as_ref()
                    .map_or(0, |r| r.responded_at_unix_ms);
            }
            "extension_granted" if by_requester => {
                times.extended_due = report.extended_due_at_unix_ms
            }
            "withdrawn" if by_requester => times.withdrawn = report.at_unix_ms,
            "closed" if by_requester => times.closed = report.at_unix_ms,
            _ => {}
        }
    }
    times
}

/// What the evidence says about the case's timeliness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    NotDelivered,
    OnTime,
    Late,
    Withdrawn,
    OpenOverdue,
    Open,
}

fn verdict(times: &Decisive, now_unix_ms: i64) -> Verdict {
    if times.delivered == 0 || times.due == 0 {
        return Verdict::NotDelivered;
    }
    let answered_before_withdrawal = times.responded > 0 && times.responded <= times.withdrawn;
    if times.withdrawn > 0 && times.withdrawn < times.due && !answered_before_withdrawal {
        return Verdict::Withdrawn;
    }
    if times.responded > 0 {
        return if times.responded < times.due {
            Verdict::OnTime
        } else {
            Verdict::Late
        };
    }
    if times.due <= now_unix_ms {
        Verdict::OpenOverdue
    } else {
        Verdict::Open
    }
}

/// One report as shown.
struct EventRow {
    event: &'static str,
    at: String,
    received: String,
    /// What the evidence itself says (receipt or response), in words.
    evidence: Vec<String>,
    /// verified, none or rejected (the row's class and the test's hook).
    check: &'static str,
    check_text: String,
    /// The registry's recorded reason for a rejection.
    check_detail: String,
}

/// One side's reports, in the order things happened.
struct Side {
    /// The table's id: `requester-reports` or `recipient-reports`.
    id: &'static str,
    title: &'static str,
    code: String,
    rows: Vec<EventRow>,
}

/// One row of the deciding times.
struct TimeRow {
    what: &'static str,
    at: String,
    source: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "evidence.html")]
struct EvidencePage {
    t: &'static Msgs,
    signed: Option<Signed>,
    case_id: String,
    kind: &'static str,
    priority: &'static str,
    requester: String,
    requester_code: String,
    recipient: String,
    recipient_code: String,
    parent_case_id: String,
    verdict: &'static str,
    verdict_class: &'static str,
    /// The instant the verdict is read at.
    verdict_at: String,
    why: String,
    times: Vec<TimeRow>,
    /// The requester's reports, then the recipient's.
    sides: Vec<Side>,
    dispute: String,
    dispute_words: Option<&'static str>,
}

fn event_name(t: &'static Msgs, event: &str) -> &'static str {
    match event {
        "sent" => t.event_sent,
        "delivered" => t.event_delivered,
        "accepted" => t.event_accepted,
        "responded" => t.event_responded,
        "redirected" => t.event_redirected,
        "reminded" => t.event_reminded,
        "escalated" => t.event_escalated,
        "extension_granted" => t.event_extension,
        "withdrawn" => t.event_withdrawn,
        "closed" => t.event_closed,
        _ => "—",
    }
}

fn event_row(t: &'static Msgs, stored: &StoredCaseEvent) -> EventRow {
    let report = stored.report.clone().unwrap_or_default();
    let mut evidence = Vec::new();
    if let Some(receipt) = report.receipt.as_ref().and_then(|e| e.receipt.as_ref()) {
        evidence.push(format!(
            "{} {}；{} {}",
            t.delivered_at,
            moment(t, receipt.received_at_unix_ms),
            t.due_at,
            deadline(t, receipt.due_at_unix_ms)
        ));
        evidence.push(format!("{} {}", t.receipt_of_message, receipt.message_id));
    }
    if let Some(response) = &report.response {
        let outcome = match response.outcome_kind.as_str() {
            "accepted" => t.outcome_accepted.to_string(),
            "answered" => t.outcome_answered.to_string(),
            "redirected" => format!(
                "{} {}",
                t.outcome_redirected,
                county_text(t, &response.redirect_to_county)
            ),
            other => other.to_string(),
        };
        evidence.push(format!(
            "{outcome}：{} {}",
            t.signed_at,
            moment(t, response.responded_at_unix_ms)
        ));
        if !response.handled_by.is_empty() {
            evidence.push(format!("{} {}", t.handled_by, response.handled_by));
        }
    }
    if report.arrived_at_unix_ms > 0 {
        evidence.push(format!(
            "{} {}",
            t.arrived_at,
            moment(t, report.arrived_at_unix_ms)
        ));
    }
    if report.extended_due_at_unix_ms > 0 {
        evidence.push(format!(
            "{} {}",
            t.extended_due_at,
            deadline(t, report.extended_due_at_unix_ms)
        ));
    }
    let (check, check_text, check_detail) = match stored.verification.as_str() {
        "verified" => ("verified", format!("✓ {}", t.verified), String::new()),
        "no evidence" => ("none", format!("— {}", t.no_evidence), String::new()),
        repeat if repeat.starts_with(crate::compliance::REPEAT_LABEL_PREFIX) => (
            "repeat",
            format!("↻ {}", t.repeat_report),
            repeat.to_string(),
        ),
        recorded => {
            let reason = recorded.strip_prefix("rejected: ").unwrap_or(recorded);
            let words = in_words::rejection(reason, t);
            (
                "rejected",
                format!(
                    "✗ {}{}",
                    t.rejected,
                    words.map(|w| format!("：{w}")).unwrap_or_default()
                ),
                reason.to_string(),
            )
        }
    };
    EventRow {
        event: event_name(t, &report.event),
        at: moment(t, report.at_unix_ms),
        received: moment(t, stored.received_at_unix_ms),
        evidence,
        check,
        check_text,
        check_detail,
    }
}

fn why(t: &'static Msgs, verdict: Verdict, times: &Decisive) -> String {
    match verdict {
        Verdict::NotDelivered => t.why_no_receipt.to_string(),
        Verdict::OnTime => format!(
            "{} {}{} {}。",
            t.why_signed_at,
            moment(t, times.responded),
            t.why_on_or_before,
            deadline(t, times.due)
        ),
        Verdict::Late => format!(
            "{} {}{} {}。",
            t.why_signed_at,
            moment(t, times.responded),
            t.why_after,
            deadline(t, times.due)
        ),
        Verdict::Withdrawn => format!("{} {}。", t.why_withdrawn, moment(t, times.withdrawn)),
        Verdict::OpenOverdue => format!("{} {}。", t.why_not_answered, deadline(t, times.due)),
        Verdict::Open => format!("{} {}。", t.why_not_yet_due, deadline(t, times.due)),
    }
}

fn deciding_times(t: &'static Msgs, times: &Decisive) -> Vec<TimeRow> {
    let mut rows = vec![
        TimeRow {
            what: t.delivered_at,
            at: moment(t, times.delivered),
            source: t.source_receipt,
        },
        TimeRow {
            what: t.acceptance_due_at,
            at: deadline(t, times.acceptance_due),
            source: t.source_receipt,
        },
        TimeRow {
            what: t.accepted_at,
            at: moment(t, times.accepted),
            source: t.source_acceptance,
        },
        TimeRow {
            what: t.due_at,
            at: deadline(t, times.due),
            source: t.source_receipt,
        },
        TimeRow {
            what: t.responded_at,
            at: moment(t, times.responded),
            source: t.source_response,
        },
    ];
    for (what, at) in [
        (t.extended_due_at, times.extended_due),
        (t.withdrawn_at, times.withdrawn),
        (t.closed_at, times.closed),
    ] {
        if at > 0 {
            let at = if what == t.extended_due_at {
                deadline(t, at)
            } else {
                moment(t, at)
            };
            rows.push(TimeRow {
                what,
                at,
                source: t.source_requester,
            });
        }
    }
    rows
}

fn evidence_page(signed: Signed, evidence: CaseEvidenceResponse, now_unix_ms: i64) -> EvidencePage {
    let t = signed.t;
    let first = evidence
        .events
        .iter()
        .find_map(|e| e.report.clone())
        .unwrap_or_default();
    let times = decisive(&evidence.events);
    let verdict = verdict(&times, now_unix_ms);
    let (verdict_text, verdict_class) = match verdict {
        Verdict::NotDelivered => (t.verdict_not_delivered, "state-warn"),
        Verdict::OnTime => (t.verdict_on_time, "state-ok"),
        Verdict::Late => (t.verdict_late, "state-bad"),
        Verdict::Withdrawn => (t.verdict_withdrawn, "state-ok"),
        Verdict::OpenOverdue => (t.verdict_open_overdue, "state-bad"),
        Verdict::Open => (t.verdict_open, "state-warn"),
    };
    let side = |direction: CaseDirection| -> Vec<EventRow> {
        evidence
            .events
            .iter()
            .filter(|e| e.report.as_ref().is_some_and(|r| r.role() == direction))
            .map(|e| event_row(t, e))
            .collect()
    };
    EvidencePage {
        t,
        case_id: evidence.case_id.clone(),
        kind: kind_name(t, first.kind),
        priority: match first.priority() {
            mpx_proto::v1::CasePriority::Urgent => t.priority_urgent,
            _ => t.priority_normal,
        },
        requester: county_text(t, &first.requester_county),
        requester_code: first.requester_county.clone(),
        recipient: county_text(t, &first.recipient_county),
        recipient_code: first.recipient_county.clone(),
        parent_case_id: first.parent_case_id.clone(),
        verdict: verdict_text,
        verdict_class,
        verdict_at: moment(t, now_unix_ms),
        why: why(t, verdict, &times),
        times: deciding_times(t, &times),
        sides: vec![
            Side {
                id: "requester-reports",
                title: t.requester,
                code: first.requester_county.clone(),
                rows: side(CaseDirection::Outbound),
            },
            Side {
                id: "recipient-reports",
                title: t.recipient,
                code: first.recipient_county.clone(),
                rows: side(CaseDirection::Inbound),
            },
        ],
        dispute_words: (!evidence.dispute.is_empty())
            .then(|| in_words::dispute(&evidence.dispute, t))
            .flatten(),
        dispute: evidence.dispute,
        signed: Some(signed),
    }
}

/// `?as_of=YYYY-MM-DD` (or an RFC 3339 instant): read the verdict at that instant, as the
/// county page that links here reads its figures (empty or unreadable: now).
#[derive(Debug, Default, Deserialize)]
pub struct EvidenceQuery {
    #[serde(default)]
    as_of: String,
}

/// `/cases/{id}`: a malformed id is 400 and an unknown case 404, each a page saying so.
pub async fn page(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(case_id): Path<String>,
    ConsoleQuery(query): ConsoleQuery<EvidenceQuery>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let as_of = match query.as_of.trim() {
        "" => mpx_proto::time::now_unix_ms(),
        text => {
            crate::compliance::parse_as_of(text).unwrap_or_else(|_| mpx_proto::time::now_unix_ms())
        }
    };
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        CaseEvidenceRequest {
            case_id: case_id.clone(),
        },
    );
    let evidence = match state.compliance.case_evidence(request).await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                signed,
                t.case_evidence,
                t.bad_case_id,
            ));
        }
        Err(status) if status.code() == tonic::Code::NotFound => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                signed,
                t.case_evidence,
                t.unknown_case,
            ));
        }
        Err(status) => {
            tracing::error!(%status, "province console: case evidence failed");
            return Err(ConsoleError::Unavailable(t));
        }
    };
    let page = evidence_page(signed, evidence, as_of);
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_follows_the_signed_times() {
        let times = Decisive {
            delivered: 1_000,
            due: 10_000,
            ..Default::default()
        };
        assert_eq!(verdict(&times, 5_000), Verdict::Open);
        assert_eq!(verdict(&times, 10_000), Verdict::OpenOverdue);
        let answered = |at| Decisive {
            responded: at,
            ..times.clone()
        };
        assert_eq!(verdict(&answered(9_999), 20_000), Verdict::OnTime);
        assert_eq!(
            verdict(&answered(10_000), 20_000),
            Verdict::Late,
            "due is exclusive"
        );
        let withdrawn = Decisive {
            withdrawn: 5_000,
            ..times.clone()
        };
        assert_eq!(verdict(&withdrawn, 20_000), Verdict::Withdrawn);
        assert_eq!(verdict(&Decisive::default(), 20_000), Verdict::NotDelivered);
    }

    #[test]
    fn a_deadline_reads_as_its_last_day_at_24_00() {
        use crate::console::i18n::ZH;
        let day = mpx_proto::time::parse_date("2026-12-15").unwrap();
        let due = mpx_proto::calendar::end_of_day_unix_ms(day);
        assert_eq!(deadline(&ZH, due), "2026年12月15日 24:00");
        assert_eq!(moment(&ZH, due), "2026年12月16日 00:00:00");
        assert_eq!(deadline(&ZH, 0), "—");
    }
}
