//! How the CLI prints what the node returns: aligned tables, labelled fields, JSON lines. Stored
//! text may come from a peer, so everything printed is escaped for the terminal.

use super::*;

/// A case's state as a table shows it: a case held for want of a route says so.
pub(super) fn case_state_text(case: &v1::Case) -> String {
    if case.no_route {
        format!("{} (无路由暂存 held: no route)", state_label(case.state()))
    } else {
        state_label(case.state()).to_string()
    }
}

/// A person as JSON: every field of the field table, named as in the proto.
pub(super) fn person_json(person: &v1::Person) -> serde_json::Value {
    mpx_proto::person::to_json(person)
}

/// A case as JSON: every field, named as in the proto.
pub(super) fn case_json(case: &v1::Case) -> serde_json::Value {
    mpx_proto::case_kind::case_json(case)
}

pub(super) fn print_fields(fields: &[(&str, String)]) {
    let width = fields
        .iter()
        .map(|(label, _)| label.width())
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        if value.is_empty() {
            continue;
        }
        let padding = " ".repeat(width - label.width());
        // Stored text may come from a peer: print it so the terminal cannot interpret it.
        println!("{label}{padding}  {}", terminal_safe(value));
    }
}

pub(super) fn print_person(person: &v1::Person) {
    let fields: Vec<(&str, String)> = mpx_proto::person::FIELDS
        .iter()
        .map(|field| (field.label, field.display_text(person)))
        .collect();
    print_fields(&fields);
}

pub(super) fn print_case(case: &v1::Case) {
    print_fields(&[
        ("案件 Case", case.case_id.clone()),
        ("类型 Kind", kind_label(case.kind()).to_string()),
        (
            "方向 Direction",
            direction_label(case.direction()).to_string(),
        ),
        ("发起 From", case.requester_county.clone()),
        ("接收 To", case.recipient_county.clone()),
        ("状态 State", case_state_text(case)),
        (
            "优先级 Priority",
            priority_label(case.priority()).to_string(),
        ),
        (
            "对象 Subject",
            format!(
                "{} {}",
                case.subject_name,
                mpx_proto::resident_id::mask(&case.resident_id)
            ),
        ),
        ("事项 Questions", case.questions.clone()),
        ("答复 Answer", case.answer.clone()),
        ("结论 Verdict", verdict_label(case.verdict()).to_string()),
        ("转办 Redirected to", case.redirected_to_county.clone()),
        ("原案件 Parent case", case.parent_case_id.clone()),
        ("转办案件 Linked case", case.child_case_id.clone()),
        ("发起时间 Opened", format_unix_ms(case.opened_at_unix_ms)),
        (
            "送达时间 Delivered",
            if case.delivered_at_unix_ms > 0 {
                format_unix_ms(case.delivered_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "受理时间 Accepted",
            if case.accepted_at_unix_ms > 0 {
                format_unix_ms(case.accepted_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "答复时间 Responded",
            if case.responded_at_unix_ms > 0 {
                format_unix_ms(case.responded_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "截止时间 Due",
            if case.due_at_unix_ms > 0 {
                mpx_proto::time::format_due(case.due_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "受理截止 Accept by",
            if case.acceptance_due_at_unix_ms > 0 {
                mpx_proto::time::format_due(case.acceptance_due_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "临时截止 Provisional",
            if case.due_provisional {
                format!(
                    "是 yes: calendar {} has an unpublished year",
                    case.calendar_version
                )
            } else {
                String::new()
            },
        ),
        (
            "逾期答复 Answered late",
            if case.answered_late {
                "是 yes".into()
            } else {
                String::new()
            },
        ),
        (
            "延期 Extension",
            match case.extension_state.as_str() {
                "" => String::new(),
                state => format!("{state} ({} working days)", case.extension_working_days),
            },
        ),
        (
            "延期截止 Extended due",
            if case.extended_due_at_unix_ms > 0 {
                mpx_proto::time::format_due(case.extended_due_at_unix_ms)
            } else {
                String::new()
            },
        ),
        ("原因 Reason", case.reason.clone()),
        ("经办 Handled by", case.handled_by.clone()),
    ]);
}
