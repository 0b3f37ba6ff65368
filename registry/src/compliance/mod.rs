//! Compliance, independent of gRPC and SQL: reporting periods, merging both sides' case events
//! into the provincial view of a case, and the per-county figures of a period.
//!
//! Every timestamp that is scored comes from verified evidence: the recipient's signed receipt
//! (delivery, due date, acceptance due date) and its signed responses (acceptance, answer or
//! redirection). The definitions are in the README ("Compliance figures").

use jiff::civil::{Date, ISOWeekDate, Weekday};
use mpx_proto::calendar::WorkingCalendar;
use mpx_proto::v1::{self, CaseDirection};

/// A reporting period: `[start, end)` in days of the province's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start: Date,
    pub end: Date,
}

impl Period {
    /// `YYYY-MM-DD` (day), `YYYY-Www` (ISO week), `YYYY-MM` (month), `YYYY-Qn` (quarter),
    /// `YYYY-Hn` (half-year).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let expected = "expected YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn or YYYY-Hn (e.g. 2026-11)";
        let bad = || format!("{text:?}: {expected}");
        let (year, rest) = text.split_once('-').ok_or_else(bad)?;
        let year: i16 = year
            .parse()
            .ok()
            .filter(|y| (1970..=2200).contains(y))
            .ok_or_else(bad)?;
        let month_start = |month: i8| Date::new(year, month, 1).map_err(|_| bad());
        let (start, end) = if let Some(week) = rest.strip_prefix('W') {
            let week: i8 = week.parse().map_err(|_| bad())?;
            let start = ISOWeekDate::new(year, week, Weekday::Monday)
                .map_err(|_| format!("{text:?}: {year} has no ISO week {week}"))?
                .date();
            (
                start,
                start
                    .checked_add(jiff::Span::new().days(7))
                    .map_err(|_| bad())?,
            )
        } else if let Some(quarter) = rest.strip_prefix('Q') {
            let quarter: i8 = quarter
                .parse()
                .ok()
                .filter(|q| (1..=4).contains(q))
                .ok_or_else(bad)?;
            let start = month_start((quarter - 1) * 3 + 1)?;
            (
                start,
                start
                    .checked_add(jiff::Span::new().months(3))
                    .map_err(|_| bad())?,
            )
        } else if let Some(half) = rest.strip_prefix('H') {
            let half: i8 = half
                .parse()
                .ok()
                .filter(|h| (1..=2).contains(h))
                .ok_or_else(bad)?;
            let start = month_start((half - 1) * 6 + 1)?;
            (
                start,
                start
                    .checked_add(jiff::Span::new().months(6))
                    .map_err(|_| bad())?,
            )
        } else if rest.len() == 2 {
            let month: i8 = rest
                .parse()
                .ok()
                .filter(|m| (1..=12).contains(m))
                .ok_or_else(bad)?;
            let start = month_start(month)?;
            (
                start,
                start
                    .checked_add(jiff::Span::new().months(1))
                    .map_err(|_| bad())?,
            )
        } else {
            let day = mpx_proto::time::parse_date(text).map_err(|_| bad())?;
            (day, day.tomorrow().map_err(|_| bad())?)
        };
        Ok(Self {
            label: text.to_string(),
            start,
            end,
        })
    }
}

/// The provincial view of one case (a `compliance_cases` row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseRecord {
    pub case_id: String,
    pub kind: String,
    pub priority: String,
    pub requester_county: String,
    pub recipient_county: String,
    pub parent_case_id: String,
    pub opened_at_unix_ms: i64,
    pub delivered_at_unix_ms: i64,
    pub due_at_unix_ms: i64,
    pub due_date: String,
    pub acceptance_due_at_unix_ms: i64,
    pub accepted_at_unix_ms: i64,
    pub responded_at_unix_ms: i64,
    pub response_outcome: String,
    pub response_working_days: i64,
    pub withdrawn_at_unix_ms: i64,
    pub closed_at_unix_ms: i64,
    pub extended_due_at_unix_ms: i64,
    pub reminders: i64,
    pub receipt_by_requester: bool,
    pub receipt_by_recipient: bool,
    pub response_by_requester: bool,
    pub response_by_recipient: bool,
    pub requester_reported_at_unix_ms: i64,
    pub recipient_reported_at_unix_ms: i64,
    pub dispute: String,
}

/// What verifying one report's evidence found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The report carries no evidence (sent, withdrawn, reminded, …).
    NoEvidence,
    Verified,
    Rejected(String),
}

impl Verification {
    pub fn label(&self) -> String {
        match self {
            Verification::NoEvidence => "no evidence".into(),
            Verification::Verified => "verified".into(),
            Verification::Rejected(why) => format!("rejected: {why}"),
        }
    }
}

/// What the registry checks evidence against besides signatures: the deadline rules in force
/// and how far clocks and deliveries may plausibly be apart.
pub struct Rules<'a> {
    pub calendar: &'a WorkingCalendar,
    pub calendar_version: &'a str,
    pub policies: &'a [v1::DeadlinePolicy],
    pub policy_version: &'a str,
    /// How long a signed response or a province assignment may take to reach the other side
    /// before the case is disputed.
    pub max_transit_ms: i64,
}

/// Clocks of two nodes may differ by this much.
pub const CLOCK_SKEW_MS: i64 = 5 * 60_000;

