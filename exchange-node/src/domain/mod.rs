//! The pure domain core: what a field must be, people as validated input (`people`), a peer's
//! message checked before it is applied (`peer`), and the case state machine (`state`). No I/O.

use jiff::civil::Date;
use mpx_proto::division::{CountyCode, DivisionTable};
use mpx_proto::person;
use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::text::{self, Shape, limits};
use mpx_proto::v1::envelope::Body;
use mpx_proto::v1::{self, CaseState, PersonStatus, Sex};

mod peer;
mod people;
mod state;

pub use peer::check_peer_body;
pub use people::{CheckedPerson, NewResident, PlainFields};
pub use state::{CaseAction, MAX_EXTENSION_WORKING_DAYS, TransitionError, is_terminal, next_state};

/// A field that failed validation: the field path and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Parses a county code field: six digits naming a county of the shipped GB/T 2260 edition
/// (`deploy/divisions/`), so a code that is no county (629999) is refused with why, wherever it
/// comes from: a clerk, a file or a peer.
pub fn county_field(field: &str, value: &str) -> Result<CountyCode, FieldError> {
    DivisionTable::shipped()
        .county(value)
        .map_err(|error| FieldError::new(field, error))
}

/// Parses a resident ID field.
pub fn resident_id_field(
    field: &str,
    value: &str,
    mode: CheckDigitMode,
) -> Result<mpx_proto::resident_id::ParsedResidentId, FieldError> {
    ResidentId::parse_with(value, mode).map_err(|error| FieldError::new(field, error))
}

/// A date field (YYYY-MM-DD); `default` when empty.
pub fn date_field(field: &str, value: &str, default: Option<Date>) -> Result<Date, FieldError> {
    if value.trim().is_empty()
        && let Some(default) = default
    {
        return Ok(default);
    }
    mpx_proto::time::parse_date(value).map_err(|message| FieldError::new(field, message))
}

/// Free text that may span lines (questions, answers, notes, reasons): trimmed, at most `max`
/// characters, required unless `optional`, no control, bidirectional or invisible characters
/// (the rule in [`mpx_proto::text`], the same for clerks and peers).
pub fn text_field(
    field: &str,
    value: &str,
    max: usize,
    optional: bool,
) -> Result<String, FieldError> {
    text::check(value, max, Shape::Multiline, optional)
        .map_err(|error| FieldError::new(field, error))
}

/// One line of text (names, addresses, phone numbers): as [`text_field`], and no line breaks
/// or tabs either.
pub fn line_field(
    field: &str,
    value: &str,
    max: usize,
    optional: bool,
) -> Result<String, FieldError> {
    text::check(value, max, Shape::Line, optional).map_err(|error| FieldError::new(field, error))
}

/// A UUID field (message, case ids), in its canonical lowercase form.
pub fn uuid_field(field: &str, value: &str) -> Result<String, FieldError> {
    uuid::Uuid::parse_str(value)
        .map(|id| id.to_string())
        .map_err(|_| FieldError::new(field, format!("expected a UUID, got {}", shown(value))))
}

/// A value quoted in an error message: at most 40 characters, escaped, so an error never
/// carries a peer's megabytes or control characters back.
pub fn shown(value: &str) -> String {
    let head: String = value.chars().take(40).collect();
    let quoted = format!("{:?}", text::terminal_safe(&head));
    if value.chars().nth(40).is_some() {
        format!("{quoted}… ({} characters)", value.chars().count())
    } else {
        quoted
    }
}

/// Lowercase name of a state, as stored and shown (defined once, in [`mpx_proto::case_kind`]).
pub use mpx_proto::case_kind::{state_from_label, state_label};

#[cfg(test)]
mod tests {
    use super::*;
    use CaseState::*;

    fn person() -> v1::Person {
        v1::Person {
            resident_id: "11010519491231002X".into(),
            name: "测试人甲".into(),
            hukou_county: "110105".into(),
            residence_address: "城关镇幸福路1号".into(),
            arrival_date: "2026-03-01".into(),
            ..Default::default()
        }
    }

    fn here() -> CountyCode {
        CountyCode::parse("621202").unwrap()
    }

    const TODAY: Date = Date::constant(2026, 12, 1);

