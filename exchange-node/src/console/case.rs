//! A case: its facts, due dates, timeline and the actions its state allows, each a POST form
//! answered with a redirect (Post/Redirect/Get); and a new verification request (新建协查).
//! Every read and change goes through `mpx.v1.Cases` as the signed-in operator: the service
//! validates, audits (`cases.get`, with the person's ID) and applies the state machine.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mpx_proto::v1::cases_server::Cases;
use mpx_proto::v1::{
    self, AcceptCaseRequest, CaseDirection, CaseKind, CasePriority, CloseCaseRequest,
    DecideExtensionRequest, GetCaseRequest, NoticeVerdict, OpenCaseRequest, RedirectCaseRequest,
    RequestExtensionRequest, RespondCaseRequest, WithdrawCaseRequest,
};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::pages::{as_operator, days_text};
use super::{ConsoleError, ConsoleForm, ConsoleQuery, ConsoleState};
use crate::domain::{CaseAction, next_state};

struct ActionView {
    name: &'static str,
    label: &'static str,
}

struct EventView {
    when: String,
    event: String,
    actor: String,
    detail: String,
}

struct EvidenceView {
    event: String,
    signer: String,
    signed_at: String,
    arrived_at: String,
    check: &'static str,
    /// `ok` when the signature verified, `bad` otherwise (the text says which).
    check_class: &'static str,
}

struct CaseView {
    case_id: String,
    kind: &'static str,
    state: &'static str,
    requester: String,
    recipient: String,
    priority: &'static str,
    name: String,
    masked_id: String,
    questions: String,
    answer: String,
    acceptance_due: String,
    due: String,
    extended_due: Option<String>,
    days_text: String,
    days_class: &'static str,
    needs_verdict: bool,
    actions: Vec<ActionView>,
    events: Vec<EventView>,
    evidence: Vec<EvidenceView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "case.html")]
struct CasePage {
    t: &'static Msgs,
    signed: Option<Signed>,
    view: CaseView,
    /// The full resident ID, when asked for with a purpose.
    revealed: Option<String>,
    /// Counties a case can be redirected to.
    counties: Vec<CountyOption>,
    csrf: String,
    may_act: bool,
    done: bool,
    error: Option<String>,
}

/// The actions the case's state and this node's side of it allow (the service decides in the
/// end; a form it refuses shows its message).
fn actions(t: &Msgs, case: &v1::Case) -> Vec<ActionView> {
    let candidates: &[(CaseAction, &'static str, &'static str)] =
        if case.direction() == CaseDirection::Inbound {
            &[
                (CaseAction::Accept, "accept", t.accept),
                (CaseAction::Respond, "respond", t.respond),
                (CaseAction::Redirect, "redirect", t.redirect),
            ]
        } else {
            &[
                (CaseAction::Withdraw, "withdraw", t.withdraw),
                (CaseAction::Close, "close", t.close),
            ]
        };
    let mut actions: Vec<ActionView> = candidates
        .iter()
        .filter(|(action, _, _)| next_state(case.state(), *action).is_ok())
        .map(|&(_, name, label)| ActionView { name, label })
        .collect();
    let unanswered = matches!(
        case.state(),
        v1::CaseState::Delivered | v1::CaseState::Accepted
    );
    if case.direction() == CaseDirection::Inbound
        && unanswered
        && case.extension_state != "requested"
        && !crate::workflow::is_provincial(case)
    {
        actions.push(ActionView {
            name: "extend",
            label: t.ask_extension,
        });
    }
    if case.direction() == CaseDirection::Outbound && case.extension_state == "requested" {
        actions.push(ActionView {
            name: "grant",
            label: t.grant_extension,
        });
        actions.push(ActionView {
            name: "deny",
            label: t.deny_extension,
        });
    }
    actions
}

