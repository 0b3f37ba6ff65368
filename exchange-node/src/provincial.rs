//! What the node tells the province: its roster changes (for the provincial index) and the events
//! of its cases (for the compliance figures). Both are append-only tables with a sequence number,
//! shipped from the cursor the registry keeps: a node resumes where the registry left off after a
//! restart of either side, and the registry ignores anything it already has.

use std::future::Future;
use std::time::{Duration, Instant};

use mpx_proto::v1::compliance_client::ComplianceClient;
use mpx_proto::v1::index_client::IndexClient;
use mpx_proto::v1::{ReportCaseEventsRequest, ReportRosterChangesRequest};
use tokio_util::sync::CancellationToken;

use crate::registry_client::{RegistryClient, RegistryError};
use crate::store::Store;

/// Most rows per call (the registry accepts up to 1000).
const BATCH: u32 = 500;

/// How long a cursor the registry gave is trusted before it is asked again, even with no error:
/// a registry restored from a backup holds an older cursor, and would otherwise never get the
/// rows in between.
const CURSOR_TRUSTED_FOR: Duration = Duration::from_secs(300);

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
    /// The registry's first cursor of this start: a chance to notice a restore (see
    /// [`after_restore`]).
    fn first_cursor(&self, _cursor: i64) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
    /// The registry acknowledged rows up to `cursor`: remembered, so a restored copy of this
    /// database knows which of its rows the registry had.
    fn acknowledged(&self, _cursor: i64) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
}

/// After a restore, the registry's cursor is past rows this database never wrote (or wrote
/// differently after the backup): the rows not acknowledged as far as this database knows move
/// above the registry's cursor, so the registry takes them instead of skipping them. A restore
/// is known from `exchange-node restore`, or detected here when the registry's cursor is above
/// every row of the table. Done once per restore and table.
pub async fn after_restore(store: &Store, table: &str, registry_cursor: i64) -> Result<(), String> {
    let error = |e: crate::store::StoreError| e.to_string();
    let marker = format!("renumbered:{table}");
    let highest = store.highest_report_seq(table).await.map_err(error)?;
    let acknowledged = store.acknowledged_report_seq(table).await.map_err(error)?;
    let done_for = store.provincial_cursor(&marker).await.map_err(error)?;
    let restore = store
        .current_restore()
        .await
        .map_err(error)?
        .filter(|restore| restore.noticed_at_unix_ms > done_for);
    if restore.is_none() && registry_cursor <= highest {
        return Ok(());
    }
    let restore = match restore {
        Some(restore) => restore,
        None => {
            tracing::warn!(
                table,
                registry_cursor,
                highest,
                "the registry holds reports from this node that this database never wrote: it was restored from a backup"
            );
            let backup_of = store.newest_instant().await.map_err(error)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            store
                .record_restore(
                    "detected",
                    backup_of,
                    "noticed at start: the registry's cursor is past this database's reports",
                    now,
                )
                .await
                .map_err(error)?;
            let restore = store
                .current_restore()
                .await
                .map_err(error)?
                .ok_or("the restore just recorded is not there")?;
            // This start's recovery pass may be over already (nothing came back from the
            // peers): then the recovery is over too.
            let pass = store.recovery_summary().await.map_err(error)?;
            if pass.peers > 0 && pass.peers_pending == 0 {
                store
                    .finish_restore(&restore.restore_id, now)
                    .await
                    .map_err(error)?;
            }
            restore
        }
    };
    let moved = store
        .renumber_reports_above(table, acknowledged, registry_cursor)
        .await
        .map_err(error)?;
    let lost = (registry_cursor - highest).max(0);
    let what = if table == "roster_changes" {
        "roster changes"
    } else {
        "case events"
    };
    let note = format!(
        "{lost} {what} this node had reported to the province after the backup are not in this database (the registry keeps them, up to its sequence {registry_cursor}); {moved} not yet acknowledged are sent again"
    );
    tracing::warn!(
        table,
        lost,
        moved,
        registry_cursor,
        "reports to the province renumbered after a restore"
    );
    store
        .note_on_restore(&restore.restore_id, &note)
        .await
        .map_err(error)?;
    let mut tx = store.begin().await.map_err(error)?;
    tx.set_provincial_cursor(&marker, restore.noticed_at_unix_ms)
        .await
        .map_err(error)?;
    tx.commit().await.map_err(error)
}

/// Roster changes, to `mpx.v1.Index`.
pub struct RosterChanges {
    pub store: Store,
    pub registry: RegistryClient,
}

impl CursorStream for RosterChanges {
    type Item = mpx_proto::v1::RosterChange;
    const WHAT: &'static str = "roster changes";

    async fn first_cursor(&self, cursor: i64) -> Result<(), String> {
        after_restore(&self.store, "roster_changes", cursor).await
    }

    async fn acknowledged(&self, cursor: i64) -> Result<(), String> {
        self.store
            .record_acknowledged("roster_changes", cursor)
            .await
            .map_err(|e| e.to_string())
    }

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

    async fn first_cursor(&self, cursor: i64) -> Result<(), String> {
        after_restore(&self.store, "case_reports", cursor).await
    }