/// Whether `county` is a province acting as requester (its code padded to six digits).
pub fn is_provincial(county: &str) -> bool {
    county.len() == 6 && county.ends_with("0000")
}

/// Checks a report's evidence against the recipient's certificate (DER; `None` when the
/// registry has none). Receipts and responses are both signed by the recipient of the case. A
/// receipt must name the case, and its due dates must be the ones the rules give for its
/// delivery time (when it was computed under the calendar and policies in force).
pub fn verify(
    report: &v1::CaseEventReport,
    recipient_certificate: Option<&[u8]>,
    rules: &Rules<'_>,
) -> Verification {
    let evidence_expected = matches!(
        report.event.as_str(),
        "delivered" | "accepted" | "responded" | "redirected"
    );
    if !evidence_expected {
        return Verification::NoEvidence;
    }
    let Some(certificate) = recipient_certificate else {
        return Verification::Rejected(format!(
            "no certificate of county {} to verify against",
            report.recipient_county
        ));
    };
    if report.event == "delivered" {
        let Some(evidence) = &report.receipt else {
            return Verification::Rejected("a delivery without the signed receipt".into());
        };
        let Some(receipt) = &evidence.receipt else {
            return Verification::Rejected("a delivery without the signed receipt".into());
        };
        if receipt.status() != v1::ReceiptStatus::Stored {
            return Verification::Rejected("the receipt is not a STORED receipt".into());
        }
        if mpx_proto::evidence::verify_receipt(certificate, receipt, &evidence.envelope_sha256)
            .is_err()
        {
            return Verification::Rejected(format!(
                "the receipt for message {} does not verify against county {}'s certificate",
                receipt.message_id, report.recipient_county
            ));
        }
        if receipt.case_id != report.case_id {
            return Verification::Rejected(format!(
                "the receipt is for case {:?}, not this one",
                receipt.case_id
            ));
        }
        if receipt.calendar_version == rules.calendar_version
            && receipt.policy_version == rules.policy_version
        {
            let expected = mpx_proto::policy::case_deadlines(
                rules.calendar,
                rules.calendar_version,
                rules.policies,
                rules.policy_version,
                report.kind(),
                report.priority(),
                receipt.received_at_unix_ms,
            );
            if expected.due_at_unix_ms != receipt.due_at_unix_ms
                || expected.acceptance_due_at_unix_ms != receipt.acceptance_due_at_unix_ms
            {
                return Verification::Rejected(format!(
                    "the signed due date {} is not what calendar {} and policies {} give for a delivery at {} ({})",
                    mpx_proto::time::format_due(receipt.due_at_unix_ms),
                    rules.calendar_version,
                    rules.policy_version,
                    mpx_proto::time::format_unix_ms(receipt.received_at_unix_ms),
                    mpx_proto::time::format_due(expected.due_at_unix_ms)
                ));
            }
        }
        return Verification::Verified;
    }
    let Some(response) = &report.response else {
        return Verification::Rejected(format!("{} without the signed response", report.event));
    };
    if response.case_id != report.case_id {
        return Verification::Rejected("the response is for another case".into());
    }
    let kind_matches = match report.event.as_str() {
        "accepted" => response.outcome_kind == "accepted",
        "redirected" => response.outcome_kind == "redirected",
        _ => response.outcome_kind == "answered",
    };
    if !kind_matches {
        return Verification::Rejected(format!(
            "a {} event carries a {:?} response",
            report.event, response.outcome_kind
        ));
    }
    match mpx_proto::evidence::verify_response_evidence(certificate, response) {
        Ok(()) => Verification::Verified,
        Err(_) => Verification::Rejected(format!(
            "the response does not verify against county {}'s certificate",
            report.recipient_county
        )),
    }
}

fn kind_label(kind: i32) -> &'static str {
    match v1::CaseKind::try_from(kind) {
        Ok(v1::CaseKind::ResidenceNotice) => "residence_notice",
        Ok(v1::CaseKind::Verification) => "verification",
        Ok(v1::CaseKind::RecordTransfer) => "record_transfer",
        _ => "unspecified",
    }
}

pub fn kind_from_label(label: &str) -> v1::CaseKind {
    match label {
        "residence_notice" => v1::CaseKind::ResidenceNotice,
        "verification" => v1::CaseKind::Verification,
        "record_transfer" => v1::CaseKind::RecordTransfer,
        _ => v1::CaseKind::Unspecified,
    }
}

fn priority_label(priority: i32) -> &'static str {
    match v1::CasePriority::try_from(priority) {
        Ok(v1::CasePriority::Urgent) => "urgent",
        Ok(v1::CasePriority::Normal) => "normal",
        _ => "unspecified",
    }
}

/// The due day of an exclusive end-of-day deadline, as `YYYY-MM-DD`.
pub fn due_date_of(due_at_unix_ms: i64) -> String {
    if due_at_unix_ms <= 0 {
        return String::new();
    }
    mpx_proto::time::date_of_unix_ms(due_at_unix_ms - 1)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// An alert that merging a report raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlert {
    pub kind: &'static str,
    pub county: String,
    pub counterpart_county: String,
    pub detail: String,
}

fn time(unix_ms: i64) -> String {
    mpx_proto::time::format_unix_ms(unix_ms)
}

