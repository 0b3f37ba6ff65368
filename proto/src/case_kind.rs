//! The kinds of case, each described once ([`KINDS`]): its label (the one spelling in the
//! database, config files, metrics, JSON and the command line), its Chinese and English names,
//! whether a clerk may open it, whether its answer needs a verdict, what a redirect makes of it,
//! and its default deadlines. Labels of the other case enums (state, priority, direction, verdict)
//! are here too. Not here: the state machine, which is the node's (`exchange_node::domain`).
//!
//! Adding a case kind: the contract (`CaseKind` in `common.proto`), one entry here, and the
//! workflow for what is new about it.

use crate::v1::{CaseDirection, CaseKind, CasePriority, CaseState, NoticeVerdict};

/// One kind of case.
#[derive(Debug)]
pub struct KindSpec {
    pub kind: CaseKind,
    /// The one spelling outside the wire format, e.g. `record_transfer`.
    pub label: &'static str,
    /// Its name in Chinese, e.g. 档案转递.
    pub name_zh: &'static str,
    /// Its name in English, e.g. "record transfer".
    pub name_en: &'static str,
    /// A clerk opens it with `OpenCase` (a peer sends it as a request); otherwise the node
    /// sends it by itself (residence notices go with `records add|move|depart`).
    pub clerk_may_open: bool,
    /// Its answer is a verdict (confirmed or disputed) rather than free text alone.
    pub answer_needs_verdict: bool,
    /// The kind of the linked case a redirect opens at the county named (when the redirect
    /// does not correct the roster and re-send a notice instead).
    pub redirected_as: CaseKind,
    /// Default working days to accept it.
    pub acceptance_working_days: u32,
    /// Default working days to answer it, by priority; a priority missing here has no default.
    pub response_working_days: &'static [(CasePriority, u32)],
}

/// Every kind of case, in the contract's order.
pub static KINDS: &[KindSpec] = &[
    KindSpec {
        kind: CaseKind::ResidenceNotice,
        label: "residence_notice",
        name_zh: "居住通报",
        name_en: "residence notice",
        clerk_may_open: false,
        answer_needs_verdict: true,
        redirected_as: CaseKind::Verification,
        acceptance_working_days: 2,
        response_working_days: &[(CasePriority::Normal, 20)],
    },
    KindSpec {
        kind: CaseKind::Verification,
        label: "verification",
        name_zh: "协查",
        name_en: "verification",
        clerk_may_open: true,
        answer_needs_verdict: false,
        redirected_as: CaseKind::Verification,
        acceptance_working_days: 2,
        response_working_days: &[(CasePriority::Normal, 20), (CasePriority::Urgent, 10)],
    },
    KindSpec {
        kind: CaseKind::RecordTransfer,
        label: "record_transfer",
        name_zh: "档案转递",
        name_en: "record transfer",
        clerk_may_open: true,
        answer_needs_verdict: false,
        redirected_as: CaseKind::RecordTransfer,
        acceptance_working_days: 2,
        response_working_days: &[(CasePriority::Normal, 20), (CasePriority::Urgent, 10)],
    },
];

/// The description of `kind`; `None` for `CASE_KIND_UNSPECIFIED` and numbers the contract lacks.
pub fn spec(kind: i32) -> Option<&'static KindSpec> {
    KINDS.iter().find(|spec| spec.kind as i32 == kind)
}

/// The label of `kind` (`unspecified` for anything the table lacks).
pub fn kind_label(kind: i32) -> &'static str {
    spec(kind).map_or("unspecified", |spec| spec.label)
}

/// The kind a label names (the hyphenated spelling, `record-transfer`, is read too).
pub fn kind_from_label(label: &str) -> Option<CaseKind> {
    let label = label.trim().replace('-', "_");
    KINDS
        .iter()
        .find(|spec| spec.label == label)
        .map(|spec| spec.kind)
}

/// The labels of the kinds a clerk may open, joined for messages: `verification or
/// record_transfer`.
pub fn clerk_kind_labels() -> String {
    either_of(
        KINDS
            .iter()
            .filter(|spec| spec.clerk_may_open)
            .map(|spec| spec.label.to_string()),
    )
}

/// The contract names of the kinds a clerk may open: `VERIFICATION or RECORD_TRANSFER`.
pub fn clerk_kind_names() -> String {
    either_of(
        KINDS
            .iter()
            .filter(|spec| spec.clerk_may_open)
            .map(|spec| spec.label.to_uppercase()),
    )
}

