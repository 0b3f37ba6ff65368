//! Recovery after a restore from a backup, one message at a time, each in its own transaction:
//! a message a peer had delivered here is stored again as it was first stored (the receipt this
//! node signed then decides its deadlines), and a message this node had sent is rebuilt from the
//! peer's inbox (the case it opened or changed, and its outbox row as delivered). The pass over
//! the peers lives in `crate::recovery`.

use mpx_proto::v1::DeliveredMessage;

use super::*;

/// What became of one recovered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Stored or rebuilt now.
    Applied,
    /// A message still pending in this node's outbox, now settled with the peer's receipt.
    Settled,
    /// Already here (nothing was lost), or nothing to rebuild (the peer had refused it).
    AlreadyHeld,
    /// Could not be rebuilt; why, for a clerk.
    NeedsClerk(String),
}

/// Which way a recovered message came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// The peer had delivered it here.
    Replayed,
    /// This node had sent it to the peer.
    Returned,
}

/// One message's step within a transaction.
enum Step {
    Done(Recovered),
    /// Still pending here: settle it with the peer's receipt once the transaction is over.
    Settle(Box<(OutboxMessage, Receipt)>),
}

impl From<Recovered> for Step {
    fn from(recovered: Recovered) -> Self {
        Step::Done(recovered)
    }
}

/// The parts of a recovered message, checked for shape.
struct Parts<'a> {
    envelope: &'a Envelope,
    receipt: &'a Receipt,
    encoded: Vec<u8>,
    digest: String,
}

fn parts(message: &DeliveredMessage) -> Result<Parts<'_>, String> {
    let (Some(envelope), Some(receipt)) = (&message.envelope, &message.receipt) else {
        return Err("the peer sent a message without its envelope or receipt".into());
    };
    if receipt.message_id != envelope.message_id {
        return Err(format!(
            "the receipt is for message {:?}, not {}",
            receipt.message_id, envelope.message_id
        ));
    }
    if !is_uuid(&envelope.message_id) {
        return Err(format!(
            "message_id: expected a UUID, got {:?}",
            envelope.message_id
        ));
    }
    let encoded = envelope.encode_to_vec();
    let digest = mpx_proto::sha256_hex(&encoded);
    Ok(Parts {
        envelope,
        receipt,
        encoded,
        digest,
    })
}

impl Workflow {
    /// Applies recovered messages from `peer` in order, many in one transaction (a commit per
    /// message would bound recovery by the disk's flushes). When one needs a clerk, the
    /// transaction is dropped and the messages are applied one by one, so each of the others
    /// still counts and nothing half-applied stays.
    pub async fn recover_batch(
        &self,
        peer: CountyCode,
        messages: &[(Way, &DeliveredMessage)],
    ) -> Result<Vec<Recovered>, WorkflowError> {
        let mut tx = self.store.begin().await?;
        let mut wake = Vec::new();
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut settle = Vec::new();
        let mut whole = true;
        for (index, (way, message)) in messages.iter().enumerate() {
            let step = self.step(&mut tx, peer, *way, message, &mut wake).await?;
            match step {
                Step::Done(Recovered::NeedsClerk(_)) => {
                    whole = false;
                    break;
                }
                Step::Done(recovered) => outcomes.push(recovered),
                Step::Settle(pending) => {
                    settle.push((index, pending));
                    outcomes.push(Recovered::Settled);
                }
            }
        }
        if !whole {
            drop(tx);
            let mut outcomes = Vec::with_capacity(messages.len());
            for (way, message) in messages {
                outcomes.push(self.recover_one(peer, *way, message).await?);
            }
            return Ok(outcomes);
        }
        tx.commit().await?;
        self.notify(&wake);
        for (_, pending) in settle {
            let (row, receipt) = *pending;
            self.settle_receipts(&[row], std::slice::from_ref(&receipt))
                .await?;
        }
        Ok(outcomes)
    }

    /// One recovered message in a transaction of its own.
    async fn recover_one(
        &self,
        peer: CountyCode,
        way: Way,
        message: &DeliveredMessage,
    ) -> Result<Recovered, WorkflowError> {
        let mut tx = self.store.begin().await?;
        let mut wake = Vec::new();
        match self.step(&mut tx, peer, way, message, &mut wake).await? {
            Step::Done(Recovered::Applied) => {
                tx.commit().await?;
                self.notify(&wake);
                Ok(Recovered::Applied)
            }
            Step::Done(other) => Ok(other),
            Step::Settle(pending) => {
                drop(tx);
                let (row, receipt) = *pending;
                self.settle_receipts(&[row], std::slice::from_ref(&receipt))
                    .await?;
                Ok(Recovered::Settled)
            }
        }
    }