fn view(
    state: &ConsoleState,
    t: &'static Msgs,
    case: v1::Case,
    events: Vec<v1::CaseEvent>,
    evidence: Vec<v1::SignedEvidence>,
) -> CaseView {
    let due = state.due_bounds().of(&case);
    let (days_text, days_class) = days_text(t, &case, due);
    let provisional = if case.due_provisional {
        t.provisional
    } else {
        ""
    };
    CaseView {
        kind: t.kind(case.kind),
        state: t.state(case.state()),
        requester: state.county_text(&case.requester_county),
        recipient: state.county_text(&case.recipient_county),
        priority: t.priority(case.priority()),
        name: case.subject_name.clone(),
        masked_id: mpx_proto::resident_id::mask(&case.resident_id),
        questions: case.questions.clone(),
        answer: case.answer.clone(),
        acceptance_due: t.due_date(case.acceptance_due_at_unix_ms),
        due: format!("{}{provisional}", t.due_date(case.due_at_unix_ms)),
        extended_due: (case.extended_due_at_unix_ms > 0)
            .then(|| t.due_date(case.extended_due_at_unix_ms)),
        days_text,
        days_class,
        needs_verdict: mpx_proto::case_kind::answer_needs_verdict(case.kind),
        actions: actions(t, &case),
        events: events
            .into_iter()
            .map(|event| EventView {
                when: t.instant(event.at_unix_ms),
                event: t.event(&event.event),
                actor: event.actor,
                detail: event.detail,
            })
            .collect(),
        evidence: evidence
            .into_iter()
            .map(|item| {
                let (check, check_class) = match item.check() {
                    v1::EvidenceCheck::Verified => (t.check_verified, "ok"),
                    v1::EvidenceCheck::BadSignature => (t.check_bad_signature, "bad"),
                    v1::EvidenceCheck::NoCertificate => (t.check_no_certificate, "bad"),
                    v1::EvidenceCheck::Missing | v1::EvidenceCheck::Unspecified => {
                        (t.check_missing, "bad")
                    }
                };
                EvidenceView {
                    event: t.event(&item.event),
                    signer: state.county_text(&item.signer_county),
                    signed_at: t.instant(item.signed_at_unix_ms),
                    arrived_at: if item.arrived_at_unix_ms > 0 {
                        t.instant(item.arrived_at_unix_ms)
                    } else {
                        "—".into()
                    },
                    check,
                    check_class,
                }
            })
            .collect(),
        case_id: case.case_id,
    }
}

/// A case through `GetCase` as the signed-in operator (audited as `cases.get`); a malformed id
/// in the address is a page that does not exist.
async fn read_case(
    state: &ConsoleState,
    signed: &Signed,
    case_id: &str,
) -> Result<v1::GetCaseResponse, ConsoleError> {
    let t = signed.t;
    Ok(state
        .cases
        .get_case(as_operator(
            &signed.operator,
            GetCaseRequest {
                case_id: case_id.to_string(),
            },
        ))
        .await
        .map_err(|status| match status.code() {
            tonic::Code::InvalidArgument => ConsoleError::NotFound(t),
            _ => ConsoleError::from_status(status, t),
        })?
        .into_inner())
}

/// The case page, read through `GetCase` (audited as `cases.get`).
/// What a case page shows besides the case.
#[derive(Debug, Default)]
struct Shown {
    /// After a successful action (Post/Redirect/Get).
    done: bool,
    /// A refused action: its status and message.
    error: Option<(StatusCode, String)>,
    /// The purpose for which the clerk asked to see the full resident ID (audited).
    reveal_for: Option<String>,
}

async fn case_page(
    state: &ConsoleState,
    signed: Signed,
    case_id: &str,
    shown: Shown,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let response = read_case(state, &signed, case_id).await?;
    let Some(case) = response.case else {
        return Err(ConsoleError::NotFound(t));
    };
    let (status, error) = match shown.error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    // The full ID only for a stated purpose, recorded as its own audited read.
    let revealed = match &shown.reveal_for {
        Some(purpose) => {
            state
                .store()
                .audit(
                    &signed.operator,
                    "cases.reveal_id",
                    purpose,
                    &case.resident_id,
                    1,
                )
                .await
                .map_err(|error| ConsoleError::from_store(error, t))?;
            Some(case.resident_id.clone())
        }
        None => None,
    };
    let page = CasePage {
        t,
        revealed,
        counties: county_options(state, ""),
        view: view(state, t, case, response.events, response.evidence),
        csrf: signed.csrf.clone(),
        may_act: signed.role.may_act(),
        signed: Some(signed),
        done: shown.done,
        error,
    };
    Ok((status, page).into_response())
}

/// The case to print and file: its facts, timeline and evidence, with who printed it and
/// when; no navigation or forms. Read through `GetCase` like the case page (audited).
#[derive(Template, WebTemplate)]
#[template(path = "case_print.html")]
struct PrintPage {
    t: &'static Msgs,
    view: CaseView,
    county: String,
    printed_by: String,
    printed_at: String,
}

