//! Durable delivery: one worker per destination county streams batches from the outbox over
//! mutual TLS, settles the receipts in one transaction, and backs off exponentially with jitter
//! while the peer is unreachable. A message leaves the outbox only with a receipt; nothing is
//! dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mpx_proto::division::CountyCode;
use mpx_proto::identity::county_dns_name;
use mpx_proto::runtime::TlsMaterial;
use mpx_proto::v1::exchange_client::ExchangeClient;
use mpx_proto::v1::{DeliverRequest, DeliverResponse, Envelope, Receipt};
use prost::Message;
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::Streaming;
use tonic::transport::Endpoint;

use crate::config::DeliveryConfig;
use crate::directory::DirectoryHandle;
use crate::store::OutboxMessage;
/// The notifier lives with the workflow that owns it; named here too for callers of the outbox.
pub use crate::workflow::DeliveryNotifier;
use crate::workflow::Workflow;

/// Starts and wakes one [`PeerWorker`] per destination.
#[derive(Debug, Clone)]
pub struct DeliveryManager {
    pub workflow: Workflow,
    pub directory: DirectoryHandle,
    pub tls: TlsMaterial,
    pub config: DeliveryConfig,
    pub max_message_bytes: usize,
    /// This process's name for leases: only the holder of `delivery:COUNTY` delivers to that
    /// county, so processes sharing one database never interleave a peer's messages.
    pub lease_holder: String,
}

/// How long a delivery lease lasts without renewal (renewed before every batch).
const DELIVERY_LEASE_MS: i64 = 15_000;

impl DeliveryManager {
    /// Runs until cancelled; workers are spawned on `tracker`.
    pub async fn run(
        self,
        mut wakeups: mpsc::UnboundedReceiver<String>,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) {
        let mut workers: HashMap<String, Arc<Notify>> = HashMap::new();
        match self.workflow.store().pending_recipients().await {
            Ok(recipients) => {
                for recipient in recipients {
                    self.wake(&mut workers, recipient, &cancel, &tracker);
                }
            }
            Err(error) => tracing::error!(%error, "cannot read the outbox at start"),
        }
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                recipient = wakeups.recv() => match recipient {
                    Some(recipient) => self.wake(&mut workers, recipient, &cancel, &tracker),
                    None => return,
                },
            }
        }
    }

    fn wake(
        &self,
        workers: &mut HashMap<String, Arc<Notify>>,
        recipient: String,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        if let Some(notify) = workers.get(&recipient) {
            notify.notify_one();
            return;
        }
        let Ok(county) = CountyCode::parse(&recipient) else {
            tracing::error!(%recipient, "outbox recipient is not a county code; its messages stay queued");
            return;
        };
        let notify = Arc::new(Notify::new());
        let worker = PeerWorker {
            recipient: county,
            manager: self.clone(),
            notify: notify.clone(),
            cancel: cancel.clone(),
        };
        tracker.spawn(worker.run());
        workers.insert(recipient, notify);
    }
}

/// An open Deliver stream to one peer.
struct Session {
    endpoint: String,
    requests: mpsc::Sender<DeliverRequest>,
    responses: Streaming<DeliverResponse>,
}

/// Delivers the outbox of one destination county, in order.
struct PeerWorker {
    recipient: CountyCode,
    manager: DeliveryManager,
    notify: Arc<Notify>,
    cancel: CancellationToken,
}

fn jittered(delay: Duration) -> Duration {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let fraction = (u64::from_le_bytes(bytes) % 1000) as f64 / 1000.0;
    // Between half and all of the delay, so workers that failed together spread out.
    delay.mul_f64(0.5 + fraction / 2.0)
}

/// Connecting, the TLS handshake and opening the delivery stream must finish within this: a
/// peer that accepts TCP but never answers (SIGSTOP, a hung host) costs this once per attempt,
/// never the whole outage.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// Why a batch did not go through, and what the worker does next.
#[derive(Debug)]
enum DeliveryFailure {
    /// The peer refused the batch as too large: split it and try again at once.
    TooLarge(String),
    /// The peer asked to be retried after this long (`grpc-retry-pushback-ms`), e.g. after a
    /// storage fault or under load: no exponential growth, so delivery resumes promptly.
    Pushback(Duration, String),
    /// Anything else: back off exponentially (capped at `retry_max_ms`).
    Other(String),
}

impl DeliveryFailure {
    fn from_status(status: &tonic::Status) -> Self {
        let text = format!("{:?}: {}", status.code(), status.message());
        let pushback = status
            .metadata()
            .get("grpc-retry-pushback-ms")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        match (status.code(), pushback) {
            (_, Some(ms)) => Self::Pushback(Duration::from_millis(ms.min(60_000)), text),
            (tonic::Code::ResourceExhausted, None) => Self::TooLarge(text),
            _ => Self::Other(text),
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::TooLarge(text) | Self::Pushback(_, text) | Self::Other(text) => text,
        }
    }
}

