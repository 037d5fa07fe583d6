//! The service layer's one error type, mapped to a contract error code in one place.

use crate::domain::ValidationError;
use crate::ports::{BlobError, PushError, StoreError};
use crate::protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// What was not found (`session`, `message`, ...).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// Over a size limit; the message says which.
    #[error("{0}")]
    TooLarge(String),
    #[error("the session has ended")]
    SessionEnded,
    #[error("the service is temporarily unavailable; try again")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::InvalidRequest,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::SessionEnded => ErrorCode::SessionEnded,
            // 503 would be truer, but the contract's codes have none; clients retry on 5xx.
            Self::Unavailable | Self::Internal => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::SessionEnded => Self::SessionEnded,
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Invalid(invalid) => Self::Invalid(invalid),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                Self::Unavailable
            }
            StoreError::Internal(detail) => {
                tracing::error!(%detail, "store failure");
                Self::Internal
            }
        }
    }
}

impl From<PushError> for ServiceError {
    fn from(error: PushError) -> Self {
        tracing::warn!(%error, "push failed");
        Self::Unavailable
    }
}

impl From<BlobError> for ServiceError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::Unavailable(detail) => {
                tracing::warn!(%detail, "blob store unavailable");
                Self::Unavailable
            }
            BlobError::Internal(detail) => {
                tracing::error!(%detail, "blob store failure");
                Self::Internal
            }
        }
    }
}