pub async fn print(
    State(state): State<ConsoleState>,
    signed: Signed,
    case_id: Result<Path<String>, PathRejection>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let Ok(Path(case_id)) = case_id else {
        return Err(ConsoleError::NotFound(t));
    };
    let response = read_case(&state, &signed, &case_id).await?;
    let Some(case) = response.case else {
        return Err(ConsoleError::NotFound(t));
    };
    Ok(PrintPage {
        t,
        view: view(&state, t, case, response.events, response.evidence),
        county: state.county_text(state.county.as_str()),
        printed_by: signed.operator.clone(),
        printed_at: t.instant(state.workflow.clock().now_unix_ms()),
    }
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

pub async fn show(
    State(state): State<ConsoleState>,
    signed: Signed,
    case_id: Result<Path<String>, PathRejection>,
    ConsoleQuery(query): ConsoleQuery<ShowQuery>,
) -> Result<Response, ConsoleError> {
    let Ok(Path(case_id)) = case_id else {
        return Err(ConsoleError::NotFound(signed.t));
    };
    let shown = Shown {
        done: query.done.is_some(),
        ..Shown::default()
    };
    case_page(&state, signed, &case_id, shown).await
}

/// The fields of every action form (each uses what it needs).
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    county: String,
    #[serde(default)]
    working_days: String,
}

pub async fn act(
    State(state): State<ConsoleState>,
    signed: Signed,
    path: Result<Path<(String, String)>, PathRejection>,
    ConsoleForm(form): ConsoleForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    let Ok(Path((case_id, action))) = path else {
        return Err(ConsoleError::NotFound(signed.t));
    };
    signed.check_csrf(&form.csrf)?;
    let t = signed.t;
    if action == "reveal" {
        // Reading, which a viewer may do too, for a purpose.
        let shown = match crate::service::require_purpose(&form.text) {
            Ok(purpose) => Shown {
                reveal_for: Some(purpose),
                ..Shown::default()
            },
            Err(status) => Shown {
                error: Some((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    t.refusal("purpose", status.message()),
                )),
                ..Shown::default()
            },
        };
        return case_page(&state, signed, &case_id, shown).await;
    }
    signed.check_may_act()?;
    let operator = signed.operator.clone();
    let cases = &state.cases;
    let id = case_id.clone();
    let outcome = match action.as_str() {
        "accept" => cases
            .accept_case(as_operator(
                &operator,
                AcceptCaseRequest {
                    case_id: id,
                    note: form.text,
                },
            ))
            .await
            .map(drop),
        "respond" => {
            let verdict = match form.verdict.as_str() {
                "confirmed" => NoticeVerdict::Confirmed,
                "disputed" => NoticeVerdict::Disputed,
                _ => NoticeVerdict::Unspecified,
            };
            cases
                .respond_case(as_operator(
                    &operator,
                    RespondCaseRequest {
                        case_id: id,
                        answer: form.text,
                        verdict: verdict as i32,
                    },
                ))
                .await
                .map(drop)
        }
        "withdraw" => cases
            .withdraw_case(as_operator(
                &operator,
                WithdrawCaseRequest {
                    case_id: id,
                    reason: form.text,
                },
            ))
            .await
            .map(drop),
        "close" => cases
            .close_case(as_operator(&operator, CloseCaseRequest { case_id: id }))
            .await
            .map(drop),
        "redirect" => cases
            .redirect_case(as_operator(
                &operator,
                RedirectCaseRequest {
                    case_id: id,
                    redirect_to_county: form.county.trim().to_string(),
                    reason: form.text,
                },
            ))
            .await
            .map(drop),
        "extend" => cases
            .request_extension(as_operator(
                &operator,
                RequestExtensionRequest {
                    case_id: id,
                    // Not a number: 0, which the service refuses with the range it takes.
                    working_days: form.working_days.trim().parse().unwrap_or(0),
                    reason: form.text,
                },
            ))
            .await
            .map(drop),
        "grant" | "deny" => cases
            .decide_extension(as_operator(
                &operator,
                DecideExtensionRequest {
                    case_id: id,
                    grant: action == "grant",
                    note: form.text,
                },
            ))
            .await
            .map(drop),
        _ => return Err(ConsoleError::NotFound(t)),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{case_id}?done=1")).into_response()),
        Err(status) => match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                let field = status
                    .message()
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .trim();
                let message = t.refusal(field, status.message());
                let shown = Shown {
                    error: Some((StatusCode::CONFLICT, message)),
                    ..Shown::default()
                };
                case_page(&state, signed, &case_id, shown).await
            }
            _ => Err(ConsoleError::from_status(status, t)),
        },
    }
}

// ---- new request --------------------------------------------------------------------------

/// The new-request form as submitted (and shown again with its errors).
#[derive(Debug, Default, Deserialize)]
pub struct NewRequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    recipient_county: String,
    #[serde(default)]
    resident_id: String,
    #[serde(default)]
    subject_name: String,
    #[serde(default)]
    questions: String,
    #[serde(default)]
    priority: String,
}