/// The outcome of folding one report into its case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Merged {
    pub alerts: Vec<RaisedAlert>,
    /// Why the report was refused (stored, not applied), if it was.
    pub refused: Option<String>,
}

/// Folds one report (from `reporter`, already checked to be a party in the role it claims)
/// into the case. Evidence that does not verify is not applied: it raises an alert naming the
/// reporter and changes nothing else, so nobody can take a case out of scoring with it.
pub fn merge(
    record: &mut CaseRecord,
    reporter: &str,
    report: &v1::CaseEventReport,
    verification: &Verification,
    rules: &Rules<'_>,
) -> Merged {
    let mut merged = Merged::default();
    let counterpart = if reporter == report.requester_county {
        report.recipient_county.clone()
    } else {
        report.requester_county.clone()
    };
    let refuse = |merged: &mut Merged, why: String| {
        merged.alerts.push(RaisedAlert {
            kind: "EVIDENCE_REJECTED",
            county: reporter.to_string(),
            counterpart_county: counterpart.clone(),
            detail: format!("report from county {reporter} refused: {why}"),
        });
        merged.refused = Some(why);
    };
    if record.case_id.is_empty() {
        if is_provincial(&report.requester_county) {
            refuse(
                &mut merged,
                format!(
                    "the province assigned no case {} to county {reporter}",
                    report.case_id
                ),
            );
            return merged;
        }
        record.case_id = report.case_id.clone();
        record.kind = kind_label(report.kind).to_string();
        record.priority = priority_label(report.priority).to_string();
        record.requester_county = report.requester_county.clone();
        record.recipient_county = report.recipient_county.clone();
        record.parent_case_id = report.parent_case_id.clone();
        record.response_working_days = -1;
    } else if record.requester_county != report.requester_county
        || record.recipient_county != report.recipient_county
    {
        refuse(
            &mut merged,
            format!(
                "case {} is {}→{} at the registry, not {}→{}",
                record.case_id,
                record.requester_county,
                record.recipient_county,
                report.requester_county,
                report.recipient_county
            ),
        );
        return merged;
    }
    if let Verification::Rejected(why) = verification {
        refuse(&mut merged, why.clone());
        return merged;
    }
    let by_requester = report.role() == CaseDirection::Outbound;
    if by_requester {
        record.requester_reported_at_unix_ms =
            record.requester_reported_at_unix_ms.max(report.at_unix_ms);
    } else {
        record.recipient_reported_at_unix_ms =
            record.recipient_reported_at_unix_ms.max(report.at_unix_ms);
    }
    let dispute = |record: &mut CaseRecord, alerts: &mut Vec<RaisedAlert>, why: String| {
        alerts.push(RaisedAlert {
            kind: "DISPUTED",
            county: record.recipient_county.clone(),
            counterpart_county: record.requester_county.clone(),
            detail: why.clone(),
        });
        if record.dispute.is_empty() {
            record.dispute = why;
        }
    };
    let arrived = report.arrived_at_unix_ms;
    match (report.event.as_str(), verification) {
        ("sent", _) if by_requester && !is_provincial(&record.requester_county) => {
            record.opened_at_unix_ms = report.at_unix_ms;
        }
        ("delivered", Verification::Verified) => {
            let receipt = report
                .receipt
                .as_ref()
                .and_then(|e| e.receipt.clone())
                .unwrap_or_default();
            let signed = (
                receipt.received_at_unix_ms,
                receipt.due_at_unix_ms,
                receipt.acceptance_due_at_unix_ms,
            );
            let held = (
                record.delivered_at_unix_ms,
                record.due_at_unix_ms,
                record.acceptance_due_at_unix_ms,
            );
            if record.delivered_at_unix_ms != 0 && held != signed {
                dispute(
                    record,
                    &mut merged.alerts,
                    format!(
                        "two different signed receipts: received {} due {}, and received {} due {}",
                        time(held.0),
                        mpx_proto::time::format_due(held.1),
                        time(signed.0),
                        mpx_proto::time::format_due(signed.1)
                    ),
                );
            } else if record.delivered_at_unix_ms == 0 {
                record.delivered_at_unix_ms = signed.0;
                record.due_at_unix_ms = signed.1;
                record.due_date = due_date_of(signed.1);
                record.acceptance_due_at_unix_ms = signed.2;
            }
            if by_requester && arrived > 0 && signed.0 > arrived + CLOCK_SKEW_MS {
                dispute(
                    record,
                    &mut merged.alerts,
                    format!(
                        "the receipt says received at {}, after it reached the requester at {}",
                        time(signed.0),
                        time(arrived)
                    ),
                );
            }
            if record.opened_at_unix_ms > 0 && signed.0 + CLOCK_SKEW_MS < record.opened_at_unix_ms {
                dispute(
                    record,
                    &mut merged.alerts,
                    format!(
                        "the receipt says received at {}, before the case was opened at {}",
                        time(signed.0),
                        time(record.opened_at_unix_ms)
                    ),
                );
            }
            if is_provincial(&record.requester_county)
                && signed.0 > record.opened_at_unix_ms + rules.max_transit_ms
            {
                dispute(
                    record,
                    &mut merged.alerts,
                    format!(
                        "assigned by the province at {}, taken in by county {} only at {}",
                        time(record.opened_at_unix_ms),
                        record.recipient_county,
                        time(signed.0)
                    ),
                );
            }
            if by_requester {
                record.receipt_by_requester = true;
            } else {
                record.receipt_by_recipient = true;
            }
        }
        ("accepted" | "responded" | "redirected", Verification::Verified) => {
            let response = report.response.clone().unwrap_or_default();
            let at = response.responded_at_unix_ms;
            if by_requester && arrived > 0 {
                if at > arrived + CLOCK_SKEW_MS {
                    dispute(
                        record,
                        &mut merged.alerts,
                        format!(
                            "a response signed at {}, after it reached the requester at {}",
                            time(at),
                            time(arrived)
                        ),
                    );
                } else if arrived - at > rules.max_transit_ms {
                    dispute(
                        record,
                        &mut merged.alerts,
                        format!(
                            "a response signed at {} reached the requester only at {}",
                            time(at),
                            time(arrived)
                        ),
                    );
                }
            }
            if report.event == "accepted" {
                if record.accepted_at_unix_ms == 0 {
                    record.accepted_at_unix_ms = at;
                } else if record.accepted_at_unix_ms != at {
                    dispute(
                        record,
                        &mut merged.alerts,
                        format!(
                            "two different signed acceptances: {} and {}",
                            time(record.accepted_at_unix_ms),
                            time(at)
                        ),
                    );
                }
            } else {
                if record.responded_at_unix_ms == 0 {
                    record.responded_at_unix_ms = at;
                    record.response_outcome = response.outcome_kind.clone();
                } else if record.responded_at_unix_ms != at {
                    dispute(
                        record,
                        &mut merged.alerts,
                        format!(
                            "two different signed responses: {} and {}",
                            time(record.responded_at_unix_ms),
                            time(at)
                        ),
                    );
                }
                if by_requester {
                    record.response_by_requester = true;
                } else {
                    record.response_by_recipient = true;
                }
            }
        }
        ("withdrawn", _) if by_requester => record.withdrawn_at_unix_ms = report.at_unix_ms,
        ("closed", _) if by_requester => record.closed_at_unix_ms = report.at_unix_ms,
        ("extension_granted", _) if by_requester => {
            record.extended_due_at_unix_ms = report.extended_due_at_unix_ms;
        }
        ("reminded", _) if by_requester => record.reminders += 1,
        _ => {}
    }
    // Working days to respond, once both the delivery and the response are known (the two
    // sides' reports interleave).
    if record.response_working_days < 0
        && record.responded_at_unix_ms > 0
        && record.delivered_at_unix_ms > 0
    {
        record.response_working_days = rules
            .calendar
            .working_days_between_instants(record.delivered_at_unix_ms, record.responded_at_unix_ms)
            .value
            .max(0);
    }
    merged
}

