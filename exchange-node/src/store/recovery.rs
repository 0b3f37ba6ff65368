//! Recovery after a restore from a backup: what a peer asks of this node (its delivered outbox
//! and the inbox of what it sent here), what this node asks of its peers, the restores noticed,
//! each peer's progress, the items left for a clerk, and the renumbering of the reports to the
//! province after a restore.

use super::*;

/// A delivered outbox row, replayed to a restored recipient.
#[derive(Debug, Clone)]
pub struct DeliveredRow {
    pub seq: i64,
    pub envelope: Vec<u8>,
    pub receipt: Vec<u8>,
}

/// An inbox row returned to its restored sender (the envelope is absent for rows stored before
/// envelopes were kept).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub message_id: String,
    pub body_kind: String,
    pub case_id: String,
    pub received_at_unix_ms: i64,
    pub receipt: Vec<u8>,
    pub envelope: Option<Vec<u8>>,
}

/// A restore this database knows of (the newest is the current one).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RestoreRecord {
    pub restore_id: String,
    pub noticed_at_unix_ms: i64,
    /// `command` (`exchange-node restore`) or `detected` (at start).
    pub noticed_by: String,
    /// The newest instant the restored database held.
    pub backup_of_unix_ms: i64,
    pub detail: String,
    /// 0 while peers remain to answer.
    pub finished_at_unix_ms: i64,
}

/// How the recovery went with one peer in this start's pass.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecoveryPeer {
    pub county: String,
    /// `pending`, `done`, `failed` (retried), `unsupported` (an older node).
    pub state: String,
    pub replayed: i64,
    pub rebuilt: i64,
    pub needs_clerk: i64,
    pub last_error: String,
    pub updated_at_unix_ms: i64,
}

/// Something a recovery could not rebuild, for a clerk.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecoveryItem {
    pub county: String,
    pub message_id: String,
    pub body_kind: String,
    pub case_id: String,
    pub at_unix_ms: i64,
    pub reason: String,
}

/// The tables shipped to the province from a cursor, with the cursor names kept for them.
const REPORT_TABLES: [(&str, &str); 2] = [
    ("roster_changes", "acknowledged:roster_changes"),
    ("case_reports", "acknowledged:case_reports"),
];

impl Store {
    // ---- answering a restored peer -----------------------------------------------------------

