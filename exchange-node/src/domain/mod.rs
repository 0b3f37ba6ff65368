//! The pure domain core: people as validated input, and the case state machine. No I/O here.

use jiff::civil::Date;
use mpx_proto::division::{CountyCode, DivisionTable};
use mpx_proto::person;
use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::text::{self, Shape, limits};
use mpx_proto::v1::envelope::Body;
use mpx_proto::v1::{self, CaseState, PersonStatus, Sex};

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

/// A person record checked field by field: the rules every record obeys, whether a clerk typed
/// it, a file carried it or a peer sent it. What the record claims about itself (status, the
/// check-digit flag, when it was updated) is never taken from the input: the receiver decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPerson {
    pub resident_id: ResidentId,
    /// The ID's check character is wrong (accepted in warn mode).
    pub resident_id_flagged: bool,
    pub name: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub hukou_county: CountyCode,
    pub residence_county: Option<CountyCode>,
    pub residence_address: String,
    pub arrival_date: Option<Date>,
    pub departure_date: Option<Date>,
    /// Contact details, notes: the fields checked by their rule alone.
    pub plain: PlainFields,
    /// Things accepted but worth a look.
    pub warnings: Vec<String>,
}

/// The fields of a person the field table checks by rule alone ([`person::Rule::Line`],
/// [`person::Rule::Text`], [`person::Rule::Phone`]): phone, notes, and any optional text field
/// added to the table later. Checked values, by field name, in table order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainFields(Vec<(&'static str, String)>);

impl PlainFields {
    /// Checks each such field of `person`, naming it with `field`.
    fn check(person: &v1::Person, field: impl Fn(&str) -> String) -> Result<Self, FieldError> {
        let mut values = Vec::new();
        for spec in person::FIELDS {
            let value = spec.get(person).into_text();
            let checked = match spec.rule {
                person::Rule::Line(max) => line_field(&field(spec.name), &value, max, true)?,
                person::Rule::Text(max) => text_field(&field(spec.name), &value, max, true)?,
                person::Rule::Phone(max) => {
                    let phone = line_field(&field(spec.name), &value, max, true)?;
                    if !phone
                        .chars()
                        .all(|ch| ch.is_ascii_digit() || "+- ".contains(ch))
                    {
                        return Err(FieldError::new(
                            field(spec.name),
                            "digits, spaces, + and - only",
                        ));
                    }
                    phone
                }
                person::Rule::Typed | person::Rule::Receiver => continue,
            };
            values.push((spec.name, checked));
        }
        Ok(Self(values))
    }

    /// Writes the checked values into `person`.
    fn write_to(&self, person: &mut v1::Person) {
        for (name, value) in &self.0 {
            if let Some(spec) = person::field(name) {
                spec.set(person, person::Stored::Text(value.clone()));
            }
        }
    }
}

