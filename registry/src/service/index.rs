//! `mpx.v1.Index` (peer listener): county nodes report their roster changes.

use mpx_proto::division::CountyCode;
use mpx_proto::identity::PeerIdentity;
use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::runtime::peer_caller;
use mpx_proto::v1::index_server::{Index, IndexServer};
use mpx_proto::v1::{ReportRosterChangesRequest, ReportRosterChangesResponse};
use tonic::{Request, Response, Status};

use crate::store::Store;

const MAX_CHANGES: usize = 1000;

#[derive(Debug, Clone)]
pub struct IndexService {
    store: Store,
}

impl IndexService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn into_server(self) -> IndexServer<Self> {
        IndexServer::new(self)
    }
}

#[tonic::async_trait]
impl Index for IndexService {
    async fn report_roster_changes(
        &self,
        request: Request<ReportRosterChangesRequest>,
    ) -> Result<Response<ReportRosterChangesResponse>, Status> {
        let caller = peer_caller(&request)?;
        let PeerIdentity::County(county) = caller.identity else {
            return Err(Status::permission_denied(
                "only county nodes report roster changes",
            ));
        };
        let (_, _, revocations) = self.store.directory().await?;
        if revocations
            .iter()
            .any(|r| r.certificate_sha256 == caller.certificate_sha256)
        {
            return Err(Status::permission_denied(format!(
                "the certificate of county {county} is revoked"
            )));
        }
        let changes = request.into_inner().changes;
        if changes.len() > MAX_CHANGES {
            return Err(Status::invalid_argument(format!(
                "changes: at most {MAX_CHANGES} per call"
            )));
        }
        for (index, change) in changes.iter().enumerate() {
            let field = |name: &str| format!("changes[{index}].{name}");
            ResidentId::parse_with(&change.resident_id, CheckDigitMode::Warn)
                .map_err(|e| Status::invalid_argument(format!("{}: {e}", field("resident_id"))))?;
            CountyCode::parse(&change.hukou_county)
                .map_err(|e| Status::invalid_argument(format!("{}: {e}", field("hukou_county"))))?;
            if !change.residence_county.is_empty() {
                CountyCode::parse(&change.residence_county).map_err(|e| {
                    Status::invalid_argument(format!("{}: {e}", field("residence_county")))
                })?;
            }
            if change.seq <= 0 {
                return Err(Status::invalid_argument(format!(
                    "{}: must be positive",
                    field("seq")
                )));
            }
            if change.name.chars().count() > 64 || change.since.len() > 10 {
                return Err(Status::invalid_argument(format!(
                    "changes[{index}]: name or since too long"
                )));
            }
        }
        let acknowledged_seq = if changes.is_empty() {
            self.store.index_cursor(county.as_str()).await?
        } else {
            self.store
                .record_roster_changes(county.as_str(), &changes, mpx_proto::time::now_unix_ms())
                .await?
        };
        Ok(Response::new(ReportRosterChangesResponse {
            acknowledged_seq,
        }))
    }
}
