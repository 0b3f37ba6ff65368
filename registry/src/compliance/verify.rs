//! Checking one report's evidence: the recipient's signed receipt or response, against its
//! certificate and the deadline rules in force. What a verified report changes in its case is
//! `merge.rs`'s.

use mpx_proto::v1;

use super::{Rules, Verification};

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