/// Every kind's label, for messages: `residence_notice, verification or record_transfer`.
pub fn kind_labels() -> String {
    either_of(KINDS.iter().map(|spec| spec.label.to_string()))
}

/// `a`, `a or b`, `a, b or c`.
fn either_of(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// Whether a clerk (or a peer's request) may open a case of `kind`.
pub fn clerk_may_open(kind: i32) -> bool {
    spec(kind).is_some_and(|spec| spec.clerk_may_open)
}

/// Whether the answer to a case of `kind` needs a verdict.
pub fn answer_needs_verdict(kind: i32) -> bool {
    spec(kind).is_some_and(|spec| spec.answer_needs_verdict)
}

// ---- the other case enums, as stored and shown ------------------------------------------------
//
// Each label is the contract's name in lower case without its prefix (`CASE_STATE_QUEUED` →
// `queued`); a test holds every one of them to that rule.

/// The label of a case's state.
pub fn state_label(state: CaseState) -> &'static str {
    match state {
        CaseState::Unspecified => "unspecified",
        CaseState::Queued => "queued",
        CaseState::Delivered => "delivered",
        CaseState::Accepted => "accepted",
        CaseState::Responded => "responded",
        CaseState::Closed => "closed",
        CaseState::Withdrawn => "withdrawn",
        CaseState::Redirected => "redirected",
        CaseState::Rejected => "rejected",
    }
}

/// Inverse of [`state_label`] (`UNSPECIFIED` for anything else).
pub fn state_from_label(label: &str) -> CaseState {
    (1..)
        .map_while(|number| CaseState::try_from(number).ok())
        .find(|state| state_label(*state) == label)
        .unwrap_or(CaseState::Unspecified)
}

/// The label of a case's direction, as this node sees it.
pub fn direction_label(direction: CaseDirection) -> &'static str {
    match direction {
        CaseDirection::Outbound => "outbound",
        CaseDirection::Inbound => "inbound",
        CaseDirection::Unspecified => "unspecified",
    }
}

/// Inverse of [`direction_label`].
pub fn direction_from_label(label: &str) -> CaseDirection {
    match label {
        "outbound" => CaseDirection::Outbound,
        "inbound" => CaseDirection::Inbound,
        _ => CaseDirection::Unspecified,
    }
}

/// The label of a priority; an unspecified priority is normal.
pub fn priority_label(priority: CasePriority) -> &'static str {
    match priority {
        CasePriority::Urgent => "urgent",
        _ => "normal",
    }
}

/// Inverse of [`priority_label`].
pub fn priority_from_label(label: &str) -> CasePriority {
    match label {
        "urgent" => CasePriority::Urgent,
        _ => CasePriority::Normal,
    }
}

/// The label of a notice's verdict; empty while there is none.
pub fn verdict_label(verdict: NoticeVerdict) -> &'static str {
    match verdict {
        NoticeVerdict::Confirmed => "confirmed",
        NoticeVerdict::Disputed => "disputed",
        NoticeVerdict::Unspecified => "",
    }
}

/// Inverse of [`verdict_label`].
pub fn verdict_from_label(label: &str) -> NoticeVerdict {
    match label {
        "confirmed" => NoticeVerdict::Confirmed,
        "disputed" => NoticeVerdict::Disputed,
        _ => NoticeVerdict::Unspecified,
    }
}

