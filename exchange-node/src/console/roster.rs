//! The roster (花名册): search by resident ID or name (a purpose each search, audited), a
//! person's page (fields, status, roster history; the ID masked until the clerk asks to see it
//! with a purpose), and the register (登记), move (迁移) and depart (离开) forms. Reads and
//! changes go through `mpx.v1.Records` in process as the signed-in operator, so validation,
//! residence notices and the audit are the API's. Files (import, export, reconcile): [`super::bulk`].
//!
//! A person is addressed in links by a reference only this session can read (the ID XORed with
//! a key drawn from the session's secret), so full IDs stay out of addresses and browser history.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mpx_proto::person::{Form, Stored};
use mpx_proto::v1::records_server::Records;
use mpx_proto::v1::{
    self, CreatePersonRequest, DepartPersonRequest, GetPersonRequest, MovePersonRequest, Sex,
};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::pages::as_operator;
use super::roster_words::RosterMsgs;
use super::{ConsoleError, ConsoleForm, ConsoleQuery, ConsoleState};

/// Most people a search by name lists.
const MAX_NAME_MATCHES: u32 = 200;
/// Most roster changes a person's page lists.
const MAX_HISTORY: u32 = 100;

/// The roster's routes (merged into the console's router).
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/roster", get(search))
        .route("/roster/register", post(register))
        .route("/roster/person", get(person))
        .route("/roster/move", post(move_person))
        .route("/roster/depart", post(depart))
}

// ---- references and refusals ----------------------------------------------------------------

fn reference_key(csrf: &str) -> ring::digest::Digest {
    ring::digest::digest(
        &ring::digest::SHA256,
        format!("mpx roster reference {csrf}").as_bytes(),
    )
}

/// A person's reference in links: the ID XORed with this session's key, in hex.
pub fn reference(signed: &Signed, resident_id: &str) -> String {
    let key = reference_key(&signed.csrf);
    resident_id
        .bytes()
        .zip(key.as_ref().iter().cycle())
        .map(|(byte, k)| format!("{:02x}", byte ^ k))
        .collect()
}

/// The resident ID a reference of this session stands for (None: not one of this session's).
pub fn resident_id_of(signed: &Signed, reference: &str) -> Option<String> {
    let key = reference_key(&signed.csrf);
    if reference.is_empty() || reference.len() > 64 || !reference.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..reference.len())
        .step_by(2)
        .zip(key.as_ref().iter().cycle())
        .map(|(i, k)| {
            let byte = u8::from_str_radix(reference.get(i..i + 2)?, 16).ok()?;
            Some(byte ^ k)
        })
        .collect();
    let id = String::from_utf8(bytes?).ok()?;
    id.chars().all(|c| c.is_ascii_alphanumeric()).then_some(id)
}

/// The form field a service message is about (`person.resident_id: …` → `resident_id`).
pub fn field_of(message: &str) -> &str {
    let field = message.split(':').next().unwrap_or_default().trim();
    field.strip_prefix("person.").unwrap_or(field)
}

/// A refusal for a clerk: what the field expects in this language, then the API's message.
pub fn refusal(t: &Msgs, field: &str, message: &str) -> String {
    match t.roster().expected(field).or_else(|| t.expected(field)) {
        Some(expected) => format!("{expected}（{message}）"),
        None => format!("{}{message}", t.expect_text),
    }
}

/// A field's label in this language (the field table's "姓名 Name").
pub fn label(t: &Msgs, field: &mpx_proto::person::PersonField) -> String {
    let (zh, en) = field
        .label
        .split_once(' ')
        .unwrap_or((field.label, field.label));
    if t.code == "zh" { zh } else { en }.to_string()
}

// ---- search and register ----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    purpose: Option<String>,
    /// The reference of a person just registered.
    registered: Option<String>,
}

struct PersonRow {
    reference: String,
    name: String,
    masked_id: String,
    sex: String,
    hukou: String,
    status: &'static str,
}

/// One field of the register form.
struct FieldView {
    name: &'static str,
    label: String,
    required: bool,
    date: bool,
    sex: bool,
    value: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "roster.html")]
