//! Folding both sides' reports into the provincial view of one case ([`merge`]), and why a case is
//! disputed ([`dispute_of`]). Verifying the evidence first is `verify.rs`'s; scoring the merged
//! cases is `figures.rs`'s.

use mpx_proto::v1::{self, CaseDirection};

use super::{
    CLOCK_SKEW_MS, CaseRecord, Rules, Verification, due_date_of, is_provincial, kind_label,
    priority_label,
};

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

#[cfg(test)]
mod tests {
    use mpx_proto::calendar::WorkingCalendar;

    use super::*;
    use crate::compliance::tests::case;

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
}