    async fn step(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        way: Way,
        message: &DeliveredMessage,
        wake: &mut Vec<String>,
    ) -> Result<Step, WorkflowError> {
        match way {
            Way::Replayed => self.replay_in(tx, peer, message, wake).await,
            Way::Returned => self.rebuild_in(tx, peer, message).await,
        }
    }

    /// Stores again a message `peer` had delivered here, as it was stored then: only with the
    /// receipt this node signed for it (checked against this node's certificate), at the instant
    /// that receipt says, with the due dates it carries.
    pub async fn replay_delivered(
        &self,
        peer: CountyCode,
        message: &DeliveredMessage,
    ) -> Result<Recovered, WorkflowError> {
        self.recover_one(peer, Way::Replayed, message).await
    }

    /// [`Workflow::replay_delivered`] within `tx`.
    async fn replay_in(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        message: &DeliveredMessage,
        wake: &mut Vec<String>,
    ) -> Result<Step, WorkflowError> {
        let parts = match parts(message) {
            Ok(parts) => parts,
            Err(reason) => return Ok(Recovered::NeedsClerk(reason).into()),
        };
        let (envelope, receipt) = (parts.envelope, parts.receipt);
        if envelope.sender != peer.as_str() {
            return Ok(Recovered::NeedsClerk(format!(
                "county {peer} replayed a message that names sender {:?}",
                envelope.sender
            ))
            .into());
        }
        if receipt.status() != ReceiptStatus::Stored {
            return Ok(Recovered::AlreadyHeld.into());
        }
        let verified = self
            .directory
            .certificate_of(self.county.as_str())
            .is_some_and(|certificate| {
                mpx_proto::evidence::verify_receipt(&certificate, receipt, &parts.digest).is_ok()
            });
        if !verified {
            return Ok(Recovered::NeedsClerk(format!(
                "the receipt county {peer} replayed for message {} does not verify against this node's certificate in the directory",
                envelope.message_id
            )).into());
        }
        let received_at = receipt.received_at_unix_ms;
        if !tx
            .inbox_entries(&[envelope.message_id.as_str()])
            .await?
            .is_empty()
        {
            return Ok(Recovered::AlreadyHeld.into());
        }
        let body = match self.validate_envelope(envelope) {
            Ok(body) => body,
            Err(Rejection(reason)) => return Ok(Recovered::NeedsClerk(reason).into()),
        };
        match self.apply(tx, peer, body, received_at, wake).await? {
            Applied::Rejected(reason) | Applied::NotYet(reason) => {
                return Ok(Recovered::NeedsClerk(reason).into());
            }
            Applied::Stored(_) => {}
        }
        let case_id = body_case_id(body).to_string();
        let now = self.clock.now_unix_ms();
        if matches!(body, Body::Notice(_) | Body::Request(_))
            && let Some(mut case) = tx.get_case(&case_id).await?
        {
            // The due dates this node signed then, not today's computation of them.
            apply_deadlines(&mut case, &receipt_deadlines(receipt));
            tx.save_case(&case, received_at).await?;
            let mut report = case_event_report(&case, "delivered", received_at);
            report.receipt = Some(v1::ReceiptEvidence {
                receipt: Some(receipt.clone()),
                envelope_sha256: parts.digest.clone(),
            });
            tx.queue_case_report(&report).await?;
        }
        if tx.get_case(&case_id).await?.is_some() {
            tx.add_case_event(
                &case_id,
                now,
                "recovered",
                peer.as_str(),
                &format!(
                    "{} replayed by {peer} after a restore (first stored {})",
                    body_kind(body),
                    mpx_proto::time::format_due(received_at)
                ),
            )
            .await?;
        }
        tx.insert_inbox(
            &envelope.message_id,
            peer.as_str(),
            &case_id,
            body_kind(body),
            received_at,
            &receipt.encode_to_vec(),
            &parts.digest,
            &parts.encoded,
        )
        .await?;
        Ok(Recovered::Applied.into())
    }