struct RosterPage {
    t: &'static Msgs,
    r: &'static RosterMsgs,
    signed: Option<Signed>,
    csrf: String,
    may_act: bool,
    q: String,
    purpose: String,
    /// The purpose, escaped for the links to people.
    purpose_query: String,
    sex_label: String,
    hukou_label: String,
    searched: bool,
    rows: Vec<PersonRow>,
    registered: Option<String>,
    fields: Vec<FieldView>,
    /// Field → message ("q" and "purpose" for the search, a person field for the form).
    errors: BTreeMap<String, String>,
}

impl RosterPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// The fields a clerk registers, from the field table (this county is the residence).
fn form_fields() -> impl Iterator<Item = &'static mpx_proto::person::PersonField> {
    mpx_proto::person::file_fields()
        .filter(|field| !matches!(field.name, "residence_county" | "departure_date"))
}

fn field_views(t: &Msgs, values: &HashMap<String, String>) -> Vec<FieldView> {
    form_fields()
        .map(|field| FieldView {
            name: field.name,
            label: label(t, field),
            required: matches!(
                field.name,
                "resident_id" | "name" | "hukou_county" | "residence_address" | "arrival_date"
            ),
            date: field.form == Form::Date,
            sex: field.form == Form::Sex,
            value: values.get(field.name).cloned().unwrap_or_default(),
        })
        .collect()
}

fn roster_page(
    signed: Signed,
    search: (String, String, bool, Vec<PersonRow>),
    values: &HashMap<String, String>,
    registered: Option<String>,
    errors: BTreeMap<String, String>,
) -> Response {
    let t = signed.t;
    let (q, purpose, searched, rows) = search;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = RosterPage {
        t,
        r: t.roster(),
        csrf: signed.csrf.clone(),
        may_act: signed.role.may_act(),
        q,
        purpose_query: query_escape(&purpose),
        purpose,
        sex_label: mpx_proto::person::field("sex").map_or_else(String::new, |f| label(t, f)),
        hukou_label: mpx_proto::person::field("hukou_county")
            .map_or_else(String::new, |f| label(t, f)),
        searched,
        rows,
        registered,
        fields: field_views(t, values),
        errors,
        signed: Some(signed),
    };
    (status, page).into_response()
}

/// `/roster`: the search form, its results, and the register form.
pub async fn search(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let registered = query
        .registered
        .as_deref()
        .and_then(|reference| resident_id_of(&signed, reference))
        .map(|id| mpx_proto::resident_id::mask(&id));
    let q = query.q.unwrap_or_default().trim().to_string();
    let purpose = query.purpose.unwrap_or_default();
    let mut errors = BTreeMap::new();
    if q.is_empty() {
        let search = (q, purpose, false, Vec::new());
        return Ok(roster_page(
            signed,
            search,
            &HashMap::new(),
            registered,
            errors,
        ));
    }
    let people = match find(&state, &signed, &q, &purpose).await {
        Ok(people) => people,
        Err(Found::Refused(field, message)) => {
            let key = if field == "purpose" { "purpose" } else { "q" };
            errors.insert(key.to_string(), refusal(t, field, &message));
            Vec::new()
        }
        Err(Found::Failed(error)) => return Err(error),
    };
    let r = t.roster();
    let rows = people
        .iter()
        .map(|person| PersonRow {
            reference: reference(&signed, &person.resident_id),
            name: person.name.clone(),
            masked_id: mpx_proto::resident_id::mask(&person.resident_id),
            sex: mpx_proto::person::field("sex")
                .map(|field| field.file_text(person))
                .unwrap_or_default(),
            hukou: state.county_text(&person.hukou_county),
            status: r.status(person.status()),
        })
        .collect();
    let searched = errors.is_empty();
    Ok(roster_page(
        signed,
        (q, purpose, searched, rows),
        &HashMap::new(),
        registered,
        errors,
    ))
}