/// Why a case is disputed as of `as_of`: a stored disagreement, or evidence one side holds and
/// the other still lacks after `grace_ms` (e.g. a signed response the requester never
/// received), or a province assignment the county has not taken in.
pub fn dispute_of(record: &CaseRecord, as_of_unix_ms: i64, grace_ms: i64) -> Option<String> {
    if !record.dispute.is_empty() {
        return Some(record.dispute.clone());
    }
    let older = |at: i64| at.saturating_add(grace_ms) <= as_of_unix_ms;
    if record.response_by_recipient
        && !record.response_by_requester
        && record.requester_reported_at_unix_ms > 0
        && !is_provincial(&record.requester_county)
        && older(record.responded_at_unix_ms)
    {
        return Some(format!(
            "county {} signed a response at {}, which county {} has not reported receiving",
            record.recipient_county,
            time(record.responded_at_unix_ms),
            record.requester_county
        ));
    }
    if record.receipt_by_recipient
        && !record.receipt_by_requester
        && record.requester_reported_at_unix_ms > 0
        && !is_provincial(&record.requester_county)
        && older(record.delivered_at_unix_ms)
    {
        return Some(format!(
            "county {} reports receiving the case at {}, but county {} holds no receipt for it",
            record.recipient_county,
            time(record.delivered_at_unix_ms),
            record.requester_county
        ));
    }
    if is_provincial(&record.requester_county)
        && record.delivered_at_unix_ms == 0
        && older(record.opened_at_unix_ms)
    {
        return Some(format!(
            "assigned by the province at {}, not yet taken in by county {}",
            time(record.opened_at_unix_ms),
            record.recipient_county
        ));
    }
    None
}

/// Whether a case is scored for its due day: the requester has reported it (so a case one
/// county made up alone counts for nobody), it has a due date (from a verified receipt, or the
/// province's own for an assignment), and it was not withdrawn before it was due.
fn scored(record: &CaseRecord, as_of_unix_ms: i64) -> bool {
    let withdrawn_before_due = record.withdrawn_at_unix_ms > 0
        && record.withdrawn_at_unix_ms <= as_of_unix_ms
        && record.withdrawn_at_unix_ms < record.due_at_unix_ms
        && !(answered_by(record, as_of_unix_ms)
            && record.responded_at_unix_ms <= record.withdrawn_at_unix_ms);
    record.due_at_unix_ms > 0
        && record.requester_reported_at_unix_ms > 0
        && (record.delivered_at_unix_ms > 0 || is_provincial(&record.requester_county))
        && record.delivered_at_unix_ms <= as_of_unix_ms
        && !withdrawn_before_due
}

fn answered_by(record: &CaseRecord, as_of_unix_ms: i64) -> bool {
    record.responded_at_unix_ms > 0 && record.responded_at_unix_ms <= as_of_unix_ms
}

