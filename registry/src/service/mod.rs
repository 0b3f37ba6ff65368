//! gRPC services of the registry, one module each, and the one mapping from store errors to
//! `tonic::Status`.

pub mod compliance;
pub mod directory;
pub mod enrollment;
pub mod index;
pub mod queries;

use mpx_proto::division::CountyCode;
use mpx_proto::identity::PeerIdentity;
use tonic::{Request, Status};

use crate::store::{Store, StoreError};

/// The county calling on the peer listener, from its client certificate; refused when the
/// caller is not a county node or its certificate is revoked.
pub(crate) async fn county_caller<T>(
    store: &Store,
    request: &Request<T>,
) -> Result<CountyCode, Status> {
    let caller = mpx_proto::runtime::peer_caller(request)?;
    let PeerIdentity::County(county) = caller.identity else {
        return Err(Status::permission_denied(
            "only county nodes call this (client certificate mpx://county/CODE)",
        ));
    };
    let (_, _, revocations) = store.directory().await?;
    if revocations
        .iter()
        .any(|r| r.certificate_sha256 == caller.certificate_sha256)
    {
        return Err(Status::permission_denied(format!(
            "the certificate of county {county} is revoked"
        )));
    }
    Ok(county)
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::TokenInvalid => Status::unauthenticated(error.to_string()),
            StoreError::UnknownCounty(_) => Status::not_found(error.to_string()),
            StoreError::Database(_) | StoreError::Open(_) => {
                tracing::error!(%error, "store failure");
                Status::internal(
                    "the registry's database failed; the operator has the details in the log",
                )
            }
        }
    }
}
