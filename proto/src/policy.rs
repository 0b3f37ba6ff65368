//! Feedback deadlines per case kind and priority, as distributed with the directory, and the
//! due-date computation both sides of a case perform identically.

use crate::calendar::{Reckoned, WorkingCalendar};
use crate::v1::{CaseKind, CasePriority, Deadline, DeadlinePolicy, DeadlineUnit};

/// Why a policy text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Parses `"10wd"` (working days) or `"14cd"` (calendar days).
pub fn parse_deadline(text: &str) -> Result<Deadline, PolicyError> {
    let text = text.trim();
    let (number, unit) = if let Some(number) = text.strip_suffix("wd") {
        (number, DeadlineUnit::WorkingDays)
    } else if let Some(number) = text.strip_suffix("cd") {
        (number, DeadlineUnit::CalendarDays)
    } else {
        return Err(PolicyError(format!(
            "{text:?}: expected e.g. \"10wd\" (working days) or \"14cd\" (calendar days)"
        )));
    };
    let amount: u32 = number
        .trim()
        .parse()
        .map_err(|_| PolicyError(format!("{text:?}: the amount must be a whole number")))?;
    if amount == 0 || amount > 365 {
        return Err(PolicyError(format!(
            "{text:?}: the amount must be 1 to 365"
        )));
    }
    Ok(Deadline {
        amount,
        unit: unit as i32,
    })
}

/// `"10wd"` / `"14cd"`.
pub fn format_deadline(deadline: &Deadline) -> String {
    match deadline.unit() {
        DeadlineUnit::CalendarDays => format!("{}cd", deadline.amount),
        _ => format!("{}wd", deadline.amount),
    }
}

fn working_days(amount: u32) -> Option<Deadline> {
    Some(Deadline {
        amount,
        unit: DeadlineUnit::WorkingDays as i32,
    })
}

/// The defaults (DESIGN §5), from the case-kind table: urgent 10 working days, normal 20,
/// notice confirmation 20, acceptance 2. Requests come first, then notices: the order
/// [`policy_version`] has always digested, so existing versions stay what they were.
pub fn default_policies() -> Vec<DeadlinePolicy> {
    let requests = crate::case_kind::KINDS
        .iter()
        .filter(|spec| spec.clerk_may_open);
    let others = crate::case_kind::KINDS
        .iter()
        .filter(|spec| !spec.clerk_may_open);
    requests
        .chain(others)
        .flat_map(|spec| {
            spec.response_working_days
                .iter()
                .map(|(priority, days)| DeadlinePolicy {
                    kind: spec.kind as i32,
                    priority: *priority as i32,
                    acceptance: working_days(spec.acceptance_working_days),
                    response: working_days(*days),
                })
        })
        .collect()
}

/// A short identifier of a policy set (digest of its contents).
pub fn policy_version(policies: &[DeadlinePolicy]) -> String {
    let text: String = policies
        .iter()
        .map(|p| {
            format!(
                "{}/{}:{}/{};",
                p.kind,
                p.priority,
                p.acceptance
                    .as_ref()
                    .map(format_deadline)
                    .unwrap_or_default(),
                p.response.as_ref().map(format_deadline).unwrap_or_default()
            )
        })
        .collect();
    format!("p@{}", &crate::sha256_hex(text.as_bytes())[..8])
}

/// The policy for a case: the exact kind and priority, else the kind at normal priority.
pub fn policy_for(
    policies: &[DeadlinePolicy],
    kind: CaseKind,
    priority: CasePriority,
) -> Option<&DeadlinePolicy> {
    let priority = if priority == CasePriority::Unspecified {
        CasePriority::Normal
    } else {
        priority
    };
    policies
        .iter()
        .find(|p| p.kind() == kind && p.priority() == priority)
        .or_else(|| {
            policies
                .iter()
                .find(|p| p.kind() == kind && p.priority() == CasePriority::Normal)
        })
}