enum Found {
    /// The field and the API's message.
    Refused(&'static str, String),
    Failed(ConsoleError),
}

/// People matching a search: by ID through `GetPerson` (audited `records.get`), by exact name
/// from the store (audited `records.search`, with the name, the way the API records a read).
async fn find(
    state: &ConsoleState,
    signed: &Signed,
    q: &str,
    purpose: &str,
) -> Result<Vec<v1::Person>, Found> {
    let t = signed.t;
    let purpose = crate::service::require_purpose(purpose)
        .map_err(|status| Found::Refused("purpose", status.message().to_string()))?;
    if q.chars().any(|c| c.is_ascii_digit()) {
        let request = GetPersonRequest {
            resident_id: q.to_string(),
            purpose,
        };
        return match state
            .records
            .get_person(as_operator(&signed.operator, request))
            .await
        {
            Ok(response) => Ok(response.into_inner().person.into_iter().collect()),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(Vec::new()),
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                Err(Found::Refused("resident_id", status.message().to_string()))
            }
            Err(status) => Err(Found::Failed(ConsoleError::from_status(status, t))),
        };
    }
    if q.chars().count() > mpx_proto::text::limits::NAME || q.chars().any(char::is_control) {
        return Err(Found::Refused("name", "name: too long".into()));
    }
    let store = state.store();
    let people = store
        .people_named(q, MAX_NAME_MATCHES)
        .await
        .map_err(|error| Found::Failed(ConsoleError::from_store(error, t)))?;
    store
        .audit(
            &signed.operator,
            "records.search",
            &purpose,
            q,
            people.len(),
        )
        .await
        .map_err(|error| Found::Failed(ConsoleError::from_store(error, t)))?;
    Ok(people)
}

/// `POST /roster/register`: `CreatePerson` from the form's fields.
pub async fn register(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    signed.check_may_act()?;
    let t = signed.t;
    let mut person = v1::Person {
        residence_county: state.county.to_string(),
        ..Default::default()
    };
    for field in form_fields() {
        let value = form.get(field.name).cloned().unwrap_or_default();
        match field.form {
            Form::Sex => {
                person.sex = match value.trim() {
                    "男" | "male" => Sex::Male,
                    "女" | "female" => Sex::Female,
                    _ => Sex::Unspecified,
                } as i32;
            }
            _ => field.set(&mut person, Stored::Text(value)),
        }
    }
    let request = CreatePersonRequest {
        person: Some(person),
    };
    match state
        .records
        .create_person(as_operator(&signed.operator, request))
        .await
    {
        Ok(response) => {
            let stored = response.into_inner().person.unwrap_or_default();
            let target = format!(
                "/roster?registered={}",
                reference(&signed, &stored.resident_id)
            );
            Ok(Redirect::to(&target).into_response())
        }
        Err(status) => match status.code() {
            tonic::Code::InvalidArgument
            | tonic::Code::FailedPrecondition
            | tonic::Code::AlreadyExists => {
                let field = field_of(status.message());
                let known = form_fields().any(|f| f.name == field);
                let message = refusal(t, field, status.message());
                let key = if known { field } else { "" };
                let errors = BTreeMap::from([(key.to_string(), message)]);
                let search = (String::new(), String::new(), false, Vec::new());
                Ok(roster_page(signed, search, &form, None, errors))
            }
            _ => Err(ConsoleError::from_status(status, t)),
        },
    }
}

// ---- a person -----------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct PersonQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
    purpose: Option<String>,
    /// Show the full resident ID (the read is audited with this request's purpose).
    reveal: Option<String>,
    done: Option<String>,
}

struct FactView {
    label: String,
    value: String,
}

struct CaseRow {
    case_id: String,
    kind: &'static str,
    /// 收件箱 or 发件箱: which side of it this county is.
    side: &'static str,
    state: &'static str,
    peer: String,
    opened: String,
}

struct ChangeView {
    when: String,
    status: &'static str,
    since: String,
    residence: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "roster_person.html")]
struct PersonPage {
    t: &'static Msgs,
    r: &'static RosterMsgs,
    signed: Option<Signed>,
    csrf: String,
    may_act: bool,
    reference: String,
    purpose: String,
    name: String,
    masked_id: String,
    full_id: Option<String>,
    status: &'static str,
    residing: bool,
    /// The history's residence column.
    residence_label: String,
    facts: Vec<FactView>,
    history: Vec<ChangeView>,
    /// Cases about the person, newest first.
    cases: Vec<CaseRow>,
    done: bool,
    /// Field → message, for the move and depart forms.
    errors: BTreeMap<String, String>,
    /// What the clerk typed into the move and depart forms.
    typed: HashMap<String, String>,
}