impl CheckedPerson {
    /// Checks `person`, naming fields as `{prefix}.resident_id` and so on. Dates must not be
    /// after `latest_date` (today for a clerk; a peer gets a day of leeway for clocks around
    /// midnight). `address_required` for a record of someone residing somewhere.
    pub fn check(
        person: &v1::Person,
        prefix: &str,
        mode: CheckDigitMode,
        latest_date: Date,
        address_required: bool,
    ) -> Result<Self, FieldError> {
        let field = |name: &str| format!("{prefix}.{name}");
        let parsed = resident_id_field(&field("resident_id"), &person.resident_id, mode)?;
        let mut warnings = Vec::new();
        if let Some((expected, found)) = parsed.check_digit_mismatch {
            warnings.push(format!(
                "{}: check character {found} should be {expected}; accepted in warn mode and flagged",
                field("resident_id")
            ));
        }
        if parsed.upgraded_from_15 {
            warnings.push(format!(
                "{}: 15-digit number upgraded to 18 characters",
                field("resident_id")
            ));
        }
        let id = parsed.id;
        let name = line_field(&field("name"), &person.name, limits::NAME, false)?;
        let sex = match Sex::try_from(person.sex) {
            Ok(Sex::Unspecified) => id.sex(),
            Ok(given) if given == id.sex() => given,
            Ok(_) => {
                return Err(FieldError::new(
                    field("sex"),
                    format!("the resident ID says {}", sex_label(id.sex())),
                ));
            }
            Err(_) => {
                return Err(FieldError::new(
                    field("sex"),
                    format!("unknown value {}; expected MALE or FEMALE", person.sex),
                ));
            }
        };
        let birth_date = date_field(
            &field("birth_date"),
            &person.birth_date,
            Some(id.birth_date()),
        )?;
        if birth_date != id.birth_date() {
            return Err(FieldError::new(
                field("birth_date"),
                format!("the resident ID says {}", id.birth_date()),
            ));
        }
        let hukou_county = county_field(&field("hukou_county"), &person.hukou_county)?;
        let residence_county = if person.residence_county.trim().is_empty() {
            None
        } else {
            Some(county_field(
                &field("residence_county"),
                &person.residence_county,
            )?)
        };
        let residence_address = line_field(
            &field("residence_address"),
            &person.residence_address,
            limits::ADDRESS,
            !address_required,
        )?;
        let optional_date = |name: &str, value: &str| -> Result<Option<Date>, FieldError> {
            if value.trim().is_empty() {
                return Ok(None);
            }
            let date = date_field(&field(name), value, None)?;
            if date > latest_date {
                return Err(FieldError::new(field(name), "must not be in the future"));
            }
            if date < birth_date {
                return Err(FieldError::new(
                    field(name),
                    "must not be before the birth date",
                ));
            }
            Ok(Some(date))
        };
        let arrival_date = optional_date("arrival_date", &person.arrival_date)?;
        let departure_date = optional_date("departure_date", &person.departure_date)?;
        if let (Some(arrival), Some(departure)) = (arrival_date, departure_date)
            && departure < arrival
        {
            return Err(FieldError::new(
                field("departure_date"),
                format!("must not be before the arrival date {arrival}"),
            ));
        }
        let plain = PlainFields::check(person, field)?;
        Ok(Self {
            resident_id_flagged: parsed.check_digit_mismatch.is_some(),
            resident_id: id,
            name,
            sex,
            birth_date,
            hukou_county,
            residence_county,
            residence_address,
            arrival_date,
            departure_date,
            plain,
            warnings,
        })
    }

    /// The record in its stored form, with `status` (decided by the caller, never the input).
    pub fn to_proto(&self, status: PersonStatus, updated_at_unix_ms: i64) -> v1::Person {
        let mut person = v1::Person {
            resident_id: self.resident_id.as_str().to_string(),
            name: self.name.clone(),
            sex: self.sex as i32,
            birth_date: self.birth_date.to_string(),
            hukou_county: self.hukou_county.to_string(),
            residence_county: self
                .residence_county
                .map(|code| code.to_string())
                .unwrap_or_default(),
            residence_address: self.residence_address.clone(),
            arrival_date: self
                .arrival_date
                .map(|date| date.to_string())
                .unwrap_or_default(),
            departure_date: self
                .departure_date
                .map(|date| date.to_string())
                .unwrap_or_default(),
            status: status as i32,
            resident_id_flagged: self.resident_id_flagged,
            updated_at_unix_ms,
            ..Default::default()
        };
        self.plain.write_to(&mut person);
        person
    }
}

/// A person registered at this node (the residence county), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResident {
    pub resident_id: ResidentId,
    pub resident_id_flagged: bool,
    pub name: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub hukou_county: CountyCode,
    pub residence_county: CountyCode,
    pub residence_address: String,
    pub arrival_date: Date,
    /// Contact details, notes: the fields checked by their rule alone.
    pub plain: PlainFields,
    /// Things accepted but worth a look.
    pub warnings: Vec<String>,
}