    /// The outbox position of `message_id` sent to `recipient` (None: not sent there).
    pub async fn outbox_seq_of(
        &self,
        recipient: &str,
        message_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT seq FROM outbox WHERE message_id = $1 AND recipient = $2")
            .bind(message_id)
            .bind(recipient)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("seq")).transpose()?)
    }

    /// Delivered messages to `recipient` after outbox position `seq`, in sending order.
    pub async fn delivered_after(
        &self,
        recipient: &str,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<DeliveredRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, envelope, receipt FROM outbox
             WHERE recipient = $1 AND seq > $2 AND state = 'delivered' AND receipt IS NOT NULL
             ORDER BY seq LIMIT $3",
        )
        .bind(recipient)
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveredRow {
                    seq: row.try_get("seq")?,
                    envelope: row.try_get("envelope")?,
                    receipt: row
                        .try_get::<Option<Vec<u8>>, _>("receipt")?
                        .unwrap_or_default(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Where `message_id` from `sender` sits in the inbox: (stored at, id).
    pub async fn inbox_position(
        &self,
        sender: &str,
        message_id: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT received_at_unix_ms, message_id FROM inbox WHERE message_id = $1 AND sender = $2",
        )
        .bind(message_id)
        .bind(sender)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                row.try_get("received_at_unix_ms")?,
                row.try_get("message_id")?,
            ))
        })
        .transpose()
        .map_err(|error: sqlx::Error| StoreError::from(error))
    }

    /// Messages stored from `sender` after position `after` (stored at, id), in storing order.
    pub async fn inbox_after(
        &self,
        sender: &str,
        after: (i64, &str),
        limit: u32,
    ) -> Result<Vec<InboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT message_id, body_kind, case_id, received_at_unix_ms, receipt, envelope FROM inbox
             WHERE sender = $1
               AND (received_at_unix_ms > $2 OR (received_at_unix_ms = $2 AND message_id > $3))
             ORDER BY received_at_unix_ms, message_id LIMIT $4",
        )
        .bind(sender)
        .bind(after.0)
        .bind(after.1)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(InboxRow::from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    // ---- asking the peers ----------------------------------------------------------------------

    /// The newest message this node holds from `sender`.
    pub async fn last_received_from(&self, sender: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id FROM inbox WHERE sender = $1
             ORDER BY received_at_unix_ms DESC, message_id DESC LIMIT 1",
        )
        .bind(sender)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get("message_id")).transpose()?)
    }

    /// The newest message this node holds as delivered to `recipient`.
    pub async fn last_delivered_to(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id FROM outbox WHERE recipient = $1 AND state = 'delivered'
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(recipient)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get("message_id")).transpose()?)
    }

    /// The newest instant this database recorded anything at: what a backup holds up to.
    pub async fn newest_instant(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT
               (SELECT COALESCE(MAX(received_at_unix_ms), 0) FROM inbox) AS inbox,
               (SELECT COALESCE(MAX(created_at_unix_ms), 0) FROM outbox) AS outbox,
               (SELECT COALESCE(MAX(updated_at_unix_ms), 0) FROM cases) AS cases,
               (SELECT COALESCE(MAX(updated_at_unix_ms), 0) FROM people) AS people,
               (SELECT COALESCE(MAX(at_unix_ms), 0) FROM audit_log) AS audit",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut newest = 0i64;
        for column in ["inbox", "outbox", "cases", "people", "audit"] {
            newest = newest.max(row.try_get::<i64, _>(column)?);
        }
        Ok(newest)
    }

    // ---- restores ------------------------------------------------------------------------------

    /// Records a restore noticed now; returns its id.
    pub async fn record_restore(
        &self,
        noticed_by: &str,
        backup_of_unix_ms: i64,
        detail: &str,
        now_unix_ms: i64,
    ) -> Result<String, StoreError> {
        let restore_id = new_id();
        sqlx::query(
            "INSERT INTO restores (restore_id, noticed_at_unix_ms, noticed_by, backup_of_unix_ms, detail)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&restore_id)
        .bind(now_unix_ms)
        .bind(noticed_by)
        .bind(backup_of_unix_ms)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(restore_id)
    }

    /// The newest restore this database knows of.
    pub async fn current_restore(&self) -> Result<Option<RestoreRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT restore_id, noticed_at_unix_ms, noticed_by, backup_of_unix_ms, detail,
                    finished_at_unix_ms
             FROM restores ORDER BY noticed_at_unix_ms DESC, restore_id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(RestoreRecord::from_row).transpose()?)
    }

    /// Adds to what the current restore says (the province's counts, found later).
    pub async fn note_on_restore(&self, restore_id: &str, note: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE restores SET detail = CASE WHEN detail = '' THEN $1 ELSE detail || '; ' || $1 END
             WHERE restore_id = $2",
        )
        .bind(note)
        .bind(restore_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a restore's recovery finished (every peer answered).
    pub async fn finish_restore(
        &self,
        restore_id: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE restores SET finished_at_unix_ms = $1 WHERE restore_id = $2 AND finished_at_unix_ms = 0",
        )
        .bind(now_unix_ms)
        .bind(restore_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- the pass over the peers ---------------------------------------------------------------

    /// Starts a pass: `counties` are listed as pending. While a restore's recovery is unfinished
    /// (`keep_counts`), what earlier starts recovered is kept and added to; otherwise the last
    /// pass's rows are forgotten.
    pub async fn start_recovery_pass(
        &self,
        counties: &[String],
        now_unix_ms: i64,
        keep_counts: bool,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        if keep_counts {
            sqlx::query("UPDATE recovery_peers SET state = 'pending', updated_at_unix_ms = $1")
                .bind(now_unix_ms)
                .execute(&mut *transaction)
                .await?;
        } else {
            sqlx::query("DELETE FROM recovery_peers")
                .execute(&mut *transaction)
                .await?;
        }
        for county in counties {
            sqlx::query(
                "INSERT INTO recovery_peers (county, state, updated_at_unix_ms) VALUES ($1, 'pending', $2)
                 ON CONFLICT (county) DO NOTHING",
            )
            .bind(county)
            .bind(now_unix_ms)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Records how the pass went with one peer (counts add up over its pages).
    pub async fn record_recovery_peer(&self, peer: &RecoveryPeer) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recovery_peers (county, state, replayed, rebuilt, needs_clerk, last_error,
                                         updated_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (county) DO UPDATE SET state = $2,
                replayed = recovery_peers.replayed + $3, rebuilt = recovery_peers.rebuilt + $4,
                needs_clerk = recovery_peers.needs_clerk + $5, last_error = $6,
                updated_at_unix_ms = $7",
        )
        .bind(&peer.county)
        .bind(&peer.state)
        .bind(peer.replayed)
        .bind(peer.rebuilt)
        .bind(peer.needs_clerk)
        .bind(&peer.last_error)
        .bind(peer.updated_at_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every peer of the current pass, by county.
    pub async fn recovery_peers(&self) -> Result<Vec<RecoveryPeer>, StoreError> {
        let rows = sqlx::query(
            "SELECT county, state, replayed, rebuilt, needs_clerk, last_error, updated_at_unix_ms
             FROM recovery_peers ORDER BY county",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(RecoveryPeer::from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records an item for a clerk (once per message); true when it is new.
    pub async fn record_recovery_item(
        &self,
        restore_id: &str,
        item: &RecoveryItem,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO recovery_items (item_id, restore_id, county, message_id, body_kind, case_id,
                                         at_unix_ms, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(new_id())
        .bind(restore_id)
        .bind(&item.county)
        .bind(&item.message_id)
        .bind(&item.body_kind)
        .bind(&item.case_id)
        .bind(item.at_unix_ms)
        .bind(&item.reason)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// The items of a restore for a clerk, oldest first.
    pub async fn recovery_items(&self, restore_id: &str) -> Result<Vec<RecoveryItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT county, message_id, body_kind, case_id, at_unix_ms, reason FROM recovery_items
             WHERE restore_id = $1 ORDER BY at_unix_ms, message_id",
        )
        .bind(restore_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(RecoveryItem::from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    // ---- the reports to the province -----------------------------------------------------------

    /// The highest sequence number of a report table (0 when empty).
    pub async fn highest_report_seq(&self, table: &str) -> Result<i64, StoreError> {
        let table = report_table(table)?;
        let sql = format!("SELECT COALESCE(MAX(seq), 0) AS highest FROM {table}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("highest")?)
    }

    /// Moves the rows of a report table after `acknowledged` (never acknowledged by the
    /// registry as far as this database knows) above `above`, keeping their order, so the
    /// registry, whose cursor is at `above`, takes them; new rows follow them. Returns how many
    /// rows moved.
    pub async fn renumber_reports_above(
        &self,
        table: &str,
        acknowledged: i64,
        above: i64,
    ) -> Result<u64, StoreError> {
        let table = report_table(table)?;
        let mut transaction = self.database.begin().await?;
        let highest: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COALESCE(MAX(seq), 0) AS highest FROM {table}"
        )))
        .fetch_one(&mut *transaction)
        .await?
        .try_get("highest")?;
        let shift = above.max(highest) - acknowledged;
        let moved = if shift > 0 {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET seq = seq + $1 WHERE seq > $2"
            )))
            .bind(shift)
            .bind(acknowledged)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
        } else {
            0
        };
        if !self.database.is_sqlite {
            // PostgreSQL's sequence does not follow an UPDATE: set it past every row and past
            // the registry's cursor. (SQLite's AUTOINCREMENT takes the largest key in the table.)
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(setval(pg_get_serial_sequence('{table}', 'seq'),
                        GREATEST((SELECT COALESCE(MAX(seq), 0) FROM {table}), $1)) AS BIGINT) AS next"
            )))
            .bind(above.max(1))
            .fetch_one(&mut *transaction)
            .await?;
        } else if moved == 0 && above > highest {
            // Nothing to move: make the next row's key follow the registry's cursor.
            sqlx::query(
                "INSERT INTO sqlite_sequence (name, seq) SELECT $1, 0
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = $1)",
            )
            .bind(table)
            .execute(&mut *transaction)
            .await?;
            sqlx::query("UPDATE sqlite_sequence SET seq = $1 WHERE name = $2 AND seq < $1")
                .bind(above)
                .bind(table)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(moved)
    }

    /// How far the registry has acknowledged a report table, as far as this database knows.
    pub async fn acknowledged_report_seq(&self, table: &str) -> Result<i64, StoreError> {
        self.provincial_cursor(report_names(table)?.1).await
    }

    /// Rows of a report table the registry has not acknowledged (as far as this database knows).
    pub async fn unacknowledged_reports(&self, table: &str) -> Result<i64, StoreError> {
        let acknowledged = self.acknowledged_report_seq(table).await?;
        let table = report_table(table)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE seq > $1"
        )))
        .bind(acknowledged)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Records the registry's cursor for a report table (kept only upwards).
    pub async fn record_acknowledged(&self, table: &str, seq: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.set_provincial_cursor(report_names(table)?.1, seq)
            .await?;
        tx.commit().await
    }
}

