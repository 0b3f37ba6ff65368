//! A person's record, field by field: the one table ([`FIELDS`]) that says, for each field of
//! [`v1::Person`](crate::v1::Person), its column name, its Chinese header and the other names a
//! roster file may use, how it is shown, stored, checked, compared and merged. The node's store,
//! roster files, the CLI and the workflow all read it. Not here: the checks that tie fields
//! together (the ID against the birth date and sex, dates in order), which are the node's
//! (`exchange_node::domain`).
//!
//! Adding an optional text field to a person: the contract (`common.proto`), one entry here, a
//! migration adding the column (`TEXT NOT NULL DEFAULT ''`), a test and the README.

use crate::v1::{Person, PersonStatus, Sex};

/// A field's value in its stored form (what the database column holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Text(String),
    Integer(i64),
}

impl Stored {
    /// The value as text (an integer in decimal).
    pub fn into_text(self) -> String {
        match self {
            Stored::Text(text) => text,
            Stored::Integer(value) => value.to_string(),
        }
    }

    fn integer(&self) -> i64 {
        match self {
            Stored::Integer(value) => *value,
            Stored::Text(text) => text.parse().unwrap_or(0),
        }
    }
}

/// The shape of a field's value, which decides how files, screens and the database carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Free text.
    Text,
    /// A calendar date, `YYYY-MM-DD` (files may write `2026/3/1` and the like).
    Date,
    /// The resident ID (files may add a stray apostrophe or spaces).
    ResidentId,
    /// 男 / 女 in files; `male` / `female` stored.
    Sex,
    /// The person's status label ([`status_label`]).
    Status,
    /// A yes/no flag, stored as 0 or 1.
    Flag,
    /// An instant in Unix milliseconds.
    Instant,
}

/// What a node checks on a field it is given (by a clerk, a file or a peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Checked by the node's own code, because it depends on other fields (identity, dates,
    /// counties, the address that a residing person must have).
    Typed,
    /// Optional one-line text of at most this many characters.
    Line(usize),
    /// Optional text of at most this many characters; line breaks allowed.
    Text(usize),
    /// Optional phone number of at most this many characters: digits, spaces, + and -.
    Phone(usize),
    /// Decided by the receiving node, never taken from input (status, flag, update time).
    Receiver,
}

/// One field of a person's record.
#[derive(Debug)]
pub struct PersonField {
    /// Column, proto and JSON name, e.g. `residence_address`.
    pub name: &'static str,
    /// The column name written in exports with `--header zh`.
    pub header_zh: &'static str,
    /// Column names a roster file may use for it (matched ignoring ASCII case); empty for a
    /// field no roster file carries.
    pub columns: &'static [&'static str],
    /// How screens label it: Chinese first, then English.
    pub label: &'static str,
    pub form: Form,
    pub rule: Rule,
    /// A re-import or a notice that changes it counts as a change of the record.
    pub compared: bool,
    /// Each office's own (contact details, notes): a residence notice does not carry it, and
    /// does not overwrite what the hukou county recorded.
    pub kept_locally: bool,
    get: fn(&Person) -> Stored,
    set: fn(&mut Person, Stored),
}

impl PersonField {
    /// The field's value in `person`, in its stored form.
    pub fn get(&self, person: &Person) -> Stored {
        (self.get)(person)
    }

    /// Sets the field of `person` from its stored form.
    pub fn set(&self, person: &mut Person, value: Stored) {
        (self.set)(person, value)
    }

    /// Whether its column holds an integer (else text).
    pub fn stored_as_integer(&self) -> bool {
        matches!(self.form, Form::Flag | Form::Instant)
    }

    /// Whether a roster file may carry it.
    pub fn in_files(&self) -> bool {
        !self.columns.is_empty()
    }

    /// The value as a roster file writes it (男/女 for sex).
    pub fn file_text(&self, person: &Person) -> String {
        match self.form {
            Form::Sex => match person.sex() {
                Sex::Male => "男".into(),
                Sex::Female => "女".into(),
                Sex::Unspecified => String::new(),
            },
            _ => self.get(person).into_text(),
        }
    }

