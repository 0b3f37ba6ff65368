//! `mpx.v1.Enrollment`: a node sends a CSR with a one-time token and gets its certificate.

use std::sync::Arc;

use mpx_proto::division::{CountyCode, ProvinceCode};
use mpx_proto::identity::{certificate_der_from_pem, certificate_fingerprint};
use mpx_proto::runtime::{hash_token, validate_endpoint};
use mpx_proto::text::{self, Shape};
use mpx_proto::v1::enrollment_server::{Enrollment, EnrollmentServer};
use mpx_proto::v1::{EnrollRequest, EnrollResponse};
use tonic::{Request, Response, Status};

use crate::ca::{CaError, CertificateAuthority};
use crate::store::Store;

/// Issues node certificates against one-time tokens.
#[derive(Debug, Clone)]
pub struct EnrollmentService {
    store: Store,
    authority: Arc<CertificateAuthority>,
    province: ProvinceCode,
    certificate_validity_days: u32,
}

impl EnrollmentService {
    pub fn new(
        store: Store,
        authority: Arc<CertificateAuthority>,
        province: ProvinceCode,
        certificate_validity_days: u32,
    ) -> Self {
        Self {
            store,
            authority,
            province,
            certificate_validity_days,
        }
    }

    pub fn into_server(self) -> EnrollmentServer<Self> {
        EnrollmentServer::new(self)
    }
}

#[tonic::async_trait]
impl Enrollment for EnrollmentService {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        let request = request.into_inner();
        let county = CountyCode::parse(&request.county)
            .map_err(|error| Status::invalid_argument(format!("county: {error}")))?;
        if county.province() != self.province {
            return Err(Status::invalid_argument(format!(
                "county: {county} is not in province {}; enrol with that province's registry",
                self.province
            )));
        }
        if request.token.trim().is_empty() {
            return Err(Status::invalid_argument(
                "token: required; get one with `registry enroll --county CODE`",
            ));
        }
        if request.csr_pem.trim().is_empty() {
            return Err(Status::invalid_argument(
                "csr_pem: required (a PKCS#10 request, PEM)",
            ));
        }
        if !request.endpoint.is_empty() {
            validate_endpoint(&request.endpoint)
                .map_err(|error| Status::invalid_argument(format!("endpoint: {error}")))?;
        }
        // The name is shown to operators and in reports: the same text rule as a clerk's input.
        text::check(&request.name, 64, Shape::Line, true)
            .map_err(|error| Status::invalid_argument(format!("name: {error}")))?;
        let token_hash = hash_token(request.token.trim());
        let now = mpx_proto::time::now_unix_ms();
        if !self
            .store
            .enrollment_token_is_valid(county.as_str(), &token_hash, now)
            .await?
        {
            tracing::warn!(%county, "enrolment refused: bad token");
            return Err(Status::unauthenticated(
                "the enrolment token is unknown, used, expired, or for another county",
            ));
        }
        let certificate_pem = self
            .authority
            .issue_for_county(&request.csr_pem, county, self.certificate_validity_days)
            .map_err(|error| match error {
                CaError::InvalidCsr(_) | CaError::UnsupportedKey => {
                    Status::invalid_argument(format!("csr_pem: {error}"))
                }
                other => {
                    tracing::error!(error = %other, "certificate issue failed");
                    Status::internal("the registry could not issue a certificate")
                }
            })?;
        let der = certificate_der_from_pem(&certificate_pem)
            .map_err(|_| Status::internal("the registry issued an unreadable certificate"))?;
        self.store
            .complete_enrollment(
                county.as_str(),
                &token_hash,
                request.name.trim(),
                &request.endpoint,
                &certificate_pem,
                &certificate_fingerprint(&der),
                now,
            )
            .await?;
        tracing::info!(%county, "node enrolled");
        Ok(Response::new(EnrollResponse {
            certificate_pem,
            ca_certificate_pem: self.authority.ca_pem().to_string(),
        }))
    }
}

/// Why a one-time enrolment token was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    /// The county is no county of the shipped GB/T 2260 table, or of another province.
    #[error("county: {0}")]
    County(String),
    #[error("no token: {0}")]
    Random(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A county of `province` in the shipped GB/T 2260 edition, from its code as typed.
pub fn county_of_province(text: &str, province: ProvinceCode) -> Result<CountyCode, String> {
    let county = mpx_proto::division::DivisionTable::shipped()
        .county(text.trim())
        .map_err(|error| error.to_string())?;
    if county.province() != province {
        return Err(format!("{county} is not in province {province}"));
    }
    Ok(county)
}

/// Issues a one-time enrolment token for `county` (stored hashed, valid `ttl_hours`): what
/// `registry enroll` prints and the console's counties page shows once.
pub async fn issue_enrollment_token(
    store: &Store,
    county: &CountyCode,
    name: &str,
    ttl_hours: u32,
    now_unix_ms: i64,
) -> Result<String, IssueTokenError> {
    let token = mpx_proto::runtime::generate_token("mpxenrol").map_err(IssueTokenError::Random)?;
    store
        .create_enrollment_token(
            county.as_str(),
            name.trim(),
            &hash_token(&token),
            now_unix_ms,
            now_unix_ms + i64::from(ttl_hours) * 3_600_000,
        )
        .await?;
    Ok(token)
}