/// A report table by name and the name of its acknowledged cursor (the only table names put
/// into SQL text here).
fn report_names(table: &str) -> Result<(&'static str, &'static str), StoreError> {
    REPORT_TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .copied()
        .ok_or_else(|| {
            StoreError::Database(sqlx::Error::Protocol(format!("no report table {table}")))
        })
}

fn report_table(table: &str) -> Result<&'static str, StoreError> {
    Ok(report_names(table)?.0)
}

impl StoreTx {
    /// Writes an outbox row as delivered with its receipt: a message this node sent before a
    /// restore, rebuilt from the recipient's inbox.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_delivered(
        &mut self,
        message_id: &str,
        recipient: &str,
        case_id: &str,
        body_kind: &str,
        envelope: &[u8],
        created_at_unix_ms: i64,
        delivered_at_unix_ms: i64,
        receipt: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (message_id, recipient, case_id, body_kind, envelope, state,
                                 created_at_unix_ms, attempts, delivered_at_unix_ms, receipt)
             VALUES ($1, $2, $3, $4, $5, 'delivered', $6, 1, $7, $8)",
        )
        .bind(message_id)
        .bind(recipient)
        .bind(case_id)
        .bind(body_kind)
        .bind(envelope.to_vec())
        .bind(created_at_unix_ms)
        .bind(delivered_at_unix_ms)
        .bind(receipt.to_vec())
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }
}