    #[test]
    fn a_valid_resident_takes_sex_and_birth_date_from_the_id() {
        let resident =
            NewResident::parse(&person(), here(), CheckDigitMode::Strict, TODAY).unwrap();
        assert_eq!(resident.sex, Sex::Female);
        assert_eq!(resident.birth_date, Date::constant(1949, 12, 31));
        assert_eq!(resident.residence_county, here());
        assert!(resident.warnings.is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        type Change = Box<dyn Fn(&mut v1::Person)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|p| p.resident_id = "110105194912310021".into()),
                "person.resident_id",
            ),
            (Box::new(|p| p.name = " ".into()), "person.name"),
            (Box::new(|p| p.sex = Sex::Male as i32), "person.sex"),
            (
                Box::new(|p| p.birth_date = "1950-01-01".into()),
                "person.birth_date",
            ),
            (
                Box::new(|p| p.hukou_county = "1101".into()),
                "person.hukou_county",
            ),
            (
                Box::new(|p| p.residence_county = "620102".into()),
                "person.residence_county",
            ),
            (
                Box::new(|p| p.residence_address = String::new()),
                "person.residence_address",
            ),
            (
                Box::new(|p| p.arrival_date = "2027-01-01".into()),
                "person.arrival_date",
            ),
            (
                Box::new(|p| p.arrival_date = "01/03/2026".into()),
                "person.arrival_date",
            ),
            (
                Box::new(|p| p.departure_date = "2026-04-01".into()),
                "person.departure_date",
            ),
            (Box::new(|p| p.phone = "call me".into()), "person.phone"),
            (Box::new(|p| p.notes = "x".repeat(501)), "person.notes"),
        ];
        for (change, field) in cases {
            let mut input = person();
            change(&mut input);
            let error =
                NewResident::parse(&input, here(), CheckDigitMode::Strict, TODAY).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn warn_mode_flags_a_wrong_check_digit() {
        let mut input = person();
        input.resident_id = "110105194912310021".into();
        let resident = NewResident::parse(&input, here(), CheckDigitMode::Warn, TODAY).unwrap();
        assert!(resident.resident_id_flagged);
        assert_eq!(resident.warnings.len(), 1);
    }

    fn notice_from_wudu() -> Body {
        Body::Notice(v1::Notice {
            case_id: "0193a7a0-0000-7000-8000-000000000001".into(),
            kind: v1::NoticeKind::Arrived as i32,
            person: Some(v1::Person {
                residence_county: "621202".into(),
                ..person()
            }),
            effective_date: "2026-03-01".into(),
            destination_county: String::new(),
        })
    }

    /// A peer's body is held to the clerk's rules: each bad field is named, nothing is taken on
    /// trust (seen: a 350 000-character address, NUL, ANSI escapes, U+202E in a name, a birth
    /// date and sex contradicting the ID, an arrival in 2099).
    #[test]
    fn a_peer_body_is_checked_like_a_clerks_input() {
        assert_eq!(check_peer_body(&notice_from_wudu(), TODAY), Ok(()));
        type Change = Box<dyn Fn(&mut v1::Person)>;
        let changes: Vec<(Change, &str)> = vec![
            (
                Box::new(|p| p.residence_address = "路".repeat(350_000)),
                "notice.person.residence_address: at most 200",
            ),
            (
                Box::new(|p| p.residence_address = "幸福路\u{0}1号".into()),
                "notice.person.residence_address: must not contain a control",
            ),
            (
                Box::new(|p| p.residence_address = "\u{1b}[2J\u{1b}[31m幸福路".into()),
                "notice.person.residence_address: must not contain a control",
            ),
            (
                Box::new(|p| p.name = "张\u{202E}三".into()),
                "notice.person.name: must not contain a bidirectional",
            ),
            (
                Box::new(|p| p.birth_date = "1980-01-01".into()),
                "notice.person.birth_date: the resident ID says 1949-12-31",
            ),
            (
                Box::new(|p| p.sex = Sex::Male as i32),
                "notice.person.sex: the resident ID says female",
            ),
            (
                Box::new(|p| p.sex = 7),
                "notice.person.sex: unknown value 7",
            ),
            (
                Box::new(|p| p.arrival_date = "2099-01-01".into()),
                "notice.person.arrival_date: must not be in the future",
            ),
            (
                Box::new(|p| p.phone = "1\n2".into()),
                "notice.person.phone: must not contain a line break",
            ),
            (
                Box::new(|p| p.notes = "x".repeat(501)),
                "notice.person.notes: at most 500",
            ),
        ];
        for (change, expected) in changes {
            let mut body = notice_from_wudu();
            if let Body::Notice(notice) = &mut body {
                change(notice.person.as_mut().unwrap());
            }
            let error = check_peer_body(&body, TODAY).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
        let mut late = notice_from_wudu();
        if let Body::Notice(notice) = &mut late {
            notice.effective_date = "2099-01-01".into();
        }
        assert!(
            check_peer_body(&late, TODAY)
                .unwrap_err()
                .to_string()
                .starts_with("notice.effective_date")
        );
    }

    #[test]
    fn every_body_kind_names_its_bad_field() {
        use mpx_proto::v1::response::Outcome;
        let case_id = "0193a7a0-0000-7000-8000-000000000001".to_string();
        let bodies: Vec<(Body, &str)> = vec![
            (
                Body::Request(v1::Request {
                    case_id: case_id.clone(),
                    kind: v1::CaseKind::Verification as i32,
                    resident_id: "11010519491231002X".into(),
                    questions: "请核实\u{202E}".into(),
                    ..Default::default()
                }),
                "request.questions",
            ),
            (
                Body::Request(v1::Request {
                    case_id: case_id.clone(),
                    kind: v1::CaseKind::Verification as i32,
                    priority: 99,
                    resident_id: "11010519491231002X".into(),
                    questions: "请核实".into(),
                    ..Default::default()
                }),
                "request.priority",
            ),
            (
                Body::Response(v1::Response {
                    case_id: case_id.clone(),
                    outcome: Some(Outcome::Answered(v1::Answer {
                        text: "已核实\u{1b}[8m".into(),
                        verdict: 0,
                    })),
                    ..Default::default()
                }),
                "response.answered.text",
            ),
            (
                Body::Response(v1::Response {
                    case_id: case_id.clone(),
                    handled_by: "x".repeat(65),
                    outcome: Some(Outcome::Accepted(v1::Acceptance::default())),
                    ..Default::default()
                }),
                "response.handled_by",
            ),
            (
                Body::Response(v1::Response {
                    case_id: case_id.clone(),
                    ..Default::default()
                }),
                "response.outcome",
            ),
            (
                Body::Reminder(v1::Reminder {
                    case_id: case_id.clone(),
                    text: "x".repeat(501),
                }),
                "reminder.text",
            ),
            (
                Body::Withdrawal(v1::Withdrawal {
                    case_id: "not-a-uuid".into(),
                    reason: String::new(),
                }),
                "withdrawal.case_id",
            ),
            (
                Body::RecordShare(v1::RecordShare {
                    case_id: case_id.clone(),
                    person: Some(v1::Person {
                        name: "\u{2067}张三".into(),
                        ..person()
                    }),
                }),
                "record_share.person.name",
            ),
            (
                Body::ExtensionRequest(v1::ExtensionRequest {
                    case_id: case_id.clone(),
                    working_days: 61,
                    reason: "人手不足".into(),
                }),
                "extension_request.working_days",
            ),
            (
                Body::ExtensionDecision(v1::ExtensionDecision {
                    case_id: case_id.clone(),
                    granted: true,
                    extended_due_at_unix_ms: 0,
                    note: String::new(),
                }),
                "extension_decision.extended_due_at_unix_ms",
            ),
        ];
        for (body, field) in bodies {
            let error = check_peer_body(&body, TODAY).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
        let mut nowhere = notice_from_wudu();
        if let Body::Notice(notice) = &mut nowhere {
            notice.kind = v1::NoticeKind::Departed as i32;
            notice.destination_county = "629999".into();
        }
        let error = check_peer_body(&nowhere, TODAY).unwrap_err();
        assert_eq!(error.field, "notice.destination_county", "{error}");
        assert!(error.message.contains("no county in GB/T 2260"), "{error}");
        let error = uuid_field("case_id", &"x".repeat(10_000)).unwrap_err();
        assert!(error.message.len() < 200, "{error}");
    }

    #[test]
    fn the_state_machine_allows_the_lifecycle() {
        assert_eq!(next_state(Queued, CaseAction::Deliver), Ok(Delivered));
        assert_eq!(next_state(Delivered, CaseAction::Accept), Ok(Accepted));
        assert_eq!(next_state(Accepted, CaseAction::Respond), Ok(Responded));
        assert_eq!(next_state(Responded, CaseAction::Close), Ok(Closed));
        // Answering without accepting first is allowed.
        assert_eq!(next_state(Delivered, CaseAction::Respond), Ok(Responded));
        assert_eq!(next_state(Delivered, CaseAction::Redirect), Ok(Redirected));
        assert_eq!(next_state(Queued, CaseAction::Withdraw), Ok(Withdrawn));
        assert_eq!(next_state(Queued, CaseAction::Reject), Ok(Rejected));
        // A late receipt does not move a case back.
        assert_eq!(next_state(Responded, CaseAction::Deliver), Ok(Responded));
        assert_eq!(next_state(Withdrawn, CaseAction::Deliver), Ok(Withdrawn));
    }

    #[test]
    fn the_state_machine_refuses_the_rest() {
        for (from, action) in [
            (Accepted, CaseAction::Accept),
            (Responded, CaseAction::Respond),
            (Responded, CaseAction::Withdraw),
            (Closed, CaseAction::Respond),
            (Withdrawn, CaseAction::Accept),
            (Redirected, CaseAction::Respond),
            (Delivered, CaseAction::Close),
            (Delivered, CaseAction::Reject),
            (Unspecified, CaseAction::Deliver),
        ] {
            let error = next_state(from, action).unwrap_err();
            assert!(error.to_string().contains("cannot be"), "{error}");
        }
        for state in [Closed, Withdrawn, Redirected, Rejected] {
            assert!(is_terminal(state));
            assert_eq!(state_from_label(state_label(state)), state);
        }
        assert!(!is_terminal(Accepted));
    }
}
