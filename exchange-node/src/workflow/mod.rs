//! What the node does, independent of gRPC: register and move people (with residence notices to
//! the hukou county), open and handle cases, store what peers deliver, and settle receipts.
//! Every change commits together with its outbox rows and case events.

use std::collections::{HashMap, HashSet};

use mpx_proto::division::CountyCode;
use mpx_proto::policy::CaseDeadlines;
use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::v1::{
    self, Case, CaseDirection, CaseKind, CasePriority, CaseState, Envelope, NoticeKind,
    NoticeVerdict, PersonStatus, Receipt, ReceiptStatus, envelope::Body, response::Outcome,
};
use prost::Message;

use crate::clock::Clock;
use crate::directory::DirectoryHandle;
use crate::domain::{
    CaseAction, CheckedPerson, FieldError, MAX_EXTENSION_WORKING_DAYS, NewResident,
    check_peer_body, county_field, date_field, line_field, next_state, resident_id_field,
    state_label, text_field,
};
use crate::store::{
    InboxEntry, NewCaseEvent, OutboxMessage, OutboxSettlement, Store, StoreError, StoreTx,
};
use mpx_proto::text::limits;

mod assignments;
mod cases;
mod intake;
mod recovery;
mod roster;
mod settle;

pub use recovery::{Recovered, Way};

/// Wakes the delivery worker of a county after a commit wrote to the outbox.
#[derive(Debug, Clone)]
pub struct DeliveryNotifier {
    sender: tokio::sync::mpsc::UnboundedSender<String>,
}

impl DeliveryNotifier {
    /// A notifier and the receiving end for the [`crate::outbox::DeliveryManager`].
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }

    /// Wakes the worker of `recipient` (nothing happens when no worker runs any more).
    pub fn notify(&self, recipient: &str) {
        let _ = self.sender.send(recipient.to_string());
    }
}

/// Why an operation did not happen. Mapped to `tonic::Status` in one place (`service`).
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// Not now: the sender should retry later (its case may come back with a recovery).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A refusal of one delivered envelope: the sender must not retry it.
struct Rejection(String);

impl Rejection {
    /// A follow-up on a case this node does not have.
    fn unknown_case(case_id: &str) -> Self {
        Rejection(format!("{UNKNOWN_CASE} {case_id:?} at this node"))
    }

    fn is_unknown_case(&self) -> bool {
        self.0.starts_with(UNKNOWN_CASE)
    }
}

/// How a refusal for an unknown case begins (see [`Rejection::unknown_case`]).
const UNKNOWN_CASE: &str = "case_id: no case";

/// The peers this node has not yet asked what it may have lost, in this start's recovery pass.
/// While a peer is listed, a follow-up from it on a case this node does not have is put off
/// (the sender retries) rather than refused: the case may be among what the peer gives back.
#[derive(Debug, Clone, Default)]
pub struct RecoveryGate {
    pending: std::sync::Arc<std::sync::Mutex<HashSet<String>>>,
}

impl RecoveryGate {
    /// Lists the peers of a new pass.
    pub fn start(&self, peers: impl IntoIterator<Item = String>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.clear();
        pending.extend(peers);
    }

    /// `peer` has answered.
    pub fn done(&self, peer: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(peer);
    }

    pub fn is_pending(&self, peer: &str) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(peer)
    }
}

impl From<FieldError> for Rejection {
    fn from(error: FieldError) -> Self {
        Rejection(error.to_string())
    }
}

enum Applied {
    /// Stored; the deadlines of the case it opened, if it opened one.
    Stored(Option<CaseDeadlines>),
    Rejected(String),
    /// A follow-up on an unknown case from a peer this start's recovery has not asked yet.
    NotYet(String),
}

/// The node's behaviour over its store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Workflow {
    store: Store,
    county: CountyCode,
    check_digit_mode: CheckDigitMode,
    directory: DirectoryHandle,
    delivery: DeliveryNotifier,
    clock: Clock,
    /// Signs receipts with the node's key (evidence for lateness).
    signer: Option<std::sync::Arc<mpx_proto::evidence::Signer>>,
    /// The peers not yet asked in this start's recovery pass.
    recovery: RecoveryGate,
}

/// Input of a new outbound request.
#[derive(Debug, Clone, Default)]
pub struct OpenCase {
    pub kind: CaseKind,
    pub recipient_county: String,
    pub priority: CasePriority,
    pub resident_id: String,
    pub subject_name: String,
    pub questions: String,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn body_kind(body: &Body) -> &'static str {
    match body {
        Body::Notice(_) => "notice",
        Body::Request(_) => "request",
        Body::Response(_) => "response",
        Body::Reminder(_) => "reminder",
        Body::Withdrawal(_) => "withdrawal",
        Body::RecordShare(_) => "record_share",
        Body::ExtensionRequest(_) => "extension_request",
        Body::ExtensionDecision(_) => "extension_decision",
    }
}

