//! gRPC services of the registry, one module each, and the one mapping from store errors to
//! `tonic::Status`.

pub mod compliance;
pub mod directory;
pub mod enrollment;
pub mod index;
pub mod queries;

use tonic::Status;

use crate::store::StoreError;

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
