//! The audit hash chain of reads of personal data, security events, operator tokens.

use super::*;

impl Store {
    /// Audit entries, newest first (for `exchange-node audit` and tests).
    pub async fn audit_entries(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        // Columns in the tuple's order.
        Ok(sqlx::query_as(
            "SELECT operator, action, purpose, subject, rows_returned FROM audit_log
             ORDER BY at_unix_ms DESC, entry_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records a refused peer (spoofed sender, revoked certificate, …).
    pub async fn record_security_event(
        &self,
        peer: &str,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_events (event_id, at_unix_ms, peer, event, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(mpx_proto::time::now_unix_ms())
        .bind(peer)
        .bind(event)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Security events, newest first: (peer, event, detail).
    pub async fn security_events(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        // Columns in the tuple's order.
        Ok(sqlx::query_as(
            "SELECT peer, event, detail FROM security_events ORDER BY at_unix_ms DESC, event_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds a named operator token (its hash), created now.
    pub async fn add_operator_token(
        &self,
        name: &str,
        token_sha256: &str,
    ) -> Result<(), StoreError> {
        Ok(self
            .database
            .add_operator_token(name, token_sha256, mpx_proto::time::now_unix_ms())
            .await?)
    }
}
