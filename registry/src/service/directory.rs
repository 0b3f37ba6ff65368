//! `mpx.v1.Directory`: the signed, versioned directory of county nodes.

use std::sync::{Arc, Mutex};

use mpx_proto::evidence::Signer;
use mpx_proto::identity::PeerIdentity;
use mpx_proto::runtime::{peer_caller, validate_endpoint};
use mpx_proto::v1::directory_server::{Directory, DirectoryServer};
use mpx_proto::v1::{
    DirectorySnapshot, GetDirectoryRequest, GetDirectoryResponse, NodeEntry, NodeStatus,
    PublishEndpointRequest, PublishEndpointResponse, Revocation, SignedDirectory,
};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::store::Store;

/// The calendar and deadline policies published with the directory.
#[derive(Debug, Clone)]
pub struct DeadlineSettings {
    pub calendar: Vec<mpx_proto::v1::CalendarYear>,
    pub calendar_version: String,
    pub policies: Vec<mpx_proto::v1::DeadlinePolicy>,
    pub policy_version: String,
}

/// Serves the directory to enrolled nodes.
#[derive(Debug, Clone)]
pub struct DirectoryService {
    store: Store,
    signer: Arc<Signer>,
    signer_certificate_pem: String,
    province: String,
    deadlines: Arc<DeadlineSettings>,
    /// The last signed snapshot, reused while the version is unchanged.
    cache: Arc<Mutex<Option<(u64, SignedDirectory)>>>,
}

impl DirectoryService {
    pub fn new(
        store: Store,
        signer: Arc<Signer>,
        signer_certificate_pem: String,
        province: String,
        deadlines: Arc<DeadlineSettings>,
    ) -> Self {
        Self {
            store,
            signer,
            signer_certificate_pem,
            province,
            deadlines,
            cache: Arc::default(),
        }
    }

    pub fn into_server(self) -> DirectoryServer<Self> {
        DirectoryServer::new(self)
    }

    /// The caller's county, refused when its certificate is revoked.
    async fn enrolled_county<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let caller = peer_caller(request)?;
        let PeerIdentity::County(county) = caller.identity else {
            return Err(Status::permission_denied(
                "only county nodes read the directory",
            ));
        };
        let (_, _, revocations) = self.store.directory().await?;
        if revocations
            .iter()
            .any(|revocation| revocation.certificate_sha256 == caller.certificate_sha256)
        {
            tracing::warn!(%county, "revoked certificate refused");
            return Err(Status::permission_denied(format!(
                "the certificate of county {county} is revoked; re-enrol the node"
            )));
        }
        Ok(county.to_string())
    }

    /// The current signed snapshot.
    pub async fn signed_snapshot(&self) -> Result<SignedDirectory, Status> {
        let (version, nodes, revocations) = self.store.directory().await?;
        if let Ok(cache) = self.cache.lock()
            && let Some((cached_version, signed)) = cache.as_ref()
            && *cached_version == version
        {
            return Ok(signed.clone());
        }
        let snapshot = DirectorySnapshot {
            version,
            province: self.province.clone(),
            issued_at_unix_ms: mpx_proto::time::now_unix_ms(),
            nodes: nodes
                .into_iter()
                .map(|node| NodeEntry {
                    status: if node.status == "revoked" {
                        NodeStatus::Revoked
                    } else {
                        NodeStatus::Active
                    } as i32,
                    county: node.county,
                    name: node.name,
                    endpoint: node.endpoint,
                    certificate_sha256: node.certificate_sha256,
                    certificate_pem: node.certificate_pem,
                })
                .collect(),
            revocations: revocations
                .into_iter()
                .map(|revocation| Revocation {
                    certificate_sha256: revocation.certificate_sha256,
                    county: revocation.county,
                    revoked_at_unix_ms: revocation.revoked_at_unix_ms,
                    reason: revocation.reason,
                })
                .collect(),
            calendar: self.deadlines.calendar.clone(),
            calendar_version: self.deadlines.calendar_version.clone(),
            policies: self.deadlines.policies.clone(),
            policy_version: self.deadlines.policy_version.clone(),
        };
        let bytes = snapshot.encode_to_vec();
        let signature = self.signer.sign(&bytes).map_err(|error| {
            tracing::error!(%error, "directory signing failed");
            Status::internal("the registry could not sign the directory")
        })?;
        let signed = SignedDirectory {
            snapshot: bytes,
            signature,
            signer_certificate_pem: self.signer_certificate_pem.clone(),
        };
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((version, signed.clone()));
        }
        Ok(signed)
    }
}

#[tonic::async_trait]
impl Directory for DirectoryService {
    async fn get_directory(
        &self,
        request: Request<GetDirectoryRequest>,
    ) -> Result<Response<GetDirectoryResponse>, Status> {
        let county = self.enrolled_county(&request).await?;
        let asked = request.get_ref();
        let known_version = asked.known_version;
        // What the node says of itself is shown as said (the province console's county page);
        // a failure to record it does not keep the node from its directory.
        let contact = crate::store::NodeContact {
            county: county.clone(),
            seen_at_unix_ms: mpx_proto::time::now_unix_ms(),
            directory_version: i64::try_from(known_version).unwrap_or(i64::MAX),
            outbox_pending: i64::try_from(asked.outbox_pending).unwrap_or(i64::MAX),
            oldest_pending_unix_ms: asked.oldest_pending_unix_ms.max(0),
            restored_backup_of_unix_ms: asked.restored_backup_of_unix_ms.max(0),
            recovery_peers_pending: i64::from(asked.recovery_peers_pending),
            recovery_replayed: i64::try_from(asked.recovery_replayed).unwrap_or(i64::MAX),
            recovery_rebuilt: i64::try_from(asked.recovery_rebuilt).unwrap_or(i64::MAX),
            recovery_needs_clerk: i64::try_from(asked.recovery_needs_clerk).unwrap_or(i64::MAX),
        };
        match self.store.record_node_contact(&contact).await {
            Ok(true) => tracing::warn!(
                %county,
                backup_of = %mpx_proto::time::format_unix_ms(contact.restored_backup_of_unix_ms),
                peers_pending = contact.recovery_peers_pending,
                "a county node says it was restored from a backup; alert raised"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%county, %error, "cannot record a node's directory refresh")
            }
        }
        let signed = self.signed_snapshot().await?;
        let version = DirectorySnapshot::decode(signed.snapshot.as_slice())
            .map(|snapshot| snapshot.version)
            .unwrap_or_default();
        let directory = (version != known_version).then_some(signed);
        Ok(Response::new(GetDirectoryResponse { directory }))
    }

    async fn publish_endpoint(
        &self,
        request: Request<PublishEndpointRequest>,
    ) -> Result<Response<PublishEndpointResponse>, Status> {
        let county = self.enrolled_county(&request).await?;
        let endpoint = request.into_inner().endpoint;
        validate_endpoint(&endpoint)
            .map_err(|error| Status::invalid_argument(format!("endpoint: {error}")))?;
        let directory_version = self
            .store
            .publish_endpoint(&county, &endpoint, mpx_proto::time::now_unix_ms())
            .await?;
        tracing::info!(%county, %endpoint, "endpoint published");
        Ok(Response::new(PublishEndpointResponse { directory_version }))
    }
}
