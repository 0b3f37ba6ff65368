//! The pure domain core: people as validated input, and the case state machine. No I/O here.

use jiff::civil::Date;
use mpx_proto::division::CountyCode;
use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
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

/// Parses a county code field.
pub fn county_field(field: &str, value: &str) -> Result<CountyCode, FieldError> {
    CountyCode::parse(value).map_err(|error| FieldError::new(field, error))
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

/// Free text: trimmed, at most `max` characters, required unless `optional`.
pub fn text_field(
    field: &str,
    value: &str,
    max: usize,
    optional: bool,
) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() && !optional {
        return Err(FieldError::new(field, "required"));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::new(field, format!("at most {max} characters")));
    }
    if trimmed
        .chars()
        .any(|ch| ch.is_control() && ch != '\n' && ch != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
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
    pub phone: String,
    pub notes: String,
    /// Things accepted but worth a look.
    pub warnings: Vec<String>,
}

impl NewResident {
    /// Validates a `CreatePerson` input for a node of county `this_county`.
    pub fn parse(
        person: &v1::Person,
        this_county: CountyCode,
        mode: CheckDigitMode,
        today: Date,
    ) -> Result<Self, FieldError> {
        let parsed = resident_id_field("person.resident_id", &person.resident_id, mode)?;
        let mut warnings = Vec::new();
        if let Some((expected, found)) = parsed.check_digit_mismatch {
            warnings.push(format!(
                "person.resident_id: check character {found} should be {expected}; accepted in warn mode and flagged"
            ));
        }
        if parsed.upgraded_from_15 {
            warnings.push("person.resident_id: 15-digit number upgraded to 18 characters".into());
        }
        let id = parsed.id;
        let name = text_field("person.name", &person.name, 64, false)?;
        let sex = match Sex::try_from(person.sex).unwrap_or(Sex::Unspecified) {
            Sex::Unspecified => id.sex(),
            given if given == id.sex() => given,
            _ => {
                return Err(FieldError::new(
                    "person.sex",
                    format!("the resident ID says {}", sex_label(id.sex())),
                ));
            }
        };
        let birth_date = date_field(
            "person.birth_date",
            &person.birth_date,
            Some(id.birth_date()),
        )?;
        if birth_date != id.birth_date() {
            return Err(FieldError::new(
                "person.birth_date",
                format!("the resident ID says {}", id.birth_date()),
            ));
        }
        let hukou_county = county_field("person.hukou_county", &person.hukou_county)?;
        let residence_county = if person.residence_county.trim().is_empty() {
            this_county
        } else {
            county_field("person.residence_county", &person.residence_county)?
        };
        if residence_county != this_county {
            return Err(FieldError::new(
                "person.residence_county",
                format!(
                    "this node registers people living in {this_county}; the residence county registers the person"
                ),
            ));
        }
        let residence_address = text_field(
            "person.residence_address",
            &person.residence_address,
            200,
            false,
        )?;
        let arrival_date = date_field("person.arrival_date", &person.arrival_date, Some(today))?;
        if arrival_date > today {
            return Err(FieldError::new(
                "person.arrival_date",
                "must not be in the future",
            ));
        }
        if arrival_date < birth_date {
            return Err(FieldError::new(
                "person.arrival_date",
                "must not be before the birth date",
            ));
        }
        if !person.departure_date.trim().is_empty() {
            return Err(FieldError::new(
                "person.departure_date",
                "must be empty when registering; record a departure with DepartPerson",
            ));
        }
        let phone = text_field("person.phone", &person.phone, 20, true)?;
        if !phone
            .chars()
            .all(|ch| ch.is_ascii_digit() || "+- ".contains(ch))
        {
            return Err(FieldError::new(
                "person.phone",
                "digits, spaces, + and - only",
            ));
        }
        let notes = text_field("person.notes", &person.notes, 500, true)?;
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
            phone,
            notes,
            warnings,
        })
    }

    /// The record as stored and sent, with `status`.
    pub fn to_proto(&self, status: PersonStatus, updated_at_unix_ms: i64) -> v1::Person {
        v1::Person {
            resident_id: self.resident_id.as_str().to_string(),
            name: self.name.clone(),
            sex: self.sex as i32,
            birth_date: self.birth_date.to_string(),
            hukou_county: self.hukou_county.to_string(),
            residence_county: self.residence_county.to_string(),
            residence_address: self.residence_address.clone(),
            arrival_date: self.arrival_date.to_string(),
            departure_date: String::new(),
            phone: self.phone.clone(),
            notes: self.notes.clone(),
            status: status as i32,
            resident_id_flagged: self.resident_id_flagged,
            updated_at_unix_ms,
        }
    }
}

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

/// Lowercase name of a state, as stored and shown.
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

/// Inverse of [`state_label`].
pub fn state_from_label(label: &str) -> CaseState {
    [
        CaseState::Queued,
        CaseState::Delivered,
        CaseState::Accepted,
        CaseState::Responded,
        CaseState::Closed,
        CaseState::Withdrawn,
        CaseState::Redirected,
        CaseState::Rejected,
    ]
    .into_iter()
    .find(|state| state_label(*state) == label)
    .unwrap_or(CaseState::Unspecified)
}

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
