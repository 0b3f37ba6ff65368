//! The provincial registry as this node reaches it: one channel per replica listed in
//! `registry_url`, each call on a healthy replica, a call that fails on one replica sent again
//! at once to another, and a replica that failed left alone until it answers health checks.
//!
//! Why not `Channel::balance_list`: over lazily connected endpoints it keeps picking a replica
//! that is dead (every call to it fails with `tcp connect error`) or hung (a stopped process
//! still accepts TCP; each call waits out its whole timeout), and it never tries the call
//! elsewhere. Here a hung replica costs one bounded wait (connect, TLS handshake, call deadline,
//! each bounded on its own) and is then avoided; the log says once that it is down and once
//! that it is back.
//!
//! Only idempotent calls go through [`RegistryClient::call`], since a call that failed after it
//! was sent may have taken effect at the first replica and is sent again to the second. Every
//! call a serving node makes is one: `GetDirectory` and `FetchAssignments` read;
//! `PublishEndpoint` sets a value; `ReportRosterChanges` and `ReportCaseEvents` send rows after
//! the registry's cursor, which it stores by (county, seq) and ignores when it has them;
//! `ReportEscalations` is stored once per (case, county). `Enroll` is not: it redeems a one-time
//! token. `exchange-node init` therefore tries each URL itself ([`crate::enroll`]): moving on
//! after a refused or timed-out connection is safe (nothing was sent); after a call that was
//! sent and got no answer, the next replica either enrols (the first never committed) or
//! refuses the token as used (the first did, and its answer was lost), never both, because the
//! token is redeemed in the same transaction that stores the certificate.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

/// First wait before a health check of a replica that failed; doubles up to [`PROBE_MAX`].
const PROBE_FIRST: Duration = Duration::from_millis(500);
/// Longest wait between health checks of a replica that is down.
const PROBE_MAX: Duration = Duration::from_secs(10);
/// Replicas one call tries: the first pick and one other.
const ATTEMPTS: usize = 2;

/// How long the node waits on one registry replica.
#[derive(Debug, Clone, Copy)]
pub struct RegistryTimeouts {
    /// The TCP connect, and then the TLS handshake, each at most this.
    pub connect: Duration,
    /// One call, from sending the request to the whole answer.
    pub call: Duration,
}

impl RegistryTimeouts {
    /// From the node's config (`registry_connect_timeout_ms`, `registry_call_timeout_ms`).
    pub fn from_config(config: &crate::config::NodeConfig) -> Self {
        Self {
            connect: Duration::from_millis(config.registry_connect_timeout_ms.max(1)),
            call: Duration::from_millis(config.registry_call_timeout_ms.max(1)),
        }
    }
}

/// Why a registry call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A replica answered with an error. The replicas share one database, so another would
    /// answer the same: not retried.
    #[error("the registry at {url} answered {}: {}", .status.code(), .status.message())]
    Answered { url: String, status: Status },
    /// No replica tried could take the call (each one and why).
    #[error("no registry replica could take the call: {0}")]
    Unreachable(String),
}

/// An endpoint for a registry URL with the node's TLS identity and bounded connect and
/// handshake times.
pub fn registry_endpoint(
    url: &str,
    tls: ClientTlsConfig,
    timeouts: RegistryTimeouts,
) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_string())?
        .tls_config(tls.timeout(timeouts.connect))?
        .connect_timeout(timeouts.connect))
}

/// Connects to one replica now. The TCP connect and the TLS handshake are each bounded by the
/// endpoint; the whole is bounded again here, so a name that never resolves cannot hang either.
pub async fn connect_replica(
    endpoint: &Endpoint,
    timeouts: RegistryTimeouts,
) -> Result<Channel, String> {
    let bound = timeouts.connect * 2 + Duration::from_millis(100);
    match tokio::time::timeout(bound, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(error)) => Err(describe_transport_error(&error, timeouts.connect)),
        Err(_) => Err(format!("no connection within {bound:?} (timed out)")),
    }
}

