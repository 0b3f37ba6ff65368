//! The province's signed directory, as this node holds it: verified against the provincial CA,
//! refreshed from the registry, cached on disk so the node keeps working while the registry is
//! down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mpx_proto::calendar::WorkingCalendar;
use mpx_proto::division::ProvinceCode;
use mpx_proto::evidence::{verify_issued_by, verify_with_certificate};
use mpx_proto::identity::{PeerIdentity, certificate_der_from_pem};
use mpx_proto::policy::CaseDeadlines;
use mpx_proto::v1::directory_client::DirectoryClient;
use mpx_proto::v1::{CaseKind, CasePriority, DeadlinePolicy};
use mpx_proto::v1::{
    DirectorySnapshot, GetDirectoryRequest, NodeStatus, PublishEndpointRequest, SignedDirectory,
};
use prost::Message;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::registry_client::RegistryClient;

/// Why a directory snapshot was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("the directory's signer certificate is invalid: {0}")]
    Signer(String),
    #[error("the directory is signed by {0:?}, not this province's registry")]
    WrongSigner(String),
    #[error("the directory's signature does not verify")]
    Signature,
    #[error("the directory snapshot cannot be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Checks a signed snapshot: the signer is this province's registry, certified by the CA, and
/// the signature covers the snapshot's exact bytes.
pub fn verify_directory(
    signed: &SignedDirectory,
    ca_der: &[u8],
    province: ProvinceCode,
) -> Result<DirectorySnapshot, DirectoryError> {
    let signer = certificate_der_from_pem(&signed.signer_certificate_pem)
        .map_err(|error| DirectoryError::Signer(error.to_string()))?;
    verify_issued_by(&signer, ca_der).map_err(|error| DirectoryError::Signer(error.to_string()))?;
    match PeerIdentity::from_certificate_der(&signer) {
        Ok(PeerIdentity::Registry(code)) if code == province => {}
        Ok(other) => return Err(DirectoryError::WrongSigner(other.uri())),
        Err(error) => return Err(DirectoryError::Signer(error.to_string())),
    }
    verify_with_certificate(&signer, &signed.snapshot, &signed.signature)
        .map_err(|_| DirectoryError::Signature)?;
    Ok(DirectorySnapshot::decode(signed.snapshot.as_slice())?)
}

/// The calendar and deadline policies every due date is computed with (from the directory).
#[derive(Debug, Clone)]
pub struct DeadlineContext {
    pub calendar: WorkingCalendar,
    pub calendar_version: String,
    pub policies: Vec<DeadlinePolicy>,
    pub policy_version: String,
}

impl DeadlineContext {
    /// Before any directory: no calendar data (weekends only, every due date provisional) and
    /// the default policies.
    pub fn fallback() -> Self {
        let policies = mpx_proto::policy::default_policies();
        Self {
            calendar: WorkingCalendar::default(),
            calendar_version: "none".into(),
            policy_version: mpx_proto::policy::policy_version(&policies),
            policies,
        }
    }

    fn from_snapshot(snapshot: &DirectorySnapshot) -> Self {
        let mut context = Self::fallback();
        match mpx_proto::policy::calendar_from_proto(&snapshot.calendar) {
            Ok(calendar) if !snapshot.calendar.is_empty() => {
                context.calendar = calendar;
                context.calendar_version = snapshot.calendar_version.clone();
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "the directory's calendar is unusable; counting weekends only")
            }
        }
        if !snapshot.policies.is_empty() {
            context.policies = snapshot.policies.clone();
            context.policy_version = snapshot.policy_version.clone();
        }
        context
    }

    /// Both deadlines of a case delivered at `delivered_at_unix_ms`.
    pub fn case_deadlines(
        &self,
        kind: CaseKind,
        priority: CasePriority,
        delivered_at_unix_ms: i64,
    ) -> CaseDeadlines {
        mpx_proto::policy::case_deadlines(
            &self.calendar,
            &self.calendar_version,
            &self.policies,
            &self.policy_version,
            kind,
            priority,
            delivered_at_unix_ms,
        )
    }
}

/// A county as the directory lists it ([`DirectoryHandle::listed_counties`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCounty {
    pub county: String,
    pub name: String,
    /// Its certificate is revoked (or its status is not active): no route.
    pub revoked: bool,
    /// It published where its peer listener is.
    pub has_endpoint: bool,
}

/// The verified directory in force; cheap to clone.
#[derive(Debug, Clone)]
pub struct DirectoryHandle {
    current: Arc<RwLock<Option<DirectorySnapshot>>>,
    deadlines: Arc<RwLock<Arc<DeadlineContext>>>,
    /// Wakes the refresher for an immediate fetch.
    refresh_requested: Arc<Notify>,
    /// The installed version, for waiting on a change.
    installed: watch::Sender<u64>,
}

impl Default for DirectoryHandle {
    fn default() -> Self {
        Self {
            current: Arc::default(),
            deadlines: Arc::new(RwLock::new(Arc::new(DeadlineContext::fallback()))),
            refresh_requested: Arc::new(Notify::new()),
            installed: watch::channel(0).0,
        }
    }
}

