//! Cases the province assigned (from provincial checks), taken in as inbound cases.

use super::*;

impl Workflow {
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
}