    /// Rebuilds a message this node had sent to `peer`, from the peer's inbox: its outbox row
    /// (delivered, with the peer's receipt, checked against the peer's certificate) and what
    /// sending it had done here — the case a request or notice opened, the answer a clerk gave.
    pub async fn rebuild_returned(
        &self,
        peer: CountyCode,
        message: &DeliveredMessage,
    ) -> Result<Recovered, WorkflowError> {
        self.recover_one(peer, Way::Returned, message).await
    }

    /// [`Workflow::rebuild_returned`] within `tx`.
    async fn rebuild_in(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        message: &DeliveredMessage,
    ) -> Result<Step, WorkflowError> {
        let parts = match parts(message) {
            Ok(parts) => parts,
            Err(reason) => return Ok(Recovered::NeedsClerk(reason).into()),
        };
        let (envelope, receipt) = (parts.envelope, parts.receipt);
        if envelope.sender != self.county.as_str() || envelope.recipient != peer.as_str() {
            return Ok(Recovered::NeedsClerk(format!(
                "county {peer} returned a message from {:?} to {:?}, not from this node to it",
                envelope.sender, envelope.recipient
            ))
            .into());
        }
        if let Some(certificate) = self.directory.certificate_of(peer.as_str())
            && mpx_proto::evidence::verify_receipt(&certificate, receipt, &parts.digest).is_err()
        {
            return Ok(Recovered::NeedsClerk(format!(
                "county {peer}'s receipt for message {} does not verify against its certificate",
                envelope.message_id
            ))
            .into());
        }
        if let Some(row) = tx.outbox_message(&envelope.message_id).await? {
            if row.state != "pending" {
                return Ok(Recovered::AlreadyHeld.into());
            }
            // Settled after this transaction, with the receipts of a normal delivery.
            return Ok(Step::Settle(Box::new((row, receipt.clone()))));
        }
        if receipt.status() != ReceiptStatus::Stored {
            // Refused by the peer: it changed nothing there, so there is nothing to rebuild.
            return Ok(Recovered::AlreadyHeld.into());
        }
        let Some(body) = &envelope.body else {
            return Ok(Recovered::NeedsClerk("the returned message has no body".into()).into());
        };
        let created_at = envelope.created_at_unix_ms;
        let received_at = receipt.received_at_unix_ms;
        let rebuilt = match body {
            Body::Request(request) => {
                self.rebuild_opening(tx, peer, &parts, request_case(self.county, peer, request))
                    .await?
            }
            Body::Notice(notice) => self.rebuild_notice(tx, peer, &parts, notice).await?,
            Body::Response(response) => self.rebuild_response(tx, peer, response).await?,
            follow_up => {
                self.rebuild_follow_up(tx, peer, follow_up, created_at)
                    .await?
            }
        };
        if let Err(reason) = rebuilt {
            return Ok(Recovered::NeedsClerk(reason).into());
        }
        let case_id = body_case_id(body);
        tx.insert_delivered(
            &envelope.message_id,
            peer.as_str(),
            case_id,
            body_kind(body),
            &parts.encoded,
            created_at,
            received_at,
            &receipt.encode_to_vec(),
        )
        .await?;
        tx.add_case_event(
            case_id,
            self.clock.now_unix_ms(),
            "recovered",
            peer.as_str(),
            &format!(
                "{} this node sent {}, rebuilt from {peer}'s inbox after a restore",
                body_kind(body),
                mpx_proto::time::format_due(created_at)
            ),
        )
        .await?;
        Ok(Recovered::Applied.into())
    }

    /// A case this node opened (a request or notice), as it stood once delivered: the events and
    /// reports sending it wrote, at their first instants.
    async fn rebuild_opening(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        parts: &Parts<'_>,
        case: Result<Case, String>,
    ) -> Result<Result<(), String>, StoreError> {
        let mut case = match case {
            Ok(case) => case,
            Err(reason) => return Ok(Err(reason)),
        };
        let created_at = parts.envelope.created_at_unix_ms;
        let received_at = parts.receipt.received_at_unix_ms;
        if let Some(existing) = tx.get_case(&case.case_id).await? {
            if existing.direction() != CaseDirection::Outbound {
                return Ok(Err(format!(
                    "case {} exists here as one another county opened",
                    case.case_id
                )));
            }
            case = existing;
        } else {
            case.opened_at_unix_ms = created_at;
            tx.save_case(&case, created_at).await?;
            tx.add_case_event(
                &case.case_id,
                created_at,
                "opened",
                "recovered",
                &format!("to {peer}"),
            )
            .await?;
            tx.queue_case_report(&case_event_report(&case, "sent", created_at))
                .await?;
        }
        if let Ok(state) = next_state(case.state(), CaseAction::Deliver) {
            case.state = state as i32;
        }
        case.delivered_at_unix_ms = received_at;
        apply_deadlines(&mut case, &receipt_deadlines(parts.receipt));
        tx.save_case(&case, received_at).await?;
        let mut report = case_event_report(&case, "delivered", received_at);
        report.arrived_at_unix_ms = received_at;
        report.receipt = Some(v1::ReceiptEvidence {
            receipt: Some(parts.receipt.clone()),
            envelope_sha256: parts.digest.clone(),
        });
        tx.queue_case_report(&report).await?;
        let kind = if case.kind() == CaseKind::ResidenceNotice {
            "notice"
        } else {
            "request"
        };
        tx.add_case_event(
            &case.case_id,
            received_at,
            &format!("{kind} delivered"),
            peer.as_str(),
            "",
        )
        .await?;
        Ok(Ok(()))
    }

