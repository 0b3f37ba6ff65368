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
use crate::outbox::DeliveryNotifier;
use crate::store::{
    InboxEntry, NewCaseEvent, OutboxMessage, OutboxSettlement, Store, StoreError, StoreTx,
};
use mpx_proto::text::limits;

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A refusal of one delivered envelope: the sender must not retry it.
struct Rejection(String);

impl From<FieldError> for Rejection {
    fn from(error: FieldError) -> Self {
        Rejection(error.to_string())
    }
}

enum Applied {
    /// Stored; the deadlines of the case it opened, if it opened one.
    Stored(Option<CaseDeadlines>),
    Rejected(String),
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

fn body_kind(body: &Body) -> &'static str {
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

fn body_case_id(body: &Body) -> &str {
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
        }
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
            person: Some(v1::Person {
                phone: String::new(),
                notes: String::new(),
                ..person.clone()
            }),
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

    // ---- roster --------------------------------------------------------------------------------

    /// Registers a person living in this county. Returns the record, warnings, and the notice
    /// case opened when the hukou county is elsewhere.
    pub async fn register_person(
        &self,
        operator: &str,
        input: &v1::Person,
    ) -> Result<(v1::Person, Vec<String>, Option<String>), WorkflowError> {
        let resident = NewResident::parse(
            input,
            self.county,
            self.check_digit_mode,
            self.clock.today(),
        )?;
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        if let Some(existing) = tx.get_person(resident.resident_id.as_str()).await?
            && existing.status() == PersonStatus::Residing
        {
            return Err(WorkflowError::AlreadyExists(format!(
                "person.resident_id: {} is already registered as living here; use `records move` or `records depart`",
                resident.resident_id
            )));
        }
        let person = resident.to_proto(PersonStatus::Residing, now);
        tx.upsert_person(&person, now).await?;
        let mut case_id = None;
        let mut warnings = resident.warnings.clone();
        if resident.hukou_county != self.county {
            if let Some(warning) = self.no_route_warning(resident.hukou_county) {
                warnings.push(warning);
            }
            let effective = person.arrival_date.clone();
            case_id = Some(
                self.send_notice(
                    &mut tx,
                    operator,
                    &person,
                    NoticeKind::Arrived,
                    &effective,
                    "",
                    now,
                )
                .await?,
            );
        }
        tx.commit().await?;
        if case_id.is_some() {
            self.notify(std::slice::from_ref(&person.hukou_county));
        }
        tracing::info!(resident = %resident.resident_id, %operator, "person registered");
        Ok((person, warnings, case_id))
    }

    /// Bulk registration: every row validated like [`Workflow::register_person`], all in one
    /// transaction, with the residence notices queued in the same transaction. A row that
    /// matches the stored record exactly is `UNCHANGED`; a person already living here with
    /// other data is rejected with the fields that differ (a clerk decides: `records move` or
    /// a correction), as is a second row for the same person in the batch.
    pub async fn import_people(
        &self,
        operator: &str,
        rows: &[v1::ImportRow],
    ) -> Result<Vec<v1::ImportRowResult>, WorkflowError> {
        use v1::ImportOutcome;
        let now = self.clock.now_unix_ms();
        let today = self.clock.today();
        // Validation first (pure), then one look-up for the whole batch.
        let mut results: Vec<v1::ImportRowResult> = Vec::with_capacity(rows.len());
        let mut valid: Vec<(usize, NewResident)> = Vec::with_capacity(rows.len());
        let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for row in rows {
            let mut result = v1::ImportRowResult {
                line: row.line,
                ..Default::default()
            };
            let parsed = match &row.person {
                None => Err("person: required".to_string()),
                Some(input) => NewResident::parse(input, self.county, self.check_digit_mode, today)
                    .map_err(|e| e.to_string()),
            };
            match parsed {
                Err(reason) => {
                    result.outcome = ImportOutcome::Rejected as i32;
                    result.reason = reason;
                }
                Ok(resident) => {
                    let id = resident.resident_id.as_str().to_string();
                    if let Some(first) = seen.get(&id) {
                        result.outcome = ImportOutcome::Rejected as i32;
                        result.reason =
                            format!("person.resident_id: duplicate of line {first} in this file");
                    } else {
                        seen.insert(id, row.line);
                        result.warnings = resident.warnings.clone();
                        valid.push((results.len(), resident));
                    }
                }
            }
            results.push(result);
        }
        let mut tx = self.store.begin().await?;
        let ids: Vec<&str> = valid.iter().map(|(_, r)| r.resident_id.as_str()).collect();
        let existing = tx.get_people(&ids).await?;
        let mut to_store = Vec::with_capacity(valid.len());
        let mut notices = Vec::new();
        for (index, resident) in &valid {
            let result = &mut results[*index];
            let person = resident.to_proto(PersonStatus::Residing, now);
            if let Some(stored) = existing.get(&person.resident_id)
                && stored.status() == PersonStatus::Residing
            {
                let differs = differing_fields(stored, &person);
                if differs.is_empty() {
                    result.outcome = ImportOutcome::Unchanged as i32;
                } else {
                    result.outcome = ImportOutcome::Rejected as i32;
                    result.reason = format!(
                        "person.resident_id: {} already lives here with other {}; use `records move` or correct the record",
                        person.resident_id,
                        differs.join(", ")
                    );
                }
                continue;
            }
            result.outcome = ImportOutcome::Stored as i32;
            if resident.hukou_county != self.county {
                if let Some(warning) = self.no_route_warning(resident.hukou_county) {
                    result.warnings.push(warning);
                }
                notices.push((*index, person.clone()));
            }
            to_store.push(person);
        }
        tx.upsert_people(&to_store, now).await?;
        let mut notified = std::collections::BTreeSet::new();
        for (index, person) in notices {
            let effective = person.arrival_date.clone();
            results[index].notice_case_id = self
                .send_notice(
                    &mut tx,
                    operator,
                    &person,
                    NoticeKind::Arrived,
                    &effective,
                    "",
                    now,
                )
                .await?;
            notified.insert(person.hukou_county.clone());
        }
        tx.commit().await?;
        let notified: Vec<String> = notified.into_iter().collect();
        self.notify(&notified);
        Ok(results)
    }

    async fn residing_person(
        &self,
        tx: &mut StoreTx,
        resident_id: &str,
    ) -> Result<(ResidentId, v1::Person), WorkflowError> {
        let id = resident_id_field("resident_id", resident_id, CheckDigitMode::Warn)?.id;
        let person = tx.get_person(id.as_str()).await?.ok_or_else(|| {
            WorkflowError::NotFound(format!("resident_id: {id} is not in this county's roster"))
        })?;
        if person.status() != PersonStatus::Residing {
            return Err(WorkflowError::FailedPrecondition(format!(
                "resident_id: {id} is not living here (status {})",
                crate::store::status_label(person.status())
            )));
        }
        Ok((id, person))
    }

