//! Deadline, UNDELIVERED and NO_ROUTE alerts: raised, updated, cleared, listed by page.

use super::*;

impl Store {
    /// The open alert of `kind` (`undelivered`, `no_route`) about `peer`, if any.
    pub async fn open_peer_alert(
        &self,
        kind: &str,
        peer: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT alert_id FROM alerts WHERE kind = $2 AND cleared_at_unix_ms = 0
               AND counterpart_county = $1 AND case_id LIKE 'peer/%'",
        )
        .bind(peer)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get("alert_id")).transpose()?)
    }

    /// Updates what an open alert says (a peer's backlog while it lasts).
    pub async fn update_alert_detail(
        &self,
        alert_id: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE alerts SET detail = $2 WHERE alert_id = $1")
            .bind(alert_id)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Clears open `NO_ROUTE` alerts about peers that have a route now (`routed`) or nothing
    /// queued any more.
    pub async fn clear_no_route_alerts(
        &self,
        now_unix_ms: i64,
        routed: &[String],
    ) -> Result<u64, StoreError> {
        let open = sqlx::query(
            "SELECT alert_id, counterpart_county FROM alerts
             WHERE kind = 'no_route' AND cleared_at_unix_ms = 0",
        )
        .fetch_all(&self.pool)
        .await?;
        let pending: std::collections::HashSet<String> =
            self.pending_recipients().await?.into_iter().collect();
        let mut cleared = 0;
        for row in &open {
            let peer: String = row.try_get("counterpart_county")?;
            if routed.contains(&peer) || !pending.contains(&peer) {
                let alert_id: String = row.try_get("alert_id")?;
                cleared +=
                    sqlx::query("UPDATE alerts SET cleared_at_unix_ms = $1 WHERE alert_id = $2")
                        .bind(now_unix_ms)
                        .bind(alert_id)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
            }
        }
        Ok(cleared)
    }

    /// Clears open `UNDELIVERED` alerts whose backlog drained: a peer's alert once nothing to it
    /// has waited since `cutoff_unix_ms` or longer (and older per-case alerts once their case's
    /// messages were delivered). Returns how many. (The alerts about a case's deadlines are
    /// cleared when the case is saved answered, ended or accepted: [`StoreTx::save_case`].)
    pub async fn clear_resolved_alerts(
        &self,
        now_unix_ms: i64,
        cutoff_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let per_peer = sqlx::query(
            "UPDATE alerts SET cleared_at_unix_ms = $1
             WHERE kind = 'undelivered' AND cleared_at_unix_ms = 0 AND case_id LIKE 'peer/%'
               AND counterpart_county NOT IN
                   (SELECT recipient FROM outbox WHERE state = 'pending' AND created_at_unix_ms <= $2)",
        )
        .bind(now_unix_ms)
        .bind(cutoff_unix_ms)
        .execute(&self.pool)
        .await?;
        let per_case = sqlx::query(
            "UPDATE alerts SET cleared_at_unix_ms = $1
             WHERE kind = 'undelivered' AND cleared_at_unix_ms = 0 AND case_id NOT LIKE 'peer/%'
               AND case_id NOT IN (SELECT case_id FROM outbox WHERE state = 'pending')",
        )
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(per_peer.rows_affected() + per_case.rows_affected())
    }

    /// Open alerts by (kind, direction, count), for metrics.
    pub async fn open_alert_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        // Columns in the tuple's order.
        Ok(sqlx::query_as(
            "SELECT kind, direction, COUNT(*) AS n FROM alerts WHERE cleared_at_unix_ms = 0 GROUP BY kind, direction",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many alerts are open (the console's nav; counted on the `alerts_open` index).
    pub async fn open_alert_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE cleared_at_unix_ms = 0")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Alerts, newest first.
    /// Alerts, newest first, after `after` (the last one of the previous page) when given.
    pub async fn list_alerts(
        &self,
        open_only: bool,
        limit: u32,
        after: Option<&AlertCursor>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let (after_ms, after_id) = match after {
            Some(cursor) => (cursor.raised_at_unix_ms, cursor.alert_id.as_str()),
            None => (i64::MAX, ""),
        };
        let rows = sqlx::query(
            "SELECT alert_id, case_id, kind, direction, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, cleared_at_unix_ms, detail
             FROM alerts WHERE ($1 = 0 OR cleared_at_unix_ms = 0)
               AND (raised_at_unix_ms < $3 OR (raised_at_unix_ms = $3 AND alert_id < $4))
             ORDER BY raised_at_unix_ms DESC, alert_id DESC LIMIT $2",
        )
        .bind(i64::from(open_only))
        .bind(i64::from(limit))
        .bind(after_ms)
        .bind(after_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(AlertRecord::from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }
}

impl StoreTx {
    /// Raises an alert unless this case already has one of this kind. True when it is new.
    pub async fn raise_alert(&mut self, alert: &AlertRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO alerts (alert_id, case_id, kind, direction, counterpart_county, raised_at_unix_ms,
                                 due_at_unix_ms, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id, kind) DO NOTHING",
        )
        .bind(&alert.alert_id)
        .bind(&alert.case_id)
        .bind(&alert.kind)
        .bind(&alert.direction)
        .bind(&alert.counterpart_county)
        .bind(alert.raised_at_unix_ms)
        .bind(alert.due_at_unix_ms)
        .bind(&alert.detail)
        .execute(&mut *self.transaction)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