/// A transport error as one line: the chain of causes without tonic's repetitions, and a TLS
/// handshake timeout said plainly (the server accepted the connection but never answered).
pub fn describe_transport_error(error: &dyn std::error::Error, connect: Duration) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(text.as_str())) {
            parts.push(text);
        }
        current = cause.source();
    }
    let joined = parts.join(": ");
    if joined.contains("handshake timeout") {
        return format!(
            "connected, but the TLS handshake timed out after {connect:?} (a hung server?)"
        );
    }
    joined
}

/// True when a call's status says the replica did not (fully) answer, rather than that the
/// registry refused the request: connect failures and broken connections (`UNAVAILABLE`), a
/// stream reset (`CANCELLED`), a deadline, or an error tonic could not classify (`UNKNOWN`;
/// the registry never answers with it).
fn is_replica_failure(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded | Code::Unknown
    )
}

/// One replica as the node last knew it ([`RegistryClient::health`]).
#[derive(Debug, Clone)]
pub struct ReplicaHealth {
    pub url: String,
    pub reachability: Reachability,
}

/// Whether a replica answered, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// Its last call or health check was answered, this long ago.
    Answered { answered_ago: Duration },
    /// Calls avoid it since it failed, this long ago; health checks watch for its return.
    Down { down_for: Duration },
    /// No call has gone to it yet since the node started.
    NotCalledYet,
}

/// The registry's replicas; cheap to clone. Health checks of replicas that are down run in the
/// background until the cancellation token given to [`RegistryClient::new`] is cancelled.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    replicas: Vec<Replica>,
    /// Round robin over the healthy replicas.
    next: AtomicUsize,
    timeouts: RegistryTimeouts,
    cancel: CancellationToken,
}

#[derive(Debug)]
struct Replica {
    url: String,
    endpoint: Endpoint,
    state: Mutex<ReplicaState>,
}

#[derive(Debug, Default)]
struct ReplicaState {
    /// The connection in use, once made.
    channel: Option<Channel>,
    /// Since when calls avoid this replica; `None` while it is healthy.
    down_since: Option<Instant>,
    /// A health-check task is running for it.
    probing: bool,
    /// When it last answered a call or a health check.
    last_answer: Option<Instant>,
}