    /// Records a move to a new address in this county; notifies the hukou county.
    pub async fn move_person(
        &self,
        operator: &str,
        resident_id: &str,
        new_address: &str,
        effective_date: &str,
    ) -> Result<(v1::Person, Option<String>), WorkflowError> {
        let address = line_field("new_residence_address", new_address, limits::ADDRESS, false)?;
        let today = self.clock.today();
        let date = date_field("effective_date", effective_date, Some(today))?;
        if date > today {
            return Err(FieldError::new("effective_date", "must not be in the future").into());
        }
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let (id, mut person) = self.residing_person(&mut tx, resident_id).await?;
        person.residence_address = address;
        person.updated_at_unix_ms = now;
        tx.upsert_person(&person, now).await?;
        let mut case_id = None;
        if person.hukou_county != self.county.as_str() {
            case_id = Some(
                self.send_notice(
                    &mut tx,
                    operator,
                    &person,
                    NoticeKind::Moved,
                    &date.to_string(),
                    "",
                    now,
                )
                .await?,
            );
        }
        tx.commit().await?;
        if case_id.is_some() {
            self.notify(std::slice::from_ref(&person.hukou_county));
        }
        tracing::info!(resident = %id, %operator, "person moved");
        Ok((person, case_id))
    }

    /// Records that a person left this county; notifies the hukou county.
    pub async fn depart_person(
        &self,
        operator: &str,
        resident_id: &str,
        departure_date: &str,
        destination_county: &str,
    ) -> Result<(v1::Person, Option<String>), WorkflowError> {
        let today = self.clock.today();
        let date = date_field("departure_date", departure_date, Some(today))?;
        if date > today {
            return Err(FieldError::new("departure_date", "must not be in the future").into());
        }
        let destination = if destination_county.trim().is_empty() {
            String::new()
        } else {
            county_field("destination_county", destination_county)?.to_string()
        };
        if destination == self.county.as_str() {
            return Err(FieldError::new(
                "destination_county",
                "is this county; use `records move` for a move within it",
            )
            .into());
        }
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let (id, mut person) = self.residing_person(&mut tx, resident_id).await?;
        if let Ok(arrival) = mpx_proto::time::parse_date(&person.arrival_date)
            && date < arrival
        {
            return Err(FieldError::new(
                "departure_date",
                format!("must not be before the arrival date {arrival}"),
            )
            .into());
        }
        person.departure_date = date.to_string();
        person.status = PersonStatus::Departed as i32;
        person.updated_at_unix_ms = now;
        tx.upsert_person(&person, now).await?;
        let mut case_id = None;
        if person.hukou_county != self.county.as_str() {
            case_id = Some(
                self.send_notice(
                    &mut tx,
                    operator,
                    &person,
                    NoticeKind::Departed,
                    &date.to_string(),
                    &destination,
                    now,
                )
                .await?,
            );
        }
        tx.commit().await?;
        if case_id.is_some() {
            self.notify(std::slice::from_ref(&person.hukou_county));
        }
        tracing::info!(resident = %id, %operator, "person departed");
        Ok((person, case_id))
    }

    // ---- cases, requester side ---------------------------------------------------------------

