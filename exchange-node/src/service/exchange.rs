//! `mpx.v1.Exchange`: other counties' nodes deliver batches of envelopes here.

use mpx_proto::division::CountyCode;
use mpx_proto::runtime::peer_caller;
use mpx_proto::v1::exchange_server::{Exchange, ExchangeServer};
use mpx_proto::v1::{
    DeliverRequest, DeliverResponse, DeliveredMessage, Envelope, LostMessage, Receipt,
    RecoverRequest, RecoverResponse,
};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use crate::directory::DirectoryHandle;
use crate::workflow::{Workflow, WorkflowError};

/// How soon a sender should retry after this node's storage failed (`grpc-retry-pushback-ms`).
const STORAGE_RETRY_MS: u64 = 2_000;

/// How soon a sender should retry a follow-up put off while this node recovers.
const RECOVERING_RETRY_MS: u64 = 5_000;

/// How soon a sender should retry a batch refused because the node was busy.
const BUSY_RETRY_MS: u64 = 1_000;

/// How much a node takes in at once from all its peers together.
#[derive(Debug, Clone)]
pub struct IntakeLimits {
    /// Most envelopes in one batch.
    pub max_batch_envelopes: usize,
    /// Largest encoded batch.
    pub max_message_bytes: usize,
    /// Batches stored at once.
    pub concurrent_batches: usize,
    /// Longest wait for a turn before the sender is told to retry later.
    pub intake_wait: std::time::Duration,
}

/// Receives deliveries from peers (mutual TLS).
#[derive(Debug, Clone)]
pub struct ExchangeService {
    workflow: Workflow,
    directory: DirectoryHandle,
    max_batch_envelopes: usize,
    max_message_bytes: usize,
    /// Turns to store a batch, shared by every peer's stream.
    turns: std::sync::Arc<tokio::sync::Semaphore>,
    intake_wait: std::time::Duration,
    tracker: TaskTracker,
    /// Cancelled when shutdown begins: open delivery streams end after their current batch,
    /// so the listener can drain.
    intake: CancellationToken,
}

impl ExchangeService {
    pub fn new(
        workflow: Workflow,
        directory: DirectoryHandle,
        limits: IntakeLimits,
        tracker: TaskTracker,
        intake: CancellationToken,
    ) -> Self {
        Self {
            workflow,
            directory,
            max_batch_envelopes: limits.max_batch_envelopes,
            max_message_bytes: limits.max_message_bytes,
            turns: std::sync::Arc::new(tokio::sync::Semaphore::new(
                limits.concurrent_batches.max(1),
            )),
            intake_wait: limits.intake_wait,
            tracker,
            intake,
        }
    }

    pub fn into_server(self) -> ExchangeServer<Self> {
        let max_message_bytes = self.max_message_bytes;
        ExchangeServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }

    /// The calling county (from its certificate) and its certificate's fingerprint; a caller
    /// that is no county, or whose certificate is revoked, is refused and recorded.
    async fn county_caller<T>(
        &self,
        request: &Request<T>,
        what: &str,
    ) -> Result<(CountyCode, String), Status> {
        let caller = peer_caller(request)?;
        let Some(county) = caller.identity.county() else {
            return Err(self
                .refuse(
                    &caller.identity.uri(),
                    "not a county",
                    Status::permission_denied(format!("only county nodes {what}")),
                )
                .await);
        };
        if self.directory.is_revoked(&caller.certificate_sha256) {
            let status =
                Status::permission_denied(format!("the certificate of county {county} is revoked"));
            return Err(self
                .refuse(county.as_str(), "revoked certificate", status)
                .await);
        }
        Ok((county, caller.certificate_sha256))
    }

    async fn refuse(&self, peer: &str, event: &str, status: Status) -> Status {
        tracing::warn!(%peer, %event, message = %status.message(), "peer refused");
        if let Err(error) = self
            .workflow
            .store()
            .record_security_event(peer, event, status.message())
            .await
        {
            tracing::error!(%error, "cannot record the security event");
        }
        status
    }
}

/// Most messages per direction in one page of a recovery.
const RECOVER_PAGE: u32 = 200;

/// Where a recovery's pages stand: the last outbox position replayed and the last inbox
/// position returned, as a page token `{seq}:{stored at}:{message id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RecoverPosition {
    outbox_seq: i64,
    inbox_at: i64,
    inbox_id: String,
}

impl RecoverPosition {
    fn token(&self) -> String {
        format!("{}:{}:{}", self.outbox_seq, self.inbox_at, self.inbox_id)
    }

    fn parse(token: &str) -> Result<Self, Status> {
        let invalid = || {
            Status::invalid_argument(format!(
                "page_token: expected the next_page_token of the previous answer, got {:?}",
                mpx_proto::text::sanitize_for_display(token, 80)
            ))
        };
        let mut parts = token.splitn(3, ':');
        let outbox_seq = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let inbox_at = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let inbox_id = parts.next().ok_or_else(invalid)?.to_string();
        if !(inbox_id.is_empty() || uuid::Uuid::parse_str(&inbox_id).is_ok()) {
            return Err(invalid());
        }
        Ok(Self {
            outbox_seq,
            inbox_at,
            inbox_id,
        })
    }
}

