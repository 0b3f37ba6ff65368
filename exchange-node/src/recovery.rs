//! The recovery pass: once per start, this node asks every active county of the directory what
//! it may have lost (`Exchange.Recover`) — what the peer delivered here after the last message
//! this node still holds from it, and what the peer stored from this node after the last message
//! this node holds as delivered there. Nothing comes back when nothing was lost, so the pass is
//! cheap; after a restore from a backup it brings back everything the peers hold, by itself.
//!
//! Each peer's messages are applied in the order they happened on this node's clock (a replayed
//! message at the instant this node first stored it, a returned one at the instant this node
//! sent it), so a clerk's answer is rebuilt after the notice it answers. What fails for want of
//! a case that another peer brings back is tried again at the end of the pass; what still fails
//! is listed for a clerk. A restore is known from `exchange-node restore` or, failing that, from
//! the pass itself (something came back that this database had lost).

use std::time::Duration;

use mpx_proto::division::CountyCode;
use mpx_proto::identity::county_dns_name;
use mpx_proto::runtime::TlsMaterial;
use mpx_proto::v1::exchange_client::ExchangeClient;
use mpx_proto::v1::{DeliveredMessage, RecoverRequest};
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

use crate::directory::DirectoryHandle;
use crate::store::{RecoveryItem, RecoveryPeer, StoreError};
use crate::workflow::{Recovered, Way, Workflow, WorkflowError};

/// Most pages taken from one peer in one pass (200 messages a direction each): a bound on what
/// a misbehaving peer can make this node read.
const MAX_PAGES: usize = 10_000;

/// Recovered messages applied in one transaction.
const BATCH: usize = 200;

/// The recovery pass of one start.
#[derive(Debug, Clone)]
pub struct RecoveryPass {
    pub workflow: Workflow,
    pub directory: DirectoryHandle,
    pub tls: TlsMaterial,
    pub max_message_bytes: usize,
    /// First wait before asking a peer that failed again (doubles up to five minutes).
    pub retry_initial: Duration,
}

/// What the pass did with one peer.
#[derive(Debug, Default)]
struct Tally {
    replayed: i64,
    rebuilt: i64,
    needs_clerk: i64,
}

/// Why a peer could not be asked.
#[derive(Debug)]
enum AskError {
    /// An older node without `Recover`: nothing to ask.
    Unsupported,
    Failed(String),
}

impl From<StoreError> for AskError {
    fn from(error: StoreError) -> Self {
        AskError::Failed(format!("this node's database: {error}"))
    }
}

impl From<WorkflowError> for AskError {
    fn from(error: WorkflowError) -> Self {
        AskError::Failed(error.to_string())
    }
}

