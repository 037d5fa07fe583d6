//! The service layer's one error type, mapped to a contract error code in one place.
//! Failures of ours keep their cause as their `source`, for the log line written where the
//! error is answered; clients only ever see the error's own message.

use crate::domain::ValidationError;
use crate::moderation::Refusal;
use crate::ports::{BlobError, Cause, PushError, StoreError};
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
    /// Over a rate limit; `what` says which, `retry_after` when to try again, `closes`
    /// whether the connection that kept sending is closed for it.
    #[error("rate limited: {what}; retry after {} ms", retry_after.as_millis())]
    RateLimited {
        what: &'static str,
        retry_after: std::time::Duration,
        closes: bool,
    },
    /// Content the moderator refused; the message names the rule, never the content.
    #[error("moderated: {0}")]
    Moderated(#[from] Refusal),
    /// Worth retrying: a dependency timed out, was throttled or is not configured.
    #[error("the service is temporarily unavailable; try again")]
    Unavailable(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
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
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Moderated(_) => ErrorCode::Moderated,
            // 503 would be truer, but the contract's codes have none; clients retry on 5xx.
            Self::Unavailable(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The metric a refusal of this kind counts in, if any.
    pub fn refusal_metric(&self) -> Option<crate::metrics::Metric> {
        match self {
            Self::Moderated(_) => Some(crate::metrics::Metric::ModerationRefusals),
            Self::RateLimited { .. } => Some(crate::metrics::Metric::RateLimitRefusals),
            _ => None,
        }
    }

    /// Ours, not the caller's: worth a log line with the whole cause.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::SessionEnded => Self::SessionEnded,
            StoreError::Conflict(what) => Self::Conflict(what),
            // Retried where it can be; one that reaches a caller is a conflict to retry.
            StoreError::Stale(what) => Self::Conflict(what),
            StoreError::Full => Self::Conflict("a limit is reached"),
            StoreError::Invalid(invalid) => Self::Invalid(invalid),
            unavailable @ StoreError::Unavailable(_) => Self::Unavailable(Box::new(unavailable)),
            failure @ StoreError::Internal(_) => Self::Internal(Box::new(failure)),
        }
    }
}

impl From<PushError> for ServiceError {
    fn from(error: PushError) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

impl From<BlobError> for ServiceError {
    fn from(error: BlobError) -> Self {
        match error {
            unavailable @ BlobError::Unavailable(_) => Self::Unavailable(Box::new(unavailable)),
            failure @ BlobError::Internal(_) => Self::Internal(Box::new(failure)),
        }
    }
}