/// Unanswered past its (original) due date as of `as_of`, not withdrawn or closed by then, and
/// reported by the requester (or assigned by the province).
pub fn is_open_overdue(record: &CaseRecord, as_of_unix_ms: i64) -> bool {
    record.requester_reported_at_unix_ms > 0
        && record.due_at_unix_ms > 0
        && record.due_at_unix_ms <= as_of_unix_ms
        && !answered_by(record, as_of_unix_ms)
        && !(record.withdrawn_at_unix_ms > 0 && record.withdrawn_at_unix_ms <= as_of_unix_ms)
        && !(record.closed_at_unix_ms > 0 && record.closed_at_unix_ms <= as_of_unix_ms)
}

/// Working days past due as of `as_of` (the due day itself is day 0).
pub fn working_days_overdue(
    record: &CaseRecord,
    as_of_unix_ms: i64,
    calendar: &WorkingCalendar,
) -> i64 {
    calendar
        .working_days_between_instants(record.due_at_unix_ms - 1, as_of_unix_ms)
        .value
        .max(0)
}

fn rate(numerator: i64, denominator: i64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Scored, undisputed cases due in a period with the same responding county and response time
/// (working days; -1 when unanswered or not known), counted. The registry's store computes
/// these with one `GROUP BY` over the period; [`tally_due`] is the same rule over records, the
/// reference the store is tested against.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueGroup {
    pub county: String,
    pub response_working_days: i64,
    pub requests_due: i64,
    pub responses: i64,
    pub timely: i64,
    pub acceptance_due: i64,
    pub accepted_within_sla: i64,
    pub extended: i64,
}

/// What a report needs of the cases due in its period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueTally {
    /// Scored cases that are not disputed, counted (ordered by county and days).
    pub groups: Vec<DueGroup>,
    /// Scored cases that are disputed as of the report, one by one (ordered by case id).
    pub disputed: Vec<CaseRecord>,
}

/// Whether a case due in the period counts in its report as of `as_of`: scored, and due or
/// answered by then (not yet due and not yet answered: nothing to score yet).
pub fn counts_in_report(record: &CaseRecord, as_of_unix_ms: i64) -> bool {
    scored(record, as_of_unix_ms)
        && (record.due_at_unix_ms <= as_of_unix_ms || answered_by(record, as_of_unix_ms))
}

/// One undisputed scored case as a group of one.
fn group_of(record: &CaseRecord, as_of: i64) -> DueGroup {
    let answered = answered_by(record, as_of);
    let accepted_in_time = [record.accepted_at_unix_ms, record.responded_at_unix_ms]
        .into_iter()
        .any(|t| t > 0 && t <= as_of && t < record.acceptance_due_at_unix_ms);
    DueGroup {
        county: record.recipient_county.clone(),
        response_working_days: if answered && record.response_working_days >= 0 {
            record.response_working_days
        } else {
            -1
        },
        requests_due: 1,
        responses: i64::from(answered),
        timely: i64::from(answered && record.responded_at_unix_ms < record.due_at_unix_ms),
        acceptance_due: i64::from(record.acceptance_due_at_unix_ms > 0),
        accepted_within_sla: i64::from(record.acceptance_due_at_unix_ms > 0 && accepted_in_time),
        extended: i64::from(record.extended_due_at_unix_ms > 0),
    }
}

fn add_group(into: &mut DueGroup, group: &DueGroup) {
    into.requests_due += group.requests_due;
    into.responses += group.responses;
    into.timely += group.timely;
    into.acceptance_due += group.acceptance_due;
    into.accepted_within_sla += group.accepted_within_sla;
    into.extended += group.extended;
}

/// The report's rule over the cases due in a period, record by record.
pub fn tally_due(records: &[CaseRecord], as_of_unix_ms: i64, grace_ms: i64) -> DueTally {
    let mut groups: std::collections::BTreeMap<(String, i64), DueGroup> = Default::default();
    let mut disputed = Vec::new();
    for record in records {
        if !counts_in_report(record, as_of_unix_ms) {
            continue;
        }
        if dispute_of(record, as_of_unix_ms, grace_ms).is_some() {
            disputed.push(record.clone());
            continue;
        }
        let group = group_of(record, as_of_unix_ms);
        let key = (group.county.clone(), group.response_working_days);
        match groups.get_mut(&key) {
            Some(existing) => add_group(existing, &group),
            None => {
                groups.insert(key, group);
            }
        }
    }
    disputed.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    DueTally {
        groups: groups.into_values().collect(),
        disputed,
    }
}

/// One responding county's open overdue cases: how many, and the oldest (earliest due, then
/// case id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountyOverdue {
    pub county: String,
    pub open: i64,
    pub oldest: CaseRecord,
}

/// What a report needs of the cases open past their due date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverdueTally {
    /// Every responding county with open overdue cases (ordered by county).
    pub per_county: Vec<CountyOverdue>,
    /// The oldest ones (of the one county shown, when one is), oldest first, at most the
    /// report's limit.
    pub listed: Vec<CaseRecord>,
}

