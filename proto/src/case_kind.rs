//! The kinds of case, each described once ([`KINDS`]): its label (the one spelling in the
//! database, config files, metrics, JSON and the command line), its Chinese and English names,
//! whether a clerk may open it, whether its answer needs a verdict, what a redirect makes of it,
//! and its default deadlines. Labels of the other case enums (state, priority, direction, verdict)
//! are here too. Not here: the state machine, which is the node's (`exchange_node::domain`).
//!
//! Adding a case kind: the contract (`CaseKind` in `common.proto`), one entry here, and the
//! workflow for what is new about it.

use crate::v1::{CaseKind, CasePriority};

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

    #[test]
    fn clerks_open_verifications_and_record_transfers() {
        assert_eq!(clerk_kind_labels(), "verification or record_transfer");
        assert_eq!(clerk_kind_names(), "VERIFICATION or RECORD_TRANSFER");
        assert!(!clerk_may_open(CaseKind::ResidenceNotice as i32));
        assert!(answer_needs_verdict(CaseKind::ResidenceNotice as i32));
    }
}