/// What a status line says of recovery: the current restore, and this start's pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoverySummary {
    pub restore: Option<RestoreRecord>,
    /// Peers in this start's pass, and those still to answer.
    pub peers: usize,
    pub peers_pending: usize,
    pub replayed: i64,
    pub rebuilt: i64,
    /// Items of the current restore left for a clerk.
    pub needs_clerk: i64,
}

impl Store {
    /// The current restore and this start's pass, summed.
    pub async fn recovery_summary(&self) -> Result<RecoverySummary, StoreError> {
        let restore = self.current_restore().await?;
        let peers = self.recovery_peers().await?;
        let needs_clerk = match &restore {
            Some(restore) => {
                let row =
                    sqlx::query("SELECT COUNT(*) AS n FROM recovery_items WHERE restore_id = $1")
                        .bind(&restore.restore_id)
                        .fetch_one(&self.pool)
                        .await?;
                row.try_get("n")?
            }
            None => 0,
        };
        Ok(RecoverySummary {
            restore,
            peers: peers.len(),
            peers_pending: peers
                .iter()
                .filter(|peer| !matches!(peer.state.as_str(), "done" | "unsupported"))
                .count(),
            replayed: peers.iter().map(|peer| peer.replayed).sum(),
            rebuilt: peers.iter().map(|peer| peer.rebuilt).sum(),
            needs_clerk,
        })
    }
}