impl RecoveryPass {
    /// Runs the pass until every peer has answered, or until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let mut versions = self.directory.subscribe();
        while !self.directory.is_loaded() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = versions.changed() => if changed.is_err() { return },
            }
        }
        let own = self.workflow.county();
        let peers: Vec<String> = self
            .directory
            .active_counties()
            .into_iter()
            .map(|(county, _)| county)
            .filter(|county| county != own.as_str())
            .collect();
        let store = self.workflow.store().clone();
        let gate = self.workflow.recovery_gate().clone();
        gate.start(peers.iter().cloned());
        let now = self.workflow.clock().now_unix_ms();
        // What this database held before the pass changed anything: a backup's age, should the
        // pass find that it was restored.
        let held_until = store.newest_instant().await.unwrap_or(0);
        let unfinished = matches!(
            store.current_restore().await,
            Ok(Some(restore)) if restore.finished_at_unix_ms == 0
        );
        if let Err(error) = store.start_recovery_pass(&peers, now, unfinished).await {
            tracing::error!(%error, "cannot record the recovery pass; asking the peers anyway");
        }
        let mut pending: Vec<CountyCode> = peers
            .iter()
            .filter_map(|county| CountyCode::parse(county).ok())
            .collect();
        let mut deferred: Vec<(CountyCode, Way, DeliveredMessage, String)> = Vec::new();
        let mut wait = self.retry_initial;
        let mut total = Tally::default();
        loop {
            let mut still = Vec::new();
            for peer in pending {
                if cancel.is_cancelled() {
                    return;
                }
                let outcome = self.ask(peer, &mut deferred).await;
                let at = self.workflow.clock().now_unix_ms();
                let row = match outcome {
                    Ok(tally) => {
                        gate.done(peer.as_str());
                        total.replayed += tally.replayed;
                        total.rebuilt += tally.rebuilt;
                        if tally.replayed + tally.rebuilt > 0 {
                            tracing::info!(%peer, replayed = tally.replayed, rebuilt = tally.rebuilt, "recovered from a peer");
                        }
                        RecoveryPeer {
                            county: peer.to_string(),
                            state: "done".into(),
                            replayed: tally.replayed,
                            rebuilt: tally.rebuilt,
                            needs_clerk: 0,
                            last_error: String::new(),
                            updated_at_unix_ms: at,
                        }
                    }
                    Err(AskError::Unsupported) => {
                        gate.done(peer.as_str());
                        tracing::info!(%peer, "this peer cannot be asked what was lost (an older node)");
                        RecoveryPeer {
                            county: peer.to_string(),
                            state: "unsupported".into(),
                            replayed: 0,
                            rebuilt: 0,
                            needs_clerk: 0,
                            last_error: "the peer's node has no Recover call (an older version)"
                                .into(),
                            updated_at_unix_ms: at,
                        }
                    }
                    Err(AskError::Failed(error)) => {
                        tracing::warn!(%peer, %error, "cannot ask a peer what was lost; asking again later");
                        still.push(peer);
                        RecoveryPeer {
                            county: peer.to_string(),
                            state: "failed".into(),
                            replayed: 0,
                            rebuilt: 0,
                            needs_clerk: 0,
                            last_error: error,
                            updated_at_unix_ms: at,
                        }
                    }
                };
                if let Err(error) = store.record_recovery_peer(&row).await {
                    tracing::error!(%error, "cannot record a peer's recovery");
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            // Again after the back-off, or at once when the directory changes (a peer's new
            // endpoint: the cached directory a node starts with may be older than a peer's move).
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                changed = versions.changed() => if changed.is_err() {
                    tokio::time::sleep(wait).await;
                },
            }
            wait = (wait * 2).min(Duration::from_secs(300));
        }
        // What waited for a case another peer brought back.
        let mut left = Vec::new();
        for (peer, way, message, first_reason) in deferred {
            match self.apply(peer, way, &message).await {
                Ok(Recovered::Applied) => {
                    let row = counted(peer, way, 1, self.workflow.clock().now_unix_ms());
                    if way == Way::Replayed {
                        total.replayed += 1;
                    } else {
                        total.rebuilt += 1;
                    }
                    let _ = store.record_recovery_peer(&row).await;
                }
                Ok(Recovered::NeedsClerk(reason)) => left.push((peer, way, message, reason)),
                Ok(_) => {}
                Err(error) => left.push((peer, way, message, format!("{first_reason}; {error}"))),
            }
        }
        let lost = total.replayed + total.rebuilt + left.len() as i64;
        let restore = match store.current_restore().await {
            Ok(Some(restore)) if restore.finished_at_unix_ms == 0 => Some(restore.restore_id),
            Ok(_) if lost > 0 => {
                // Something came back that this database had lost: it was restored from a
                // backup without `exchange-node restore` (or lost a disk's last writes).
                tracing::warn!(
                    lost,
                    "this database had lost messages its peers held: it was restored from a backup"
                );
                store
                    .record_restore(
                        "detected",
                        held_until,
                        "noticed by the recovery pass: peers held messages this database had lost",
                        self.workflow.clock().now_unix_ms(),
                    )
                    .await
                    .ok()
            }
            Ok(_) => None,
            Err(error) => {
                tracing::error!(%error, "cannot read the restore record");
                None
            }
        };
        for (peer, way, message, reason) in left {
            let envelope = message.envelope.unwrap_or_default();
            let at = match way {
                Way::Replayed => message.receipt.map_or(0, |r| r.received_at_unix_ms),
                Way::Returned => envelope.created_at_unix_ms,
            };
            let item = RecoveryItem {
                county: peer.to_string(),
                message_id: envelope.message_id.clone(),
                body_kind: envelope
                    .body
                    .as_ref()
                    .map(crate::workflow::body_kind)
                    .unwrap_or("none")
                    .to_string(),
                case_id: envelope
                    .body
                    .as_ref()
                    .map(crate::workflow::body_case_id)
                    .unwrap_or_default()
                    .to_string(),
                at_unix_ms: at,
                reason,
            };
            self.needs_clerk(restore.as_deref(), peer, item).await;
        }
        if let Some(restore_id) = &restore
            && let Err(error) = store
                .finish_restore(restore_id, self.workflow.clock().now_unix_ms())
                .await
        {
            tracing::error!(%error, "cannot record the end of the recovery");
        }
        if restore.is_some() {
            tracing::info!(
                replayed = total.replayed,
                rebuilt = total.rebuilt,
                peers = peers.len(),
                "recovery after the restore finished"
            );
        }
    }

    /// Records an item for a clerk (under the current restore, if one is known).
    async fn needs_clerk(&self, restore: Option<&str>, peer: CountyCode, item: RecoveryItem) {
        let store = self.workflow.store();
        tracing::warn!(%peer, message_id = %item.message_id, kind = %item.body_kind, reason = %item.reason, "a lost message cannot be rebuilt; a clerk must look at it");
        metrics::counter!("mpx_recovery_messages_total", "outcome" => "needs_clerk").increment(1);
        let Some(restore) = restore else {
            return;
        };
        match store.record_recovery_item(restore, &item).await {
            Ok(true) => {
                let mut row = counted(peer, Way::Replayed, 0, self.workflow.clock().now_unix_ms());
                row.needs_clerk = 1;
                let _ = store.record_recovery_peer(&row).await;
            }
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "cannot record an item for a clerk"),
        }
    }

    async fn apply(
        &self,
        peer: CountyCode,
        way: Way,
        message: &DeliveredMessage,
    ) -> Result<Recovered, WorkflowError> {
        match way {
            Way::Replayed => self.workflow.replay_delivered(peer, message).await,
            Way::Returned => self.workflow.rebuild_returned(peer, message).await,
        }
    }

    /// Asks one peer, page by page, then applies what came back in this node's order.
    async fn ask(
        &self,
        peer: CountyCode,
        deferred: &mut Vec<(CountyCode, Way, DeliveredMessage, String)>,
    ) -> Result<Tally, AskError> {
        let store = self.workflow.store();
        let endpoint = self
            .directory
            .endpoint_of(peer.as_str())
            .ok_or_else(|| AskError::Failed("no endpoint in the directory".into()))?;
        let channel = Endpoint::from_shared(endpoint.clone())
            .map_err(|error| AskError::Failed(format!("bad endpoint {endpoint:?}: {error}")))?
            .tls_config(self.tls.client_config(&county_dns_name(&peer)))
            .map_err(|error| AskError::Failed(format!("TLS configuration: {error}")))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .connect()
            .await
            .map_err(|error| {
                AskError::Failed(format!(
                    "cannot connect to {endpoint}: {}",
                    crate::outbox::error_chain(&error)
                ))
            })?;
        let mut client = ExchangeClient::new(channel)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        let mut request = RecoverRequest {
            last_received_message_id: store
                .last_received_from(peer.as_str())
                .await?
                .unwrap_or_default(),
            last_sent_message_id: store
                .last_delivered_to(peer.as_str())
                .await?
                .unwrap_or_default(),
            page_token: String::new(),
        };
        let mut messages: Vec<(i64, Way, DeliveredMessage)> = Vec::new();
        let mut unrecoverable = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = match client.recover(request.clone()).await {
                Ok(response) => response.into_inner(),
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    return Err(AskError::Unsupported);
                }
                Err(status) => {
                    return Err(AskError::Failed(format!(
                        "{endpoint}: {:?}: {}",
                        status.code(),
                        status.message()
                    )));
                }
            };
            for message in page.replayed {
                let at = message
                    .receipt
                    .as_ref()
                    .map_or(0, |r| r.received_at_unix_ms);
                messages.push((at, Way::Replayed, message));
            }
            for message in page.returned {
                let at = message
                    .envelope
                    .as_ref()
                    .map_or(0, |e| e.created_at_unix_ms);
                messages.push((at, Way::Returned, message));
            }
            unrecoverable.extend(page.unrecoverable);
            if page.next_page_token.is_empty() {
                break;
            }
            request.page_token = page.next_page_token;
        }
        // In the order things happened here; at one instant, what arrived before what was sent.
        messages.sort_by_key(|(at, way, _)| (*at, *way == Way::Returned));
        let mut tally = Tally::default();
        for chunk in messages.chunks(BATCH) {
            let batch: Vec<(Way, &DeliveredMessage)> = chunk
                .iter()
                .map(|(_, way, message)| (*way, message))
                .collect();
            let outcomes = self.workflow.recover_batch(peer, &batch).await?;
            for ((_, way, message), outcome) in chunk.iter().zip(outcomes) {
                let way = *way;
                match outcome {
                    Recovered::Applied => {
                        let outcome = if way == Way::Replayed {
                            tally.replayed += 1;
                            "replayed"
                        } else {
                            tally.rebuilt += 1;
                            "rebuilt"
                        };
                        metrics::counter!("mpx_recovery_messages_total", "outcome" => outcome)
                            .increment(1);
                    }
                    Recovered::Settled | Recovered::AlreadyHeld => {}
                    Recovered::NeedsClerk(reason) => {
                        deferred.push((peer, way, message.clone(), reason))
                    }
                }
            }
        }
        if !unrecoverable.is_empty() {
            let restore = self.current_or_detected().await;
            for lost in unrecoverable {
                let item = RecoveryItem {
                    county: peer.to_string(),
                    message_id: lost.message_id,
                    body_kind: lost.body_kind,
                    case_id: lost.case_id,
                    at_unix_ms: lost.received_at_unix_ms,
                    reason: format!(
                        "county {peer} stored this message from this node but not its envelope (stored before envelopes were kept): what it said is lost here"
                    ),
                };
                tally.needs_clerk += 1;
                self.needs_clerk(restore.as_deref(), peer, item).await;
            }
        }
        Ok(tally)
    }

    /// The current unfinished restore, or one recorded now as detected.
    async fn current_or_detected(&self) -> Option<String> {
        let store = self.workflow.store();
        match store.current_restore().await {
            Ok(Some(restore)) if restore.finished_at_unix_ms == 0 => Some(restore.restore_id),
            Ok(_) => store
                .record_restore(
                    "detected",
                    store.newest_instant().await.unwrap_or(0),
                    "noticed by the recovery pass: peers held messages this database had lost",
                    self.workflow.clock().now_unix_ms(),
                )
                .await
                .ok(),
            Err(_) => None,
        }
    }
}

/// A peer row that adds `replayed` or `rebuilt` to the peer's counts.
fn counted(peer: CountyCode, way: Way, applied: i64, at: i64) -> RecoveryPeer {
    RecoveryPeer {
        county: peer.to_string(),
        state: "done".into(),
        replayed: if way == Way::Replayed { applied } else { 0 },
        rebuilt: if way == Way::Returned { applied } else { 0 },
        needs_clerk: 0,
        last_error: String::new(),
        updated_at_unix_ms: at,
    }
}