impl DirectoryHandle {
    /// Asks the refresher for a fetch now and waits up to `timeout` for a newer snapshot.
    /// Used when a clerk names a county this node does not know yet (newly enrolled).
    pub async fn refresh_now(&self, timeout: Duration) {
        let mut installed = self.installed.subscribe();
        installed.mark_unchanged();
        self.refresh_requested.notify_one();
        let _ = tokio::time::timeout(timeout, installed.changed()).await;
    }

    fn read<T>(&self, f: impl FnOnce(Option<&DirectorySnapshot>) -> T) -> T {
        match self.current.read() {
            Ok(guard) => f(guard.as_ref()),
            Err(poisoned) => f(poisoned.into_inner().as_ref()),
        }
    }

    /// The calendar and policies in force.
    pub fn deadlines(&self) -> Arc<DeadlineContext> {
        match self.deadlines.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A receiver that changes whenever a newer snapshot is installed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.installed.subscribe()
    }

    /// True once any snapshot is loaded.
    pub fn is_loaded(&self) -> bool {
        self.read(|snapshot| snapshot.is_some())
    }

    /// The version in force (0 when none).
    pub fn version(&self) -> u64 {
        self.read(|snapshot| snapshot.map(|s| s.version).unwrap_or(0))
    }

    /// When the registry issued the snapshot in force (0 when none).
    pub fn issued_at_unix_ms(&self) -> i64 {
        self.read(|snapshot| snapshot.map_or(0, |s| s.issued_at_unix_ms))
    }

    /// Every county the snapshot in force lists, by code: its name, whether it is revoked, and
    /// whether it published a peer endpoint (for the console's directory page).
    pub fn listed_counties(&self) -> Vec<ListedCounty> {
        let mut counties: Vec<ListedCounty> = self.read(|snapshot| {
            snapshot.map_or_else(Vec::new, |s| {
                s.nodes
                    .iter()
                    .map(|node| ListedCounty {
                        county: node.county.clone(),
                        name: node.name.clone(),
                        revoked: node.status() != NodeStatus::Active,
                        has_endpoint: !node.endpoint.is_empty(),
                    })
                    .collect()
            })
        });
        counties.sort_by(|a, b| a.county.cmp(&b.county));
        counties
    }

    /// True when `county` is listed and not revoked.
    pub fn is_active(&self, county: &str) -> bool {
        self.read(|snapshot| {
            snapshot.is_some_and(|s| {
                s.nodes
                    .iter()
                    .any(|node| node.county == county && node.status() == NodeStatus::Active)
            })
        })
    }

    /// Active counties as (code, name), by code (for choosing a county by name).
    pub fn active_counties(&self) -> Vec<(String, String)> {
        let mut counties: Vec<(String, String)> = self.read(|snapshot| {
            snapshot.map_or_else(Vec::new, |s| {
                s.nodes
                    .iter()
                    .filter(|node| node.status() == NodeStatus::Active)
                    .map(|node| (node.county.clone(), node.name.clone()))
                    .collect()
            })
        });
        counties.sort();
        counties
    }

    /// The name the directory gives a county, if it lists it.
    pub fn county_name(&self, county: &str) -> Option<String> {
        self.read(|snapshot| {
            snapshot?
                .nodes
                .iter()
                .find(|node| node.county == county)
                .map(|node| node.name.clone())
        })
    }

    /// The peer endpoint of an active county.
    /// True when the directory is loaded and does not list `county` as an active node: there is
    /// no route to it (not enrolled yet, or another province). False while no directory is
    /// loaded at all: then nobody knows yet.
    pub fn has_no_route(&self, county: &str) -> bool {
        self.is_loaded() && self.endpoint_of(county).is_none()
    }

    pub fn endpoint_of(&self, county: &str) -> Option<String> {
        self.read(|snapshot| {
            snapshot?
                .nodes
                .iter()
                .find(|node| {
                    node.county == county
                        && node.status() == NodeStatus::Active
                        && !node.endpoint.is_empty()
                })
                .map(|node| node.endpoint.clone())
        })
    }

    /// The DER certificate of an active county, to verify what it signed.
    pub fn certificate_of(&self, county: &str) -> Option<Vec<u8>> {
        self.read(|snapshot| {
            let node = snapshot?
                .nodes
                .iter()
                .find(|node| node.county == county && node.status() == NodeStatus::Active)?;
            mpx_proto::identity::certificate_der_from_pem(&node.certificate_pem).ok()
        })
    }

    /// True when a certificate fingerprint is revoked.
    pub fn is_revoked(&self, certificate_sha256: &str) -> bool {
        self.read(|snapshot| {
            snapshot.is_some_and(|s| {
                s.revocations
                    .iter()
                    .any(|r| r.certificate_sha256 == certificate_sha256)
            })
        })
    }

    /// Installs a verified snapshot if it is newer than the one in force.
    pub fn install(&self, snapshot: DirectorySnapshot) -> bool {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard
            .as_ref()
            .is_some_and(|current| current.version >= snapshot.version)
        {
            return false;
        }
        let version = snapshot.version;
        let deadlines = Arc::new(DeadlineContext::from_snapshot(&snapshot));
        *guard = Some(snapshot);
        drop(guard);
        match self.deadlines.write() {
            Ok(mut current) => *current = deadlines,
            Err(poisoned) => *poisoned.into_inner() = deadlines,
        }
        self.installed.send_replace(version);
        true
    }
}

