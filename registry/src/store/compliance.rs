//! Compliance: case events with their evidence, escalations, the report's tallies, province
//! alerts and a case's evidence.

use super::*;

impl Store {
    /// Records escalations reported by `reporter` (idempotent per case and reporter). Returns
    /// how many were new.
    pub async fn record_escalations(
        &self,
        reporter: &str,
        reports: &[mpx_proto::v1::EscalationReport],
        now_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let mut recorded = 0;
        for report in reports {
            let result = sqlx::query(
                "INSERT INTO escalations (case_id, reporter_county, case_kind, requester_county, recipient_county,
                    delivered_at_unix_ms, due_at_unix_ms, escalated_at_unix_ms, direction, detail, received_at_unix_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (case_id, reporter_county) DO NOTHING",
            )
            .bind(&report.case_id)
            .bind(reporter)
            .bind(&report.case_kind)
            .bind(&report.requester_county)
            .bind(&report.recipient_county)
            .bind(report.delivered_at_unix_ms)
            .bind(report.due_at_unix_ms)
            .bind(report.escalated_at_unix_ms)
            .bind(&report.direction)
            .bind(&report.detail)
            .bind(now_unix_ms)
            .execute(&mut *transaction)
            .await?;
            recorded += result.rows_affected();
            if result.rows_affected() > 0 {
                let alert = RaisedAlert {
                    kind: "ESCALATED",
                    county: report.recipient_county.clone(),
                    counterpart_county: report.requester_county.clone(),
                    detail: format!("escalated by county {reporter}: {}", report.detail),
                };
                insert_alert(
                    &mut transaction,
                    &report.case_id,
                    &alert,
                    report.due_at_unix_ms,
                    now_unix_ms,
                )
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(recorded)
    }

    /// Reported escalations, newest first: (reporter, report).
    pub async fn escalations(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, mpx_proto::v1::EscalationReport)>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, reporter_county, case_kind, requester_county, recipient_county, delivered_at_unix_ms,
                    due_at_unix_ms, escalated_at_unix_ms, direction, detail
             FROM escalations ORDER BY escalated_at_unix_ms DESC, case_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("reporter_county")?,
                    mpx_proto::v1::EscalationReport {
                        case_id: row.try_get("case_id")?,
                        case_kind: row.try_get("case_kind")?,
                        requester_county: row.try_get("requester_county")?,
                        recipient_county: row.try_get("recipient_county")?,
                        delivered_at_unix_ms: row.try_get("delivered_at_unix_ms")?,
                        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
                        escalated_at_unix_ms: row.try_get("escalated_at_unix_ms")?,
                        direction: row.try_get("direction")?,
                        detail: row.try_get("detail")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The highest case-event sequence stored for `county`.
    pub async fn case_report_cursor(&self, county: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT acknowledged_seq FROM case_report_cursors WHERE county = $1")
            .bind(county)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| row.try_get("acknowledged_seq"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Stores case events reported by `reporter` (each with the verdict on its evidence), folds
    /// the new ones into their cases, raises the alerts that causes, and advances the cursor, in
    /// one transaction. A report already stored (same reporter and sequence) is skipped, so a
    /// resend changes nothing. A report that repeats one already merged under another sequence
    /// number (same reporter, case, event, instant and evidence: a node restored from a backup
    /// re-reports what it rebuilt) is stored with the label [`crate::compliance::repeat_label`]
    /// and not merged again, in this batch or across batches. Returns the new cursor.
    pub async fn record_case_events(
        &self,
        reporter: &str,
        reports: &[(mpx_proto::v1::CaseEventReport, Verification)],
        highest_seq: i64,
        rules: &crate::compliance::Rules<'_>,
        now_unix_ms: i64,
    ) -> Result<(i64, Vec<mpx_proto::v1::EventRejection>), StoreError> {
        use prost::Message;
        let mut transaction = self.database.begin().await?;
        let select =
            format!("SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases WHERE case_id = $1");
        let highest = reports
            .iter()
            .map(|(r, _)| r.seq)
            .max()
            .unwrap_or(0)
            .max(highest_seq);
        // Cases in one order in every transaction (no deadlock between the two sides' batches),
        // each case's events in the reporter's order.
        let mut ordered: Vec<&(mpx_proto::v1::CaseEventReport, Verification)> =
            reports.iter().collect();
        ordered.sort_by(|a, b| (&a.0.case_id, a.0.seq).cmp(&(&b.0.case_id, b.0.seq)));
        let mut refusals = Vec::new();
        for (report, verification) in ordered {
            let inserted = sqlx::query(
                "INSERT INTO case_reports (reporter_county, seq, case_id, event, report, verification,
                    received_at_unix_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (reporter_county, seq) DO NOTHING",
            )
            .bind(reporter)
            .bind(report.seq)
            .bind(&report.case_id)
            .bind(&report.event)
            .bind(report.encode_to_vec())
            .bind(verification.label())
            .bind(now_unix_ms)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            // SQLite serialises writers (BEGIN IMMEDIATE); on PostgreSQL both sides' first
            // reports of a case may race before its row exists, so merges of one case take a
            // transaction-scoped lock on its id.
            if !self.database.is_sqlite {
                sqlx::query(
                    "SELECT CAST(1 AS BIGINT) AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS l",
                )
                .bind(&report.case_id)
                .fetch_one(&mut *transaction)
                .await?;
            }
            // After the case's lock: a concurrent batch with the same event has committed its
            // row by now, or waits for this one.
            if let Some(original_seq) =
                merged_report_repeated(&mut transaction, reporter, report).await?
            {
                sqlx::query(
                    "UPDATE case_reports SET verification = $1 WHERE reporter_county = $2 AND seq = $3",
                )
                .bind(crate::compliance::repeat_label(original_seq))
                .bind(reporter)
                .bind(report.seq)
                .execute(&mut *transaction)
                .await?;
                continue;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(&report.case_id)
                .fetch_optional(&mut *transaction)
                .await?;
            let mut record = row
                .as_ref()
                .map(compliance_from_row)
                .transpose()?
                .unwrap_or_default();
            let merged =
                crate::compliance::merge(&mut record, reporter, report, verification, rules);
            match &merged.refused {
                Some(why) => {
                    if !matches!(verification, Verification::Rejected(_)) {
                        sqlx::query(
                        "UPDATE case_reports SET verification = $1 WHERE reporter_county = $2 AND seq = $3",
                    )
                        .bind(format!("refused: {why}"))
                        .bind(reporter)
                        .bind(report.seq)
                        .execute(&mut *transaction)
                        .await?;
                    }
                    refusals.push(mpx_proto::v1::EventRejection {
                        seq: report.seq,
                        reason: why.clone(),
                    });
                }
                None => {
                    self.save_compliance_case(&mut transaction, &record, now_unix_ms)
                        .await?
                }
            }
            for alert in &merged.alerts {
                insert_alert(
                    &mut transaction,
                    &report.case_id,
                    alert,
                    record.due_at_unix_ms,
                    now_unix_ms,
                )
                .await?;
            }
        }
        let cursor =
            advance_cursor(&mut transaction, "case_report_cursors", reporter, highest).await?;
        transaction.commit().await?;
        Ok((cursor, refusals))
    }

    /// Writes provincial case rows as given (replacing any with the same id), in one
    /// transaction: for restoring from another registry's export and for tests of the report.
    pub async fn put_compliance_cases(
        &self,
        records: &[CaseRecord],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        for record in records {
            sqlx::query("DELETE FROM compliance_cases WHERE case_id = $1")
                .bind(&record.case_id)
                .execute(&mut *transaction)
                .await?;
            self.save_compliance_case(&mut transaction, record, now_unix_ms)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    pub(super) async fn save_compliance_case(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        record: &CaseRecord,
        now_unix_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO compliance_cases (case_id, kind, priority, requester_county, recipient_county,
                parent_case_id, opened_at_unix_ms, delivered_at_unix_ms, due_at_unix_ms, due_date,
                acceptance_due_at_unix_ms, accepted_at_unix_ms, responded_at_unix_ms, response_outcome,
                response_working_days, withdrawn_at_unix_ms, closed_at_unix_ms, extended_due_at_unix_ms,
                reminders, receipt_by_requester, receipt_by_recipient, response_by_requester,
                response_by_recipient, requester_reported_at_unix_ms, recipient_reported_at_unix_ms,
                dispute, updated_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                     $19, $20, $21, $22, $23, $24, $25, $26, $27)
             ON CONFLICT (case_id) DO UPDATE SET
                opened_at_unix_ms = $7, delivered_at_unix_ms = $8, due_at_unix_ms = $9, due_date = $10,
                acceptance_due_at_unix_ms = $11, accepted_at_unix_ms = $12, responded_at_unix_ms = $13,
                response_outcome = $14, response_working_days = $15, withdrawn_at_unix_ms = $16,
                closed_at_unix_ms = $17, extended_due_at_unix_ms = $18, reminders = $19,
                receipt_by_requester = $20, receipt_by_recipient = $21, response_by_requester = $22,
                response_by_recipient = $23, requester_reported_at_unix_ms = $24,
                recipient_reported_at_unix_ms = $25, dispute = $26, updated_at_unix_ms = $27",
        )
        .bind(&record.case_id)
        .bind(&record.kind)
        .bind(&record.priority)
        .bind(&record.requester_county)
        .bind(&record.recipient_county)
        .bind(&record.parent_case_id)
        .bind(record.opened_at_unix_ms)
        .bind(record.delivered_at_unix_ms)
        .bind(record.due_at_unix_ms)
        .bind(&record.due_date)
        .bind(record.acceptance_due_at_unix_ms)
        .bind(record.accepted_at_unix_ms)
        .bind(record.responded_at_unix_ms)
        .bind(&record.response_outcome)
        .bind(record.response_working_days)
        .bind(record.withdrawn_at_unix_ms)
        .bind(record.closed_at_unix_ms)
        .bind(record.extended_due_at_unix_ms)
        .bind(record.reminders)
        .bind(i64::from(record.receipt_by_requester))
        .bind(i64::from(record.receipt_by_recipient))
        .bind(i64::from(record.response_by_requester))
        .bind(i64::from(record.response_by_recipient))
        .bind(record.requester_reported_at_unix_ms)
        .bind(record.recipient_reported_at_unix_ms)
        .bind(&record.dispute)
        .bind(now_unix_ms)
        .execute(&mut **transaction)
        .await?;
        Ok(())
    }

    /// The report's tally of the cases due in `[start, end)` (YYYY-MM-DD) as of `as_of`: one
    /// `GROUP BY` over the period for the undisputed cases, and the disputed ones row by row.
    /// The predicates are those of `compliance::tally_due` (the reference it is tested against
    /// on both backends): a change to one is a change to both.
    pub async fn compliance_due_tally(
        &self,
        start: &str,
        end: &str,
        as_of_unix_ms: i64,
        grace_ms: i64,
    ) -> Result<DueTally, StoreError> {
        // $1 start, $2 end, $3 as of, $4 the latest instant old enough to be disputed.
        let older = as_of_unix_ms.saturating_sub(grace_ms.max(0));
        let groups_sql = format!(
            "SELECT recipient_county,
                CASE WHEN {ANSWERED} AND response_working_days >= 0 THEN response_working_days
                     ELSE -1 END AS days,
                COUNT(*) AS requests_due,
                SUM(CASE WHEN {ANSWERED} THEN 1 ELSE 0 END) AS responses,
                SUM(CASE WHEN {ANSWERED} AND responded_at_unix_ms < due_at_unix_ms
                    THEN 1 ELSE 0 END) AS timely,
                SUM(CASE WHEN acceptance_due_at_unix_ms > 0 THEN 1 ELSE 0 END) AS acceptance_due,
                SUM(CASE WHEN acceptance_due_at_unix_ms > 0 AND (
                        (accepted_at_unix_ms > 0 AND accepted_at_unix_ms <= $3
                         AND accepted_at_unix_ms < acceptance_due_at_unix_ms)
                     OR (responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3
                         AND responded_at_unix_ms < acceptance_due_at_unix_ms))
                    THEN 1 ELSE 0 END) AS accepted_within_sla,
                SUM(CASE WHEN extended_due_at_unix_ms > 0 THEN 1 ELSE 0 END) AS extended,
                CASE WHEN {DISPUTED} THEN 1 ELSE 0 END AS disputed
             FROM compliance_cases
             WHERE due_date >= $1 AND due_date < $2 AND {COUNTS_IN_REPORT}
             GROUP BY 1, 2, 9
             ORDER BY 1, 2"
        );
        // Both queries take the same four parameters.
        let over_period = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(start)
                .bind(end)
                .bind(as_of_unix_ms)
                .bind(older)
        };
        let rows = over_period(groups_sql).fetch_all(&self.pool).await?;
        // Disputed cases are counted here only to know whether there are any: they are listed
        // one by one below.
        let mut any_disputed = false;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<i64, _>(8)? != 0 {
                any_disputed = true;
                continue;
            }
            groups.push(DueGroup {
                county: row.try_get(0)?,
                response_working_days: row.try_get(1)?,
                requests_due: row.try_get(2)?,
                responses: row.try_get(3)?,
                timely: row.try_get(4)?,
                acceptance_due: row.try_get(5)?,
                accepted_within_sla: row.try_get(6)?,
                extended: row.try_get(7)?,
            });
        }
        if !any_disputed {
            return Ok(DueTally {
                groups,
                disputed: Vec::new(),
            });
        }
        let disputed_sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases
             WHERE due_date >= $1 AND due_date < $2 AND {COUNTS_IN_REPORT} AND {DISPUTED}"
        );
        let rows = over_period(disputed_sql).fetch_all(&self.pool).await?;
        let mut disputed = rows
            .iter()
            .map(compliance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        disputed.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        Ok(DueTally { groups, disputed })
    }

    /// The report's tally of the cases open past their due date as of `as_of`: per responding
    /// county how many and the oldest, and the oldest `limit` (of `county` when given). The
    /// predicate is that of `compliance::is_open_overdue`.
    pub async fn compliance_overdue_tally(
        &self,
        as_of_unix_ms: i64,
        county: Option<&str>,
        limit: usize,
    ) -> Result<OverdueTally, StoreError> {
        // Per county: how many and the earliest due instant (the day too, for the index on
        // county and due day: the day follows the instant), and of the cases due at that
        // instant the least case id (case ids have one shape, so every collation orders them
        // bytewise); then those cases.
        let per_county_sql = format!(
            "SELECT per_county.county, per_county.open_count, MIN(case_id) AS oldest_id
             FROM compliance_cases
             JOIN (SELECT recipient_county AS county, MIN(due_at_unix_ms) AS oldest_due,
                          MIN(due_date) AS oldest_date, COUNT(*) AS open_count
                   FROM ({open_rows}) AS open_cases
                   GROUP BY recipient_county) AS per_county
               ON recipient_county = per_county.county AND due_date = per_county.oldest_date
                  AND due_at_unix_ms = per_county.oldest_due
             WHERE {OPEN_OVERDUE}
             GROUP BY per_county.county, per_county.open_count",
            open_rows = open_overdue_rows("recipient_county, due_at_unix_ms, due_date")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(per_county_sql))
            .bind(as_of_unix_ms)
            .fetch_all(&self.pool)
            .await?;
        // The oldest cases themselves, in one read (a county each).
        let mut oldest: std::collections::HashMap<String, CaseRecord> = Default::default();
        for part in rows.chunks(500) {
            let sql = format!(
                "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases WHERE case_id IN {}",
                mpx_proto::database::value_rows(1, part.len(), self.database.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in part {
                query = query.bind(row.try_get::<String, _>("oldest_id")?);
            }
            for case in query.fetch_all(&self.pool).await? {
                let record = compliance_from_row(&case)?;
                oldest.insert(record.case_id.clone(), record);
            }
        }
        let mut per_county = Vec::with_capacity(rows.len());
        for row in &rows {
            let oldest_id: String = row.try_get("oldest_id")?;
            if let Some(record) = oldest.remove(&oldest_id) {
                per_county.push(CountyOverdue {
                    county: row.try_get("county")?,
                    open: row.try_get("open_count")?,
                    oldest: record,
                });
            }
        }
        per_county.sort_by(|a, b| a.county.cmp(&b.county));
        let listed_sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases
             WHERE {OPEN_OVERDUE} AND ($2 = '' OR recipient_county = $2)
             ORDER BY due_at_unix_ms, case_id
             LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(listed_sql))
            .bind(as_of_unix_ms)
            .bind(county.unwrap_or(""))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let mut listed = rows
            .iter()
            .map(compliance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // The database's collation may order case ids otherwise; the report's order is bytewise.
        listed.sort_by(|a, b| {
            a.due_at_unix_ms
                .cmp(&b.due_at_unix_ms)
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        Ok(OverdueTally { per_county, listed })
    }

    /// Ids of cases some county escalated.
    pub async fn escalated_case_ids(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT case_id FROM escalations")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("case_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Raises OVERDUE alerts for cases past due and unanswered, and DISPUTED alerts for
    /// one-sided evidence older than `grace_ms`. Each fires once per case. Returns how many.
    pub async fn scan_compliance_alerts(
        &self,
        now_unix_ms: i64,
        grace_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let overdue = sqlx::query(
            "INSERT INTO province_alerts (kind, case_id, county, counterpart_county, raised_at_unix_ms,
                due_at_unix_ms, detail)
             SELECT 'OVERDUE', case_id, recipient_county, requester_county, $1, due_at_unix_ms,
                    'unanswered past its due date'
             FROM compliance_cases
             WHERE due_at_unix_ms > 0 AND due_at_unix_ms <= $1 AND responded_at_unix_ms = 0
               AND withdrawn_at_unix_ms = 0 AND closed_at_unix_ms = 0 AND dispute = ''
             ON CONFLICT (case_id, kind) DO NOTHING",
        )
        .bind(now_unix_ms)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        let sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases
             WHERE dispute = '' AND requester_reported_at_unix_ms > 0
               AND ((response_by_recipient = 1 AND response_by_requester = 0
                     AND responded_at_unix_ms <= $1)
                 OR (receipt_by_recipient = 1 AND receipt_by_requester = 0
                     AND delivered_at_unix_ms <= $1))
               AND case_id NOT IN (SELECT case_id FROM province_alerts WHERE kind = 'DISPUTED')"
        );
        let candidates = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_unix_ms - grace_ms)
            .fetch_all(&mut *transaction)
            .await?;
        let mut disputed = 0;
        for row in &candidates {
            let record = compliance_from_row(row)?;
            if let Some(detail) = crate::compliance::dispute_of(&record, now_unix_ms, grace_ms) {
                let alert = RaisedAlert {
                    kind: "DISPUTED",
                    county: record.recipient_county.clone(),
                    counterpart_county: record.requester_county.clone(),
                    detail,
                };
                insert_alert(
                    &mut transaction,
                    &record.case_id,
                    &alert,
                    record.due_at_unix_ms,
                    now_unix_ms,
                )
                .await?;
                disputed += 1;
            }
        }
        transaction.commit().await?;
        Ok(overdue + disputed)
    }

    /// Province alerts after `after_id`, oldest first, optionally about one county.
    pub async fn province_alerts_after(
        &self,
        after_id: i64,
        county: Option<&str>,
        limit: u32,
    ) -> Result<Vec<mpx_proto::v1::ProvinceAlert>, StoreError> {
        let rows = sqlx::query(
            "SELECT alert_id, kind, case_id, county, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, detail
             FROM province_alerts
             WHERE alert_id > $1 AND ($2 = '' OR county = $2 OR counterpart_county = $2)
             ORDER BY alert_id LIMIT $3",
        )
        .bind(after_id)
        .bind(county.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from_row).collect::<Result<_, _>>()?)
    }

    /// The newest province alert's id (0: none yet): where a live page's stream starts, so
    /// it sends only what was raised after the page's list.
    pub async fn last_province_alert_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(alert_id), 0) AS last FROM province_alerts")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("last")?)
    }

    /// Province alerts up to `up_to_id`, newest first: about one county (as `Watch` filters:
    /// the county or its counterpart) and of one kind when given.
    pub async fn recent_province_alerts(
        &self,
        up_to_id: i64,
        county: Option<&str>,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<Vec<mpx_proto::v1::ProvinceAlert>, StoreError> {
        let rows = sqlx::query(
            "SELECT alert_id, kind, case_id, county, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, detail
             FROM province_alerts
             WHERE alert_id <= $1 AND ($2 = '' OR county = $2 OR counterpart_county = $2)
               AND ($3 = '' OR kind = $3)
             ORDER BY alert_id DESC LIMIT $4",
        )
        .bind(up_to_id)
        .bind(county.unwrap_or(""))
        .bind(kind.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from_row).collect::<Result<_, _>>()?)
    }

    /// Everything reported about one case, oldest first, and the case's stored dispute.
    pub async fn case_evidence(
        &self,
        case_id: &str,
    ) -> Result<(Vec<mpx_proto::v1::StoredCaseEvent>, Option<CaseRecord>), StoreError> {
        use prost::Message;
        let rows = sqlx::query(
            "SELECT reporter_county, report, verification, received_at_unix_ms FROM case_reports
             WHERE case_id = $1 ORDER BY received_at_unix_ms, reporter_county, seq",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let bytes: Vec<u8> = row.try_get("report")?;
            events.push(mpx_proto::v1::StoredCaseEvent {
                reporter_county: row.try_get("reporter_county")?,
                received_at_unix_ms: row.try_get("received_at_unix_ms")?,
                report: mpx_proto::v1::CaseEventReport::decode(bytes.as_slice()).ok(),
                verification: row.try_get("verification")?,
            });
        }
        let sql = format!("SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases WHERE case_id = $1");
        let record = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(compliance_from_row)
            .transpose()?;
        Ok((events, record))
    }
}

/// The lowest sequence number of a report from `reporter`, other than `report` itself, that
/// was merged into its case and that `report` repeats ([`crate::compliance::repeats`]: same
/// case, event, instant and evidence); `None` if there is none. The instant and the evidence
/// are only in the encoded report, so the reporter's reports of that event of that case (a
/// handful; `case_reports_by_case`) are decoded here.
async fn merged_report_repeated(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    reporter: &str,
    report: &mpx_proto::v1::CaseEventReport,
) -> Result<Option<i64>, sqlx::Error> {
    use prost::Message;
    let rows = sqlx::query(
        "SELECT seq, report, verification FROM case_reports
         WHERE case_id = $1 AND reporter_county = $2 AND event = $3 AND seq <> $4
         ORDER BY seq",
    )
    .bind(&report.case_id)
    .bind(reporter)
    .bind(&report.event)
    .bind(report.seq)
    .fetch_all(&mut **transaction)
    .await?;
    for row in &rows {
        let verification: String = row.try_get("verification")?;
        if !Verification::label_was_merged(&verification) {
            continue;
        }
        let bytes: Vec<u8> = row.try_get("report")?;
        let repeated = mpx_proto::v1::CaseEventReport::decode(bytes.as_slice())
            .is_ok_and(|stored| crate::compliance::repeats(report, &stored));
        if repeated {
            return Ok(Some(row.try_get("seq")?));
        }
    }
    Ok(None)
}