/// The end of `deadline` for something delivered at `delivered_at_unix_ms`.
pub fn due_at(
    calendar: &WorkingCalendar,
    delivered_at_unix_ms: i64,
    deadline: &Deadline,
) -> Reckoned<i64> {
    match deadline.unit() {
        DeadlineUnit::CalendarDays => Reckoned {
            value: calendar.due_after_calendar_days(delivered_at_unix_ms, deadline.amount),
            provisional: false,
        },
        _ => calendar.due_after_working_days(delivered_at_unix_ms, deadline.amount),
    }
}

/// Both deadlines of a case, as the recipient signs them into its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseDeadlines {
    pub acceptance_due_at_unix_ms: i64,
    pub due_at_unix_ms: i64,
    pub provisional: bool,
    pub calendar_version: String,
    pub policy_version: String,
}

/// Computes a case's deadlines from its delivery instant.
pub fn case_deadlines(
    calendar: &WorkingCalendar,
    calendar_version: &str,
    policies: &[DeadlinePolicy],
    policy_version: &str,
    kind: CaseKind,
    priority: CasePriority,
    delivered_at_unix_ms: i64,
) -> CaseDeadlines {
    let Some(policy) = policy_for(policies, kind, priority) else {
        return CaseDeadlines::default();
    };
    let acceptance = policy
        .acceptance
        .as_ref()
        .map(|d| due_at(calendar, delivered_at_unix_ms, d));
    let response = policy
        .response
        .as_ref()
        .map(|d| due_at(calendar, delivered_at_unix_ms, d));
    CaseDeadlines {
        acceptance_due_at_unix_ms: acceptance.map(|r| r.value).unwrap_or(0),
        due_at_unix_ms: response.map(|r| r.value).unwrap_or(0),
        provisional: acceptance.is_some_and(|r| r.provisional)
            || response.is_some_and(|r| r.provisional),
        calendar_version: calendar_version.to_string(),
        policy_version: policy_version.to_string(),
    }
}

/// The calendar as sent in the directory.
pub fn calendar_to_proto(calendar: &WorkingCalendar) -> Vec<crate::v1::CalendarYear> {
    calendar
        .years()
        .map(|year| crate::v1::CalendarYear {
            year: i32::from(year.year),
            published: year.published,
            source: year.source.clone(),
            off_dates: year.off.iter().map(ToString::to_string).collect(),
            work_dates: year.work.iter().map(ToString::to_string).collect(),
        })
        .collect()
}

