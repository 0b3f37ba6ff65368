//! `mpx.v1.Compliance`: county nodes report the cases they escalated.

use mpx_proto::division::CountyCode;
use mpx_proto::identity::PeerIdentity;
use mpx_proto::runtime::peer_caller;
use mpx_proto::v1::compliance_server::{Compliance, ComplianceServer};
use mpx_proto::v1::{ReportEscalationsRequest, ReportEscalationsResponse};
use tonic::{Request, Response, Status};

use crate::store::Store;

/// Most reports in one call.
const MAX_REPORTS: usize = 1000;

#[derive(Debug, Clone)]
pub struct ComplianceService {
    store: Store,
}

impl ComplianceService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn into_server(self) -> ComplianceServer<Self> {
        ComplianceServer::new(self)
    }
}

#[tonic::async_trait]
impl Compliance for ComplianceService {
    async fn report_escalations(
        &self,
        request: Request<ReportEscalationsRequest>,
    ) -> Result<Response<ReportEscalationsResponse>, Status> {
        let caller = peer_caller(&request)?;
        let PeerIdentity::County(reporter) = caller.identity else {
            return Err(Status::permission_denied(
                "only county nodes report escalations",
            ));
        };
        let (_, _, revocations) = self.store.directory().await?;
        if revocations
            .iter()
            .any(|r| r.certificate_sha256 == caller.certificate_sha256)
        {
            return Err(Status::permission_denied(format!(
                "the certificate of county {reporter} is revoked"
            )));
        }
        let reports = request.into_inner().escalations;
        if reports.len() > MAX_REPORTS {
            return Err(Status::invalid_argument(format!(
                "escalations: at most {MAX_REPORTS} per call"
            )));
        }
        for (index, report) in reports.iter().enumerate() {
            let field = |name: &str| format!("escalations[{index}].{name}");
            uuid::Uuid::parse_str(&report.case_id).map_err(|_| {
                Status::invalid_argument(format!("{}: expected a UUID", field("case_id")))
            })?;
            for (name, value) in [
                ("requester_county", &report.requester_county),
                ("recipient_county", &report.recipient_county),
            ] {
                CountyCode::parse(value)
                    .map_err(|e| Status::invalid_argument(format!("{}: {e}", field(name))))?;
            }
            // A county reports only cases it is party to.
            if report.requester_county != reporter.as_str()
                && report.recipient_county != reporter.as_str()
            {
                return Err(Status::permission_denied(format!(
                    "{}: county {reporter} is neither the requester nor the recipient",
                    field("case_id")
                )));
            }
            if report.detail.chars().count() > 500
                || report.case_kind.len() > 32
                || report.direction.len() > 16
            {
                return Err(Status::invalid_argument(format!(
                    "escalations[{index}]: a text field is too long"
                )));
            }
        }
        let recorded = self
            .store
            .record_escalations(reporter.as_str(), &reports, mpx_proto::time::now_unix_ms())
            .await?;
        if recorded > 0 {
            tracing::info!(%reporter, recorded, "escalations reported");
        }
        Ok(Response::new(ReportEscalationsResponse {
            recorded: u32::try_from(recorded).unwrap_or(u32::MAX),
        }))
    }
}