/// Keeps the directory current: loads the disk cache, then polls the registry.
#[derive(Debug, Clone)]
pub struct DirectoryRefresher {
    pub handle: DirectoryHandle,
    pub registry: RegistryClient,
    pub cache_path: PathBuf,
    pub ca_der: Vec<u8>,
    pub province: ProvinceCode,
    pub interval: Duration,
    /// This node's store: each refresh tells the registry the outbox's backlog (the province
    /// console shows it on the county's page).
    pub store: crate::store::Store,
}

impl DirectoryRefresher {
    /// Loads `directory.bin` if present and valid.
    pub fn load_cache(&self) {
        match read_cache(&self.cache_path, &self.ca_der, self.province) {
            Ok(Some(snapshot)) => {
                let version = snapshot.version;
                self.handle.install(snapshot);
                tracing::info!(version, "directory loaded from cache");
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, path = %self.cache_path.display(), "ignoring the directory cache")
            }
        }
    }

    /// Fetches once; returns whether a newer snapshot was installed.
    pub async fn refresh_once(&self) -> Result<bool, String> {
        let known_version = self.handle.version();
        // The backlog as the monitor reads it (per peer); a failure to read it sends none.
        let (outbox_pending, oldest_pending_unix_ms) = match self.store.outbox_stats().await {
            Ok(per_peer) => per_peer
                .iter()
                .fold((0u64, 0i64), |(pending, oldest), row| {
                    let (_, count, first) = *row;
                    let oldest = match (oldest, first) {
                        (0, first) => first,
                        (oldest, 0) => oldest,
                        (oldest, first) => oldest.min(first),
                    };
                    (pending + u64::try_from(count).unwrap_or(0), oldest)
                }),
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox backlog for the registry");
                (0, 0)
            }
        };
        // A restore and the recovery from it, for the province's alert and county page.
        let recovery = match self.store.recovery_summary().await {
            Ok(summary) => summary,
            Err(error) => {
                tracing::warn!(%error, "cannot read the recovery state for the registry");
                Default::default()
            }
        };
        let restored_backup_of_unix_ms = recovery
            .restore
            .as_ref()
            .map_or(0, |restore| restore.backup_of_unix_ms);
        let recovery_peers_pending = u32::try_from(recovery.peers_pending).unwrap_or(u32::MAX);
        let recovery_replayed = u64::try_from(recovery.replayed).unwrap_or(0);
        let recovery_rebuilt = u64::try_from(recovery.rebuilt).unwrap_or(0);
        let recovery_needs_clerk = u64::try_from(recovery.needs_clerk).unwrap_or(0);
        let response = self
            .registry
            .call(|channel| async move {
                let request = GetDirectoryRequest {
                    known_version,
                    outbox_pending,
                    oldest_pending_unix_ms,
                    restored_backup_of_unix_ms,
                    recovery_peers_pending,
                    recovery_replayed,
                    recovery_rebuilt,
                    recovery_needs_clerk,
                };
                DirectoryClient::new(channel).get_directory(request).await
            })
            .await
            .map_err(|error| error.to_string())?;
        let Some(signed) = response.directory else {
            return Ok(false);
        };
        let snapshot =
            verify_directory(&signed, &self.ca_der, self.province).map_err(|e| e.to_string())?;
        let version = snapshot.version;
        if self.handle.install(snapshot) {
            if let Err(error) = write_atomically(&self.cache_path, &signed.encode_to_vec()) {
                tracing::warn!(%error, "could not write the directory cache");
            }
            tracing::info!(version, "directory updated");
            return Ok(true);
        }
        Ok(false)
    }

    /// Polls until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            if let Err(error) = self.refresh_once().await {
                tracing::warn!(%error, "directory refresh failed; keeping version {}", self.handle.version());
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.handle.refresh_requested.notified() => {}
            }
        }
    }

    /// Publishes this node's endpoint, retrying until it succeeds or shutdown.
    pub async fn publish_endpoint(self, endpoint: String, cancel: CancellationToken) {
        let mut delay = Duration::from_millis(250);
        loop {
            let result = self
                .registry
                .call(|channel| {
                    let request = PublishEndpointRequest {
                        endpoint: endpoint.clone(),
                    };
                    async move {
                        DirectoryClient::new(channel)
                            .publish_endpoint(request)
                            .await
                    }
                })
                .await;
            match result {
                Ok(_) => {
                    tracing::info!(%endpoint, "endpoint published to the registry");
                    let _ = self.refresh_once().await;
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "publishing the endpoint failed; retrying")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}

fn read_cache(
    path: &Path,
    ca_der: &[u8],
    province: ProvinceCode,
) -> Result<Option<DirectorySnapshot>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let signed = SignedDirectory::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    verify_directory(&signed, ca_der, province)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Writes via a temporary file and rename, so a crash never leaves half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