impl ExchangeService {
    /// Where a recovery starts: after the messages the caller names, or at the beginning when
    /// it names none or one this node does not know.
    async fn recover_start(
        &self,
        caller: &str,
        request: &RecoverRequest,
    ) -> Result<RecoverPosition, Status> {
        let store = self.workflow.store();
        let mut position = RecoverPosition::default();
        for (field, id) in [
            (
                "last_received_message_id",
                &request.last_received_message_id,
            ),
            ("last_sent_message_id", &request.last_sent_message_id),
        ] {
            if !id.is_empty() && uuid::Uuid::parse_str(id).is_err() {
                return Err(Status::invalid_argument(format!(
                    "{field}: expected a message id (UUID) or \"\", got {:?}",
                    mpx_proto::text::sanitize_for_display(id, 80)
                )));
            }
        }
        if !request.last_received_message_id.is_empty() {
            position.outbox_seq = store
                .outbox_seq_of(caller, &request.last_received_message_id)
                .await
                .map_err(storage_status)?
                .unwrap_or(0);
        }
        if !request.last_sent_message_id.is_empty()
            && let Some((at, id)) = store
                .inbox_position(caller, &request.last_sent_message_id)
                .await
                .map_err(storage_status)?
        {
            position.inbox_at = at;
            position.inbox_id = id;
        }
        Ok(position)
    }

    /// One page of a recovery for `caller`.
    async fn recover_page(
        &self,
        caller: &str,
        position: RecoverPosition,
    ) -> Result<RecoverResponse, Status> {
        let store = self.workflow.store();
        // Half the message limit for each direction, so a page always fits.
        let budget = (self.max_message_bytes / 2).saturating_sub(1024).max(1);
        let mut next = position.clone();
        let mut response = RecoverResponse::default();
        let delivered = store
            .delivered_after(caller, position.outbox_seq, RECOVER_PAGE)
            .await
            .map_err(storage_status)?;
        let mut more = delivered.len() as u32 >= RECOVER_PAGE;
        let mut bytes = 0usize;
        for row in delivered {
            bytes += row.envelope.len() + row.receipt.len() + 16;
            if bytes > budget && !response.replayed.is_empty() {
                more = true;
                break;
            }
            next.outbox_seq = row.seq;
            let (Ok(envelope), Ok(receipt)) = (
                Envelope::decode(row.envelope.as_slice()),
                Receipt::decode(row.receipt.as_slice()),
            ) else {
                tracing::error!(seq = row.seq, "an outbox row does not decode; not replayed");
                continue;
            };
            response.replayed.push(DeliveredMessage {
                envelope: Some(envelope),
                receipt: Some(receipt),
            });
        }
        let stored = store
            .inbox_after(
                caller,
                (position.inbox_at, &position.inbox_id),
                RECOVER_PAGE,
            )
            .await
            .map_err(storage_status)?;
        more |= stored.len() as u32 >= RECOVER_PAGE;
        let mut bytes = 0usize;
        for row in stored {
            let size = row.envelope.as_ref().map_or(0, Vec::len) + row.receipt.len() + 16;
            bytes += size;
            if bytes > budget
                && !(response.returned.is_empty() && response.unrecoverable.is_empty())
            {
                more = true;
                break;
            }
            next.inbox_at = row.received_at_unix_ms;
            next.inbox_id = row.message_id.clone();
            let envelope = row
                .envelope
                .as_deref()
                .and_then(|bytes| Envelope::decode(bytes).ok());
            match (envelope, Receipt::decode(row.receipt.as_slice())) {
                (Some(envelope), Ok(receipt)) => response.returned.push(DeliveredMessage {
                    envelope: Some(envelope),
                    receipt: Some(receipt),
                }),
                _ => response.unrecoverable.push(LostMessage {
                    message_id: row.message_id,
                    body_kind: row.body_kind,
                    case_id: row.case_id,
                    received_at_unix_ms: row.received_at_unix_ms,
                }),
            }
        }
        if more {
            response.next_page_token = next.token();
        }
        Ok(response)
    }
}

fn storage_status(error: crate::store::StoreError) -> Status {
    tracing::error!(%error, "storage failed while answering a recovery");
    Status::unavailable("this node's storage failed; retry later")
}