/// A case as JSON: every field of the contract's `Case`, named as in the proto, enums by their
/// labels (a test holds the key set to the contract's, so no field can be left out).
pub fn case_json(case: &crate::v1::Case) -> serde_json::Value {
    serde_json::json!({
        "case_id": case.case_id,
        "kind": kind_label(case.kind),
        "direction": direction_label(case.direction()),
        "requester_county": case.requester_county,
        "recipient_county": case.recipient_county,
        "state": state_label(case.state()),
        "priority": priority_label(case.priority()),
        "resident_id": case.resident_id,
        "subject_name": case.subject_name,
        "questions": case.questions,
        "answer": case.answer,
        "verdict": verdict_label(case.verdict()),
        "redirected_to_county": case.redirected_to_county,
        "parent_case_id": case.parent_case_id,
        "child_case_id": case.child_case_id,
        "opened_at_unix_ms": case.opened_at_unix_ms,
        "delivered_at_unix_ms": case.delivered_at_unix_ms,
        "accepted_at_unix_ms": case.accepted_at_unix_ms,
        "responded_at_unix_ms": case.responded_at_unix_ms,
        "closed_at_unix_ms": case.closed_at_unix_ms,
        "due_at_unix_ms": case.due_at_unix_ms,
        "reason": case.reason,
        "handled_by": case.handled_by,
        "acceptance_due_at_unix_ms": case.acceptance_due_at_unix_ms,
        "due_provisional": case.due_provisional,
        "calendar_version": case.calendar_version,
        "policy_version": case.policy_version,
        "reminded_at_unix_ms": case.reminded_at_unix_ms,
        "working_days_left": case.working_days_left,
        "answered_late": case.answered_late,
        "extension_state": case.extension_state,
        "extension_working_days": case.extension_working_days,
        "extended_due_at_unix_ms": case.extended_due_at_unix_ms,
        "no_route": case.no_route,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_the_contract_has_one_entry() {
        let contract: Vec<CaseKind> = (1..16)
            .filter_map(|number| CaseKind::try_from(number).ok())
            .collect();
        let table: Vec<CaseKind> = KINDS.iter().map(|spec| spec.kind).collect();
        assert_eq!(table, contract);
        for spec in KINDS {
            assert_eq!(kind_from_label(spec.label), Some(spec.kind));
            assert_eq!(kind_label(spec.kind as i32), spec.label);
            assert!(!spec.name_zh.is_empty() && !spec.name_en.is_empty());
        }
        assert_eq!(kind_label(0), "unspecified");
        assert_eq!(
            kind_from_label("record-transfer"),
            Some(CaseKind::RecordTransfer)
        );
    }

    /// `CASE_STATE_QUEUED` → `queued`.
    fn rule(proto_name: &str, prefix: &str) -> String {
        proto_name
            .strip_prefix(prefix)
            .unwrap_or(proto_name)
            .to_lowercase()
    }

    #[test]
    fn every_label_is_the_contract_name_in_lower_case_and_reads_back() {
        for number in 0..16 {
            if let Ok(kind) = CaseKind::try_from(number) {
                assert_eq!(kind_label(number), rule(kind.as_str_name(), "CASE_KIND_"));
            }
            if let Ok(state) = CaseState::try_from(number) {
                assert_eq!(state_label(state), rule(state.as_str_name(), "CASE_STATE_"));
                assert_eq!(state_from_label(state_label(state)), state);
            }
            if let Ok(direction) = CaseDirection::try_from(number) {
                let label = direction_label(direction);
                assert_eq!(label, rule(direction.as_str_name(), "CASE_DIRECTION_"));
                assert_eq!(direction_from_label(label), direction);
            }
            if let Ok(priority) = CasePriority::try_from(number)
                && priority != CasePriority::Unspecified
            {
                let label = priority_label(priority);
                assert_eq!(label, rule(priority.as_str_name(), "CASE_PRIORITY_"));
                assert_eq!(priority_from_label(label), priority);
            }
            if let Ok(verdict) = NoticeVerdict::try_from(number)
                && verdict != NoticeVerdict::Unspecified
            {
                let label = verdict_label(verdict);
                assert_eq!(label, rule(verdict.as_str_name(), "NOTICE_VERDICT_"));
                assert_eq!(verdict_from_label(label), verdict);
            }
        }
        for status in crate::person::STATUSES {
            assert_eq!(
                crate::person::status_label(status),
                rule(status.as_str_name(), "PERSON_STATUS_")
            );
        }
    }

    #[test]
    fn case_json_names_every_field_of_the_contract() {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let case = set
            .file
            .iter()
            .flat_map(|file| &file.message_type)
            .find(|message| message.name() == "Case")
            .expect("Case in the contract");
        let mut contract: Vec<String> = case.field.iter().map(|f| f.name().to_string()).collect();
        contract.sort_unstable();
        let value = case_json(&crate::v1::Case {
            kind: CaseKind::Verification as i32,
            ..Default::default()
        });
        let mut keys: Vec<String> = value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, contract, "case_json and common.proto's Case disagree");
        assert_eq!(value["kind"], "verification");
        assert_eq!(value["priority"], "normal");
    }

    #[test]
    fn clerks_open_verifications_and_record_transfers() {
        assert_eq!(clerk_kind_labels(), "verification or record_transfer");
        assert_eq!(clerk_kind_names(), "VERIFICATION or RECORD_TRANSFER");
        assert!(!clerk_may_open(CaseKind::ResidenceNotice as i32));
        assert!(answer_needs_verdict(CaseKind::ResidenceNotice as i32));
    }
}
