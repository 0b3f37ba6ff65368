//! Compliance, independent of gRPC and SQL: reporting periods, merging both sides' case events
//! into the provincial view of a case, and the per-county figures of a period.
//!
//! Every timestamp that is scored comes from verified evidence: the recipient's signed receipt
//! (delivery, due date, acceptance due date) and its signed responses (acceptance, answer or
//! redirection). The definitions are in the README ("Compliance figures").
//!
//! # Layout
//!
//! - here: the shared types ([`Period`], [`CaseRecord`], [`Verification`], [`Rules`]) and small
//!   helpers (case kind and priority labels, due days, provincial requesters);
//! - `verify`: checking a report's signed evidence ([`verify()`]);
//! - `merge`: folding both sides' reports into one case ([`merge()`], [`dispute_of`]);
//! - `figures`: what a period's report counts and how counties rank ([`tally_due`],
//!   [`tally_overdue`], [`report()`]);
//! - `restore`: a county node restored from a backup: its recovery as it says it
//!   ([`Recovery`]) and the province alert a new restore raises ([`restore_alert`]).
//!
//! Callers use the items re-exported here (`crate::compliance::X`), not the submodules.

use jiff::civil::{Date, ISOWeekDate, Weekday};
use mpx_proto::calendar::WorkingCalendar;
use mpx_proto::v1;

mod figures;
mod merge;
mod restore;
mod verify;

pub use figures::{
    CountyOverdue, DueGroup, DueTally, OverdueTally, ReportInput, counts_in_report,
    is_open_overdue, report, tally_due, tally_overdue, working_days_overdue,
};
pub use merge::{Merged, RaisedAlert, dispute_of, merge};
pub use restore::{RESTORED, Recovery, restore_alert, restore_case_id, restore_detail_in};
pub use verify::verify;

/// A reporting period: `[start, end)` in days of the province's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start: Date,
    pub end: Date,
}

impl Period {
    /// `YYYY-MM-DD` (day), `YYYY-Www` (ISO week), `YYYY-MM` (month), `YYYY-Qn` (quarter),
    /// `YYYY-Hn` (half-year), or `YYYY-MM-DD..YYYY-MM-DD` (any range of days, both included:
    /// the five- and ten-day rounds of a supervision campaign).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((first, last)) = text.split_once("..") {
            return Self::range(text, first.trim(), last.trim());
        }
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

    /// The days `first` to `last`, both included.
    fn range(text: &str, first: &str, last: &str) -> Result<Self, String> {
        let day = |which: &str, value: &str| {
            mpx_proto::time::parse_date(value).map_err(|_| {
                format!("{text:?}: the {which} day of a range is YYYY-MM-DD (e.g. 2026-11-01..2026-11-10)")
            })
        };
        let start = day("first", first)?;
        let last = day("last", last)?;
        if last < start {
            return Err(format!("{text:?}: the last day comes before the first"));
        }
        let end = last
            .tomorrow()
            .map_err(|_| format!("{text:?}: the last day is out of range"))?;
        Ok(Self {
            label: format!("{start}..{last}"),
            start,
            end,
        })
    }
}

/// `--as-of` (and the console's 截至日期): a date (the end of that day in the province) or an
/// RFC 3339 instant, as Unix milliseconds.
pub fn parse_as_of(text: &str) -> Result<i64, String> {
    if let Ok(date) = mpx_proto::time::parse_date(text) {
        return Ok(mpx_proto::calendar::end_of_day_unix_ms(date) - 1);
    }
    let instant: jiff::Timestamp = text.parse().map_err(|_| {
        format!("--as-of {text:?}: expected YYYY-MM-DD or an RFC 3339 time like 2026-12-01T09:00:00+08:00")
    })?;
    Ok(instant.as_millisecond())
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

    /// Whether a stored report with this label was folded into its case (not rejected, refused
    /// or a repeat).
    pub fn label_was_merged(label: &str) -> bool {
        label == "verified" || label == "no evidence"
    }
}

/// How a stored repeat's label begins ([`repeat_label`]).
pub const REPEAT_LABEL_PREFIX: &str = "repeat of seq ";

/// The stored label of a report that repeats one already merged from the same reporter (same
/// case, event and instant under a new sequence number: a node restored from a backup re-reports
/// what it rebuilt from its peers). It is kept, for the cursor and the evidence trail, and not
/// merged again: a second "reminded" would count a reminder twice.
pub fn repeat_label(original_seq: i64) -> String {
    format!("{REPEAT_LABEL_PREFIX}{original_seq} (after a restore)")
}

/// Whether `report` repeats `stored` (from the same reporter): the same case, event and
/// instant with the same evidence and parties; only the sequence number and the reporter's
/// arrival time may differ (a node rebuilding what it lost no longer knows when the evidence
/// first reached it). Altered evidence under an old event's instant is no repeat: it is
/// verified and merged as any report, so a forged receipt is still refused with an alert, and
/// a second, different signed receipt still makes the case disputed.
pub fn repeats(report: &v1::CaseEventReport, stored: &v1::CaseEventReport) -> bool {
    let comparable = |report: &v1::CaseEventReport| v1::CaseEventReport {
        seq: 0,
        arrived_at_unix_ms: 0,
        ..report.clone()
    };
    comparable(report) == comparable(stored)
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

/// The stored label of a case kind (the case-kind table's).
fn kind_label(kind: i32) -> &'static str {
    mpx_proto::case_kind::kind_label(kind)
}

/// The kind a stored label names.
pub fn kind_from_label(label: &str) -> v1::CaseKind {
    mpx_proto::case_kind::kind_from_label(label).unwrap_or(v1::CaseKind::Unspecified)
}

/// The stored label of a priority; a report without one says `unspecified` (the node reads an
/// unspecified priority as normal, but the evidence keeps what was reported).
fn priority_label(priority: i32) -> &'static str {
    match v1::CasePriority::try_from(priority) {
        Ok(v1::CasePriority::Unspecified) | Err(_) => "unspecified",
        Ok(priority) => mpx_proto::case_kind::priority_label(priority),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_has_the_same_event_and_evidence_under_another_sequence_number() {
        let original = v1::CaseEventReport {
            seq: 3,
            case_id: "c".into(),
            event: "responded".into(),
            at_unix_ms: 1_000,
            arrived_at_unix_ms: 1_100,
            response: Some(v1::ResponseEvidence {
                responded_at_unix_ms: 1_000,
                ..Default::default()
            }),
            ..Default::default()
        };
        let rebuilt = v1::CaseEventReport {
            seq: 103,
            arrived_at_unix_ms: 9_000,
            ..original.clone()
        };
        assert!(repeats(&rebuilt, &original));
        let later = v1::CaseEventReport {
            at_unix_ms: 2_000,
            ..rebuilt.clone()
        };
        assert!(!repeats(&later, &original), "another instant");
        let mut altered = rebuilt.clone();
        altered.response.as_mut().unwrap().responded_at_unix_ms = 900;
        assert!(!repeats(&altered, &original), "other evidence");
    }

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
            ("2026-11-01..2026-11-05", "2026-11-01", "2026-11-06"),
            (" 2026-11-30 .. 2026-12-09 ", "2026-11-30", "2026-12-10"),
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
            "2026-11-05..2026-11-01",
            "2026-11..2026-12",
            "2026-11-01..",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    /// A case as the store holds it, for the tests of `merge` and `figures`.
    pub(super) fn case(
        id: &str,
        recipient: &str,
        delivered: i64,
        due: i64,
        responded: i64,
    ) -> CaseRecord {
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
}
