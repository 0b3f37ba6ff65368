//! The transactional outbox (what waits for delivery, its attempts and settlement) and the
//! idempotent inbox (what peers delivered, with the receipt each got).

use super::*;

impl Store {
    /// Pending outbox per peer: (peer, depth, oldest queued at), for metrics.
    pub async fn outbox_stats(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient, COUNT(*) AS n, MIN(created_at_unix_ms) AS oldest FROM outbox
             WHERE state = 'pending' GROUP BY recipient",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("recipient")?,
                    row.try_get("n")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Up to `limit` pending messages for `recipient` that are due for an attempt, oldest first.
    pub async fn pending_outbox(
        &self,
        recipient: &str,
        now_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE state = 'pending' AND recipient = $1 AND next_attempt_at_unix_ms <= $2
             ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(now_unix_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(OutboxMessage::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Every recipient with pending messages.
    pub async fn pending_recipients(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT recipient FROM outbox WHERE state = 'pending'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get("recipient"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The earliest next attempt among pending messages for `recipient`.
    pub async fn next_attempt_at(&self, recipient: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at_unix_ms) AS next FROM outbox WHERE state = 'pending' AND recipient = $1",
        )
        .bind(recipient)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("next")?)
    }

    /// Outbox rows for listing: pending and rejected ones, or all (newest first).
    pub async fn list_outbox(
        &self,
        include_delivered: bool,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 = 1 OR state <> 'delivered')
             ORDER BY seq DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(include_delivered))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(OutboxMessage::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Records a failed attempt for these messages and when to try again.
    pub async fn record_delivery_failure(
        &self,
        message_ids: &[String],
        error: &str,
        next_attempt_at_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        for message_id in message_ids {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at_unix_ms = $2
                 WHERE message_id = $3 AND state = 'pending'",
            )
            .bind(error)
            .bind(next_attempt_at_unix_ms)
            .bind(message_id)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }
}

impl StoreTx {
    /// Queues an encoded envelope for delivery (transactional outbox).
    #[allow(clippy::too_many_arguments)]
    pub async fn enqueue(
        &mut self,
        message_id: &str,
        recipient: &str,
        case_id: &str,
        body_kind: &str,
        envelope: &[u8],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (message_id, recipient, case_id, body_kind, envelope, state, created_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(message_id)
        .bind(recipient)
        .bind(case_id)
        .bind(body_kind)
        .bind(envelope.to_vec())
        .bind(now_unix_ms)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Settles the outbox rows of one delivered batch in one statement per 200 rows; returns
    /// the ids of the rows that were pending (the others were settled before).
    pub async fn settle_outbox_batch(
        &mut self,
        settlements: &[OutboxSettlement],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut settled = std::collections::HashSet::new();
        for part in settlements.chunks(200) {
            let sql = format!(
                "UPDATE outbox SET state = v.column2, last_error = v.column3,
                    delivered_at_unix_ms = v.column4, receipt = v.column5, attempts = attempts + 1
                 FROM (VALUES {}) AS v
                 WHERE outbox.message_id = v.column1 AND outbox.state = 'pending'
                 RETURNING outbox.message_id",
                value_rows(part.len(), 5, self.is_sqlite)
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for settlement in part {
                query = query
                    .bind(settlement.message_id.clone())
                    .bind(if settlement.rejected {
                        "rejected"
                    } else {
                        "delivered"
                    })
                    .bind(settlement.error.clone())
                    .bind(settlement.received_at_unix_ms)
                    .bind(settlement.receipt.clone());
            }
            settled.extend(query.fetch_all(&mut *self.transaction).await?);
        }
        Ok(settled)
    }

    pub async fn outbox_message(
        &mut self,
        message_id: &str,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE message_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(message_id)
            .fetch_optional(&mut *self.transaction)
            .await?;
        Ok(row.as_ref().map(OutboxMessage::from_row).transpose()?)
    }

    /// The inbox entries of these message ids (those that exist), by id.
    pub async fn inbox_entries(
        &mut self,
        message_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, InboxEntry>, StoreError> {
        let mut entries = std::collections::HashMap::new();
        for part in message_ids.chunks(500) {
            let sql = format!(
                "SELECT message_id, sender, receipt, envelope_sha256 FROM inbox WHERE message_id IN {}",
                value_rows(1, part.len(), self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in part {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.transaction).await? {
                entries.insert(
                    row.try_get("message_id")?,
                    InboxEntry {
                        sender: row.try_get("sender")?,
                        receipt: row.try_get("receipt")?,
                        envelope_sha256: row.try_get("envelope_sha256")?,
                    },
                );
            }
        }
        Ok(entries)
    }

    /// Records a stored message, its envelope (kept so a restored sender can be given back
    /// what it sent), the envelope's digest and the receipt answered for it.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_inbox(
        &mut self,
        message_id: &str,
        sender: &str,
        case_id: &str,
        body_kind: &str,
        received_at_unix_ms: i64,
        receipt: &[u8],
        envelope_sha256: &str,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO inbox (message_id, sender, case_id, body_kind, received_at_unix_ms, receipt,
                                envelope_sha256, envelope)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(message_id)
        .bind(sender)
        .bind(case_id)
        .bind(body_kind)
        .bind(received_at_unix_ms)
        .bind(receipt.to_vec())
        .bind(envelope_sha256)
        .bind(envelope.to_vec())
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }
}
