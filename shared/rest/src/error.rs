//! Everything a request can fail with, mapped to a status and the API's error body in one
//! place, and logged there, once.

use axum::response::{IntoResponse, Response};
use chat_core::auth::AuthFailure;
use chat_core::domain::ValidationError;
use chat_core::ports::error_chain;
use chat_core::protocol::{ErrorBody, ErrorCode};
use chat_core::service::ServiceError;
use http::{HeaderValue, StatusCode, header};

use crate::reply::json_response;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// No credentials where they are required.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A refused token; the message names the reason, never the token.
    #[error(transparent)]
    Token(AuthFailure),
    /// A request the API cannot read (malformed JSON, a multipart body without its file).
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is too large")]
    TooLarge,
    #[error("no such route")]
    NoRoute,
    /// The route exists; `allow` lists its methods, as the `Allow` header says.
    #[error("method not allowed on this route")]
    MethodNotAllowed { allow: &'static str },
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::Service(error.into())
    }
}

impl From<AuthFailure> for ApiError {
    /// Ours to fix (the identity provider's keys unreachable) is a 5xx, not the caller's 401.
    fn from(failure: AuthFailure) -> Self {
        if failure.is_server_fault() {
            Self::Service(ServiceError::Unavailable(Box::new(failure)))
        } else {
            Self::Token(failure)
        }
    }
}

impl ApiError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Service(error) => error.code(),
            Self::Unauthorized(_) | Self::Token(_) => ErrorCode::Unauthorized,
            Self::BadRequest(_) | Self::MethodNotAllowed { .. } => ErrorCode::InvalidRequest,
            Self::TooLarge => ErrorCode::TooLarge,
            Self::NoRoute => ErrorCode::NotFound,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::from_u16(self.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// Server faults with their whole cause, refusals briefly: the log says what the
    /// client could not be told.
    fn log(&self, status: StatusCode) {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %error_chain(self), "request failed");
        } else if matches!(self, Self::Token(_) | Self::Unauthorized(_)) {
            tracing::info!(status = status.as_u16(), reason = %self, "caller refused");
        } else {
            tracing::debug!(status = status.as_u16(), reason = %self, "request refused");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        self.log(status);
        tracing::Span::current().record("outcome", self.code().as_str());
        let mut response = json_response(status, &ErrorBody::new(self.code(), self.to_string()));
        if let Self::Service(error) = &self
            && let Some(metric) = error.refusal_metric()
        {
            // Counted by the router's `count_refusals`, which holds the service.
            response.extensions_mut().insert(metric);
        }
        match self {
            Self::MethodNotAllowed { allow } => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Service(ServiceError::RateLimited { retry_after, .. }) => {
                // Whole seconds, rounded up: a client waiting that long is let through.
                let seconds = retry_after.as_millis().div_ceil(1_000).max(1);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
            }
            _ => {}
        }
        response
    }
}