/// The report's overdue rule over records: the reference for the store's queries.
pub fn tally_overdue(
    records: &[CaseRecord],
    as_of_unix_ms: i64,
    only_county: Option<&str>,
    limit: usize,
) -> OverdueTally {
    let mut open: Vec<&CaseRecord> = records
        .iter()
        .filter(|r| is_open_overdue(r, as_of_unix_ms))
        .collect();
    open.sort_by(|a, b| {
        a.due_at_unix_ms
            .cmp(&b.due_at_unix_ms)
            .then_with(|| a.case_id.cmp(&b.case_id))
    });
    let mut per_county: std::collections::BTreeMap<&str, CountyOverdue> = Default::default();
    for record in &open {
        per_county
            .entry(record.recipient_county.as_str())
            .or_insert_with(|| CountyOverdue {
                county: record.recipient_county.clone(),
                open: 0,
                oldest: (*record).clone(),
            })
            .open += 1;
    }
    OverdueTally {
        per_county: per_county.into_values().collect(),
        listed: open
            .into_iter()
            .filter(|r| only_county.is_none_or(|c| r.recipient_county == c))
            .take(limit)
            .cloned()
            .collect(),
    }
}

/// The median of values given as (value, count) pairs in ascending order of value; -1 when
/// there are none.
fn median_of_counts(counts: &[(i64, i64)]) -> f64 {
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    if total <= 0 {
        return -1.0;
    }
    let nth = |index: i64| {
        let mut seen = 0;
        for (value, n) in counts {
            seen += n;
            if index < seen {
                return *value;
            }
        }
        counts.last().map_or(0, |(value, _)| *value)
    };
    if total % 2 == 1 {
        nth(total / 2) as f64
    } else {
        (nth(total / 2 - 1) + nth(total / 2)) as f64 / 2.0
    }
}

/// Inputs of one report.
pub struct ReportInput<'a> {
    pub period: &'a Period,
    pub as_of_unix_ms: i64,
    pub grace_ms: i64,
    /// Every county to list (the directory), with its name.
    pub counties: Vec<(String, String)>,
    /// The cases whose due day falls in the period.
    pub due: DueTally,
    /// The cases past due and unanswered as of the report's instant (any period).
    pub overdue: OverdueTally,
    /// Case ids with an ESCALATED report.
    pub escalated: std::collections::HashSet<String>,
    pub calendar: &'a WorkingCalendar,
    /// Show only this responding county (ranked among all).
    pub only_county: Option<String>,
}

/// Each county's figures and its response times as (working days, count).
type CountyFigures = std::collections::BTreeMap<String, (v1::CountyCompliance, Vec<(i64, i64)>)>;

/// One county's figures, created empty on first use.
fn figures_of<'m>(
    counties: &'m mut CountyFigures,
    county: &str,
) -> &'m mut (v1::CountyCompliance, Vec<(i64, i64)>) {
    counties.entry(county.to_string()).or_insert_with(|| {
        (
            v1::CountyCompliance {
                county: county.to_string(),
                median_working_days: -1.0,
                ..Default::default()
            },
            Vec::new(),
        )
    })
}

fn add_to_figures(counties: &mut CountyFigures, group: &DueGroup) {
    let (figures, days) = figures_of(counties, &group.county);
    figures.requests_due += group.requests_due;
    figures.responses += group.responses;
    figures.timely += group.timely;
    figures.acceptance_due += group.acceptance_due;
    figures.accepted_within_sla += group.accepted_within_sla;
    figures.extended += group.extended;
    if group.response_working_days >= 0 && group.responses > 0 {
        days.push((group.response_working_days, group.responses));
    }
}

