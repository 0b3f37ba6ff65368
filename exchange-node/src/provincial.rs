//! What the node tells the province: its roster changes (for the provincial index) and the events
//! of its cases (for the compliance figures). Both are append-only tables with a sequence number,
//! shipped from the cursor the registry keeps: a node resumes where the registry left off after a
//! restart of either side, and the registry ignores anything it already has.

use std::future::Future;
use std::time::Duration;

use mpx_proto::v1::compliance_client::ComplianceClient;
use mpx_proto::v1::index_client::IndexClient;
use mpx_proto::v1::{ReportCaseEventsRequest, ReportRosterChangesRequest};
use tokio_util::sync::CancellationToken;

use crate::registry_client::{RegistryClient, RegistryError};
use crate::store::Store;

/// Most rows per call (the registry accepts up to 1000).
const BATCH: u32 = 500;

/// One append-only stream towards the registry.
pub trait CursorStream: Send + Sync + 'static {
    type Item: Send;
    /// For logs.
    const WHAT: &'static str;
    /// Rows after `seq`, in order, at most `limit`.
    fn pending(
        &self,
        seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self::Item>, String>> + Send;
    /// Sends rows (none: asks for the cursor) and returns the registry's cursor. Sending the
    /// same rows again is harmless (the registry keeps rows by sequence number), so the call
    /// may be retried on another replica.
    fn send(
        &self,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<i64, RegistryError>> + Send;
}

/// Roster changes, to `mpx.v1.Index`.
pub struct RosterChanges {
    pub store: Store,
    pub registry: RegistryClient,
}

impl CursorStream for RosterChanges {
    type Item = mpx_proto::v1::RosterChange;
    const WHAT: &'static str = "roster changes";

    async fn pending(&self, seq: i64, limit: u32) -> Result<Vec<Self::Item>, String> {
        self.store
            .roster_changes_after(seq, limit)
            .await
            .map_err(|e| e.to_string())
    }

    async fn send(&self, changes: Vec<Self::Item>) -> Result<i64, RegistryError> {
        let request = ReportRosterChangesRequest { changes };
        let response = self
            .registry
            .call(|channel| {
                let request = request.clone();
                async move {
                    IndexClient::new(channel)
                        .report_roster_changes(request)
                        .await
                }
            })
            .await?;
        Ok(response.acknowledged_seq)
    }
}

/// Case events with their signed evidence, to `mpx.v1.Compliance`.
pub struct CaseEvents {
    pub store: Store,
    pub registry: RegistryClient,
}

impl CursorStream for CaseEvents {
    type Item = mpx_proto::v1::CaseEventReport;
    const WHAT: &'static str = "case events";

    async fn pending(&self, seq: i64, limit: u32) -> Result<Vec<Self::Item>, String> {
        self.store
            .case_reports_after(seq, limit)
            .await
            .map_err(|e| e.to_string())
    }

    async fn send(&self, events: Vec<Self::Item>) -> Result<i64, RegistryError> {
        let request = ReportCaseEventsRequest { events };
        let response = self
            .registry
            .call(|channel| {
                let request = request.clone();
                async move {
                    ComplianceClient::new(channel)
                        .report_case_events(request)
                        .await
                }
            })
            .await?;
        if response.rejected > 0 {
            tracing::warn!(
                rejected = response.rejected,
                "the registry rejected the evidence of some case events (see its alerts)"
            );
        }
        Ok(response.acknowledged_seq)
    }
}

/// Takes in the cases the province assigns to this county, every `interval` until cancelled.
pub async fn fetch_assignments(
    workflow: crate::workflow::Workflow,
    registry: RegistryClient,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        let step = async {
            let after_seq = workflow
                .store()
                .provincial_cursor("assignments")
                .await
                .map_err(|e| e.to_string())?;
            let assignments = registry
                .call(|channel| async move {
                    let request = mpx_proto::v1::FetchAssignmentsRequest { after_seq };
                    IndexClient::new(channel).fetch_assignments(request).await
                })
                .await
                .map_err(|error| error.to_string())?
                .assignments;
            let more = assignments.len() >= 200;
            let opened = workflow
                .receive_assignments(&assignments)
                .await
                .map_err(|e| e.to_string())?;
            if opened > 0 {
                tracing::info!(opened, "cases assigned by the province");
            }
            Ok::<_, String>(more)
        };
        match step.await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot fetch the province's assignments; retrying");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Ships `stream` until cancelled: everything pending at once, then every `interval`.
pub async fn ship<S: CursorStream>(stream: S, interval: Duration, cancel: CancellationToken) {
    let mut cursor: Option<i64> = None;
    loop {
        let step = async {
            let acknowledged = match cursor {
                Some(seq) => seq,
                None => stream
                    .send(Vec::new())
                    .await
                    .map_err(|error| error.to_string())?,
            };
            let items = stream.pending(acknowledged, BATCH).await?;
            if items.is_empty() {
                return Ok::<_, String>((acknowledged, false));
            }
            let sent = items.len();
            let acknowledged = stream
                .send(items)
                .await
                .map_err(|error| error.to_string())?;
            tracing::debug!(
                sent,
                acknowledged,
                what = S::WHAT,
                "reported to the registry"
            );
            Ok((acknowledged, true))
        };
        match step.await {
            Ok((acknowledged, more)) => {
                cursor = Some(acknowledged);
                if more {
                    continue;
                }
            }
            Err(error) => {
                tracing::warn!(%error, what = S::WHAT, "cannot report to the registry; retrying");
                cursor = None;
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
