//! The provincial index: roster changes from the nodes' cursors, and the province-wide queries
//! over it (counts, conflicts, untracked people, flows, locate).

use super::*;

impl Store {
    /// The highest change sequence stored for `county`'s roster stream.
    pub async fn index_cursor(&self, county: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT acknowledged_seq FROM index_cursors WHERE county = $1")
            .bind(county)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| row.try_get("acknowledged_seq"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Stores roster changes reported by `county` (newer sequence numbers win) and advances its
    /// cursor, in one transaction. Returns the new cursor.
    pub async fn record_roster_changes(
        &self,
        county: &str,
        changes: &[mpx_proto::v1::RosterChange],
        now_unix_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let highest = changes.iter().map(|c| c.seq).max().unwrap_or(0).max(0);
        // One row per person (the newest change of the call: one statement may not update a
        // row twice), 200 rows a statement; a stored newer change still wins.
        let mut newest: std::collections::HashMap<&str, &mpx_proto::v1::RosterChange> =
            std::collections::HashMap::with_capacity(changes.len());
        for change in changes {
            let entry = newest.entry(change.resident_id.as_str()).or_insert(change);
            if change.seq > entry.seq {
                *entry = change;
            }
        }
        let mut rows: Vec<&mpx_proto::v1::RosterChange> = newest.into_values().collect();
        rows.sort_by_key(|c| c.seq);
        for part in rows.chunks(200) {
            let sql = format!(
                "INSERT INTO index_entries (resident_id, reporter_county, name, hukou_county, residence_county,
                    status, since, change_seq, reported_at_unix_ms)
                 VALUES {}
                 ON CONFLICT (resident_id, reporter_county) DO UPDATE SET
                    name = excluded.name, hukou_county = excluded.hukou_county,
                    residence_county = excluded.residence_county, status = excluded.status,
                    since = excluded.since, change_seq = excluded.change_seq,
                    reported_at_unix_ms = excluded.reported_at_unix_ms
                 WHERE index_entries.change_seq < excluded.change_seq",
                mpx_proto::database::value_rows(part.len(), 9, self.database.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for change in part {
                let status = mpx_proto::v1::PersonStatus::try_from(change.status)
                    .map(|s| s.as_str_name())
                    .unwrap_or("PERSON_STATUS_UNSPECIFIED");
                query = query
                    .bind(change.resident_id.clone())
                    .bind(county.to_string())
                    .bind(change.name.clone())
                    .bind(change.hukou_county.clone())
                    .bind(change.residence_county.clone())
                    .bind(status)
                    .bind(change.since.clone())
                    .bind(change.seq)
                    .bind(now_unix_ms);
            }
            query.execute(&mut *transaction).await?;
        }
        let cursor = advance_cursor(&mut transaction, "index_cursors", county, highest).await?;
        transaction.commit().await?;
        Ok(cursor)
    }

    /// Per county (reporter): residing, inflow (residing with hukou elsewhere), outflow (own hukou
    /// people reported living elsewhere or gone out).
    pub async fn county_counts(&self) -> Result<Vec<mpx_proto::v1::CountyCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT reporter_county,
                SUM(CASE WHEN status = 'PERSON_STATUS_RESIDING' THEN 1 ELSE 0 END) AS residing,
                SUM(CASE WHEN status = 'PERSON_STATUS_RESIDING' AND hukou_county <> reporter_county THEN 1 ELSE 0 END) AS inflow,
                SUM(CASE WHEN hukou_county = reporter_county
                          AND status IN ('PERSON_STATUS_LIVING_ELSEWHERE', 'PERSON_STATUS_WHEREABOUTS_UNKNOWN')
                         THEN 1 ELSE 0 END) AS outflow
             FROM index_entries GROUP BY reporter_county ORDER BY reporter_county",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(mpx_proto::v1::CountyCounts {
                    county: row.try_get("reporter_county")?,
                    residing: row.try_get("residing")?,
                    inflow: row.try_get("inflow")?,
                    outflow: row.try_get("outflow")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// People listed as residing by two or more counties.
    pub async fn conflicts(&self, limit: u32) -> Result<Vec<mpx_proto::v1::Conflict>, StoreError> {
        let rows = sqlx::query(
            "SELECT resident_id, reporter_county, name FROM index_entries
             WHERE status = 'PERSON_STATUS_RESIDING' AND resident_id IN (
                SELECT resident_id FROM index_entries WHERE status = 'PERSON_STATUS_RESIDING'
                GROUP BY resident_id HAVING COUNT(*) > 1 ORDER BY resident_id LIMIT $1)
             ORDER BY resident_id, reporter_county",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut conflicts: Vec<mpx_proto::v1::Conflict> = Vec::new();
        for row in &rows {
            let resident_id: String = row.try_get("resident_id")?;
            let county: String = row.try_get("reporter_county")?;
            match conflicts.last_mut() {
                Some(last) if last.resident_id == resident_id => last.counties.push(county),
                _ => conflicts.push(mpx_proto::v1::Conflict {
                    resident_id,
                    name: row.try_get("name")?,
                    counties: vec![county],
                }),
            }
        }
        Ok(conflicts)
    }

    /// People their hukou county lists as gone out since `cutoff_date` or earlier, whom no county
    /// reports as residing.
    pub async fn untracked(
        &self,
        cutoff_date: &str,
        limit: u32,
    ) -> Result<Vec<mpx_proto::v1::UntrackedPerson>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.resident_id, e.name, e.hukou_county, e.since, e.residence_county FROM index_entries e
             WHERE e.reporter_county = e.hukou_county
               AND e.status IN ('PERSON_STATUS_WHEREABOUTS_UNKNOWN', 'PERSON_STATUS_LIVING_ELSEWHERE')
               AND e.since <> '' AND e.since <= $1
               AND NOT EXISTS (SELECT 1 FROM index_entries r
                               WHERE r.resident_id = e.resident_id AND r.status = 'PERSON_STATUS_RESIDING')
             ORDER BY e.since, e.resident_id LIMIT $2",
        )
        .bind(cutoff_date)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(mpx_proto::v1::UntrackedPerson {
                    resident_id: row.try_get("resident_id")?,
                    name: row.try_get("name")?,
                    hukou_county: row.try_get("hukou_county")?,
                    since: row.try_get("since")?,
                    last_known_residence: row.try_get("residence_county")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Arrivals between two dates (inclusive) by (hukou county, residence county, count).
    pub async fn flows(
        &self,
        from_date: &str,
        to_date: &str,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT hukou_county, reporter_county, COUNT(*) AS n FROM index_entries
             WHERE status = 'PERSON_STATUS_RESIDING' AND hukou_county <> reporter_county
               AND since >= $1 AND since <= $2
             GROUP BY hukou_county, reporter_county ORDER BY hukou_county, reporter_county",
        )
        .bind(from_date)
        .bind(to_date)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("hukou_county")?,
                    row.try_get("reporter_county")?,
                    row.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every county's report about one person.
    pub async fn locate(
        &self,
        resident_id: &str,
    ) -> Result<Vec<mpx_proto::v1::IndexReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT reporter_county, name, hukou_county, residence_county, status, since, reported_at_unix_ms
             FROM index_entries WHERE resident_id = $1 ORDER BY reporter_county",
        )
        .bind(resident_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                Ok(mpx_proto::v1::IndexReport {
                    reporting_county: row.try_get("reporter_county")?,
                    name: row.try_get("name")?,
                    hukou_county: row.try_get("hukou_county")?,
                    residence_county: row.try_get("residence_county")?,
                    status: mpx_proto::v1::PersonStatus::from_str_name(&status).unwrap_or_default()
                        as i32,
                    since: row.try_get("since")?,
                    reported_at_unix_ms: row.try_get("reported_at_unix_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Calls `visit(resident_id, name, hukou, residence county)` for each person some county
    /// lists as residing, once per person (the first county by code when two claim them), in
    /// resident-ID order, without holding the index in memory. Returns how many.
    pub async fn each_residing_index_entry(
        &self,
        mut visit: impl FnMut(&str, &str, &str, &str),
    ) -> Result<u64, StoreError> {
        use tokio_stream::StreamExt;
        let mut rows = sqlx::query(
            "SELECT resident_id, name, hukou_county, reporter_county FROM index_entries
             WHERE status = 'PERSON_STATUS_RESIDING' ORDER BY resident_id, reporter_county",
        )
        .fetch(&self.pool);
        let mut last = String::new();
        let mut count = 0;
        while let Some(row) = rows.next().await {
            let row = row?;
            let id: String = row.try_get("resident_id")?;
            if id == last {
                continue;
            }
            let name: String = row.try_get("name")?;
            let hukou: String = row.try_get("hukou_county")?;
            let residence: String = row.try_get("reporter_county")?;
            visit(&id, &name, &hukou, &residence);
            count += 1;
            last = id;
        }
        Ok(count)
    }
}