/// The figures of every county for one period, ranked.
pub fn report(input: ReportInput<'_>) -> v1::ComplianceReportResponse {
    use std::collections::BTreeMap;
    let as_of = input.as_of_unix_ms;
    let mut counties: CountyFigures = BTreeMap::new();
    for (county, name) in &input.counties {
        figures_of(&mut counties, county).0.name = name.clone();
    }
    for group in &input.due.groups {
        add_to_figures(&mut counties, group);
    }
    let mut disputed = Vec::new();
    for record in &input.due.disputed {
        // A disputed case is listed with its reason and counts as due but not answered, so a
        // county cannot improve its figures by causing a dispute; it is scored normally once
        // the two sides agree.
        let Some(reason) = dispute_of(record, as_of, input.grace_ms) else {
            add_to_figures(&mut counties, &group_of(record, as_of));
            continue;
        };
        let (figures, _) = figures_of(&mut counties, &record.recipient_county);
        figures.requests_due += 1;
        figures.disputed += 1;
        if record.acceptance_due_at_unix_ms > 0 {
            figures.acceptance_due += 1;
        }
        disputed.push(v1::DisputedCase {
            case_id: record.case_id.clone(),
            requester_county: record.requester_county.clone(),
            recipient_county: record.recipient_county.clone(),
            reason,
        });
    }
    let overdue_case = |record: &CaseRecord| v1::OverdueCase {
        case_id: record.case_id.clone(),
        kind: kind_from_label(&record.kind) as i32,
        requester_county: record.requester_county.clone(),
        recipient_county: record.recipient_county.clone(),
        delivered_at_unix_ms: record.delivered_at_unix_ms,
        due_at_unix_ms: record.due_at_unix_ms,
        working_days_overdue: working_days_overdue(record, as_of, input.calendar),
        escalated: input.escalated.contains(&record.case_id),
    };
    let mut overdue_total = 0;
    for county in &input.overdue.per_county {
        let (figures, _) = figures_of(&mut counties, &county.county);
        figures.open_overdue += county.open;
        figures.oldest_overdue_case_id = county.oldest.case_id.clone();
        figures.oldest_overdue_working_days = overdue_case(&county.oldest).working_days_overdue;
        if input
            .only_county
            .as_ref()
            .is_none_or(|only| only == &county.county)
        {
            overdue_total += county.open;
        }
    }
    let mut overdue: Vec<v1::OverdueCase> = input.overdue.listed.iter().map(overdue_case).collect();
    overdue.sort_by(|a, b| {
        a.due_at_unix_ms
            .cmp(&b.due_at_unix_ms)
            .then_with(|| a.case_id.cmp(&b.case_id))
    });
    let mut rows: Vec<v1::CountyCompliance> = counties
        .into_values()
        .map(|(mut figures, mut days)| {
            figures.response_rate = rate(figures.responses, figures.requests_due);
            figures.timely_rate = rate(figures.timely, figures.requests_due);
            figures.acceptance_rate = rate(figures.accepted_within_sla, figures.acceptance_due);
            days.sort_unstable();
            figures.median_working_days = median_of_counts(&days);
            figures
        })
        .collect();
    // Exact ordering on the integer counts (no float ties): timely rate, then response rate,
    // then fewer open overdue cases, then the county code.
    rows.sort_by(|a, b| {
        let ranked = |f: &v1::CountyCompliance| f.requests_due > 0;
        ranked(b)
            .cmp(&ranked(a))
            .then_with(|| {
                (i128::from(b.timely) * i128::from(a.requests_due))
                    .cmp(&(i128::from(a.timely) * i128::from(b.requests_due)))
            })
            .then_with(|| {
                (i128::from(b.responses) * i128::from(a.requests_due))
                    .cmp(&(i128::from(a.responses) * i128::from(b.requests_due)))
            })
            .then_with(|| a.open_overdue.cmp(&b.open_overdue))
            .then_with(|| a.county.cmp(&b.county))
    });
    for (index, figures) in rows.iter_mut().enumerate() {
        if figures.requests_due > 0 {
            figures.rank = u32::try_from(index + 1).unwrap_or(u32::MAX);
        }
    }
    disputed.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    // One county's view keeps its province-wide rank.
    if let Some(county) = &input.only_county {
        rows.retain(|f| &f.county == county);
        overdue.retain(|c| &c.recipient_county == county);
        disputed.retain(|c| &c.recipient_county == county);
    }
    v1::ComplianceReportResponse {
        period: input.period.label.clone(),
        period_start: input.period.start.to_string(),
        period_end: input.period.end.to_string(),
        as_of_unix_ms: as_of,
        counties: rows,
        overdue,
        disputed,
        calendar_version: input.calendar.version(),
        overdue_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_to_their_days() {
        let cases = [
            ("2026-11", "2026-11-01", "2026-12-01"),
            ("2026-12", "2026-12-01", "2027-01-01"),
            ("2026-Q4", "2026-10-01", "2027-01-01"),
            ("2026-H1", "2026-01-01", "2026-07-01"),
            ("2026-W01", "2025-12-29", "2026-01-05"),
            ("2026-W49", "2026-11-30", "2026-12-07"),
            ("2026-11-30", "2026-11-30", "2026-12-01"),
        ];
        for (text, start, end) in cases {
            let period = Period::parse(text).unwrap();
            assert_eq!(
                (period.start.to_string(), period.end.to_string()),
                (start.to_string(), end.to_string()),
                "{text}"
            );
        }
        for bad in [
            "2026",
            "2026-13",
            "2026-Q5",
            "2026-H3",
            "2026-W54",
            "x-11",
            "2026-11-31",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    fn case(id: &str, recipient: &str, delivered: i64, due: i64, responded: i64) -> CaseRecord {
        CaseRecord {
            case_id: id.into(),
            kind: "verification".into(),
            requester_county: "621202".into(),
            recipient_county: recipient.into(),
            delivered_at_unix_ms: delivered,
            due_at_unix_ms: due,
            due_date: due_date_of(due),
            acceptance_due_at_unix_ms: delivered + 1000,
            accepted_at_unix_ms: responded,
            responded_at_unix_ms: responded,
            response_working_days: if responded > 0 {
                (responded - delivered) / 100
            } else {
                -1
            },
            requester_reported_at_unix_ms: delivered,
            ..Default::default()
        }
    }

    #[test]
    fn rates_ranking_and_overdue_from_hand_counted_cases() {
        let calendar = WorkingCalendar::new(Vec::new()).unwrap();
        let period = Period::parse("2026-11").unwrap();
        // B: one timely (2 WD), one late (8 WD), one unanswered. C: one timely (0 WD).
        let due = 1_800_000_000_000; // any instant after the responses below
        let records = vec![
            case("b1", "B", 1_000, due, 1_200),
            case("b2", "B", 1_000, due, due + 800),
            case("b3", "B", 1_000, due, 0),
            case("c1", "C", 1_000, due, 1_000),
        ];
        let as_of = due + 10 * 86_400_000;
        let result = report(ReportInput {
            period: &period,
            as_of_unix_ms: as_of,
            grace_ms: 0,
            counties: vec![
                ("B".into(), "b".into()),
                ("C".into(), "c".into()),
                ("D".into(), "d".into()),
            ],
            due: tally_due(&records, as_of, 0),
            overdue: tally_overdue(&records, as_of, None, 100),
            escalated: Default::default(),
            calendar: &calendar,
            only_county: None,
        });
        let by = |c: &str| {
            result
                .counties
                .iter()
                .find(|f| f.county == c)
                .unwrap()
                .clone()
        };
        let (b, c, d) = (by("B"), by("C"), by("D"));
        assert_eq!((b.requests_due, b.responses, b.timely), (3, 2, 1));
        assert!((b.response_rate - 2.0 / 3.0).abs() < 1e-9);
        assert!((b.timely_rate - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(
            (b.open_overdue, b.oldest_overdue_case_id.as_str()),
            (1, "b3")
        );
        assert_eq!((c.requests_due, c.timely, c.rank), (1, 1, 1));
        assert_eq!(b.rank, 2);
        assert_eq!(
            (d.rank, d.requests_due, d.median_working_days),
            (0, 0, -1.0)
        );
        assert_eq!(result.counties[0].county, "C");
        assert_eq!(result.overdue.len(), 1);
        assert_eq!(c.median_working_days, 0.0);
    }

    #[test]
    fn a_response_the_requester_never_received_is_disputed_not_scored() {
        let mut record = case("x", "B", 1_000, 5_000, 2_000);
        record.response_by_recipient = true;
        record.requester_reported_at_unix_ms = 1_000;
        assert!(
            dispute_of(&record, 2_500, 1_000).is_none(),
            "within the grace period"
        );
        assert!(
            dispute_of(&record, 3_000, 1_000)
                .unwrap()
                .contains("has not reported")
        );
        record.response_by_requester = true;
        assert!(dispute_of(&record, 3_000, 1_000).is_none());
    }

    fn rules(calendar: &WorkingCalendar) -> Rules<'_> {
        Rules {
            calendar,
            calendar_version: "test",
            policies: &[],
            policy_version: "test",
            max_transit_ms: 86_400_000,
        }
    }

    fn event(event: &str, role: CaseDirection, at: i64) -> v1::CaseEventReport {
        v1::CaseEventReport {
            seq: 1,
            case_id: "c".into(),
            event: event.into(),
            at_unix_ms: at,
            role: role as i32,
            requester_county: "621202".into(),
            recipient_county: "621221".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_response_signed_after_it_arrived_is_disputed_and_bad_evidence_changes_nothing() {
        let calendar = WorkingCalendar::new(Vec::new()).unwrap();
        let rules = rules(&calendar);
        let mut record = CaseRecord::default();
        merge(
            &mut record,
            "621202",
            &event("sent", CaseDirection::Outbound, 1_000),
            &Verification::NoEvidence,
            &rules,
        );
        let mut answer = event("responded", CaseDirection::Outbound, 900_000_000);
        answer.arrived_at_unix_ms = 10_000;
        answer.response = Some(v1::ResponseEvidence {
            case_id: "c".into(),
            responded_at_unix_ms: 900_000_000,
            outcome_kind: "answered".into(),
            ..Default::default()
        });
        let merged = merge(
            &mut record,
            "621202",
            &answer,
            &Verification::Verified,
            &rules,
        );
        assert!(
            record.dispute.contains("after it reached the requester"),
            "{record:?}"
        );
        assert_eq!(merged.alerts[0].kind, "DISPUTED");

        let mut clean = CaseRecord::default();
        merge(
            &mut clean,
            "621202",
            &event("sent", CaseDirection::Outbound, 1_000),
            &Verification::NoEvidence,
            &rules,
        );
        let before = clean.clone();
        let merged = merge(
            &mut clean,
            "621221",
            &event("delivered", CaseDirection::Inbound, 2_000),
            &Verification::Rejected("bad signature".into()),
            &rules,
        );
        assert_eq!(clean, before, "rejected evidence changes nothing");
        assert_eq!(merged.alerts[0].kind, "EVIDENCE_REJECTED");
        assert_eq!(merged.alerts[0].county, "621221");
        assert!(merged.refused.is_some());
    }

    #[test]
    fn a_provincial_case_the_province_never_assigned_is_refused() {
        let calendar = WorkingCalendar::new(Vec::new()).unwrap();
        let mut made_up = event("delivered", CaseDirection::Inbound, 2_000);
        made_up.requester_county = "620000".into();
        let mut record = CaseRecord::default();
        let merged = merge(
            &mut record,
            "621221",
            &made_up,
            &Verification::Verified,
            &rules(&calendar),
        );
        assert!(merged.refused.unwrap().contains("assigned no case"));
        assert!(record.case_id.is_empty());
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median_of_counts(&[(1, 1), (2, 1), (3, 1)]), 2.0);
        assert_eq!(median_of_counts(&[(1, 1), (2, 1), (3, 1), (4, 1)]), 2.5);
        // 1, 1, 1, 5, 9 and 1, 1, 5, 5, 9, 9.
        assert_eq!(median_of_counts(&[(1, 3), (5, 1), (9, 1)]), 1.0);
        assert_eq!(median_of_counts(&[(1, 2), (5, 2), (9, 2)]), 5.0);
        assert_eq!(median_of_counts(&[(1, 1), (5, 0), (9, 1)]), 5.0);
        assert_eq!(median_of_counts(&[]), -1.0);
    }
}