/// The calendar from the directory.
pub fn calendar_from_proto(
    years: &[crate::v1::CalendarYear],
) -> Result<WorkingCalendar, crate::calendar::CalendarError> {
    let mut parsed = Vec::new();
    for year in years {
        let file = format!("directory calendar {}", year.year);
        let number =
            i16::try_from(year.year).map_err(|_| crate::calendar::CalendarError::Invalid {
                file: file.clone(),
                message: format!("year {}: expected 1949 to 2200", year.year),
            })?;
        let parse = |text: &String| -> Result<jiff::civil::Date, crate::calendar::CalendarError> {
            text.parse()
                .map_err(|_| crate::calendar::CalendarError::Invalid {
                    file: file.clone(),
                    message: format!("{text:?} is not a YYYY-MM-DD date"),
                })
        };
        parsed.push(crate::calendar::CalendarYear::from_days(
            &file,
            number,
            year.published,
            year.source.clone(),
            year.off_dates.iter().map(parse).collect::<Result<_, _>>()?,
            year.work_dates
                .iter()
                .map(parse)
                .collect::<Result<_, _>>()?,
        )?);
    }
    WorkingCalendar::new(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_from_the_directory_is_held_to_the_rules_of_a_calendar_file() {
        let year =
            |year: i32, published: bool, off: &[&str], work: &[&str]| crate::v1::CalendarYear {
                year,
                published,
                source: "test".into(),
                off_dates: off.iter().map(|d| d.to_string()).collect(),
                work_dates: work.iter().map(|d| d.to_string()).collect(),
            };
        let good = year(2026, true, &["2026-10-01"], &["2026-10-10"]);
        assert!(calendar_from_proto(std::slice::from_ref(&good)).is_ok());
        for (bad, expected) in [
            (year(2026, true, &["2025-10-01"], &[]), "is not in 2026"),
            (year(2026, true, &[], &["2026-10-12"]), "not a weekend day"),
            (
                year(2026, true, &["2026-10-10"], &["2026-10-10"]),
                "both a day off",
            ),
            (year(2026, false, &["2026-10-01"], &[]), "unpublished year"),
            (year(70_000, true, &[], &[]), "expected 1949 to 2200"),
            (year(0, false, &[], &[]), "expected 1949 to 2200"),
            (year(2026, true, &["10/1"], &[]), "not a YYYY-MM-DD date"),
        ] {
            let error = calendar_from_proto(std::slice::from_ref(&bad))
                .expect_err(expected)
                .to_string();
            assert!(error.contains(expected), "{bad:?}: {error}");
        }
        assert!(
            calendar_from_proto(&[good.clone(), good]).is_err(),
            "a year twice"
        );
    }

    #[test]
    fn deadlines_parse_and_print() {
        assert_eq!(format_deadline(&parse_deadline("10wd").unwrap()), "10wd");
        assert_eq!(format_deadline(&parse_deadline(" 14cd").unwrap()), "14cd");
        for bad in ["10", "wd", "0wd", "1000cd", "x2wd"] {
            assert!(parse_deadline(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_follow_the_design() {
        let policies = default_policies();
        let urgent = policy_for(&policies, CaseKind::Verification, CasePriority::Urgent).unwrap();
        assert_eq!(urgent.response.as_ref().unwrap().amount, 10);
        let normal =
            policy_for(&policies, CaseKind::Verification, CasePriority::Unspecified).unwrap();
        assert_eq!(normal.response.as_ref().unwrap().amount, 20);
        let notice =
            policy_for(&policies, CaseKind::ResidenceNotice, CasePriority::Urgent).unwrap();
        assert_eq!(
            (
                notice.acceptance.as_ref().unwrap().amount,
                notice.response.as_ref().unwrap().amount
            ),
            (2, 20)
        );
        assert_eq!(
            policy_version(&policies),
            policy_version(&default_policies())
        );
        // The list as it was written out before the case-kind table: same entries, same order,
        // so the version every node and registry has recorded does not change.
        let written_out: Vec<(CaseKind, CasePriority, u32, u32)> = vec![
            (CaseKind::Verification, CasePriority::Normal, 2, 20),
            (CaseKind::Verification, CasePriority::Urgent, 2, 10),
            (CaseKind::RecordTransfer, CasePriority::Normal, 2, 20),
            (CaseKind::RecordTransfer, CasePriority::Urgent, 2, 10),
            (CaseKind::ResidenceNotice, CasePriority::Normal, 2, 20),
        ];
        let derived: Vec<(CaseKind, CasePriority, u32, u32)> = policies
            .iter()
            .map(|p| {
                (
                    p.kind(),
                    p.priority(),
                    p.acceptance.as_ref().unwrap().amount,
                    p.response.as_ref().unwrap().amount,
                )
            })
            .collect();
        assert_eq!(derived, written_out);
        assert!(
            policies
                .iter()
                .all(|p| p.response.as_ref().unwrap().unit() == DeadlineUnit::WorkingDays)
        );
    }

    #[test]
    fn the_calendar_survives_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars");
        let calendar = WorkingCalendar::load_dir(&dir).unwrap();
        let back = calendar_from_proto(&calendar_to_proto(&calendar)).unwrap();
        assert_eq!(back, calendar);
        assert_eq!(back.version(), calendar.version());
    }
}
