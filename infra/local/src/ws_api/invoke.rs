//! Invocations: a handler run as Lambda runs it, its event and response through JSON.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::RouteHandler;
use super::events::event_json;
use crate::gateway_common::panic_message;

/// Why an invocation produced no usable response.
pub(super) enum Failure {
    /// The handler returned an error.
    Handler(lambda_runtime::Error),
    Panicked(String),
    /// The event or the response did not survive the trip through JSON.
    Invalid(serde_json::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handler(error) => write!(f, "failed: {error}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::Invalid(error) => write!(
                f,
                "event or response is not valid JSON for its type: {error}"
            ),
        }
    }
}

/// The Lambda side of one invocation: the event JSON in, the response through JSON out,
/// the handler in its own task so that a panic fails this invocation only.
pub(super) async fn invoke<E, R>(
    handler: impl FnOnce(E) -> BoxFuture<'static, Result<R, lambda_runtime::Error>> + Send + 'static,
    event: Value,
) -> Result<R, Failure>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let event: E = serde_json::from_value(event).map_err(Failure::Invalid)?;
    let output = match tokio::spawn(async move { handler(event).await }).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(Failure::Handler(error)),
        Err(join_error) => return Err(Failure::Panicked(panic_message(join_error))),
    };
    let output = serde_json::to_value(&output).map_err(Failure::Invalid)?;
    serde_json::from_value(output).map_err(Failure::Invalid)
}

pub(super) async fn invoke_route(
    handler: RouteHandler,
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Failure> {
    let json = event_json(event).map_err(Failure::Invalid)?;
    invoke(move |event| handler(event), json).await
}
