//! `mpx.v1.Index` (peer listener): county nodes report their roster changes.

use mpx_proto::division::CountyCode;
use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::text::{self, Shape, limits};
use mpx_proto::v1::index_server::{Index, IndexServer};
use mpx_proto::v1::{
    FetchAssignmentsRequest, FetchAssignmentsResponse, ReportRosterChangesRequest,
    ReportRosterChangesResponse,
};
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

    async fn county_caller<T>(&self, request: &Request<T>) -> Result<CountyCode, Status> {
        super::county_caller(&self.store, request).await
    }
}

#[tonic::async_trait]
impl Index for IndexService {
    async fn fetch_assignments(
        &self,
        request: Request<FetchAssignmentsRequest>,
    ) -> Result<Response<FetchAssignmentsResponse>, Status> {
        let county = self.county_caller(&request).await?;
        let after_seq = request.into_inner().after_seq;
        if after_seq < 0 {
            return Err(Status::invalid_argument(
                "after_seq: 0 or the last seq held",
            ));
        }
        let assignments = self
            .store
            .assignments_after(county.as_str(), after_seq, 200)
            .await?;
        Ok(Response::new(FetchAssignmentsResponse { assignments }))
    }

    async fn report_roster_changes(
        &self,
        request: Request<ReportRosterChangesRequest>,
    ) -> Result<Response<ReportRosterChangesResponse>, Status> {
        let county = self.county_caller(&request).await?;
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
            // Names are shown in query answers: the same text rule as at the county.
            text::check(&change.name, limits::NAME, Shape::Line, true)
                .map_err(|e| Status::invalid_argument(format!("{}: {e}", field("name"))))?;
            if change.since.len() > 10 {
                return Err(Status::invalid_argument(format!(
                    "{}: expected YYYY-MM-DD",
                    field("since")
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