pub(crate) fn body_case_id(body: &Body) -> &str {
    match body {
        Body::Notice(notice) => &notice.case_id,
        Body::Request(request) => &request.case_id,
        Body::Response(response) => &response.case_id,
        Body::Reminder(reminder) => &reminder.case_id,
        Body::Withdrawal(withdrawal) => &withdrawal.case_id,
        Body::RecordShare(share) => &share.case_id,
        Body::ExtensionRequest(request) => &request.case_id,
        Body::ExtensionDecision(decision) => &decision.case_id,
    }
}

fn notice_text(kind: NoticeKind, date: &str, person: &v1::Person, destination: &str) -> String {
    match kind {
        NoticeKind::Arrived => format!("来本地居住 / arrived {date}: {}", person.residence_address),
        NoticeKind::Moved => format!("本地迁址 / moved {date}: {}", person.residence_address),
        NoticeKind::Departed if destination.is_empty() => {
            format!("离开本地，去向不明 / left on {date}, destination unknown")
        }
        NoticeKind::Departed => {
            format!("离开本地，去往 {destination} / left on {date} for {destination}")
        }
        NoticeKind::Unspecified => String::new(),
    }
}

fn parse_uuid(field: &str, value: &str) -> Result<String, FieldError> {
    crate::domain::uuid_field(field, value)
}

impl Workflow {
    pub fn new(
        store: Store,
        county: CountyCode,
        check_digit_mode: CheckDigitMode,
        directory: DirectoryHandle,
        delivery: DeliveryNotifier,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            county,
            check_digit_mode,
            directory,
            delivery,
            clock,
            signer: None,
            recovery: RecoveryGate::default(),
        }
    }

    /// The peers not yet asked in this start's recovery pass (see [`RecoveryGate`]).
    pub fn recovery_gate(&self) -> &RecoveryGate {
        &self.recovery
    }

    /// Signs every receipt with `signer` (the key of this node's certificate).
    pub fn with_signer(mut self, signer: std::sync::Arc<mpx_proto::evidence::Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn county(&self) -> CountyCode {
        self.county
    }

    pub fn check_digit_mode(&self) -> CheckDigitMode {
        self.check_digit_mode
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn directory(&self) -> &DirectoryHandle {
        &self.directory
    }

    /// Wakes the delivery worker of `recipient` (after a commit that queued messages for it).
    pub fn wake_delivery(&self, recipient: &str) {
        self.delivery.notify(recipient);
    }

    /// Writes an envelope to the outbox inside `tx`; returns its message id.
    pub(crate) async fn enqueue(
        &self,
        tx: &mut StoreTx,
        recipient: &str,
        body: Body,
        now: i64,
    ) -> Result<String, StoreError> {
        let message_id = new_id();
        let kind = body_kind(&body);
        let case_id = body_case_id(&body).to_string();
        let envelope = Envelope {
            message_id: message_id.clone(),
            sender: self.county.to_string(),
            recipient: recipient.to_string(),
            created_at_unix_ms: now,
            body: Some(body),
        };
        tx.enqueue(
            &message_id,
            recipient,
            &case_id,
            kind,
            &envelope.encode_to_vec(),
            now,
        )
        .await?;
        Ok(message_id)
    }

    /// Opens an outbound residence notice case and queues the notice.
    async fn send_notice(
        &self,
        tx: &mut StoreTx,
        operator: &str,
        person: &v1::Person,
        kind: NoticeKind,
        effective_date: &str,
        destination: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        let case = Case {
            case_id: new_id(),
            kind: CaseKind::ResidenceNotice as i32,
            direction: CaseDirection::Outbound as i32,
            requester_county: self.county.to_string(),
            recipient_county: person.hukou_county.clone(),
            state: CaseState::Queued as i32,
            priority: CasePriority::Normal as i32,
            resident_id: person.resident_id.clone(),
            subject_name: person.name.clone(),
            questions: notice_text(kind, effective_date, person, destination),
            opened_at_unix_ms: now,
            handled_by: operator.to_string(),
            ..Default::default()
        };
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, "opened", operator, &case.questions)
            .await?;
        tx.queue_case_report(&case_event_report(&case, "sent", now))
            .await?;
        let notice = v1::Notice {
            case_id: case.case_id.clone(),
            kind: kind as i32,
            // Each office's own fields (contact details, notes) stay here.
            person: Some(keep_local_fields(person.clone(), None)),
            effective_date: effective_date.to_string(),
            destination_county: destination.to_string(),
        };
        self.enqueue(tx, &person.hukou_county, Body::Notice(notice), now)
            .await?;
        Ok(case.case_id)
    }

    /// What a clerk is told when a notice for `county` will be held: it has no route yet.
    fn no_route_warning(&self, county: CountyCode) -> Option<String> {
        if !self.directory.has_no_route(county.as_str()) {
            return None;
        }
        let name = mpx_proto::division::DivisionTable::shipped()
            .name(&county)
            .unwrap_or("?");
        Some(format!(
            "person.hukou_county: {county} {name} has no route yet (not in this province's directory: not enrolled, or another province); the residence notice is held and delivered when it has one"
        ))
    }

    fn notify(&self, recipients: &[String]) {
        for recipient in recipients {
            self.delivery.notify(recipient);
        }
    }

    // ---- deadlines ----------------------------------------------------------------------------

    /// Sets a newly delivered case's deadlines from the directory's calendar and policies.
    fn with_deadlines(&self, mut case: Case) -> (Case, CaseDeadlines) {
        let deadlines = self.directory.deadlines().case_deadlines(
            case.kind(),
            case.priority(),
            case.delivered_at_unix_ms,
        );
        apply_deadlines(&mut case, &deadlines);
        (case, deadlines)
    }

    /// Recomputes the due dates that rested on an unpublished calendar year, after new calendar
    /// data arrived. Both sides of a case compute the same value from the same delivery instant.
    /// Returns how many changed.
    pub async fn recompute_provisional_deadlines(&self) -> Result<usize, WorkflowError> {
        let context = self.directory.deadlines();
        let cases = self.store.provisional_open_cases().await?;
        let now = self.clock.now_unix_ms();
        let mut changed = 0;
        let mut tx = self.store.begin().await?;
        for mut case in cases {
            if case.delivered_at_unix_ms == 0 || case.calendar_version == context.calendar_version {
                continue;
            }
            let before = case.due_at_unix_ms;
            let deadlines =
                context.case_deadlines(case.kind(), case.priority(), case.delivered_at_unix_ms);
            apply_deadlines(&mut case, &deadlines);
            tx.save_case(&case, now).await?;
            let detail = format!(
                "{} → {} ({}{})",
                mpx_proto::time::format_due(before),
                mpx_proto::time::format_due(case.due_at_unix_ms),
                deadlines.calendar_version,
                if deadlines.provisional {
                    ", still provisional"
                } else {
                    ""
                }
            );
            tx.add_case_event(&case.case_id, now, "due date recomputed", "node", &detail)
                .await?;
            changed += 1;
        }
        tx.commit().await?;
        Ok(changed)
    }
}