impl NewResident {
    /// Validates a `CreatePerson` input for a node of county `this_county`: the rules of
    /// [`CheckedPerson`], and those of registering someone as living here.
    pub fn parse(
        person: &v1::Person,
        this_county: CountyCode,
        mode: CheckDigitMode,
        today: Date,
    ) -> Result<Self, FieldError> {
        let checked = CheckedPerson::check(person, "person", mode, today, true)?;
        let residence_county = checked.residence_county.unwrap_or(this_county);
        if residence_county != this_county {
            return Err(FieldError::new(
                "person.residence_county",
                format!(
                    "this node registers people living in {this_county}; the residence county registers the person"
                ),
            ));
        }
        if checked.departure_date.is_some() {
            return Err(FieldError::new(
                "person.departure_date",
                "must be empty when registering; record a departure with DepartPerson",
            ));
        }
        Ok(Self {
            resident_id: checked.resident_id,
            resident_id_flagged: checked.resident_id_flagged,
            name: checked.name,
            sex: checked.sex,
            birth_date: checked.birth_date,
            hukou_county: checked.hukou_county,
            residence_county,
            residence_address: checked.residence_address,
            arrival_date: checked.arrival_date.unwrap_or(today),
            plain: checked.plain,
            warnings: checked.warnings,
        })
    }

    /// The record as stored and sent, with `status`.
    pub fn to_proto(&self, status: PersonStatus, updated_at_unix_ms: i64) -> v1::Person {
        let mut person = v1::Person {
            resident_id: self.resident_id.as_str().to_string(),
            name: self.name.clone(),
            sex: self.sex as i32,
            birth_date: self.birth_date.to_string(),
            hukou_county: self.hukou_county.to_string(),
            residence_county: self.residence_county.to_string(),
            residence_address: self.residence_address.clone(),
            arrival_date: self.arrival_date.to_string(),
            departure_date: String::new(),
            status: status as i32,
            resident_id_flagged: self.resident_id_flagged,
            updated_at_unix_ms,
            ..Default::default()
        };
        self.plain.write_to(&mut person);
        person
    }
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

/// The most working days one extension may ask for.
pub const MAX_EXTENSION_WORKING_DAYS: u32 = 60;

fn sex_label(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unspecified => "unspecified",
    }
}

/// What happens to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    /// The recipient's receipt arrived (requester side) or the message was stored (recipient side).
    Deliver,
    Accept,
    Respond,
    Redirect,
    Withdraw,
    Close,
    /// The recipient refused the opening message as invalid.
    Reject,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a case in state {} cannot be {}", state_label(*.from), action_label(*.action))]
pub struct TransitionError {
    pub from: CaseState,
    pub action: CaseAction,
}

/// The state after `action`, or why not. `Deliver` after the case moved on keeps its state:
/// receipts can lag behind the recipient's answer.
pub fn next_state(from: CaseState, action: CaseAction) -> Result<CaseState, TransitionError> {
    use CaseState::*;
    let open = matches!(from, Queued | Delivered | Accepted);
    let to = match action {
        CaseAction::Deliver => match from {
            Queued => Some(Delivered),
            Unspecified => None,
            other => Some(other),
        },
        CaseAction::Accept => matches!(from, Queued | Delivered).then_some(Accepted),
        CaseAction::Respond => open.then_some(Responded),
        CaseAction::Redirect => open.then_some(Redirected),
        CaseAction::Withdraw => open.then_some(Withdrawn),
        CaseAction::Close => (from == Responded).then_some(Closed),
        CaseAction::Reject => (from == Queued).then_some(Rejected),
    };
    to.ok_or(TransitionError { from, action })
}

/// True for states in which nothing more is expected.
pub fn is_terminal(state: CaseState) -> bool {
    matches!(
        state,
        CaseState::Closed | CaseState::Withdrawn | CaseState::Redirected | CaseState::Rejected
    )
}

/// Lowercase name of a state, as stored and shown (defined once, in [`mpx_proto::case_kind`]).
pub use mpx_proto::case_kind::{state_from_label, state_label};

fn action_label(action: CaseAction) -> &'static str {
    match action {
        CaseAction::Deliver => "delivered",
        CaseAction::Accept => "accepted",
        CaseAction::Respond => "answered",
        CaseAction::Redirect => "redirected",
        CaseAction::Withdraw => "withdrawn",
        CaseAction::Close => "closed",
        CaseAction::Reject => "rejected",
    }
}

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