impl PersonPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn typed(&self, field: &str) -> &str {
        self.typed.get(field).map_or("", String::as_str)
    }
}

/// What a person's page shows besides the person.
struct Shown {
    reveal: bool,
    done: bool,
    errors: BTreeMap<String, String>,
    typed: HashMap<String, String>,
}

/// The person page, read through `GetPerson` with `purpose` (audited as `records.get`).
async fn person_page(
    state: &ConsoleState,
    signed: Signed,
    reference: &str,
    purpose: &str,
    shown: Shown,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let r = t.roster();
    let Some(resident_id) = resident_id_of(&signed, reference) else {
        return Err(ConsoleError::NotFound(t));
    };
    let request = GetPersonRequest {
        resident_id: resident_id.clone(),
        purpose: purpose.to_string(),
    };
    let person = state
        .records
        .get_person(as_operator(&signed.operator, request))
        .await
        .map_err(|status| match status.code() {
            tonic::Code::InvalidArgument => {
                ConsoleError::Refused(t, refusal(t, field_of(status.message()), status.message()))
            }
            _ => ConsoleError::from_status(status, t),
        })?
        .into_inner()
        .person
        .ok_or(ConsoleError::NotFound(t))?;
    // The full ID is also recorded as its own audited read, as the case page records it.
    if shown.reveal {
        state
            .store()
            .audit(
                &signed.operator,
                "records.reveal_id",
                purpose,
                &person.resident_id,
                1,
            )
            .await
            .map_err(|error| ConsoleError::from_store(error, t))?;
    }
    let history = state
        .store()
        .roster_changes_of(&person.resident_id, MAX_HISTORY)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?
        .into_iter()
        .map(|(status, since, residence, _, at)| ChangeView {
            when: t.instant(at),
            status: r.status(
                mpx_proto::person::status_from_label(&status)
                    .unwrap_or(v1::PersonStatus::Unspecified),
            ),
            since,
            residence: state.county_text(&residence),
        })
        .collect();
    let cases = state
        .store()
        .cases_about(&person.resident_id, MAX_HISTORY)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?
        .into_iter()
        .map(
            |(case_id, kind, direction, case_state, peer, opened)| CaseRow {
                case_id,
                kind: t.kind(mpx_proto::case_kind::kind_from_label(&kind).map_or(0, |k| k as i32)),
                side: if direction == "inbound" {
                    t.inbox
                } else {
                    t.outbox
                },
                state: t.state(mpx_proto::case_kind::state_from_label(&case_state)),
                peer: state.county_text(&peer),
                opened: t.date(opened),
            },
        )
        .collect();
    let facts = mpx_proto::person::FIELDS
        .iter()
        .filter(|field| !matches!(field.name, "resident_id" | "status"))
        .filter(|field| field.form != Form::Instant)
        .map(|field| {
            let value = match field.form {
                Form::Sex | Form::Flag => field.display_text(&person),
                _ => field.file_text(&person),
            };
            let value = if field.name.ends_with("_county") && !value.is_empty() {
                state.county_text(&value)
            } else {
                value
            };
            FactView {
                label: label(t, field),
                value,
            }
        })
        .filter(|fact| !fact.value.is_empty())
        .collect();
    let page = PersonPage {
        t,
        r,
        csrf: signed.csrf.clone(),
        may_act: signed.role.may_act(),
        reference: reference.to_string(),
        purpose: purpose.to_string(),
        name: person.name.clone(),
        masked_id: mpx_proto::resident_id::mask(&person.resident_id),
        full_id: shown.reveal.then(|| person.resident_id.clone()),
        status: r.status(person.status()),
        residing: person.status() == v1::PersonStatus::Residing,
        residence_label: mpx_proto::person::field("residence_county")
            .map_or_else(String::new, |field| label(t, field)),
        facts,
        history,
        cases,
        done: shown.done,
        typed: shown.typed,
        errors: shown.errors,
        signed: Some(signed),
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, page).into_response())
}

/// `GET /roster/person?ref=…&purpose=…[&reveal=1]`.
pub async fn person(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<PersonQuery>,
) -> Result<Response, ConsoleError> {
    let shown = Shown {
        reveal: query.reveal.is_some(),
        done: query.done.is_some(),
        errors: BTreeMap::new(),
        typed: HashMap::new(),
    };
    person_page(
        &state,
        signed,
        query.reference.as_deref().unwrap_or_default(),
        query.purpose.as_deref().unwrap_or_default(),
        shown,
    )
    .await
}