    /// The value as a screen shows it ("男 male"; empty when there is nothing to show).
    pub fn display_text(&self, person: &Person) -> String {
        match self.form {
            Form::Sex => match person.sex() {
                Sex::Male => "男 male".into(),
                Sex::Female => "女 female".into(),
                Sex::Unspecified => "-".into(),
            },
            Form::Flag if self.name == "resident_id_flagged" => {
                if person.resident_id_flagged {
                    "校验码有误 wrong check digit (accepted in warn mode)".into()
                } else {
                    String::new()
                }
            }
            Form::Instant => match self.get(person) {
                Stored::Integer(0) => String::new(),
                value => crate::time::format_unix_ms(value.integer()),
            },
            _ => self.get(person).into_text(),
        }
    }

    /// The value as JSON: text, a number, or true/false.
    pub fn json(&self, person: &Person) -> serde_json::Value {
        match (self.form, self.get(person)) {
            (Form::Flag, value) => serde_json::Value::Bool(value.integer() != 0),
            (_, Stored::Integer(value)) => value.into(),
            (_, Stored::Text(text)) => text.into(),
        }
    }
}

/// The stored label of a status: `residing`, `departed`, `living_elsewhere`,
/// `whereabouts_unknown` (the proto name, lower case, without its prefix). The one spelling in
/// the database, files, JSON and the CLI.
pub fn status_label(status: PersonStatus) -> &'static str {
    match status {
        PersonStatus::Residing => "residing",
        PersonStatus::Departed => "departed",
        PersonStatus::LivingElsewhere => "living_elsewhere",
        PersonStatus::WhereaboutsUnknown => "whereabouts_unknown",
        PersonStatus::Unspecified => "unspecified",
    }
}

/// The statuses a person can have, for lists of choices.
pub const STATUSES: [PersonStatus; 4] = [
    PersonStatus::Residing,
    PersonStatus::Departed,
    PersonStatus::LivingElsewhere,
    PersonStatus::WhereaboutsUnknown,
];

/// The status a label names. Also takes the hyphenated spelling (`living-elsewhere`) that
/// command lines used before; `None` for anything else.
pub fn status_from_label(label: &str) -> Option<PersonStatus> {
    let label = label.trim().replace('-', "_");
    STATUSES
        .into_iter()
        .find(|status| status_label(*status) == label)
}

/// The stored label of a sex: `male`, `female`, or empty.
pub fn sex_label(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unspecified => "",
    }
}

fn sex_from_label(label: &str) -> Sex {
    match label {
        "male" => Sex::Male,
        "female" => Sex::Female,
        _ => Sex::Unspecified,
    }
}

/// A text field of [`Person`]: the getter and setter written once.
macro_rules! text_field {
    ($name:ident, $zh:literal, [$($column:literal),*], $label:literal, $form:expr, $rule:expr,
     compared: $compared:literal, kept_locally: $kept:literal) => {
        PersonField {
            name: stringify!($name),
            header_zh: $zh,
            columns: &[$($column),*],
            label: $label,
            form: $form,
            rule: $rule,
            compared: $compared,
            kept_locally: $kept,
            get: |person| Stored::Text(person.$name.clone()),
            set: |person, value| person.$name = value.into_text(),
        }
    };
}

use crate::text::limits;

