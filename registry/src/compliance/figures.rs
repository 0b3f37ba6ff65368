//! The figures of a period: which cases are scored, the due and overdue tallies (the reference
//! the store's SQL is tested against), rates, medians and the ranking of counties ([`report`]).
//! Merging reports into cases and disputes are `merge.rs`'s.

use mpx_proto::calendar::WorkingCalendar;
use mpx_proto::v1;

use super::{CaseRecord, Period, dispute_of, is_provincial, kind_from_label};

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

/// One county's figures, created empty on first use, named as the shipped GB/T 2260 table
/// names it (the directory's name, where an admin gave one, replaces it).
fn figures_of<'m>(
    counties: &'m mut CountyFigures,
    county: &str,
) -> &'m mut (v1::CountyCompliance, Vec<(i64, i64)>) {
    counties.entry(county.to_string()).or_insert_with(|| {
        let name = mpx_proto::division::DivisionTable::shipped()
            .county_name(county)
            .unwrap_or_default()
            .to_string();
        (
            v1::CountyCompliance {
                county: county.to_string(),
                name,
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
        if !name.trim().is_empty() {
            figures_of(&mut counties, county).0.name = name.clone();
        } else {
            figures_of(&mut counties, county);
        }
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
    use crate::compliance::tests::case;

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