impl From<String> for DeliveryFailure {
    fn from(text: String) -> Self {
        Self::Other(text)
    }
}

/// The batch's first messages whose envelopes fit in `budget` bytes (at least one).
fn fitting(batch: &[OutboxMessage], budget: usize) -> usize {
    let mut bytes = 0usize;
    batch
        .iter()
        .take_while(|message| {
            // Each envelope costs its bytes plus a field tag and length prefix.
            bytes += message.envelope.len() + 8;
            bytes <= budget
        })
        .count()
        .max(1)
}

impl PeerWorker {
    async fn run(self) {
        let config = &self.manager.config;
        let initial = Duration::from_millis(config.retry_initial_ms.max(10));
        let maximum = Duration::from_millis(config.retry_max_ms.max(config.retry_initial_ms));
        let mut backoff = initial;
        let most = config.batch_size.max(1);
        // Shrinks when the peer refuses a batch as too large, grows back after successes.
        let mut batch_limit = most;
        // Our own limit on a message, with room for framing; a peer with a smaller one says so.
        let budget = self.manager.max_message_bytes / 10 * 9;
        let mut session: Option<Session> = None;
        let mut holding = false;
        let store = self.manager.workflow.store().clone();
        let clock = self.manager.workflow.clock().clone();
        let lease = format!("delivery:{}", self.recipient);
        let holder = self.manager.lease_holder.clone();
        while !self.cancel.is_cancelled() {
            let now = clock.now_unix_ms();
            match store
                .try_lease(&lease, &holder, now, DELIVERY_LEASE_MS)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(recipient = %self.recipient, "another process holds the delivery lease");
                    self.pause(Duration::from_millis(DELIVERY_LEASE_MS as u64 / 3))
                        .await;
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, recipient = %self.recipient, "cannot take the delivery lease");
                    self.pause(backoff).await;
                    continue;
                }
            }
            // No route (not in the provincial directory: not enrolled yet, or another province):
            // hold the messages, without attempts or back-off, until the directory lists it.
            let mut versions = self.manager.directory.subscribe();
            if self
                .manager
                .directory
                .endpoint_of(self.recipient.as_str())
                .is_none()
            {
                if !holding {
                    tracing::info!(recipient = %self.recipient, "no route to this county (not in the provincial directory); its messages are held until there is one");
                    holding = true;
                    session = None;
                }
                tokio::select! {
                    _ = self.cancel.cancelled() => {}
                    _ = versions.changed() => {}
                    _ = self.notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(300)) => {}
                }
                continue;
            }
            if holding {
                tracing::info!(recipient = %self.recipient, "a route to this county appeared; delivering what was held");
                holding = false;
            }
            let batch = match store
                .pending_outbox(self.recipient.as_str(), now, batch_limit)
                .await
            {
                Ok(mut batch) => {
                    batch.truncate(fitting(&batch, budget));
                    batch
                }
                Err(error) => {
                    tracing::error!(%error, recipient = %self.recipient, "cannot read the outbox");
                    self.pause(backoff).await;
                    continue;
                }
            };
            if batch.is_empty() {
                self.wait_for_work().await;
                continue;
            }
            // A receipt that cannot be stored or does not verify counts as a failed delivery:
            // the batch stays queued and is resent after the backoff.
            let outcome = match self.deliver(&mut session, &batch).await {
                Ok(receipts) => self
                    .manager
                    .workflow
                    .settle_receipts(&batch, &receipts)
                    .await
                    .map_err(|error| {
                        DeliveryFailure::Other(format!("receipts not accepted: {error}"))
                    }),
                Err(failure) => Err(failure),
            };
            match outcome {
                Ok(()) => {
                    backoff = initial;
                    batch_limit = (batch_limit.saturating_mul(2)).min(most);
                }
                Err(DeliveryFailure::TooLarge(error)) if batch.len() > 1 => {
                    session = None;
                    batch_limit = (batch.len() / 2).max(1) as u32;
                    tracing::info!(recipient = %self.recipient, %error, messages = batch.len(), next_batch = batch_limit, "the peer refused the batch as too large; splitting it");
                }
                Err(failure) => {
                    session = None;
                    let delay = match &failure {
                        DeliveryFailure::Pushback(delay, _) => *delay,
                        _ => jittered(backoff),
                    };
                    let error = failure.message();
                    tracing::warn!(recipient = %self.recipient, %error, messages = batch.len(), retry_in_ms = delay.as_millis() as u64, "delivery failed");
                    let ids: Vec<String> = batch.iter().map(|m| m.message_id.clone()).collect();
                    let next = clock.now_unix_ms() + delay.as_millis() as i64;
                    if let Err(error) = store.record_delivery_failure(&ids, error, next).await {
                        tracing::error!(%error, "cannot record the delivery failure");
                    }
                    if !matches!(failure, DeliveryFailure::Pushback(..)) {
                        backoff = (backoff * 2).min(maximum);
                    }
                    self.pause(delay).await;
                }
            }
        }
        if let Err(error) = store.release_lease(&lease, &holder).await {
            tracing::debug!(%error, "cannot release the delivery lease");
        }
    }

    async fn pause(&self, delay: Duration) {
        tokio::select! {
            _ = self.cancel.cancelled() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }

    /// Sleeps until notified, until the earliest retry is due, or at most a minute.
    async fn wait_for_work(&self) {
        let store = self.manager.workflow.store();
        let now = self.manager.workflow.clock().now_unix_ms();
        let wait = match store.next_attempt_at(self.recipient.as_str()).await {
            Ok(Some(next)) if next > now => Duration::from_millis((next - now) as u64),
            Ok(Some(_)) => Duration::from_millis(10),
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = self.cancel.cancelled() => {}
            _ = self.notify.notified() => {}
            _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
        }
    }

    async fn open_session(&self, endpoint: &str) -> Result<Session, DeliveryFailure> {
        tokio::time::timeout(CONNECT_DEADLINE, self.try_open_session(endpoint))
            .await
            .map_err(|_| {
                DeliveryFailure::Other(format!(
                    "{endpoint} did not complete the connection, TLS handshake and stream within {} s",
                    CONNECT_DEADLINE.as_secs()
                ))
            })?
    }

    async fn try_open_session(&self, endpoint: &str) -> Result<Session, DeliveryFailure> {
        let tls = self
            .manager
            .tls
            .client_config(&county_dns_name(&self.recipient));
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|error| format!("bad endpoint {endpoint:?}: {error}"))?
            .tls_config(tls)
            .map_err(|error| format!("TLS configuration: {error}"))?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|error| format!("cannot connect to {endpoint}: {}", error_chain(&error)))?;
        let mut client = ExchangeClient::new(channel)
            .max_decoding_message_size(self.manager.max_message_bytes)
            .max_encoding_message_size(self.manager.max_message_bytes);
        let (requests, receiver) = mpsc::channel(1);
        let responses = client
            .deliver(ReceiverStream::new(receiver))
            .await
            .map_err(|status| match DeliveryFailure::from_status(&status) {
                DeliveryFailure::Other(text) => {
                    DeliveryFailure::Other(format!("{endpoint}: {text}"))
                }
                failure => failure,
            })?
            .into_inner();
        Ok(Session {
            endpoint: endpoint.to_string(),
            requests,
            responses,
        })
    }

    async fn deliver(
        &self,
        session: &mut Option<Session>,
        batch: &[OutboxMessage],
    ) -> Result<Vec<Receipt>, DeliveryFailure> {
        let endpoint = self
            .manager
            .directory
            .endpoint_of(self.recipient.as_str())
            .ok_or_else(|| {
                format!(
                    "county {} has no active endpoint in the directory",
                    self.recipient
                )
            })?;
        if session.as_ref().is_some_and(|s| s.endpoint != endpoint) {
            *session = None;
        }
        if session.is_none() {
            *session = Some(self.open_session(&endpoint).await?);
        }
        let Some(active) = session.as_mut() else {
            return Err(DeliveryFailure::Other("no session".into()));
        };
        let timeout = Duration::from_millis(self.manager.config.batch_timeout_ms.max(100));
        let envelopes = batch
            .iter()
            .map(|message| Envelope::decode(message.envelope.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("a stored envelope cannot be decoded: {error}"))?;
        // A stalled stream (the peer stopped reading) must not hold the worker either.
        tokio::time::timeout(timeout, active.requests.send(DeliverRequest { envelopes }))
            .await
            .map_err(|_| format!("the peer took no batch within {} ms", timeout.as_millis()))?
            .map_err(|_| "the stream to the peer closed".to_string())?;
        let response = tokio::time::timeout(timeout, active.responses.message())
            .await
            .map_err(|_| format!("no receipts within {} ms", timeout.as_millis()))?
            .map_err(|status| DeliveryFailure::from_status(&status))?
            .ok_or_else(|| "the peer closed the stream".to_string())?;
        if response.receipts.len() != batch.len() {
            return Err(DeliveryFailure::Other(format!(
                "{} receipts for {} envelopes",
                response.receipts.len(),
                batch.len()
            )));
        }
        Ok(response.receipts)
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
