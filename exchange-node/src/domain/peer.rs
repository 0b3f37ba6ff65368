//! What a peer sends, checked field by field before anything is applied
//! ([`check_peer_body`]): the same rules as a clerk's input, for every body kind.

use super::*;

/// Checks every field of a body a peer delivered by the rules a clerk's input obeys: people
/// through [`CheckedPerson`], free text through [`text_field`]/[`line_field`] with the same
/// limits, enumerations to known values, ids as UUIDs, dates not after `latest_date`. What
/// depends on the node's state (is the case ours, is the hukou county us) is checked where the
/// body is applied. An error names the field as `notice.person.name`, `response.answered.text`, ….
pub fn check_peer_body(body: &Body, latest_date: Date) -> Result<(), FieldError> {
    use mpx_proto::v1::response::Outcome;
    use mpx_proto::v1::{CasePriority, NoticeKind, NoticeVerdict};
    let mode = CheckDigitMode::Warn;
    match body {
        Body::Notice(notice) => {
            uuid_field("notice.case_id", &notice.case_id)?;
            let kind = match NoticeKind::try_from(notice.kind) {
                Ok(kind) if kind != NoticeKind::Unspecified => kind,
                _ => {
                    return Err(FieldError::new("notice.kind", "ARRIVED, MOVED or DEPARTED"));
                }
            };
            let person = notice
                .person
                .as_ref()
                .ok_or_else(|| FieldError::new("notice.person", "required"))?;
            let checked = CheckedPerson::check(
                person,
                "notice.person",
                mode,
                latest_date,
                kind != NoticeKind::Departed,
            )?;
            let effective = date_field("notice.effective_date", &notice.effective_date, None)?;
            if effective > latest_date {
                return Err(FieldError::new(
                    "notice.effective_date",
                    "must not be in the future",
                ));
            }
            if effective < checked.birth_date {
                return Err(FieldError::new(
                    "notice.effective_date",
                    "must not be before the birth date",
                ));
            }
            if !notice.destination_county.is_empty() {
                county_field("notice.destination_county", &notice.destination_county)?;
            }
        }
        Body::Request(request) => {
            uuid_field("request.case_id", &request.case_id)?;
            if !mpx_proto::case_kind::clerk_may_open(request.kind) {
                return Err(FieldError::new(
                    "request.kind",
                    mpx_proto::case_kind::clerk_kind_names(),
                ));
            }
            if CasePriority::try_from(request.priority).is_err() {
                return Err(FieldError::new(
                    "request.priority",
                    format!(
                        "unknown value {}; expected NORMAL or URGENT",
                        request.priority
                    ),
                ));
            }
            resident_id_field("request.resident_id", &request.resident_id, mode)?;
            line_field(
                "request.subject_name",
                &request.subject_name,
                limits::NAME,
                true,
            )?;
            text_field(
                "request.questions",
                &request.questions,
                limits::QUESTIONS,
                false,
            )?;
            if !request.parent_case_id.is_empty() {
                uuid_field("request.parent_case_id", &request.parent_case_id)?;
            }
        }
        Body::Response(response) => {
            uuid_field("response.case_id", &response.case_id)?;
            if response.responded_at_unix_ms < 0 {
                return Err(FieldError::new(
                    "response.responded_at_unix_ms",
                    "must not be negative",
                ));
            }
            line_field(
                "response.handled_by",
                &response.handled_by,
                limits::OPERATOR,
                true,
            )?;
            match &response.outcome {
                None => return Err(FieldError::new("response.outcome", "required")),
                Some(Outcome::Accepted(acceptance)) => {
                    text_field(
                        "response.accepted.note",
                        &acceptance.note,
                        limits::REASON,
                        true,
                    )?;
                }
                Some(Outcome::Answered(answer)) => {
                    text_field("response.answered.text", &answer.text, limits::ANSWER, true)?;
                    if NoticeVerdict::try_from(answer.verdict).is_err() {
                        return Err(FieldError::new(
                            "response.answered.verdict",
                            format!(
                                "unknown value {}; expected CONFIRMED or DISPUTED",
                                answer.verdict
                            ),
                        ));
                    }
                }
                Some(Outcome::Redirected(redirection)) => {
                    county_field(
                        "response.redirected.redirect_to_county",
                        &redirection.redirect_to_county,
                    )?;
                    text_field(
                        "response.redirected.reason",
                        &redirection.reason,
                        limits::REASON,
                        true,
                    )?;
                }
            }
        }
        Body::Reminder(reminder) => {
            uuid_field("reminder.case_id", &reminder.case_id)?;
            text_field("reminder.text", &reminder.text, limits::REMINDER, true)?;
        }
        Body::Withdrawal(withdrawal) => {
            uuid_field("withdrawal.case_id", &withdrawal.case_id)?;
            text_field(
                "withdrawal.reason",
                &withdrawal.reason,
                limits::REASON,
                true,
            )?;
        }
        Body::RecordShare(share) => {
            uuid_field("record_share.case_id", &share.case_id)?;
            let person = share
                .person
                .as_ref()
                .ok_or_else(|| FieldError::new("record_share.person", "required"))?;
            CheckedPerson::check(person, "record_share.person", mode, latest_date, false)?;
        }
        Body::ExtensionRequest(request) => {
            uuid_field("extension_request.case_id", &request.case_id)?;
            if !(1..=MAX_EXTENSION_WORKING_DAYS).contains(&request.working_days) {
                return Err(FieldError::new(
                    "extension_request.working_days",
                    format!("1 to {MAX_EXTENSION_WORKING_DAYS}"),
                ));
            }
            text_field(
                "extension_request.reason",
                &request.reason,
                limits::REASON,
                false,
            )?;
        }
        Body::ExtensionDecision(decision) => {
            uuid_field("extension_decision.case_id", &decision.case_id)?;
            if decision.granted && decision.extended_due_at_unix_ms <= 0 {
                return Err(FieldError::new(
                    "extension_decision.extended_due_at_unix_ms",
                    "required when granted",
                ));
            }
            text_field(
                "extension_decision.note",
                &decision.note,
                limits::REASON,
                true,
            )?;
        }
    }
    Ok(())
}
