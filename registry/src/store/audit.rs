//! The audit hash chain of supervisors' queries, and operator tokens.

use super::*;

impl Store {
    /// Appends an entry to the audit hash chain (who asked what, why, how many rows).
    pub async fn audit(
        &self,
        operator: &str,
        action: &str,
        purpose: &str,
        subject: &str,
        rows: i64,
    ) -> Result<(), StoreError> {
        Ok(self
            .database
            .append_audit(operator, action, purpose, subject, rows)
            .await?)
    }

    /// Recomputes the audit chain: `Ok(n)` when intact, else what is wrong.
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, String>, StoreError> {
        Ok(self.database.verify_audit_chain().await?)
    }

    /// Adds a named operator token (its hash).
    pub async fn add_operator_token(
        &self,
        name: &str,
        token_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        Ok(self
            .database
            .add_operator_token(name, token_sha256, now_unix_ms)
            .await?)
    }
}
