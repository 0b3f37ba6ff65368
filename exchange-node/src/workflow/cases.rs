//! Cases a clerk handles: opening requests, accepting, answering, redirecting, withdrawing,
//! closing, and extensions asked and decided. Not here: applying what peers send (`intake`).

use super::*;

impl Workflow {
    // ---- cases, requester side ---------------------------------------------------------------

    pub(super) async fn check_recipient(
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
        if !mpx_proto::case_kind::clerk_may_open(input.kind as i32) {
            return Err(FieldError::new(
                "kind",
                format!(
                    "{} (residence notices are sent by `records add|move|depart`)",
                    mpx_proto::case_kind::clerk_kind_names()
                ),
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

    pub(super) async fn open_outbound_request(
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

    pub(super) async fn case_for_update(
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

    pub(super) fn transition(case: &Case, action: CaseAction) -> Result<CaseState, WorkflowError> {
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

    pub(super) async fn respond_with(
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
        let is_notice = mpx_proto::case_kind::answer_needs_verdict(case.kind);
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

    pub(super) async fn apply_extension_request(
        &self,
        tx: &mut StoreTx,
        sender: CountyCode,
        request: &v1::ExtensionRequest,
        now: i64,
    ) -> Result<Result<(), Rejection>, StoreError> {
        let Some(mut case) = tx.get_case(&request.case_id).await? else {
            return Ok(Err(Rejection::unknown_case(&request.case_id)));
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
}
