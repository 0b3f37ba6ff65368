//! The roster: registering, moving and departing people (with the residence notice to the hukou
//! county in the same transaction) and bulk imports. Not here: what peers send (`intake`).

use super::*;

impl Workflow {
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
        // A county of this province missing from the directory may have enrolled since the last
        // refresh: ask the registry now (before the transaction), so the clerk is not warned of
        // a route that exists. Other provinces are never in it (federation comes later).
        if resident.hukou_county.province() == self.county.province()
            && self.directory.has_no_route(resident.hukou_county.as_str())
        {
            self.directory
                .refresh_now(std::time::Duration::from_secs(3))
                .await;
        }
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
                let differs = mpx_proto::person::differing_fields(stored, &person);
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

    pub(super) async fn residing_person(
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
}