impl Replica {
    fn state(&self) -> MutexGuard<'_, ReplicaState> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl RegistryClient {
    /// One replica per URL (at least one). Connections are made on first use.
    pub fn new(
        urls: &[String],
        tls: ClientTlsConfig,
        timeouts: RegistryTimeouts,
        cancel: CancellationToken,
    ) -> Result<Self, String> {
        if urls.is_empty() {
            return Err("no registry URL".into());
        }
        let mut replicas = Vec::with_capacity(urls.len());
        for url in urls {
            let endpoint = registry_endpoint(url, tls.clone(), timeouts)
                .map_err(|error| format!("registry_url {url:?}: {error}"))?;
            replicas.push(Replica {
                url: url.clone(),
                endpoint,
                state: Mutex::new(ReplicaState::default()),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                replicas,
                next: AtomicUsize::new(0),
                timeouts,
                cancel,
            }),
        })
    }

    /// What the node last knew of each replica, read from memory without calling any (for the
    /// console's health page).
    pub fn health(&self) -> Vec<ReplicaHealth> {
        self.inner
            .replicas
            .iter()
            .map(|replica| {
                let state = replica.state();
                let reachability = match (state.down_since, state.last_answer) {
                    (Some(since), _) => Reachability::Down {
                        down_for: since.elapsed(),
                    },
                    (None, Some(answered)) => Reachability::Answered {
                        answered_ago: answered.elapsed(),
                    },
                    (None, None) => Reachability::NotCalledYet,
                };
                ReplicaHealth {
                    url: replica.url.clone(),
                    reachability,
                }
            })
            .collect()
    }

    /// The URLs of the replicas that are down now (for tests and diagnostics).
    pub fn replicas_down(&self) -> Vec<String> {
        self.inner
            .replicas
            .iter()
            .filter(|replica| replica.state().down_since.is_some())
            .map(|replica| replica.url.clone())
            .collect()
    }

    /// Runs an idempotent call: on a healthy replica (round robin), and if that replica fails
    /// to answer (cannot connect, connection lost, no answer within the call timeout), once more
    /// at once on another. When every replica is down, the call still tries them.
    ///
    /// `attempt` builds the call on a channel; it may run twice, so it clones its request.
    pub async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T, RegistryError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut failures = Vec::new();
        for index in self.attempt_order().into_iter().take(ATTEMPTS) {
            let replica = &self.inner.replicas[index];
            let channel = match self.channel_of(index).await {
                Ok(channel) => channel,
                Err(reason) => {
                    self.mark_down(index, &reason);
                    failures.push(format!("{}: {reason}", replica.url));
                    continue;
                }
            };
            let reason = match tokio::time::timeout(self.inner.timeouts.call, attempt(channel))
                .await
            {
                Ok(Ok(response)) => {
                    self.mark_up(index);
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) if !is_replica_failure(&status) => {
                    // The replica is up: it answered.
                    self.mark_up(index);
                    return Err(RegistryError::Answered {
                        url: replica.url.clone(),
                        status,
                    });
                }
                Ok(Err(status)) => match std::error::Error::source(&status) {
                    Some(source) => describe_transport_error(source, self.inner.timeouts.connect),
                    None => format!("{}: {}", status.code(), status.message()),
                },
                Err(_) => format!("no answer within {:?}", self.inner.timeouts.call),
            };
            self.mark_down(index, &reason);
            failures.push(format!("{}: {reason}", replica.url));
        }
        Err(RegistryError::Unreachable(failures.join("; ")))
    }

    /// Replica indexes to try, healthy ones first (starting at the next in round robin), then
    /// the ones that are down.
    fn attempt_order(&self) -> Vec<usize> {
        let count = self.inner.replicas.len();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed) % count;
        let (mut healthy, down): (Vec<usize>, Vec<usize>) = (0..count)
            .map(|offset| (start + offset) % count)
            .partition(|&index| self.inner.replicas[index].state().down_since.is_none());
        healthy.extend(down);
        healthy
    }

    /// The replica's connection, made now (bounded) if there is none.
    async fn channel_of(&self, index: usize) -> Result<Channel, String> {
        let replica = &self.inner.replicas[index];
        if let Some(channel) = replica.state().channel.clone() {
            return Ok(channel);
        }
        let channel = connect_replica(&replica.endpoint, self.inner.timeouts).await?;
        replica.state().channel.get_or_insert(channel.clone());
        Ok(channel)
    }

    /// Calls avoid the replica from now on, and a health check watches for its return. Logged
    /// once per outage.
    fn mark_down(&self, index: usize, reason: &str) {
        let replica = &self.inner.replicas[index];
        let mut state = replica.state();
        // A broken or hung connection is not used again; the health check makes a new one.
        state.channel = None;
        if state.down_since.is_none() {
            state.down_since = Some(Instant::now());
            if self.inner.replicas.len() > 1 {
                tracing::warn!(url = %replica.url, error = %reason,
                    "registry replica down; calls go to the other replicas until it answers health checks");
            } else {
                tracing::warn!(url = %replica.url, error = %reason,
                    "registry down; calls are retried until it answers health checks");
            }
        }
        if !state.probing {
            state.probing = true;
            drop(state);
            tokio::spawn(self.clone().probe(index));
        }
    }

    /// The replica answered a call.
    fn mark_up(&self, index: usize) {
        let replica = &self.inner.replicas[index];
        Self::back_up(replica, &mut replica.state());
    }

    fn back_up(replica: &Replica, state: &mut ReplicaState) {
        state.last_answer = Some(Instant::now());
        if let Some(since) = state.down_since.take() {
            tracing::info!(url = %replica.url, down_for = ?since.elapsed(), "registry replica back");
        }
    }

    /// Health checks (`grpc.health.v1`, over a new connection) with capped exponential backoff
    /// until the replica answers SERVING, a call succeeds on it meanwhile, or shutdown. Whether
    /// to stop is decided under the same lock that clears `probing`, so a replica that goes
    /// down again always gets a new health check.
    async fn probe(self, index: usize) {
        let replica = &self.inner.replicas[index];
        let mut delay = PROBE_FIRST;
        loop {
            tokio::select! {
                _ = self.inner.cancel.cancelled() => {
                    replica.state().probing = false;
                    return;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            {
                let mut state = replica.state();
                if state.down_since.is_none() {
                    state.probing = false;
                    return;
                }
            }
            match self.health_check(replica).await {
                Ok(channel) => {
                    let mut state = replica.state();
                    state.probing = false;
                    state.channel = Some(channel);
                    Self::back_up(replica, &mut state);
                    return;
                }
                Err(reason) => {
                    tracing::debug!(url = %replica.url, error = %reason, "registry replica still down");
                }
            }
            delay = (delay * 2).min(PROBE_MAX);
        }
    }

    async fn health_check(&self, replica: &Replica) -> Result<Channel, String> {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let channel = connect_replica(&replica.endpoint, self.inner.timeouts).await?;
        let mut health = HealthClient::new(channel.clone());
        let check = health.check(HealthCheckRequest {
            service: String::new(),
        });
        match tokio::time::timeout(self.inner.timeouts.call, check).await {
            Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32 => {
                Ok(channel)
            }
            Ok(Ok(answer)) => Err(format!("health: status {}", answer.get_ref().status)),
            Ok(Err(status)) => Err(format!("health: {}", status.message())),
            Err(_) => Err(format!(
                "health: no answer within {:?}",
                self.inner.timeouts.call
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback URL where nothing listens.
    fn dead_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://{}", listener.local_addr().unwrap())
    }

    #[tokio::test]
    async fn a_call_tries_two_replicas_then_says_why_each_failed_and_avoids_them() {
        let urls = vec![dead_url(), dead_url(), dead_url()];
        let cancel = CancellationToken::new();
        let registry = RegistryClient::new(
            &urls,
            ClientTlsConfig::new(),
            RegistryTimeouts {
                connect: Duration::from_secs(1),
                call: Duration::from_secs(1),
            },
            cancel.clone(),
        )
        .unwrap();
        let mut attempts = 0;
        let result = registry
            .call(|channel| {
                attempts += 1;
                async move {
                    tonic_health::pb::health_client::HealthClient::new(channel)
                        .check(tonic_health::pb::HealthCheckRequest::default())
                        .await
                }
            })
            .await;
        // No connection was made, so the call itself never ran.
        assert_eq!(attempts, 0);
        let Err(RegistryError::Unreachable(why)) = result else {
            panic!("expected unreachable, got {result:?}");
        };
        assert_eq!(why.matches("Connection refused").count(), 2, "{why}");
        assert_eq!(registry.replicas_down().len(), 2);
        // What the console shows, read without a call: two down, one never tried.
        let health = registry.health();
        let down = health
            .iter()
            .filter(|replica| matches!(replica.reachability, Reachability::Down { .. }))
            .count();
        let untried = health
            .iter()
            .filter(|replica| replica.reachability == Reachability::NotCalledYet)
            .count();
        assert_eq!((down, untried), (2, 1), "{health:?}");
        cancel.cancel();
    }

    #[test]
    fn a_transport_error_is_one_line_without_repetitions() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let error = Layer(
            "transport error",
            Some(Box::new(Layer(
                "tcp connect error",
                Some(Box::new(Layer(
                    "tcp connect error",
                    Some(Box::new(Layer("Connection refused (os error 111)", None))),
                ))),
            ))),
        );
        assert_eq!(
            describe_transport_error(&error, Duration::from_secs(3)),
            "transport error: tcp connect error: Connection refused (os error 111)"
        );
    }
}