#[tonic::async_trait]
impl Exchange for ExchangeService {
    async fn recover(
        &self,
        request: Request<RecoverRequest>,
    ) -> Result<Response<RecoverResponse>, Status> {
        let (county, _) = self.county_caller(&request, "recover").await?;
        let request = request.into_inner();
        let position = if request.page_token.is_empty() {
            self.recover_start(county.as_str(), &request).await?
        } else {
            RecoverPosition::parse(&request.page_token)?
        };
        let first = request.page_token.is_empty();
        let page = self.recover_page(county.as_str(), position).await?;
        if first || !page.replayed.is_empty() || !page.returned.is_empty() {
            tracing::info!(
                peer = %county,
                replayed = page.replayed.len(),
                returned = page.returned.len(),
                unrecoverable = page.unrecoverable.len(),
                more = !page.next_page_token.is_empty(),
                "a peer asked what it may have lost"
            );
        }
        metrics::counter!("mpx_recovery_served_total", "direction" => "replayed")
            .increment(page.replayed.len() as u64);
        metrics::counter!("mpx_recovery_served_total", "direction" => "returned")
            .increment(page.returned.len() as u64);
        Ok(Response::new(page))
    }

    type DeliverStream = ReceiverStream<Result<DeliverResponse, Status>>;

    async fn deliver(
        &self,
        request: Request<Streaming<DeliverRequest>>,
    ) -> Result<Response<Self::DeliverStream>, Status> {
        let (county, certificate_sha256) = self.county_caller(&request, "deliver").await?;
        let mut inbound = request.into_inner();
        let (sender, receiver) = mpsc::channel(4);
        let service = self.clone();
        self.tracker.spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = service.intake.cancelled() => return,
                    next = inbound.message() => next,
                };
                let batch = match next {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return,
                    // tonic refuses a frame over the decoding limit with OUT_OF_RANGE before
                    // decoding it: say so as RESOURCE_EXHAUSTED (what a client expects for a
                    // size), naming the limit, so the sender splits its batch.
                    Err(status) if status.code() == tonic::Code::OutOfRange => {
                        let status = Status::resource_exhausted(format!(
                            "DeliverRequest: over this node's limit of {} bytes per batch ({}); split the batch",
                            service.max_message_bytes,
                            status.message()
                        ));
                        let _ = sender
                            .send(Err(service.refuse(county.as_str(), "oversized batch", status).await))
                            .await;
                        return;
                    }
                    Err(status) => {
                        tracing::debug!(%county, message = %status.message(), "delivery stream ended");
                        return;
                    }
                };
                if service.directory.is_revoked(&certificate_sha256) {
                    let status = Status::permission_denied(format!("the certificate of county {county} is revoked"));
                    let _ = sender.send(Err(service.refuse(county.as_str(), "revoked certificate", status).await)).await;
                    return;
                }
                if batch.envelopes.len() > service.max_batch_envelopes {
                    let status = Status::resource_exhausted(format!(
                        "envelopes: at most {} per batch, got {}; split the batch",
                        service.max_batch_envelopes,
                        batch.envelopes.len()
                    ));
                    let _ = sender
                        .send(Err(service.refuse(county.as_str(), "oversized batch", status).await))
                        .await;
                    return;
                }
                // Wait for a turn (bounded): under overload the sender is told when to return.
                let turn = match tokio::time::timeout(
                    service.intake_wait,
                    service.turns.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(turn)) => turn,
                    _ => {
                        metrics::counter!("mpx_intake_pushbacks_total").increment(1);
                        tracing::info!(%county, "busy: a batch waited past the intake limit; the sender retries later");
                        let mut status = Status::unavailable(format!(
                            "busy: other batches are being stored; retry in {BUSY_RETRY_MS} ms"
                        ));
                        status.metadata_mut().insert(
                            "grpc-retry-pushback-ms",
                            tonic::metadata::MetadataValue::from(BUSY_RETRY_MS),
                        );
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                };
                let result = service.workflow.receive_batch(county, batch.envelopes).await;
                drop(turn);
                let reply = match result {
                    Ok(receipts) => Ok(DeliverResponse { receipts }),
                    Err(WorkflowError::PermissionDenied(message)) => Err(service
                        .refuse(county.as_str(), "spoofed sender", Status::permission_denied(message))
                        .await),
                    Err(error @ WorkflowError::Store(_)) => {
                        // Our storage failed (a full disk, a lost database): nothing was
                        // stored. Ask the sender to come back soon rather than after its full
                        // back-off, so delivery resumes promptly once the fault is fixed.
                        let mut status = Status::from(error);
                        status.metadata_mut().insert(
                            "grpc-retry-pushback-ms",
                            tonic::metadata::MetadataValue::from(STORAGE_RETRY_MS),
                        );
                        Err(status)
                    }
                    Err(error @ WorkflowError::Unavailable(_)) => {
                        let mut status = Status::from(error);
                        status.metadata_mut().insert(
                            "grpc-retry-pushback-ms",
                            tonic::metadata::MetadataValue::from(RECOVERING_RETRY_MS),
                        );
                        Err(status)
                    }
                    Err(error) => Err(Status::from(error)),
                };
                let failed = reply.is_err();
                if sender.send(reply).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}
