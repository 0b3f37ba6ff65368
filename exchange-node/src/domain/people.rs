//! A person's record as a node accepts it, from a clerk, a file or a peer: [`CheckedPerson`]
//! (every field checked, the ID against the birth date and sex), [`NewResident`] (someone
//! registered as living here) and the optional fields checked by rule alone ([`PlainFields`]).

use super::*;

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

pub(crate) fn sex_label(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unspecified => "unspecified",
    }
}
