//! `mpx.v1.Queries` (operator listener, bearer tokens): province-wide questions. Every query
//! needs a purpose and is written to the hash-chained audit log with the operator's name.

use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::runtime::operator_of;
use mpx_proto::v1::queries_server::{Queries, QueriesServer};
use mpx_proto::v1::{LocateRequest, LocateResponse, PersonStatus};
use tonic::{Request, Response, Status};

use crate::store::Store;

#[derive(Debug, Clone)]
pub struct QueriesService {
    store: Store,
}

impl QueriesService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn into_server(self) -> QueriesServer<Self> {
        QueriesServer::new(self)
    }
}

fn require_purpose(purpose: &str) -> Result<String, Status> {
    let purpose = purpose.trim();
    if purpose.is_empty() {
        return Err(Status::invalid_argument(
            "purpose: required; say why the person is looked up (it is recorded in the audit log)",
        ));
    }
    if purpose.chars().count() > 200 {
        return Err(Status::invalid_argument("purpose: at most 200 characters"));
    }
    Ok(purpose.to_string())
}

#[tonic::async_trait]
impl Queries for QueriesService {
    async fn locate(
        &self,
        request: Request<LocateRequest>,
    ) -> Result<Response<LocateResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let id = ResidentId::parse_with(&request.resident_id, CheckDigitMode::Warn)
            .map_err(|e| Status::invalid_argument(format!("resident_id: {e}")))?
            .id;
        let reports = self.store.locate(id.as_str()).await?;
        self.store
            .audit(
                &operator,
                "locate",
                &purpose,
                id.as_str(),
                reports.len() as i64,
            )
            .await?;
        // The hukou county's own report says best where the hukou is.
        let hukou_county = reports
            .iter()
            .find(|r| r.reporting_county == r.hukou_county)
            .or_else(|| reports.first())
            .map(|r| r.hukou_county.clone())
            .unwrap_or_default();
        let residing_in = reports
            .iter()
            .filter(|r| r.status() == PersonStatus::Residing)
            .map(|r| r.reporting_county.clone())
            .collect();
        Ok(Response::new(LocateResponse {
            hukou_county,
            residing_in,
            reports,
        }))
    }
}