/// A residence notice's record with the fields each office keeps for itself (contact details,
/// notes) taken from this county's own record, or left empty: the sender's are not ours.
fn keep_local_fields(mut record: v1::Person, existing: Option<&v1::Person>) -> v1::Person {
    use mpx_proto::person::{FIELDS, Stored};
    for field in FIELDS.iter().filter(|field| field.kept_locally) {
        let value = existing.map_or(Stored::Text(String::new()), |own| field.get(own));
        field.set(&mut record, value);
    }
    record
}

/// One event of `case` as this node saw it, for the province's compliance figures.
pub(crate) fn case_event_report(case: &Case, event: &str, at_unix_ms: i64) -> v1::CaseEventReport {
    v1::CaseEventReport {
        seq: 0,
        case_id: case.case_id.clone(),
        event: event.to_string(),
        at_unix_ms,
        role: case.direction,
        kind: case.kind,
        priority: case.priority,
        requester_county: case.requester_county.clone(),
        recipient_county: case.recipient_county.clone(),
        receipt: None,
        response: None,
        extended_due_at_unix_ms: 0,
        parent_case_id: case.parent_case_id.clone(),
        arrived_at_unix_ms: 0,
    }
}

/// Whether the province itself opened the case (an assignment from a provincial check): its
/// requester is the province's code padded to six digits, e.g. 620000.
pub fn is_provincial(case: &Case) -> bool {
    case.requester_county.len() == 6 && case.requester_county.ends_with("0000")
}

/// The (unsigned) receipt for something stored at `now` with these deadlines.
fn stored_receipt(message_id: &str, case_id: &str, deadlines: &CaseDeadlines, now: i64) -> Receipt {
    Receipt {
        case_id: case_id.to_string(),
        message_id: message_id.to_string(),
        status: ReceiptStatus::Stored as i32,
        error: String::new(),
        received_at_unix_ms: now,
        due_at_unix_ms: deadlines.due_at_unix_ms,
        signature: Vec::new(),
        due_provisional: deadlines.provisional,
        calendar_version: deadlines.calendar_version.clone(),
        policy_version: deadlines.policy_version.clone(),
        acceptance_due_at_unix_ms: deadlines.acceptance_due_at_unix_ms,
    }
}

fn rejected_receipt(message_id: &str, reason: &str, now: i64) -> Receipt {
    Receipt {
        message_id: message_id.to_string(),
        status: ReceiptStatus::Rejected as i32,
        error: reason.to_string(),
        received_at_unix_ms: now,
        due_at_unix_ms: 0,
        signature: Vec::new(),
        ..Default::default()
    }
}

fn apply_deadlines(case: &mut Case, deadlines: &CaseDeadlines) {
    case.due_at_unix_ms = deadlines.due_at_unix_ms;
    case.acceptance_due_at_unix_ms = deadlines.acceptance_due_at_unix_ms;
    case.due_provisional = deadlines.provisional;
    case.calendar_version = deadlines.calendar_version.clone();
    case.policy_version = deadlines.policy_version.clone();
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

/// Shown in logs and tables: `delivered`, `accepted`, ….
pub fn case_state_label(case: &Case) -> &'static str {
    state_label(case.state())
}