/// Every field of a person's record, in the order files, screens and the database list them.
pub static FIELDS: &[PersonField] = &[
    text_field!(
        resident_id,
        "公民身份号码",
        [
            "resident_id",
            "公民身份号码",
            "身份证号",
            "身份证号码",
            "证件号码",
            "id"
        ],
        "身份证号 Resident ID",
        Form::ResidentId,
        Rule::Typed,
        compared: false,
        kept_locally: false
    ),
    text_field!(
        name,
        "姓名",
        ["name", "姓名"],
        "姓名 Name",
        Form::Text,
        Rule::Typed,
        compared: true,
        kept_locally: false
    ),
    PersonField {
        name: "sex",
        header_zh: "性别",
        columns: &["sex", "性别"],
        label: "性别 Sex",
        form: Form::Sex,
        rule: Rule::Typed,
        compared: true,
        kept_locally: false,
        get: |person| Stored::Text(sex_label(person.sex()).into()),
        set: |person, value| person.sex = sex_from_label(&value.into_text()) as i32,
    },
    text_field!(
        birth_date,
        "出生日期",
        ["birth_date", "出生日期"],
        "出生日期 Birth date",
        Form::Date,
        Rule::Typed,
        compared: true,
        kept_locally: false
    ),
    text_field!(
        hukou_county,
        "户籍地代码",
        [
            "hukou_county",
            "户籍地",
            "户籍地代码",
            "户籍县",
            "户籍地区划代码"
        ],
        "户籍地 Hukou county",
        Form::Text,
        Rule::Typed,
        compared: true,
        kept_locally: false
    ),
    text_field!(
        residence_county,
        "现居住地代码",
        ["residence_county", "现居住地", "现居住地代码", "居住地代码"],
        "现居住地 Residence county",
        Form::Text,
        Rule::Typed,
        compared: false,
        kept_locally: false
    ),
    text_field!(
        residence_address,
        "现居住地址",
        [
            "residence_address",
            "现居住地址",
            "居住地址",
            "现住址",
            "address"
        ],
        "地址 Address",
        Form::Text,
        Rule::Typed,
        compared: true,
        kept_locally: false
    ),
    text_field!(
        arrival_date,
        "来本地日期",
        [
            "arrival_date",
            "来本地日期",
            "到达日期",
            "居住日期",
            "来本地时间"
        ],
        "来此日期 Arrived",
        Form::Date,
        Rule::Typed,
        compared: true,
        kept_locally: false
    ),
    text_field!(
        departure_date,
        "离开日期",
        ["departure_date", "离开日期"],
        "离开日期 Departed",
        Form::Date,
        Rule::Typed,
        compared: false,
        kept_locally: false
    ),
    text_field!(
        phone,
        "联系电话",
        ["phone", "联系电话", "电话", "手机号码"],
        "电话 Phone",
        Form::Text,
        Rule::Phone(limits::PHONE),
        compared: true,
        kept_locally: true
    ),
    text_field!(
        notes,
        "备注",
        ["notes", "备注"],
        "备注 Notes",
        Form::Text,
        Rule::Text(limits::NOTES),
        compared: true,
        kept_locally: true
    ),
    PersonField {
        name: "status",
        header_zh: "状态",
        columns: &["status", "状态"],
        label: "状态 Status",
        form: Form::Status,
        rule: Rule::Receiver,
        compared: false,
        kept_locally: false,
        get: |person| Stored::Text(status_label(person.status()).into()),
        set: |person, value| {
            person.status =
                status_from_label(&value.into_text()).unwrap_or(PersonStatus::Unspecified) as i32
        },
    },
    PersonField {
        name: "resident_id_flagged",
        header_zh: "",
        columns: &[],
        label: "核验 Check",
        form: Form::Flag,
        rule: Rule::Receiver,
        compared: false,
        kept_locally: false,
        get: |person| Stored::Integer(i64::from(person.resident_id_flagged)),
        set: |person, value| person.resident_id_flagged = value.integer() != 0,
    },
    PersonField {
        name: "updated_at_unix_ms",
        header_zh: "",
        columns: &[],
        label: "更新时间 Updated",
        form: Form::Instant,
        rule: Rule::Receiver,
        compared: false,
        kept_locally: false,
        get: |person| Stored::Integer(person.updated_at_unix_ms),
        set: |person, value| person.updated_at_unix_ms = value.integer(),
    },
];

