//! Receipts coming back for what this node sent: verified, then settled in one transaction.

use super::*;

impl Workflow {
    // ---- settling receipts (requester side) --------------------------------------------------

    /// Checks every receipt's signature against the recipient's certificate from the directory:
    /// a receipt whose timestamps were altered, or that another key signed, is refused (and
    /// recorded), and the batch stays in the outbox.
    pub(super) async fn verify_receipts(
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
                let detail = if message.body_kind == "response"
                    && reopen_refused_answer(case, message)
                {
                    format!(
                        "{} refused this answer, so it did not take effect there ({}); the case is open here again",
                        message.recipient, receipt.error
                    )
                } else {
                    receipt.error.clone()
                };
                (format!("{} rejected", message.body_kind), detail)
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

/// An answer or acceptance the requester refused never took effect there: the case goes back
/// to where it stood before it (accepted, or delivered), so the clerk sees it open and can act
/// again, instead of believing it answered. A redirection (which opened a case elsewhere) and a
/// case that has moved on since are left as they are. True when the case was reopened.
fn reopen_refused_answer(case: &mut Case, message: &OutboxMessage) -> bool {
    let Ok(Envelope {
        body: Some(Body::Response(response)),
        ..
    }) = Envelope::decode(message.envelope.as_slice())
    else {
        return false;
    };
    match (&response.outcome, case.state()) {
        (Some(Outcome::Answered(_)), CaseState::Responded)
            if case.responded_at_unix_ms == response.responded_at_unix_ms =>
        {
            case.state = if case.accepted_at_unix_ms > 0 {
                CaseState::Accepted
            } else {
                CaseState::Delivered
            } as i32;
            case.responded_at_unix_ms = 0;
            true
        }
        (Some(Outcome::Accepted(_)), CaseState::Accepted)
            if case.accepted_at_unix_ms == response.responded_at_unix_ms =>
        {
            case.state = CaseState::Delivered as i32;
            case.accepted_at_unix_ms = 0;
            true
        }
        _ => false,
    }
}