    async fn check_recipient(
        &self,
        field: &str,
        county: &str,
    ) -> Result<CountyCode, WorkflowError> {
        let recipient = county_field(field, county)?;
        if recipient == self.county {
            return Err(
                FieldError::new(field, "is this county; a case goes to another county").into(),
            );
        }
        if !self.directory.is_active(recipient.as_str()) {
            // Perhaps enrolled since the last refresh: ask the registry now.
            self.directory
                .refresh_now(std::time::Duration::from_secs(3))
                .await;
        }
        if self.directory.is_loaded() && !self.directory.is_active(recipient.as_str()) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "{field}: county {recipient} is not an active node in the provincial directory"
            )));
        }
        Ok(recipient)
    }

    /// Opens a verification or record-transfer request to another county.
    pub async fn open_case(&self, operator: &str, input: &OpenCase) -> Result<Case, WorkflowError> {
        if !matches!(
            input.kind,
            CaseKind::Verification | CaseKind::RecordTransfer
        ) {
            return Err(FieldError::new(
                "kind",
                "VERIFICATION or RECORD_TRANSFER (residence notices are sent by `records add|move|depart`)",
            )
            .into());
        }
        let recipient = self
            .check_recipient("recipient_county", &input.recipient_county)
            .await?;
        let id = resident_id_field("resident_id", &input.resident_id, self.check_digit_mode)?.id;
        let subject_name = line_field("subject_name", &input.subject_name, limits::NAME, true)?;
        let questions = text_field("questions", &input.questions, limits::QUESTIONS, false)?;
        let priority = match input.priority {
            CasePriority::Unspecified => CasePriority::Normal,
            other => other,
        };
        let now = self.clock.now_unix_ms();
        let case = Case {
            case_id: new_id(),
            kind: input.kind as i32,
            direction: CaseDirection::Outbound as i32,
            requester_county: self.county.to_string(),
            recipient_county: recipient.to_string(),
            state: CaseState::Queued as i32,
            priority: priority as i32,
            resident_id: id.as_str().to_string(),
            subject_name,
            questions,
            opened_at_unix_ms: now,
            handled_by: operator.to_string(),
            ..Default::default()
        };
        let mut tx = self.store.begin().await?;
        self.open_outbound_request(&mut tx, operator, &case, now)
            .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.recipient_county));
        tracing::info!(case_id = %case.case_id, %recipient, resident = %id, %operator, "case opened");
        Ok(case)
    }

    async fn open_outbound_request(
        &self,
        tx: &mut StoreTx,
        actor: &str,
        case: &Case,
        now: i64,
    ) -> Result<(), StoreError> {
        tx.save_case(case, now).await?;
        tx.add_case_event(
            &case.case_id,
            now,
            "opened",
            actor,
            &format!("to {}", case.recipient_county),
        )
        .await?;
        tx.queue_case_report(&case_event_report(case, "sent", now))
            .await?;
        let request = v1::Request {
            case_id: case.case_id.clone(),
            kind: case.kind,
            priority: case.priority,
            resident_id: case.resident_id.clone(),
            subject_name: case.subject_name.clone(),
            questions: case.questions.clone(),
            parent_case_id: case.parent_case_id.clone(),
        };
        self.enqueue(tx, &case.recipient_county, Body::Request(request), now)
            .await?;
        Ok(())
    }

    async fn case_for_update(
        &self,
        tx: &mut StoreTx,
        case_id: &str,
        direction: CaseDirection,
    ) -> Result<Case, WorkflowError> {
        let case_id = parse_uuid("case_id", case_id)?;
        let case = tx.get_case(&case_id).await?.ok_or_else(|| {
            WorkflowError::NotFound(format!("case_id: no case {case_id} at this node"))
        })?;
        if case.direction() != direction {
            let role = match direction {
                CaseDirection::Inbound => {
                    "only the recipient can do this, and this node opened the case"
                }
                _ => "only the requester can do this, and another county opened the case",
            };
            return Err(WorkflowError::FailedPrecondition(format!(
                "case {case_id}: {role}"
            )));
        }
        Ok(case)
    }

    fn transition(case: &Case, action: CaseAction) -> Result<CaseState, WorkflowError> {
        next_state(case.state(), action).map_err(|error| {
            WorkflowError::FailedPrecondition(format!("case {}: {error}", case.case_id))
        })
    }

    /// Requester: withdraws an open case; the recipient is told.
    pub async fn withdraw(
        &self,
        operator: &str,
        case_id: &str,
        reason: &str,
    ) -> Result<Case, WorkflowError> {
        let reason = text_field("reason", reason, limits::REASON, true)?;
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Outbound)
            .await?;
        case.state = Self::transition(&case, CaseAction::Withdraw)? as i32;
        case.closed_at_unix_ms = now;
        case.reason = reason.clone();
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, "withdrawn", operator, &reason)
            .await?;
        tx.queue_case_report(&case_event_report(&case, "withdrawn", now))
            .await?;
        let withdrawal = v1::Withdrawal {
            case_id: case.case_id.clone(),
            reason,
        };
        self.enqueue(
            &mut tx,
            &case.recipient_county,
            Body::Withdrawal(withdrawal),
            now,
        )
        .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.recipient_county));
        Ok(case)
    }

    /// Requester: closes an answered case.
    pub async fn close(&self, operator: &str, case_id: &str) -> Result<Case, WorkflowError> {
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Outbound)
            .await?;
        case.state = Self::transition(&case, CaseAction::Close)? as i32;
        case.closed_at_unix_ms = now;
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, "closed", operator, "")
            .await?;
        tx.queue_case_report(&case_event_report(&case, "closed", now))
            .await?;
        tx.commit().await?;
        Ok(case)
    }

    // ---- cases, recipient side ---------------------------------------------------------------

    async fn respond_with(
        &self,
        tx: &mut StoreTx,
        operator: &str,
        case: &Case,
        outcome: Outcome,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut response = v1::Response {
            case_id: case.case_id.clone(),
            responded_at_unix_ms: now,
            handled_by: operator.to_string(),
            outcome: Some(outcome),
            signature: Vec::new(),
        };
        if let Some(signer) = &self.signer
            && let Err(error) = mpx_proto::evidence::sign_response(signer, &mut response)
        {
            tracing::error!(%error, "cannot sign a response; sending it unsigned");
        }
        let event = match &response.outcome {
            Some(Outcome::Accepted(_)) => "accepted",
            Some(Outcome::Redirected(_)) => "redirected",
            _ => "responded",
        };
        let mut report = case_event_report(case, event, now);
        report.response = Some(mpx_proto::evidence::response_evidence(&response));
        tx.queue_case_report(&report).await?;
        // The province has no node: it reads the signed response from the case events.
        if !is_provincial(case) {
            self.enqueue(tx, &case.requester_county, Body::Response(response), now)
                .await?;
        }
        Ok(())
    }

    /// Recipient: takes a case up.
    pub async fn accept(
        &self,
        operator: &str,
        case_id: &str,
        note: &str,
    ) -> Result<Case, WorkflowError> {
        let note = text_field("note", note, limits::REASON, true)?;
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Inbound)
            .await?;
        case.state = Self::transition(&case, CaseAction::Accept)? as i32;
        case.accepted_at_unix_ms = now;
        case.handled_by = operator.to_string();
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, "accepted", operator, &note)
            .await?;
        self.respond_with(
            &mut tx,
            operator,
            &case,
            Outcome::Accepted(v1::Acceptance { note }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.requester_county));
        Ok(case)
    }

    /// Recipient: answers a case (a residence notice needs a verdict).
    pub async fn respond(
        &self,
        operator: &str,
        case_id: &str,
        answer: &str,
        verdict: NoticeVerdict,
    ) -> Result<Case, WorkflowError> {
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Inbound)
            .await?;
        let is_notice = case.kind() == CaseKind::ResidenceNotice;
        if is_notice && verdict == NoticeVerdict::Unspecified {
            return Err(FieldError::new(
                "verdict",
                "CONFIRMED or DISPUTED is required to answer a residence notice",
            )
            .into());
        }
        if !is_notice && verdict != NoticeVerdict::Unspecified {
            return Err(FieldError::new("verdict", "only residence notices take a verdict").into());
        }
        let answer = text_field("answer", answer, limits::ANSWER, is_notice)?;
        case.state = Self::transition(&case, CaseAction::Respond)? as i32;
        case.answer = answer.clone();
        case.verdict = verdict as i32;
        case.responded_at_unix_ms = now;
        case.handled_by = operator.to_string();
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, "responded", operator, &answer)
            .await?;
        self.respond_with(
            &mut tx,
            operator,
            &case,
            Outcome::Answered(v1::Answer {
                text: answer,
                verdict: verdict as i32,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.requester_county));
        Ok(case)
    }

    /// Recipient: the case belongs to another county; the requester opens a linked case there.
    pub async fn redirect(
        &self,
        operator: &str,
        case_id: &str,
        redirect_to: &str,
        reason: &str,
    ) -> Result<Case, WorkflowError> {
        let reason = text_field("reason", reason, limits::REASON, false)?;
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Inbound)
            .await?;
        let target = self
            .check_recipient("redirect_to_county", redirect_to)
            .await?;
        if target.as_str() == case.requester_county {
            return Err(
                FieldError::new("redirect_to_county", "is the requesting county itself").into(),
            );
        }
        case.state = Self::transition(&case, CaseAction::Redirect)? as i32;
        case.redirected_to_county = target.to_string();
        case.reason = reason.clone();
        case.handled_by = operator.to_string();
        case.closed_at_unix_ms = now;
        tx.save_case(&case, now).await?;
        tx.add_case_event(
            &case.case_id,
            now,
            "redirected",
            operator,
            &format!("to {target}: {reason}"),
        )
        .await?;
        let outcome = Outcome::Redirected(v1::Redirection {
            redirect_to_county: target.to_string(),
            reason,
        });
        self.respond_with(&mut tx, operator, &case, outcome, now)
            .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.requester_county));
        Ok(case)
    }

    // ---- extensions ---------------------------------------------------------------------------

    /// Recipient: asks the requester for `working_days` more; the original due date stays.
    pub async fn request_extension(
        &self,
        operator: &str,
        case_id: &str,
        working_days: u32,
        reason: &str,
    ) -> Result<Case, WorkflowError> {
        if !(1..=MAX_EXTENSION_WORKING_DAYS).contains(&working_days) {
            return Err(FieldError::new(
                "working_days",
                format!("1 to {MAX_EXTENSION_WORKING_DAYS}"),
            )
            .into());
        }
        let reason = text_field("reason", reason, limits::REASON, false)?;
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Inbound)
            .await?;
        if is_provincial(&case) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "case {}: the province assigned this case; its deadline is not extended through the node",
                case.case_id
            )));
        }
        if !matches!(case.state(), CaseState::Delivered | CaseState::Accepted) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "case {}: only an unanswered case can be extended (it is {})",
                case.case_id,
                state_label(case.state())
            )));
        }
        if case.extension_state == "requested" {
            return Err(WorkflowError::FailedPrecondition(format!(
                "case {}: an extension is already waiting for the requester's decision",
                case.case_id
            )));
        }
        case.extension_state = "requested".into();
        case.extension_working_days = working_days;
        tx.save_case(&case, now).await?;
        tx.add_case_event(
            &case.case_id,
            now,
            "extension requested",
            operator,
            &format!("{working_days} working days: {reason}"),
        )
        .await?;
        let body = Body::ExtensionRequest(v1::ExtensionRequest {
            case_id: case.case_id.clone(),
            working_days,
            reason,
        });
        self.enqueue(&mut tx, &case.requester_county, body, now)
            .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.requester_county));
        Ok(case)
    }

    /// Requester: grants or denies a requested extension. A grant extends from the original due
    /// date by the requested working days; the original stays on record.
    pub async fn decide_extension(
        &self,
        operator: &str,
        case_id: &str,
        grant: bool,
        note: &str,
    ) -> Result<Case, WorkflowError> {
        let note = text_field("note", note, limits::REASON, true)?;
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut case = self
            .case_for_update(&mut tx, case_id, CaseDirection::Outbound)
            .await?;
        if case.extension_state != "requested" {
            return Err(WorkflowError::FailedPrecondition(format!(
                "case {}: no extension is waiting for a decision",
                case.case_id
            )));
        }
        let mut extended = 0;
        if grant {
            let calendar = &self.directory.deadlines().calendar;
            let due_day = mpx_proto::time::date_of_unix_ms(case.due_at_unix_ms - 1)
                .unwrap_or_else(|| self.clock.today());
            let day = calendar
                .add_working_days(due_day, case.extension_working_days)
                .value;
            extended = mpx_proto::calendar::end_of_day_unix_ms(day);
            case.extension_state = "granted".into();
            case.extended_due_at_unix_ms = extended;
        } else {
            case.extension_state = "denied".into();
        }
        tx.save_case(&case, now).await?;
        let event = if grant {
            "extension granted"
        } else {
            "extension denied"
        };
        tx.add_case_event(&case.case_id, now, event, operator, &note)
            .await?;
        if grant {
            let mut report = case_event_report(&case, "extension_granted", now);
            report.extended_due_at_unix_ms = extended;
            tx.queue_case_report(&report).await?;
        }
        let body = Body::ExtensionDecision(v1::ExtensionDecision {
            case_id: case.case_id.clone(),
            granted: grant,
            extended_due_at_unix_ms: extended,
            note,
        });
        self.enqueue(&mut tx, &case.recipient_county, body, now)
            .await?;
        tx.commit().await?;
        self.notify(std::slice::from_ref(&case.recipient_county));
        Ok(case)
    }

    async fn apply_extension_request(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        request: &v1::ExtensionRequest,
        now: i64,
    ) -> Result<Result<(), Rejection>, StoreError> {
        let Some(mut case) = tx.get_case(&request.case_id).await? else {
            return Ok(Err(Rejection(format!(
                "case_id: no case {:?} at this node",
                request.case_id
            ))));
        };
        if case.direction() != CaseDirection::Outbound || case.recipient_county != sender.as_str() {
            return Ok(Err(Rejection(format!(
                "case_id: case {} was not sent to {sender}",
                case.case_id
            ))));
        }
        case.extension_state = "requested".into();
        case.extension_working_days = request.working_days;
        tx.save_case(&case, now).await?;
        let detail = format!("{} working days: {}", request.working_days, request.reason);
        tx.add_case_event(
            &case.case_id,
            now,
            "extension requested",
            sender.as_str(),
            &detail,
        )
        .await?;
        Ok(Ok(()))
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

    // ---- receiving from peers ----------------------------------------------------------------

    /// Stores a batch delivered by `sender` (the TLS identity) in one transaction and returns one
    /// receipt per envelope, in order. An envelope claiming another sender fails the whole batch.
    pub async fn receive_batch(
        &self,
        sender: CountyCode,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<Receipt>, WorkflowError> {
        if let Some(spoofed) = envelopes
            .iter()
            .find(|envelope| envelope.sender != sender.as_str())
        {
            return Err(WorkflowError::PermissionDenied(format!(
                "envelope {} claims sender {:?}, but the client certificate is county {sender}",
                spoofed.message_id, spoofed.sender
            )));
        }
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut receipts = Vec::with_capacity(envelopes.len());
        let mut wake = Vec::new();
        // The batch's messages this node already holds, read at once; those stored below join
        // them, so a message twice in one batch is answered as a duplicate too.
        let ids: Vec<&str> = envelopes.iter().map(|e| e.message_id.as_str()).collect();
        let mut known = tx.inbox_entries(&ids).await?;
        for envelope in envelopes {
            if let Some(entry) = known.get(&envelope.message_id) {
                let receipt = if entry.sender == sender.as_str() {
                    Receipt::decode(entry.receipt.as_slice()).unwrap_or_default()
                } else {
                    rejected_receipt(
                        &envelope.message_id,
                        "message_id already used by another sender",
                        now,
                    )
                };
                metrics::counter!("mpx_messages_received_total", "kind" => "any", "outcome" => "duplicate").increment(1);
                receipts.push(receipt);
                continue;
            }
            let applied = match self.validate_envelope(&envelope) {
                Err(Rejection(reason)) => Applied::Rejected(reason),
                Ok(body) => self.apply(&mut tx, sender, body, now, &mut wake).await?,
            };
            let mut receipt = match &applied {
                Applied::Stored(deadlines) => stored_receipt(
                    &envelope.message_id,
                    envelope.body.as_ref().map(body_case_id).unwrap_or_default(),
                    &deadlines.clone().unwrap_or_default(),
                    now,
                ),
                Applied::Rejected(reason) => {
                    tracing::warn!(message_id = %envelope.message_id, %sender, %reason, "envelope rejected");
                    rejected_receipt(&envelope.message_id, reason, now)
                }
            };
            let digest = mpx_proto::sha256_hex(&envelope.encode_to_vec());
            if let Some(signer) = &self.signer
                && let Err(error) = mpx_proto::evidence::sign_receipt(signer, &mut receipt, &digest)
            {
                tracing::error!(%error, "cannot sign a receipt; sending it unsigned");
            }
            if receipt.status() == ReceiptStatus::Stored
                && let Some(body @ (Body::Notice(_) | Body::Request(_))) = &envelope.body
                && let Some(case) = tx.get_case(body_case_id(body)).await?
            {
                let mut report = case_event_report(&case, "delivered", now);
                report.receipt = Some(v1::ReceiptEvidence {
                    receipt: Some(receipt.clone()),
                    envelope_sha256: digest.clone(),
                });
                tx.queue_case_report(&report).await?;
            }
            if is_uuid(&envelope.message_id) {
                let (kind, case_id) = envelope
                    .body
                    .as_ref()
                    .map(|body| (body_kind(body), body_case_id(body).to_string()))
                    .unwrap_or(("none", String::new()));
                let encoded = receipt.encode_to_vec();
                tx.insert_inbox(
                    &envelope.message_id,
                    sender.as_str(),
                    &case_id,
                    kind,
                    now,
                    &encoded,
                )
                .await?;
                known.insert(
                    envelope.message_id.clone(),
                    InboxEntry {
                        sender: sender.to_string(),
                        receipt: encoded,
                    },
                );
            }
            let outcome = if receipt.status() == ReceiptStatus::Stored {
                "stored"
            } else {
                "rejected"
            };
            let kind = envelope.body.as_ref().map(body_kind).unwrap_or("none");
            metrics::counter!("mpx_messages_received_total", "kind" => kind, "outcome" => outcome)
                .increment(1);
            receipts.push(receipt);
        }
        tx.commit().await?;
        self.notify(&wake);
        Ok(receipts)
    }

    fn validate_envelope<'a>(&self, envelope: &'a Envelope) -> Result<&'a Body, Rejection> {
        if !is_uuid(&envelope.message_id) {
            return Err(Rejection(format!(
                "message_id: expected a UUID, got {:?}",
                envelope.message_id
            )));
        }
        if envelope.recipient != self.county.as_str() {
            return Err(Rejection(format!(
                "recipient: this node is county {}, not {:?}",
                self.county, envelope.recipient
            )));
        }
        let body = envelope
            .body
            .as_ref()
            .ok_or_else(|| Rejection("body: required".into()))?;
        // A day of leeway on dates for the two clocks around midnight.
        let latest_date = self.clock.today().tomorrow().unwrap_or(self.clock.today());
        check_peer_body(body, latest_date)?;
        Ok(body)
    }

    async fn apply(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        body: &Body,
        now: i64,
        wake: &mut Vec<String>,
    ) -> Result<Applied, StoreError> {
        let outcome =
            match body {
                Body::Notice(notice) => self.apply_notice(tx, sender, notice, now).await?.map(Some),
                Body::Request(request) => self
                    .apply_request(tx, sender, request, now)
                    .await?
                    .map(Some),
                Body::Response(response) => self
                    .apply_response(tx, sender, response, now, wake)
                    .await?
                    .map(|()| None),
                Body::Withdrawal(withdrawal) => {
                    self.apply_followup(tx, sender, &withdrawal.case_id, now, |case| {
                        match next_state(case.state(), CaseAction::Withdraw) {
                            Ok(state) => {
                                case.state = state as i32;
                                case.reason = withdrawal.reason.clone();
                                case.closed_at_unix_ms = now;
                                ("withdrawn", withdrawal.reason.clone())
                            }
                            Err(error) => ("withdrawal ignored", error.to_string()),
                        }
                    })
                    .await?
                    .map(|()| None)
                }
                Body::ExtensionRequest(request) => self
                    .apply_extension_request(tx, sender, request, now)
                    .await?
                    .map(|()| None),
                Body::ExtensionDecision(decision) => self
                    .apply_followup(tx, sender, &decision.case_id, now, |case| {
                        if case.extension_state != "requested" {
                            return (
                                "extension decision ignored",
                                "no extension was requested".into(),
                            );
                        }
                        if decision.granted {
                            case.extension_state = "granted".into();
                            case.extended_due_at_unix_ms = decision.extended_due_at_unix_ms;
                            (
                                "extension granted",
                                format!(
                                    "due {}: {}",
                                    mpx_proto::time::format_due(decision.extended_due_at_unix_ms),
                                    decision.note
                                ),
                            )
                        } else {
                            case.extension_state = "denied".into();
                            ("extension denied", decision.note.clone())
                        }
                    })
                    .await?
                    .map(|()| None),
                Body::Reminder(reminder) => self
                    .apply_followup(tx, sender, &reminder.case_id, now, |case| {
                        case.reminded_at_unix_ms = now;
                        ("reminded", reminder.text.clone())
                    })
                    .await?
                    .map(|()| None),
                Body::RecordShare(share) => self
                    .apply_followup(tx, sender, &share.case_id, now, |_| {
                        let name = share
                            .person
                            .as_ref()
                            .map(|p| p.name.clone())
                            .unwrap_or_default();
                        ("record shared", name)
                    })
                    .await?
                    .map(|()| None),
            };
        Ok(match outcome {
            Ok(deadlines) => Applied::Stored(deadlines),
            Err(Rejection(reason)) => Applied::Rejected(reason),
        })
    }

    async fn new_case_id(
        &self,
        tx: &mut StoreTx,
        case_id: &str,
    ) -> Result<Result<String, Rejection>, StoreError> {
        let case_id = match parse_uuid("case_id", case_id) {
            Ok(id) => id,
            Err(error) => return Ok(Err(error.into())),
        };
        if tx.get_case(&case_id).await?.is_some() {
            return Ok(Err(Rejection(format!(
                "case_id: {case_id} is already used"
            ))));
        }
        Ok(Ok(case_id))
    }

    async fn apply_notice(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        notice: &v1::Notice,
        now: i64,
    ) -> Result<Result<CaseDeadlines, Rejection>, StoreError> {
        let case_id = match self.new_case_id(tx, &notice.case_id).await? {
            Ok(id) => id,
            Err(rejection) => return Ok(Err(rejection)),
        };
        // The body passed `check_peer_body`; what remains are the rules that depend on who
        // sent it and who we are. The record is rebuilt from checked fields: nothing the sender
        // claims about the record itself (status, the check-digit flag) is taken.
        let validated = (|| -> Result<(NoticeKind, v1::Person, String), Rejection> {
            let kind = NoticeKind::try_from(notice.kind).unwrap_or(NoticeKind::Unspecified);
            let person = notice
                .person
                .as_ref()
                .ok_or_else(|| Rejection("notice.person: required".into()))?;
            let latest_date = self.clock.today().tomorrow().unwrap_or(self.clock.today());
            let checked = CheckedPerson::check(
                person,
                "notice.person",
                CheckDigitMode::Warn,
                latest_date,
                kind != NoticeKind::Departed,
            )?;
            if checked.hukou_county != self.county {
                return Err(Rejection(format!(
                    "notice.person.hukou_county: is {}, but this node is county {}",
                    checked.hukou_county, self.county
                )));
            }
            if kind != NoticeKind::Departed && checked.residence_county != Some(sender) {
                return Err(Rejection(
                    "notice.person.residence_county: must be the sending county".into(),
                ));
            }
            let resident_id = checked.resident_id.as_str().to_string();
            Ok((
                kind,
                checked.to_proto(PersonStatus::LivingElsewhere, now),
                resident_id,
            ))
        })();
        let (kind, person, resident_id) = match validated {
            Ok(values) => values,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let existing = tx.get_person(&resident_id).await?;
        let mut roster_note = String::new();
        let updated = match kind {
            NoticeKind::Arrived | NoticeKind::Moved => Some(v1::Person {
                status: PersonStatus::LivingElsewhere as i32,
                departure_date: String::new(),
                phone: existing
                    .as_ref()
                    .map(|p| p.phone.clone())
                    .unwrap_or_default(),
                notes: existing
                    .as_ref()
                    .map(|p| p.notes.clone())
                    .unwrap_or_default(),
                ..person.clone()
            }),
            NoticeKind::Departed => match &existing {
                Some(current) if current.residence_county != sender.as_str() => {
                    roster_note = format!(
                        "roster unchanged: it lists residence in {}",
                        current.residence_county
                    );
                    None
                }
                _ => Some(v1::Person {
                    status: PersonStatus::WhereaboutsUnknown as i32,
                    residence_county: String::new(),
                    residence_address: String::new(),
                    departure_date: notice.effective_date.clone(),
                    phone: existing
                        .as_ref()
                        .map(|p| p.phone.clone())
                        .unwrap_or_default(),
                    notes: existing
                        .as_ref()
                        .map(|p| p.notes.clone())
                        .unwrap_or_default(),
                    ..person.clone()
                }),
            },
            NoticeKind::Unspecified => None,
        };
        if let Some(record) = &updated {
            tx.upsert_person(record, now).await?;
        }
        let case = Case {
            case_id,
            kind: CaseKind::ResidenceNotice as i32,
            direction: CaseDirection::Inbound as i32,
            requester_county: sender.to_string(),
            recipient_county: self.county.to_string(),
            state: CaseState::Delivered as i32,
            priority: CasePriority::Normal as i32,
            resident_id: resident_id.clone(),
            subject_name: person.name.clone(),
            questions: notice_text(
                kind,
                &notice.effective_date,
                &person,
                &notice.destination_county,
            ),
            opened_at_unix_ms: now,
            delivered_at_unix_ms: now,
            ..Default::default()
        };
        let (case, deadlines) = self.with_deadlines(case);
        tx.save_case(&case, now).await?;
        tx.add_case_event(
            &case.case_id,
            now,
            "received",
            sender.as_str(),
            &case.questions,
        )
        .await?;
        if !roster_note.is_empty() {
            tx.add_case_event(&case.case_id, now, "roster", "node", &roster_note)
                .await?;
        }
        tracing::info!(case_id = %case.case_id, %sender, resident = %mpx_proto::resident_id::mask(&resident_id), "residence notice received");
        Ok(Ok(deadlines))
    }

    async fn apply_request(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        request: &v1::Request,
        now: i64,
    ) -> Result<Result<CaseDeadlines, Rejection>, StoreError> {
        let case_id = match self.new_case_id(tx, &request.case_id).await? {
            Ok(id) => id,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let validated = (|| -> Result<Case, Rejection> {
            let kind = CaseKind::try_from(request.kind).unwrap_or(CaseKind::Unspecified);
            if !matches!(kind, CaseKind::Verification | CaseKind::RecordTransfer) {
                return Err(Rejection(
                    "request.kind: VERIFICATION or RECORD_TRANSFER".into(),
                ));
            }
            let priority = match CasePriority::try_from(request.priority)
                .unwrap_or(CasePriority::Unspecified)
            {
                CasePriority::Unspecified => CasePriority::Normal,
                other => other,
            };
            let id = resident_id_field(
                "request.resident_id",
                &request.resident_id,
                CheckDigitMode::Warn,
            )?;
            let subject_name = line_field(
                "request.subject_name",
                &request.subject_name,
                limits::NAME,
                true,
            )?;
            let questions = text_field(
                "request.questions",
                &request.questions,
                limits::QUESTIONS,
                false,
            )?;
            let parent_case_id = if request.parent_case_id.is_empty() {
                String::new()
            } else {
                parse_uuid("request.parent_case_id", &request.parent_case_id)?
            };
            Ok(Case {
                case_id: case_id.clone(),
                kind: kind as i32,
                direction: CaseDirection::Inbound as i32,
                requester_county: sender.to_string(),
                recipient_county: self.county.to_string(),
                state: CaseState::Delivered as i32,
                priority: priority as i32,
                resident_id: id.id.as_str().to_string(),
                subject_name,
                questions,
                parent_case_id,
                opened_at_unix_ms: now,
                delivered_at_unix_ms: now,
                ..Default::default()
            })
        })();
        let case = match validated {
            Ok(case) => case,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let (case, deadlines) = self.with_deadlines(case);
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, "received", sender.as_str(), "")
            .await?;
        tracing::info!(case_id = %case.case_id, %sender, "request received");
        Ok(Ok(deadlines))
    }

    /// A follow-up message on a case `sender` opened here: applies `change`, records its event.
    async fn apply_followup(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        case_id: &str,
        now: i64,
        change: impl FnOnce(&mut Case) -> (&'static str, String),
    ) -> Result<Result<(), Rejection>, StoreError> {
        let Some(mut case) = tx.get_case(case_id).await? else {
            return Ok(Err(Rejection(format!(
                "case_id: no case {case_id:?} at this node"
            ))));
        };
        if case.direction() != CaseDirection::Inbound || case.requester_county != sender.as_str() {
            return Ok(Err(Rejection(format!(
                "case_id: case {case_id} was not opened here by {sender}"
            ))));
        }
        let (event, detail) = change(&mut case);
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, event, sender.as_str(), &detail)
            .await?;
        Ok(Ok(()))
    }

    async fn apply_response(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        response: &v1::Response,
        now: i64,
        wake: &mut Vec<String>,
    ) -> Result<Result<(), Rejection>, StoreError> {
        let Some(mut case) = tx.get_case(&response.case_id).await? else {
            return Ok(Err(Rejection(format!(
                "case_id: no case {:?} at this node",
                response.case_id
            ))));
        };
        if case.direction() != CaseDirection::Outbound || case.recipient_county != sender.as_str() {
            return Ok(Err(Rejection(format!(
                "case_id: case {} was not sent to {sender}",
                case.case_id
            ))));
        }
        if let Some(certificate) = self.directory.certificate_of(sender.as_str())
            && mpx_proto::evidence::verify_response(&certificate, response).is_err()
        {
            return Ok(Err(Rejection(format!(
                "response.signature: does not verify against county {sender}'s certificate"
            ))));
        }
        let Some(outcome) = &response.outcome else {
            return Ok(Err(Rejection("response.outcome: required".into())));
        };
        let responded_at = if response.responded_at_unix_ms > 0 {
            response.responded_at_unix_ms
        } else {
            now
        };
        let actor = format!("{sender}/{}", response.handled_by);
        let mut child = None;
        let (event, detail) = match outcome {
            Outcome::Accepted(acceptance) => match next_state(case.state(), CaseAction::Accept) {
                Ok(state) => {
                    case.state = state as i32;
                    case.accepted_at_unix_ms = responded_at;
                    ("accepted", acceptance.note.clone())
                }
                Err(error) => ("acceptance noted", error.to_string()),
            },
            Outcome::Answered(answer) => match next_state(case.state(), CaseAction::Respond) {
                Ok(state) => {
                    case.state = state as i32;
                    case.answer = answer.text.clone();
                    case.verdict = answer.verdict;
                    case.responded_at_unix_ms = responded_at;
                    ("responded", answer.text.clone())
                }
                Err(error) => ("answer ignored", error.to_string()),
            },
            Outcome::Redirected(redirection) => {
                let target = match county_field(
                    "response.redirected.redirect_to_county",
                    &redirection.redirect_to_county,
                ) {
                    Ok(target) if target != self.county && target != sender => target,
                    Ok(_) => {
                        return Ok(Err(Rejection(
                            "response.redirected.redirect_to_county: must be a third county".into(),
                        )));
                    }
                    Err(error) => return Ok(Err(error.into())),
                };
                match next_state(case.state(), CaseAction::Redirect) {
                    Ok(state) => {
                        case.state = state as i32;
                        case.redirected_to_county = target.to_string();
                        case.reason = redirection.reason.clone();
                        case.closed_at_unix_ms = responded_at;
                        child = Some(target);
                        ("redirected", format!("to {target}: {}", redirection.reason))
                    }
                    Err(error) => ("redirect ignored", error.to_string()),
                }
            }
        };
        if let Some(target) = child {
            let child_id = self.open_redirected_case(tx, &case, target, now).await?;
            case.child_case_id = child_id;
            wake.push(target.to_string());
        }
        tx.save_case(&case, now).await?;
        tx.add_case_event(&case.case_id, now, event, &actor, &detail)
            .await?;
        if matches!(event, "accepted" | "responded" | "redirected") {
            let mut report = case_event_report(&case, event, responded_at);
            report.arrived_at_unix_ms = now;
            report.response = Some(mpx_proto::evidence::response_evidence(response));
            tx.queue_case_report(&report).await?;
        }
        Ok(Ok(()))
    }

    /// Opens the linked case at the county a recipient redirected to. A redirected residence
    /// notice means the hukou county is elsewhere: the roster is corrected and the notice re-sent.
    async fn open_redirected_case(
        &self,
        tx: &mut StoreTx,
        parent: &Case,
        target: CountyCode,
        now: i64,
    ) -> Result<String, StoreError> {
        if parent.kind() == CaseKind::ResidenceNotice
            && let Some(mut person) = tx.get_person(&parent.resident_id).await?
        {
            person.hukou_county = target.to_string();
            tx.upsert_person(&person, now).await?;
            let kind = if person.status() == PersonStatus::Departed {
                NoticeKind::Departed
            } else {
                NoticeKind::Arrived
            };
            let date = if kind == NoticeKind::Departed {
                person.departure_date.clone()
            } else {
                person.arrival_date.clone()
            };
            let child_id = self
                .send_notice(tx, "node", &person, kind, &date, "", now)
                .await?;
            tx.add_case_event(
                &child_id,
                now,
                "linked",
                "node",
                &format!("redirected from case {}", parent.case_id),
            )
            .await?;
            return Ok(child_id);
        }
        let child = Case {
            case_id: new_id(),
            kind: if parent.kind() == CaseKind::ResidenceNotice {
                CaseKind::Verification as i32
            } else {
                parent.kind
            },
            direction: CaseDirection::Outbound as i32,
            requester_county: self.county.to_string(),
            recipient_county: target.to_string(),
            state: CaseState::Queued as i32,
            priority: parent.priority,
            resident_id: parent.resident_id.clone(),
            subject_name: parent.subject_name.clone(),
            questions: parent.questions.clone(),
            parent_case_id: parent.case_id.clone(),
            opened_at_unix_ms: now,
            handled_by: "node".to_string(),
            ..Default::default()
        };
        self.open_outbound_request(tx, "node", &child, now).await?;
        Ok(child.case_id)
    }

    // ---- cases the province assigned ---------------------------------------------------------

    /// Stores the province's assignments as inbound cases (one transaction; one already here is
    /// skipped), each with a signed receipt reported to the province like any delivery, and
    /// records how far the node has fetched. Returns how many cases were opened.
    pub async fn receive_assignments(
        &self,
        assignments: &[v1::Assignment],
    ) -> Result<usize, WorkflowError> {
        let Some(last) = assignments.iter().map(|a| a.seq).max() else {
            return Ok(0);
        };
        let province = format!("{}0000", self.county.province());
        let now = self.clock.now_unix_ms();
        let mut tx = self.store.begin().await?;
        let mut opened = 0;
        for assignment in assignments {
            let case_id = match parse_uuid("assignment.case_id", &assignment.case_id) {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(%error, seq = assignment.seq, "assignment skipped");
                    continue;
                }
            };
            if assignment.requester != province || tx.get_case(&case_id).await?.is_some() {
                continue;
            }
            let id = match resident_id_field(
                "assignment.resident_id",
                &assignment.resident_id,
                CheckDigitMode::Warn,
            ) {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(%error, %case_id, "assignment skipped");
                    continue;
                }
            };
            let priority = match CasePriority::try_from(assignment.priority) {
                Ok(CasePriority::Urgent) => CasePriority::Urgent,
                _ => CasePriority::Normal,
            };
            let case = Case {
                case_id: case_id.clone(),
                kind: CaseKind::Verification as i32,
                direction: CaseDirection::Inbound as i32,
                requester_county: province.clone(),
                recipient_county: self.county.to_string(),
                state: CaseState::Delivered as i32,
                priority: priority as i32,
                resident_id: id.id.as_str().to_string(),
                subject_name: assignment.subject_name.chars().take(64).collect(),
                questions: assignment.questions.chars().take(2000).collect(),
                opened_at_unix_ms: assignment.opened_at_unix_ms,
                delivered_at_unix_ms: now,
                ..Default::default()
            };
            let (case, deadlines) = self.with_deadlines(case);
            tx.save_case(&case, now).await?;
            tx.add_case_event(
                &case.case_id,
                now,
                "received",
                &province,
                "assigned by the province",
            )
            .await?;
            let mut receipt = stored_receipt(&case.case_id, &case.case_id, &deadlines, now);
            let digest = mpx_proto::sha256_hex(&assignment.encode_to_vec());
            if let Some(signer) = &self.signer
                && let Err(error) = mpx_proto::evidence::sign_receipt(signer, &mut receipt, &digest)
            {
                tracing::error!(%error, "cannot sign a receipt; reporting it unsigned");
            }
            let mut report = case_event_report(&case, "delivered", now);
            report.receipt = Some(v1::ReceiptEvidence {
                receipt: Some(receipt),
                envelope_sha256: digest,
            });
            tx.queue_case_report(&report).await?;
            tracing::info!(case_id = %case.case_id, resident = %id.id, "case assigned by the province");
            opened += 1;
        }
        tx.set_provincial_cursor("assignments", last).await?;
        tx.commit().await?;
        Ok(opened)
    }

    // ---- settling receipts (requester side) --------------------------------------------------

    /// Checks every receipt's signature against the recipient's certificate from the directory:
    /// a receipt whose timestamps were altered, or that another key signed, is refused (and
    /// recorded), and the batch stays in the outbox.
    async fn verify_receipts(
        &self,
        batch: &[OutboxMessage],
        receipts: &[Receipt],
    ) -> Result<(), WorkflowError> {
        let Some(recipient) = batch.first().map(|message| message.recipient.clone()) else {
            return Ok(());
        };
        let Some(certificate) = self.directory.certificate_of(&recipient) else {
            // No certificate published for the peer (a directory from before signed receipts).
            return Ok(());
        };
        for receipt in receipts {
            let Some(message) = batch.iter().find(|m| m.message_id == receipt.message_id) else {
                continue;
            };
            let digest = mpx_proto::sha256_hex(&message.envelope);
            if mpx_proto::evidence::verify_receipt(&certificate, receipt, &digest).is_err() {
                let detail = format!(
                    "receipt for message {} does not verify against its certificate",
                    receipt.message_id
                );
                if let Err(error) = self
                    .store
                    .record_security_event(&recipient, "bad receipt signature", &detail)
                    .await
                {
                    tracing::error!(%error, "cannot record the security event");
                }
                return Err(WorkflowError::PermissionDenied(format!(
                    "county {recipient}: {detail}"
                )));
            }
        }
        Ok(())
    }

    /// Applies the receipts of one delivered batch in one transaction, with a few multi-row
    /// statements for the whole batch (the outbox rows, the cases read, their events and
    /// reports) rather than five statements a message: each statement costs a round trip to
    /// the database's worker thread.
    pub async fn settle_receipts(
        &self,
        batch: &[OutboxMessage],
        receipts: &[Receipt],
    ) -> Result<(), WorkflowError> {
        self.verify_receipts(batch, receipts).await?;
        let now = self.clock.now_unix_ms();
        let by_id: HashMap<&str, &OutboxMessage> = batch
            .iter()
            .map(|message| (message.message_id.as_str(), message))
            .collect();
        // The receipts that settle a message of this batch, each message once.
        let mut seen = HashSet::new();
        let mut settling = Vec::with_capacity(receipts.len());
        for receipt in receipts {
            let Some(message) = by_id.get(receipt.message_id.as_str()) else {
                tracing::warn!(message_id = %receipt.message_id, "receipt for a message not in the batch");
                continue;
            };
            if !seen.insert(receipt.message_id.as_str()) {
                continue;
            }
            let received_at = if receipt.received_at_unix_ms > 0 {
                receipt.received_at_unix_ms
            } else {
                now
            };
            settling.push((receipt, *message, received_at));
        }
        let mut tx = self.store.begin().await?;
        let settled = tx
            .settle_outbox_batch(
                &settling
                    .iter()
                    .map(|(receipt, message, received_at)| OutboxSettlement {
                        message_id: message.message_id.clone(),
                        rejected: receipt.status() != ReceiptStatus::Stored,
                        error: receipt.error.clone(),
                        received_at_unix_ms: *received_at,
                        receipt: receipt.encode_to_vec(),
                    })
                    .collect::<Vec<_>>(),
            )
            .await?;
        settling.retain(|(_, message, _)| settled.contains(&message.message_id));
        let case_ids: Vec<&str> = settling
            .iter()
            .map(|(_, message, _)| message.case_id.as_str())
            .collect();
        let mut cases = tx.get_cases(&case_ids).await?;
        let mut changed: Vec<String> = Vec::new();
        let mut events = Vec::with_capacity(settling.len());
        let mut reports = Vec::new();
        for (receipt, message, received_at) in settling {
            metrics::histogram!("mpx_delivery_latency_seconds")
                .record(((received_at - message.created_at_unix_ms).max(0) as f64) / 1000.0);
            let Some(case) = cases.get_mut(&message.case_id) else {
                continue;
            };
            let rejected = receipt.status() != ReceiptStatus::Stored;
            let opening = matches!(message.body_kind.as_str(), "notice" | "request");
            let (event, detail) = if rejected {
                tracing::warn!(message_id = %message.message_id, recipient = %message.recipient, error = %receipt.error, "message rejected by recipient");
                if opening && let Ok(state) = next_state(case.state(), CaseAction::Reject) {
                    case.state = state as i32;
                    case.reason = receipt.error.clone();
                }
                (
                    format!("{} rejected", message.body_kind),
                    receipt.error.clone(),
                )
            } else {
                if opening {
                    if let Ok(state) = next_state(case.state(), CaseAction::Deliver) {
                        case.state = state as i32;
                    }
                    // The recipient's clock and due dates, as signed into its receipt: both
                    // sides hold the same values.
                    case.delivered_at_unix_ms = received_at;
                    apply_deadlines(
                        case,
                        &CaseDeadlines {
                            acceptance_due_at_unix_ms: receipt.acceptance_due_at_unix_ms,
                            due_at_unix_ms: receipt.due_at_unix_ms,
                            provisional: receipt.due_provisional,
                            calendar_version: receipt.calendar_version.clone(),
                            policy_version: receipt.policy_version.clone(),
                        },
                    );
                    let mut report = case_event_report(case, "delivered", received_at);
                    report.arrived_at_unix_ms = now;
                    report.receipt = Some(v1::ReceiptEvidence {
                        receipt: Some(receipt.clone()),
                        envelope_sha256: mpx_proto::sha256_hex(&message.envelope),
                    });
                    reports.push(report);
                }
                (format!("{} delivered", message.body_kind), String::new())
            };
            if !changed.contains(&message.case_id) {
                changed.push(message.case_id.clone());
            }
            events.push(NewCaseEvent {
                case_id: message.case_id.clone(),
                at_unix_ms: received_at,
                event,
                actor: message.recipient.clone(),
                detail,
            });
        }
        for case_id in &changed {
            if let Some(case) = cases.get(case_id) {
                tx.save_case(case, now).await?;
            }
        }
        tx.add_case_events(&events).await?;
        tx.queue_case_reports(&reports).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The fields in which an incoming record differs from the stored one (what a re-import compares).
fn differing_fields(stored: &v1::Person, incoming: &v1::Person) -> Vec<&'static str> {
    [
        ("name", stored.name == incoming.name),
        ("sex", stored.sex == incoming.sex),
        ("birth_date", stored.birth_date == incoming.birth_date),
        ("hukou_county", stored.hukou_county == incoming.hukou_county),
        (
            "residence_address",
            stored.residence_address == incoming.residence_address,
        ),
        ("arrival_date", stored.arrival_date == incoming.arrival_date),
        ("phone", stored.phone == incoming.phone),
        ("notes", stored.notes == incoming.notes),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(field, _)| field)
    .collect()
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