struct CountyOption {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "new_request.html")]
struct NewRequestPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    csrf: String,
    form: NewRequestForm,
    counties: Vec<CountyOption>,
    /// Field → message ("" for one that names no field of the form).
    errors: BTreeMap<String, String>,
}

impl NewRequestPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// The other active counties of the directory, by name, `chosen` selected.
fn county_options(state: &ConsoleState, chosen: &str) -> Vec<CountyOption> {
    let own = state.county.to_string();
    state
        .workflow
        .directory()
        .active_counties()
        .into_iter()
        .filter(|(code, _)| *code != own)
        .map(|(code, _)| CountyOption {
            selected: code == chosen,
            label: state.county_text(&code),
            value: code,
        })
        .collect()
}

fn new_request_page(
    state: &ConsoleState,
    signed: Signed,
    form: NewRequestForm,
    errors: BTreeMap<String, String>,
) -> Response {
    let counties = county_options(state, &form.recipient_county);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = NewRequestPage {
        t: signed.t,
        csrf: signed.csrf.clone(),
        signed: Some(signed),
        form,
        counties,
        errors,
    };
    (status, page).into_response()
}

pub async fn new_form(
    State(state): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    signed.check_may_act()?;
    Ok(new_request_page(
        &state,
        signed,
        NewRequestForm::default(),
        BTreeMap::new(),
    ))
}

/// The form field a service message is about (`resident_id: …`), when it is one of the form's.
fn field_of(message: &str) -> &str {
    const FIELDS: [&str; 4] = [
        "recipient_county",
        "resident_id",
        "subject_name",
        "questions",
    ];
    let field = message.split(':').next().unwrap_or_default().trim();
    FIELDS
        .into_iter()
        .find(|known| *known == field)
        .unwrap_or("")
}

pub async fn create(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<NewRequestForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.check_may_act()?;
    let t = signed.t;
    let priority = if form.priority == "urgent" {
        CasePriority::Urgent
    } else {
        CasePriority::Normal
    };
    let request = OpenCaseRequest {
        kind: CaseKind::Verification as i32,
        recipient_county: form.recipient_county.trim().to_string(),
        priority: priority as i32,
        resident_id: form.resident_id.clone(),
        subject_name: form.subject_name.clone(),
        questions: form.questions.clone(),
    };
    match state
        .cases
        .open_case(as_operator(&signed.operator, request))
        .await
    {
        Ok(response) => {
            let case_id = response
                .into_inner()
                .case
                .map(|c| c.case_id)
                .unwrap_or_default();
            Ok(Redirect::to(&format!("/cases/{case_id}?done=1")).into_response())
        }
        Err(status) => match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                let field = field_of(status.message());
                let message = t.refusal(field, status.message());
                let errors = BTreeMap::from([(field.to_string(), message)]);
                Ok(new_request_page(&state, signed, form, errors))
            }
            _ => Err(ConsoleError::from_status(status, t)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_messages_name_their_form_field() {
        assert_eq!(
            field_of("resident_id: expected 18 characters"),
            "resident_id"
        );
        assert_eq!(
            field_of("recipient_county: county 629999 is not a county"),
            "recipient_county"
        );
        assert_eq!(field_of("kind: VERIFICATION or RECORD_TRANSFER"), "");
        assert_eq!(field_of(""), "");
    }

    #[test]
    fn a_case_offers_what_its_state_and_side_allow() {
        let t = &super::super::i18n::ZH;
        let mut case = v1::Case {
            direction: CaseDirection::Inbound as i32,
            state: v1::CaseState::Delivered as i32,
            ..Default::default()
        };
        let names = |case: &v1::Case| actions(t, case).iter().map(|a| a.name).collect::<Vec<_>>();
        assert_eq!(names(&case), ["accept", "respond", "redirect", "extend"]);
        case.state = v1::CaseState::Accepted as i32;
        assert_eq!(names(&case), ["respond", "redirect", "extend"]);
        case.extension_state = "requested".into();
        assert_eq!(names(&case), ["respond", "redirect"]);
        case.state = v1::CaseState::Responded as i32;
        assert!(names(&case).is_empty());
        case.direction = CaseDirection::Outbound as i32;
        assert_eq!(names(&case), ["close", "grant", "deny"]);
        case.extension_state = String::new();
        assert_eq!(names(&case), ["close"]);
        case.state = v1::CaseState::Delivered as i32;
        assert_eq!(names(&case), ["withdraw"]);
    }
}