    async fn acknowledged(&self, cursor: i64) -> Result<(), String> {
        self.store
            .record_acknowledged("case_reports", cursor)
            .await
            .map_err(|e| e.to_string())
    }

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

/// Why one step of [`ship`] failed.
#[derive(Debug, thiserror::Error)]
enum ShipError {
    /// Reading this node's own rows.
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ShipError {
    /// True when the registry answered with an error: its cursor may not be what this node
    /// holds, so it is asked again. A failure to reach it, or to read our own rows, says nothing
    /// about its cursor, which is kept (asking again would cost one more call that can fail).
    fn questions_the_cursor(&self) -> bool {
        matches!(self, ShipError::Registry(RegistryError::Answered { .. }))
    }
}

/// Ships `stream` until cancelled: everything pending at once, then every `interval`.
///
/// The cursor is the registry's answer to the last call. It is kept across failures to reach
/// the registry (they changed nothing there), asked again after the registry answers with an
/// error, and at least every [`CURSOR_TRUSTED_FOR`] otherwise.
pub async fn ship<S: CursorStream>(stream: S, interval: Duration, cancel: CancellationToken) {
    // The registry's cursor, and when it said so.
    let mut cursor: Option<(i64, Instant)> = None;
    // Whether the registry's first cursor of this start was checked for a restore.
    let mut checked = false;
    loop {
        let trusted = cursor
            .filter(|(_, said_at)| said_at.elapsed() < CURSOR_TRUSTED_FOR)
            .map(|(seq, _)| seq);
        let step = async {
            let acknowledged = match trusted {
                Some(seq) => seq,
                None => {
                    let seq = stream.send(Vec::new()).await?;
                    if !checked {
                        stream.first_cursor(seq).await.map_err(ShipError::Local)?;
                        checked = true;
                    }
                    // Every row at or below the registry's cursor is its (after a restore, the
                    // rows it lacks were moved above it just now).
                    if let Err(error) = stream.acknowledged(seq).await {
                        tracing::warn!(%error, what = S::WHAT, "cannot remember the registry's cursor");
                    }
                    cursor = Some((seq, Instant::now()));
                    seq
                }
            };
            let items = stream
                .pending(acknowledged, BATCH)
                .await
                .map_err(ShipError::Local)?;
            if items.is_empty() {
                return Ok::<_, ShipError>(false);
            }
            let sent = items.len();
            let acknowledged = stream.send(items).await?;
            cursor = Some((acknowledged, Instant::now()));
            if let Err(error) = stream.acknowledged(acknowledged).await {
                tracing::warn!(%error, what = S::WHAT, "cannot remember the registry's cursor");
            }
            tracing::debug!(
                sent,
                acknowledged,
                what = S::WHAT,
                "reported to the registry"
            );
            Ok(true)
        };
        match step.await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, what = S::WHAT, "cannot report to the registry; retrying");
                if error.questions_the_cursor() {
                    cursor = None;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A registry holding rows up to `registry_cursor`, in front of a node with rows 1..=`rows`.
    #[derive(Clone, Default)]
    struct FakeStream {
        state: Arc<Mutex<FakeState>>,
    }

    #[derive(Default)]
    struct FakeState {
        rows: i64,
        registry_cursor: i64,
        /// The next sends of rows fail with this, then succeed.
        failures: Vec<RegistryError>,
        /// Calls with no rows: the node asking where the registry stands.
        cursor_asks: u32,
    }

    impl CursorStream for FakeStream {
        type Item = i64;
        const WHAT: &'static str = "test rows";

        async fn pending(&self, seq: i64, limit: u32) -> Result<Vec<i64>, String> {
            let rows = self.state.lock().unwrap().rows;
            Ok(((seq + 1)..=rows).take(limit as usize).collect())
        }

        async fn send(&self, items: Vec<i64>) -> Result<i64, RegistryError> {
            let mut state = self.state.lock().unwrap();
            if items.is_empty() {
                state.cursor_asks += 1;
                return Ok(state.registry_cursor);
            }
            if !state.failures.is_empty() {
                return Err(state.failures.remove(0));
            }
            state.registry_cursor = state.registry_cursor.max(items[items.len() - 1]);
            Ok(state.registry_cursor)
        }
    }

    /// Ships until the registry has every row; returns how often the node asked for the cursor.
    async fn ship_everything(failures: Vec<RegistryError>) -> u32 {
        let stream = FakeStream::default();
        {
            let mut state = stream.state.lock().unwrap();
            state.rows = 3;
            state.failures = failures;
        }
        let cancel = CancellationToken::new();
        let shipping = tokio::spawn(ship(
            stream.clone(),
            Duration::from_millis(5),
            cancel.clone(),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while stream.state.lock().unwrap().registry_cursor < 3 {
            assert!(
                Instant::now() < deadline,
                "the rows never reached the registry"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cancel.cancel();
        shipping.await.unwrap();
        stream.state.lock().unwrap().cursor_asks
    }

    #[tokio::test]
    async fn a_registry_out_of_reach_does_not_cost_the_cursor() {
        let unreachable = || RegistryError::Unreachable("test: connection refused".into());
        // Asked once at the start; the failures changed nothing at the registry.
        assert_eq!(ship_everything(vec![unreachable(), unreachable()]).await, 1);
    }

    #[tokio::test]
    async fn a_refusal_makes_the_node_ask_the_registry_for_its_cursor_again() {
        let refused = RegistryError::Answered {
            url: "https://registry.test:7400".into(),
            status: tonic::Status::invalid_argument("test"),
        };
        assert_eq!(ship_everything(vec![refused]).await, 2);
    }
}
