//! A batch a peer delivered: check the envelopes, apply each body by kind, answer with one signed
//! receipt per envelope — in one transaction. Not here: receipts coming back (`settle`).

use super::*;

impl Workflow {
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
            let encoded_envelope = envelope.encode_to_vec();
            let digest = mpx_proto::sha256_hex(&encoded_envelope);
            if let Some(entry) = known.get(&envelope.message_id) {
                // A redelivery (the same envelope) gets the stored receipt back; the same id with
                // another body is refused, so its sender cannot take the first receipt for an
                // acknowledgement of what it sent now.
                let receipt = if entry.sender != sender.as_str() {
                    rejected_receipt(
                        &envelope.message_id,
                        "message_id already used by another sender",
                        now,
                    )
                } else if !entry.envelope_sha256.is_empty() && entry.envelope_sha256 != digest {
                    tracing::warn!(message_id = %envelope.message_id, %sender, "message id sent again with another body; refused");
                    rejected_receipt(
                        &envelope.message_id,
                        "message_id already used for another message (the envelope differs from the one stored under this id); send new content under a new message_id",
                        now,
                    )
                } else {
                    Receipt::decode(entry.receipt.as_slice()).unwrap_or_default()
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
                Applied::NotYet(reason) => {
                    // Nothing of the batch is kept: the sender retries it after the pushback,
                    // by when this node has asked the sender what it may have lost.
                    tracing::info!(message_id = %envelope.message_id, %sender, %reason, "a follow-up on an unknown case is put off until the recovery pass has asked its sender");
                    return Err(WorkflowError::Unavailable(format!(
                        "{reason}; this node is recovering from a restore and has not yet asked county {sender} what it lost; retry later"
                    )));
                }
            };
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
                    &digest,
                    &encoded_envelope,
                )
                .await?;
                known.insert(
                    envelope.message_id.clone(),
                    InboxEntry {
                        sender: sender.to_string(),
                        receipt: encoded,
                        envelope_sha256: digest.clone(),
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

    pub(super) fn validate_envelope<'a>(
        &self,
        envelope: &'a Envelope,
    ) -> Result<&'a Body, Rejection> {
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

    pub(super) async fn apply(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        body: &Body,
        now: i64,
        wake: &mut Vec<String>,
    ) -> Result<Applied, StoreError> {
        let outcome = match body {
            Body::Notice(notice) => self.apply_notice(tx, sender, notice, now).await?.map(Some),
            Body::Request(request) => self
                .apply_request(tx, sender, request, now)
                .await?
                .map(Some),
            Body::Response(response) => self
                .apply_response(tx, sender, response, now, wake)
                .await?
                .map(|()| None),
            Body::Withdrawal(withdrawal) => self
                .apply_followup(tx, sender, &withdrawal.case_id, now, |case| {
                    withdraw(case, withdrawal, now)
                })
                .await?
                .map(|()| None),
            Body::ExtensionRequest(request) => self
                .apply_extension_request(tx, sender, request, now)
                .await?
                .map(|()| None),
            Body::ExtensionDecision(decision) => self
                .apply_followup(tx, sender, &decision.case_id, now, |case| {
                    decide_extension(case, decision)
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
                .apply_followup(tx, sender, &share.case_id, now, |_| record_shared(share))
                .await?
                .map(|()| None),
        };
        Ok(match outcome {
            Ok(deadlines) => Applied::Stored(deadlines),
            Err(rejection)
                if rejection.is_unknown_case() && self.recovery.is_pending(sender.as_str()) =>
            {
                Applied::NotYet(rejection.0)
            }
            Err(Rejection(reason)) => Applied::Rejected(reason),
        })
    }

    pub(super) async fn new_case_id(
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

    pub(super) async fn apply_notice(
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
            NoticeKind::Arrived | NoticeKind::Moved => Some(keep_local_fields(
                v1::Person {
                    status: PersonStatus::LivingElsewhere as i32,
                    departure_date: String::new(),
                    ..person.clone()
                },
                existing.as_ref(),
            )),
            NoticeKind::Departed => match &existing {
                Some(current) if current.residence_county != sender.as_str() => {
                    roster_note = format!(
                        "roster unchanged: it lists residence in {}",
                        current.residence_county
                    );
                    None
                }
                _ => Some(keep_local_fields(
                    v1::Person {
                        status: PersonStatus::WhereaboutsUnknown as i32,
                        residence_county: String::new(),
                        residence_address: String::new(),
                        departure_date: notice.effective_date.clone(),
                        ..person.clone()
                    },
                    existing.as_ref(),
                )),
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

    pub(super) async fn apply_request(
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
            if !mpx_proto::case_kind::clerk_may_open(kind as i32) {
                return Err(Rejection(format!(
                    "request.kind: {}",
                    mpx_proto::case_kind::clerk_kind_names()
                )));
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
    pub(super) async fn apply_followup(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        case_id: &str,
        now: i64,
        change: impl FnOnce(&mut Case) -> (&'static str, String),
    ) -> Result<Result<(), Rejection>, StoreError> {
        let Some(mut case) = tx.get_case(case_id).await? else {
            return Ok(Err(Rejection::unknown_case(case_id)));
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

    pub(super) async fn apply_response(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        response: &v1::Response,
        now: i64,
        wake: &mut Vec<String>,
    ) -> Result<Result<(), Rejection>, StoreError> {
        let Some(mut case) = tx.get_case(&response.case_id).await? else {
            return Ok(Err(Rejection::unknown_case(&response.case_id)));
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
    pub(super) async fn open_redirected_case(
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
            kind: mpx_proto::case_kind::spec(parent.kind)
                .map_or(parent.kind, |spec| spec.redirected_as as i32),
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
}

/// A withdrawal's effect on the case it names (ignored, with why, once the case moved on).
fn withdraw(case: &mut Case, withdrawal: &v1::Withdrawal, now: i64) -> (&'static str, String) {
    match next_state(case.state(), CaseAction::Withdraw) {
        Ok(state) => {
            case.state = state as i32;
            case.reason = withdrawal.reason.clone();
            case.closed_at_unix_ms = now;
            ("withdrawn", withdrawal.reason.clone())
        }
        Err(error) => ("withdrawal ignored", error.to_string()),
    }
}

/// The requester's decision on an extension this node asked for.
fn decide_extension(case: &mut Case, decision: &v1::ExtensionDecision) -> (&'static str, String) {
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
}

/// A shared record is noted on its case by the person's name.
pub(super) fn record_shared(share: &v1::RecordShare) -> (&'static str, String) {
    let name = share
        .person
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    ("record shared", name)
}
