//! The REST API: parse the request, call the service, map the result. Everything deeper
//! (authorization included) lives in `chat_shared::service`.

pub mod body;
pub mod rest;
mod routes;

use std::sync::Arc;

use chat_shared::auth::{Authenticator, find_bearer_token};
use chat_shared::domain::Principal;
use chat_shared::ports::Clock;
use chat_shared::protocol::{ErrorBody, ErrorCode};
use chat_shared::service::{ChatService, ServiceError};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

pub use rest::json_response;
pub use routes::handle;

/// What the handler needs, built once per cold start.
pub struct App {
    pub service: ChatService,
    pub authenticator: Arc<Authenticator>,
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// What a deployed HTTP function builds at cold start, from its environment: the
    /// same services the WebSocket functions build, posting through `WEBSOCKET_ENDPOINT`.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        use chat_shared::config::{Environment, websocket_endpoint};
        let (services, config, _) = chat_shared::gateway::production_services().await?;
        let endpoint = websocket_endpoint(&Environment)?;
        Ok(Self {
            service: services.for_endpoint(&endpoint),
            authenticator: Arc::new(Authenticator::new(config.auth, config.visitor_secret)),
            clock: Arc::new(chat_shared::ports::SystemClock),
        })
    }

    /// The caller, from `Authorization: Bearer`.
    pub async fn caller(&self, request: &Request) -> Result<Principal, ApiError> {
        let token = find_bearer_token(request.headers())
            .ok_or(ApiError::Unauthorized("missing bearer token"))?;
        self.authenticator
            .authenticate(&token)
            .await
            .map_err(|failure| {
                if failure.is_server_fault() {
                    tracing::error!(%failure, "cannot verify tokens");
                    ApiError::Service(ServiceError::Unavailable)
                } else {
                    tracing::info!(%failure, "token refused");
                    ApiError::Token(failure.to_string())
                }
            })
    }
}

/// Everything a request can fail with, mapped to a status and error body in one place.
#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    Unauthorized(&'static str),
    /// A refused token; the message names the reason (never the token).
    Token(String),
    BadRequest(String),
    TooLarge,
    NoRoute,
    MethodNotAllowed(&'static str),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        Self::Service(error)
    }
}

impl From<chat_shared::domain::ValidationError> for ApiError {
    fn from(error: chat_shared::domain::ValidationError) -> Self {
        Self::Service(error.into())
    }
}

impl ApiError {
    fn body(&self) -> ErrorBody {
        match self {
            Self::Service(error) => ErrorBody::new(error.code(), error.to_string()),
            Self::Unauthorized(message) => ErrorBody::new(ErrorCode::Unauthorized, *message),
            Self::Token(message) => ErrorBody::new(ErrorCode::Unauthorized, message.clone()),
            Self::BadRequest(message) => ErrorBody::new(ErrorCode::InvalidRequest, message.clone()),
            Self::TooLarge => ErrorBody::new(ErrorCode::TooLarge, "the request body is too large"),
            Self::NoRoute => ErrorBody::new(ErrorCode::NotFound, "no such route"),
            Self::MethodNotAllowed(_) => ErrorBody::new(
                ErrorCode::InvalidRequest,
                "method not allowed on this route",
            ),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let body = self.body();
        let status = match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::from_u16(body.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        };
        let mut response = json_response(status, &body);
        if let Self::MethodNotAllowed(allow) = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}