    /// A residence notice this node sent: its case, and the roster record it was sent from
    /// when the roster holds an older one (or none).
    async fn rebuild_notice(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        parts: &Parts<'_>,
        notice: &v1::Notice,
    ) -> Result<Result<(), String>, StoreError> {
        let Some(person) = &notice.person else {
            return Ok(Err("notice.person: missing".into()));
        };
        let created_at = parts.envelope.created_at_unix_ms;
        let kind = NoticeKind::try_from(notice.kind).unwrap_or(NoticeKind::Unspecified);
        let existing = tx.get_person(&person.resident_id).await?;
        if person.status() != PersonStatus::Unspecified
            && existing
                .as_ref()
                .is_none_or(|own| own.updated_at_unix_ms < created_at)
        {
            let record = keep_local_fields(person.clone(), existing.as_ref());
            tx.upsert_person(&record, created_at).await?;
        }
        let case = Case {
            case_id: notice.case_id.clone(),
            kind: CaseKind::ResidenceNotice as i32,
            direction: CaseDirection::Outbound as i32,
            requester_county: self.county.to_string(),
            recipient_county: peer.to_string(),
            state: CaseState::Queued as i32,
            priority: CasePriority::Normal as i32,
            resident_id: person.resident_id.clone(),
            subject_name: person.name.clone(),
            questions: notice_text(
                kind,
                &notice.effective_date,
                person,
                &notice.destination_county,
            ),
            handled_by: "recovered".into(),
            ..Default::default()
        };
        let case = if is_uuid(&case.case_id) {
            Ok(case)
        } else {
            Err(format!("notice.case_id: not a UUID: {:?}", case.case_id))
        };
        self.rebuild_opening(tx, peer, parts, case).await
    }

    /// An answer (acceptance, answer or redirection) a clerk here gave to `peer`'s case.
    async fn rebuild_response(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        response: &v1::Response,
    ) -> Result<Result<(), String>, StoreError> {
        let Some(mut case) = tx.get_case(&response.case_id).await? else {
            return Ok(Err(format!(
                "an answer to case {}, which this node no longer has",
                response.case_id
            )));
        };
        if case.direction() != CaseDirection::Inbound || case.requester_county != peer.as_str() {
            return Ok(Err(format!(
                "an answer to case {}, which {peer} did not open here",
                case.case_id
            )));
        }
        let at = response.responded_at_unix_ms;
        let operator = response.handled_by.as_str();
        let (event, detail) = match &response.outcome {
            Some(Outcome::Accepted(acceptance)) => {
                if let Ok(state) = next_state(case.state(), CaseAction::Accept) {
                    case.state = state as i32;
                }
                case.accepted_at_unix_ms = at;
                ("accepted", acceptance.note.clone())
            }
            Some(Outcome::Answered(answer)) => {
                if let Ok(state) = next_state(case.state(), CaseAction::Respond) {
                    case.state = state as i32;
                }
                case.answer = answer.text.clone();
                case.verdict = answer.verdict;
                case.responded_at_unix_ms = at;
                ("responded", answer.text.clone())
            }
            Some(Outcome::Redirected(redirection)) => {
                if let Ok(state) = next_state(case.state(), CaseAction::Redirect) {
                    case.state = state as i32;
                }
                case.redirected_to_county = redirection.redirect_to_county.clone();
                case.reason = redirection.reason.clone();
                case.closed_at_unix_ms = at;
                (
                    "redirected",
                    format!(
                        "to {}: {}",
                        redirection.redirect_to_county, redirection.reason
                    ),
                )
            }
            None => return Ok(Err("response.outcome: missing".into())),
        };
        case.handled_by = operator.to_string();
        tx.save_case(&case, at).await?;
        tx.add_case_event(&case.case_id, at, event, operator, &detail)
            .await?;
        let mut report = case_event_report(&case, event, at);
        report.response = Some(mpx_proto::evidence::response_evidence(response));
        tx.queue_case_report(&report).await?;
        Ok(Ok(()))
    }