/// A refused move or departure shown beside its field; anything else is an error page.
async fn refused_change(
    state: &ConsoleState,
    signed: Signed,
    form: HashMap<String, String>,
    status: tonic::Status,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            let field = field_of(status.message()).to_string();
            let errors = BTreeMap::from([(field.clone(), refusal(t, &field, status.message()))]);
            let reference = form.get("ref").cloned().unwrap_or_default();
            let purpose = form.get("purpose").cloned().unwrap_or_default();
            let shown = Shown {
                reveal: false,
                done: false,
                errors,
                typed: form,
            };
            person_page(state, signed, &reference, &purpose, shown).await
        }
        _ => Err(ConsoleError::from_status(status, t)),
    }
}

/// `text` for a query string: unreserved ASCII as it is, every other byte percent-encoded.
pub fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Back to the person's page after a change.
fn changed(form: &HashMap<String, String>) -> Response {
    let value = |key: &str| query_escape(form.get(key).map_or("", String::as_str));
    let (reference, purpose) = (value("ref"), value("purpose"));
    Redirect::to(&format!(
        "/roster/person?ref={reference}&purpose={purpose}&done=1"
    ))
    .into_response()
}

/// The person a change form is about, checked as every form is.
fn change_target(signed: &Signed, form: &HashMap<String, String>) -> Result<String, ConsoleError> {
    signed.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    signed.check_may_act()?;
    resident_id_of(signed, form.get("ref").map_or("", String::as_str))
        .ok_or(ConsoleError::NotFound(signed.t))
}

/// `POST /roster/move`: `MovePerson`.
pub async fn move_person(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    let resident_id = change_target(&signed, &form)?;
    let value = |key: &str| form.get(key).cloned().unwrap_or_default();
    let request = MovePersonRequest {
        resident_id,
        new_residence_address: value("new_residence_address"),
        effective_date: value("effective_date"),
    };
    match state
        .records
        .move_person(as_operator(&signed.operator, request))
        .await
    {
        Ok(_) => Ok(changed(&form)),
        Err(status) => refused_change(&state, signed, form, status).await,
    }
}

/// `POST /roster/depart`: `DepartPerson`.
pub async fn depart(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    let resident_id = change_target(&signed, &form)?;
    let value = |key: &str| form.get(key).cloned().unwrap_or_default();
    let request = DepartPersonRequest {
        resident_id,
        departure_date: value("departure_date"),
        destination_county: value("destination_county"),
    };
    match state
        .records
        .depart_person(as_operator(&signed.operator, request))
        .await
    {
        Ok(_) => Ok(changed(&form)),
        Err(status) => refused_change(&state, signed, form, status).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(csrf: &str) -> Signed {
        Signed {
            operator: "王芳".into(),
            role: super::super::auth::Role::Clerk,
            csrf: csrf.into(),
            previous_sign_in_unix_ms: 0,
            open_alerts: 0,
            t: &super::super::i18n::ZH,
        }
    }

    #[test]
    fn references_are_read_only_by_their_session() {
        let (a, b) = (signed(&"a".repeat(64)), signed(&"b".repeat(64)));
        let id = "62122119900307123X";
        let reference = reference(&a, id);
        assert!(!reference.contains("1990"), "{reference}");
        assert_eq!(resident_id_of(&a, &reference).as_deref(), Some(id));
        assert_ne!(resident_id_of(&b, &reference).as_deref(), Some(id));
        assert_eq!(resident_id_of(&a, "zz"), None);
        assert_eq!(resident_id_of(&a, "abc"), None);
        assert_eq!(resident_id_of(&a, ""), None);
    }

    #[test]
    fn service_messages_name_their_field() {
        assert_eq!(field_of("person.resident_id: bad"), "resident_id");
        assert_eq!(field_of("effective_date: must not be"), "effective_date");
        let t = &super::super::i18n::ZH;
        assert!(refusal(t, "hukou_county", "x").starts_with("应为6位"));
        assert!(refusal(t, "resident_id", "x").starts_with("应为18位"));
    }
}
