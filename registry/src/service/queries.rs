//! `mpx.v1.Queries` (operator listener, bearer tokens): province-wide questions. Every query
//! needs a purpose and is written to the hash-chained audit log with the operator's name.

use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::runtime::operator_of;
use mpx_proto::v1::queries_server::{Queries, QueriesServer};
use mpx_proto::v1::{self, LocateRequest, LocateResponse, PersonStatus};
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
    async fn counts(
        &self,
        request: Request<v1::CountsRequest>,
    ) -> Result<Response<v1::CountsResponse>, Status> {
        let operator = operator_of(&request)?;
        let purpose = require_purpose(&request.get_ref().purpose)?;
        let counties = self.store.county_counts().await?;
        self.store
            .audit(&operator, "counts", &purpose, "", counties.len() as i64)
            .await?;
        Ok(Response::new(v1::CountsResponse { counties }))
    }

    async fn conflicts(
        &self,
        request: Request<v1::ConflictsRequest>,
    ) -> Result<Response<v1::ConflictsResponse>, Status> {
        let operator = operator_of(&request)?;
        let purpose = require_purpose(&request.get_ref().purpose)?;
        let limit = limit_of(request.get_ref().limit);
        let conflicts = self.store.conflicts(limit).await?;
        self.store
            .audit(&operator, "conflicts", &purpose, "", conflicts.len() as i64)
            .await?;
        Ok(Response::new(v1::ConflictsResponse { conflicts }))
    }

    async fn untracked(
        &self,
        request: Request<v1::UntrackedRequest>,
    ) -> Result<Response<v1::UntrackedResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let today = mpx_proto::time::today_in_province();
        let cutoff = today
            .checked_sub(jiff::Span::new().days(i64::from(request.min_days)))
            .map_err(|_| Status::invalid_argument("min_days: too large"))?;
        let people = self
            .store
            .untracked(&cutoff.to_string(), limit_of(request.limit))
            .await?;
        self.store
            .audit(
                &operator,
                "untracked",
                &purpose,
                &format!("min_days={}", request.min_days),
                people.len() as i64,
            )
            .await?;
        Ok(Response::new(v1::UntrackedResponse { people }))
    }

    async fn flows(
        &self,
        request: Request<v1::FlowsRequest>,
    ) -> Result<Response<v1::FlowsResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let from = mpx_proto::time::parse_date(&request.from_date)
            .map_err(|e| Status::invalid_argument(format!("from_date: {e}")))?;
        let to = mpx_proto::time::parse_date(&request.to_date)
            .map_err(|e| Status::invalid_argument(format!("to_date: {e}")))?;
        if to < from {
            return Err(Status::invalid_argument(
                "to_date: must not be before from_date",
            ));
        }
        let threshold = if request.suppress_below == 0 {
            5
        } else {
            request.suppress_below
        };
        let flows = self
            .store
            .flows(&from.to_string(), &to.to_string())
            .await?
            .into_iter()
            .map(|(from_county, to_county, count)| {
                let suppressed = count < i64::from(threshold);
                v1::Flow {
                    from_county,
                    to_county,
                    count: if suppressed { 0 } else { count },
                    suppressed,
                }
            })
            .collect::<Vec<_>>();
        self.store
            .audit(
                &operator,
                "flows",
                &purpose,
                &format!("{from}..{to}"),
                flows.len() as i64,
            )
            .await?;
        Ok(Response::new(v1::FlowsResponse {
            flows,
            suppress_below: threshold,
        }))
    }
}

fn limit_of(requested: u32) -> u32 {
    match requested {
        0 => 1000,
        n => n.min(10_000),
    }
}
