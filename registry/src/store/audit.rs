//! The audit hash chain of supervisors' queries, and operator tokens.

use super::*;

impl Store {
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
