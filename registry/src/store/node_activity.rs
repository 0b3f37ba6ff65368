//! What the registry has heard from a node lately, for the province console's county page.

use super::*;

/// The newest case-event report the registry stored from one county.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCaseReport {
    /// The node's own sequence number of that report.
    pub seq: i64,
    /// When the registry received it.
    pub received_at_unix_ms: i64,
}

impl Store {
    /// The newest case-event report stored from `county` (by its sequence number, which the
    /// node raises with every report; the primary key answers it), if any.
    pub async fn last_case_report(
        &self,
        county: &str,
    ) -> Result<Option<LastCaseReport>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, received_at_unix_ms FROM case_reports
             WHERE reporter_county = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(county)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|row| -> Result<_, sqlx::Error> {
                Ok(LastCaseReport {
                    seq: row.try_get("seq")?,
                    received_at_unix_ms: row.try_get("received_at_unix_ms")?,
                })
            })
            .transpose()?)
    }
}
