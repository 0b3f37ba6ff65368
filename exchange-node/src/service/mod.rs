//! gRPC services of the node, one module each. Each method converts protocol to domain at the
//! top and calls the [`crate::workflow::Workflow`]; errors map to `Status` here, once.

pub mod alerts;
pub mod cases;
pub mod exchange;
pub mod records;

use tonic::Status;

use crate::store::StoreError;
use crate::workflow::WorkflowError;

impl From<WorkflowError> for Status {
    fn from(error: WorkflowError) -> Self {
        match error {
            WorkflowError::Invalid(field) => Status::invalid_argument(field.to_string()),
            WorkflowError::NotFound(message) => Status::not_found(message),
            WorkflowError::FailedPrecondition(message) => Status::failed_precondition(message),
            WorkflowError::AlreadyExists(message) => Status::already_exists(message),
            WorkflowError::PermissionDenied(message) => Status::permission_denied(message),
            WorkflowError::Unavailable(message) => Status::unavailable(message),
            WorkflowError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failure");
        Status::unavailable(
            "the node's database failed; nothing was changed; retry, or ask the operator (details in the node's log)",
        )
    }
}

/// A required `purpose` for reads of personal data.
pub(crate) fn require_purpose(purpose: &str) -> Result<String, Status> {
    let purpose = purpose.trim();
    if purpose.is_empty() {
        return Err(Status::invalid_argument(
            "purpose: required; say why the personal data is read (it is recorded in the audit log)",
        ));
    }
    if purpose.chars().count() > 200 {
        return Err(Status::invalid_argument("purpose: at most 200 characters"));
    }
    Ok(purpose.to_string())
}

/// Page size: default 100, at most 1000.
pub(crate) fn page_size(requested: u32) -> u32 {
    match requested {
        0 => 100,
        n => n.min(1000),
    }
}

impl From<crate::domain::FieldError> for Status {
    fn from(error: crate::domain::FieldError) -> Self {
        Status::invalid_argument(error.to_string())
    }
}