    /// A reminder, withdrawal, extension request or decision, or shared record this node sent.
    async fn rebuild_follow_up(
        &self,
        tx: &mut StoreTx,
        peer: CountyCode,
        body: &Body,
        at: i64,
    ) -> Result<Result<(), String>, StoreError> {
        let case_id = body_case_id(body);
        let Some(mut case) = tx.get_case(case_id).await? else {
            return Ok(Err(format!(
                "a {} on case {case_id}, which this node no longer has",
                body_kind(body)
            )));
        };
        let counterpart = if case.direction() == CaseDirection::Outbound {
            &case.recipient_county
        } else {
            &case.requester_county
        };
        if counterpart != peer.as_str() {
            return Ok(Err(format!(
                "a {} on case {case_id}, which is not shared with {peer}",
                body_kind(body)
            )));
        }
        let mut report = None;
        let (event, detail) = match body {
            Body::Reminder(reminder) => {
                case.reminded_at_unix_ms = at;
                report = Some(case_event_report(&case, "reminded", at));
                ("reminder sent", reminder.text.clone())
            }
            Body::Withdrawal(withdrawal) => {
                if let Ok(state) = next_state(case.state(), CaseAction::Withdraw) {
                    case.state = state as i32;
                }
                case.closed_at_unix_ms = at;
                case.reason = withdrawal.reason.clone();
                report = Some(case_event_report(&case, "withdrawn", at));
                ("withdrawn", withdrawal.reason.clone())
            }
            Body::ExtensionRequest(request) => {
                case.extension_state = "requested".into();
                case.extension_working_days = request.working_days;
                ("extension requested", request.reason.clone())
            }
            Body::ExtensionDecision(decision) => {
                if decision.granted {
                    case.extension_state = "granted".into();
                    case.extended_due_at_unix_ms = decision.extended_due_at_unix_ms;
                    let mut granted = case_event_report(&case, "extension_granted", at);
                    granted.extended_due_at_unix_ms = decision.extended_due_at_unix_ms;
                    report = Some(granted);
                    ("extension granted", decision.note.clone())
                } else {
                    case.extension_state = "denied".into();
                    ("extension denied", decision.note.clone())
                }
            }
            Body::RecordShare(share) => super::intake::record_shared(share),
            _ => return Ok(Err(format!("unexpected {}", body_kind(body)))),
        };
        tx.save_case(&case, at).await?;
        tx.add_case_event(&case.case_id, at, event, "recovered", &detail)
            .await?;
        if let Some(report) = report {
            tx.queue_case_report(&report).await?;
        }
        Ok(Ok(()))
    }
}

/// The case a request this node sent had opened here, from the request.
fn request_case(
    county: CountyCode,
    peer: CountyCode,
    request: &v1::Request,
) -> Result<Case, String> {
    if !is_uuid(&request.case_id) {
        return Err(format!(
            "request.case_id: not a UUID: {:?}",
            request.case_id
        ));
    }
    Ok(Case {
        case_id: request.case_id.clone(),
        kind: request.kind,
        direction: CaseDirection::Outbound as i32,
        requester_county: county.to_string(),
        recipient_county: peer.to_string(),
        state: CaseState::Queued as i32,
        priority: request.priority,
        resident_id: request.resident_id.clone(),
        subject_name: request.subject_name.clone(),
        questions: request.questions.clone(),
        parent_case_id: request.parent_case_id.clone(),
        handled_by: "recovered".into(),
        ..Default::default()
    })
}

/// The due dates a receipt carries, as signed.
fn receipt_deadlines(receipt: &Receipt) -> CaseDeadlines {
    CaseDeadlines {
        acceptance_due_at_unix_ms: receipt.acceptance_due_at_unix_ms,
        due_at_unix_ms: receipt.due_at_unix_ms,
        provisional: receipt.due_provisional,
        calendar_version: receipt.calendar_version.clone(),
        policy_version: receipt.policy_version.clone(),
    }
}
