//! What the province is told: escalations, roster changes and case events from a cursor.

use super::*;

impl Store {
    /// ESCALATED alerts not yet reported to the province.
    pub async fn unreported_escalations(&self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT alert_id, case_id, kind, direction, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, cleared_at_unix_ms, detail
             FROM alerts WHERE kind = 'escalated' AND reported_at_unix_ms = 0
             ORDER BY raised_at_unix_ms LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(AlertRecord::from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Marks alerts as reported to the province.
    pub async fn mark_reported(
        &self,
        alert_ids: &[String],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        for alert_id in alert_ids {
            sqlx::query("UPDATE alerts SET reported_at_unix_ms = $1 WHERE alert_id = $2")
                .bind(now_unix_ms)
                .bind(alert_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Roster changes after `seq`, in order, for the provincial index.
    pub async fn roster_changes_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<v1::RosterChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, resident_id, name, hukou_county, residence_county, status, since, changed_at_unix_ms
             FROM roster_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(v1::RosterChange {
                    seq: row.try_get("seq")?,
                    resident_id: row.try_get("resident_id")?,
                    name: row.try_get("name")?,
                    hukou_county: row.try_get("hukou_county")?,
                    residence_county: row.try_get("residence_county")?,
                    status: person::status_from_label(&row.try_get::<String, _>("status")?)
                        .unwrap_or(PersonStatus::Unspecified) as i32,
                    since: row.try_get("since")?,
                    changed_at_unix_ms: row.try_get("changed_at_unix_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// How far a stream from the registry has been taken in (0 before the first).
    pub async fn provincial_cursor(&self, name: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT seq FROM provincial_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("seq")).transpose()?.unwrap_or(0))
    }

    /// Case events after `seq`, in order, for the province's compliance figures.
    pub async fn case_reports_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<v1::CaseEventReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, report FROM case_reports WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        decode_reports(&rows)
    }
}

impl Store {
    /// The case events this node reported (or will report) for one case, in order: the signed
    /// receipts and responses a case page shows as evidence.
    pub async fn case_reports_of(
        &self,
        case_id: &str,
    ) -> Result<Vec<v1::CaseEventReport>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, report FROM case_reports WHERE case_id = $1 ORDER BY seq")
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
        decode_reports(&rows)
    }
}

/// `case_reports` rows (`seq`, `report`) as reports carrying their sequence number. A row that
/// does not decode was written by this node, so is never expected; it is logged and skipped
/// rather than blocking the stream to the registry or a case page.
fn decode_reports(rows: &[AnyRow]) -> Result<Vec<v1::CaseEventReport>, StoreError> {
    let mut reports = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let bytes: Vec<u8> = row.try_get("report")?;
        match v1::CaseEventReport::decode(bytes.as_slice()) {
            Ok(mut report) => {
                report.seq = seq;
                reports.push(report);
            }
            Err(error) => tracing::error!(seq, %error, "undecodable case report skipped"),
        }
    }
    Ok(reports)
}

impl StoreTx {
    /// Records how far a stream from the registry has been taken in.
    pub async fn set_provincial_cursor(&mut self, name: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO provincial_cursors (name, seq) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET seq = $2 WHERE provincial_cursors.seq < $2",
        )
        .bind(name)
        .bind(seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Queues one case event for the province (see [`Store::case_reports_after`]).
    pub async fn queue_case_report(
        &mut self,
        report: &v1::CaseEventReport,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO case_reports (case_id, event, at_unix_ms, report) VALUES ($1, $2, $3, $4)",
        )
        .bind(&report.case_id)
        .bind(&report.event)
        .bind(report.at_unix_ms)
        .bind(report.encode_to_vec())
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Queues case events for the province, in order, 200 a statement.
    pub async fn queue_case_reports(
        &mut self,
        reports: &[v1::CaseEventReport],
    ) -> Result<(), StoreError> {
        for part in reports.chunks(200) {
            let sql = format!(
                "INSERT INTO case_reports (case_id, event, at_unix_ms, report) VALUES {}",
                value_rows(part.len(), 4, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for report in part {
                query = query
                    .bind(report.case_id.clone())
                    .bind(report.event.clone())
                    .bind(report.at_unix_ms)
                    .bind(report.encode_to_vec());
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(())
    }
}