/// The field named `name`.
pub fn field(name: &str) -> Option<&'static PersonField> {
    FIELDS.iter().find(|field| field.name == name)
}

/// The fields a roster file may carry, in file order.
pub fn file_fields() -> impl Iterator<Item = &'static PersonField> {
    FIELDS.iter().filter(|field| field.in_files())
}

/// The fields in which `incoming` differs from `stored` (what a re-import compares).
pub fn differing_fields(stored: &Person, incoming: &Person) -> Vec<&'static str> {
    FIELDS
        .iter()
        .filter(|field| field.compared && field.get(stored) != field.get(incoming))
        .map(|field| field.name)
        .collect()
}

/// A person as JSON: every field, named as in the proto.
pub fn to_json(person: &Person) -> serde_json::Value {
    serde_json::Value::Object(
        FIELDS
            .iter()
            .map(|field| (field.name.to_string(), field.json(person)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Person {
        Person {
            resident_id: "110101199003070016".into(),
            name: "张三".into(),
            sex: Sex::Male as i32,
            birth_date: "1990-03-07".into(),
            hukou_county: "621221".into(),
            residence_county: "621202".into(),
            residence_address: "城关镇幸福路1号".into(),
            arrival_date: "2026-03-01".into(),
            departure_date: String::new(),
            phone: "13800000000".into(),
            notes: "备注".into(),
            status: PersonStatus::LivingElsewhere as i32,
            resident_id_flagged: true,
            updated_at_unix_ms: 1_767_225_600_000,
        }
    }

    #[test]
    fn every_field_reads_back_what_it_wrote() {
        let person = sample();
        let mut copy = Person::default();
        for field in FIELDS {
            field.set(&mut copy, field.get(&person));
        }
        assert_eq!(copy, person);
    }

    #[test]
    fn the_table_names_every_field_of_the_contract_once() {
        use prost::Message;
        // The encoded sample has every field set; each field's number appears once in the table.
        let names: Vec<&str> = FIELDS.iter().map(|field| field.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a field is listed twice");
        let descriptor = crate::FILE_DESCRIPTOR_SET;
        let set = prost_types::FileDescriptorSet::decode(descriptor).expect("descriptor set");
        let person = set
            .file
            .iter()
            .flat_map(|file| &file.message_type)
            .find(|message| message.name() == "Person")
            .expect("Person in the contract");
        let mut contract: Vec<&str> = person.field.iter().map(|field| field.name()).collect();
        contract.sort_unstable();
        assert_eq!(
            contract, unique,
            "FIELDS and common.proto's Person disagree"
        );
        // And the sample sets every one of them (so the round trip above covers all).
        assert_eq!(
            Person::decode(sample().encode_to_vec().as_slice()).expect("decode"),
            sample()
        );
    }

    #[test]
    fn status_has_one_spelling_and_reads_the_old_hyphenated_one() {
        for status in STATUSES {
            assert_eq!(status_from_label(status_label(status)), Some(status));
        }
        assert_eq!(
            status_from_label("living-elsewhere"),
            Some(PersonStatus::LivingElsewhere)
        );
        assert_eq!(status_from_label("abroad"), None);
    }

    #[test]
    fn differing_fields_compares_only_what_a_reimport_compares() {
        let stored = sample();
        let mut incoming = sample();
        incoming.phone = "13900000000".into();
        incoming.status = PersonStatus::Residing as i32;
        incoming.updated_at_unix_ms += 1;
        assert_eq!(differing_fields(&stored, &incoming), vec!["phone"]);
    }

    #[test]
    fn json_has_every_field_with_labels_and_flags() {
        let value = to_json(&sample());
        assert_eq!(value.as_object().map(|o| o.len()), Some(FIELDS.len()));
        assert_eq!(value["sex"], "male");
        assert_eq!(value["status"], "living_elsewhere");
        assert_eq!(value["resident_id_flagged"], true);
        assert_eq!(value["updated_at_unix_ms"], 1_767_225_600_000_i64);
    }
}
