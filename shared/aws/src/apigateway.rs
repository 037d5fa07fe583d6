//! The API Gateway Management API as the `Pusher`: how Lambda functions reach WebSockets.
//! The local server serves the same API, so this adapter runs unchanged on a laptop.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::Builder;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;

use super::sdk_timeouts;
use chat_core::domain::ConnectionId;
use chat_core::ports::{PushError, Pusher};

/// Tries of a call that API Gateway throttled (429 LimitExceeded) or failed with a 5xx:
/// the SDK's standard retry, with jittered exponential backoff between tries.
const ATTEMPTS: u32 = 3;

#[derive(Clone, Debug)]
pub struct ApiGatewayPusher {
    client: Client,
}

impl ApiGatewayPusher {
    /// `endpoint` is the WebSocket API's management URL: `https://{domain}/{stage}`
    /// (locally `http://127.0.0.1:3001`).
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        Self::with(Builder::from(sdk_config), endpoint)
    }

    /// A pusher for the local server's own @connections API, which checks no credentials.
    pub fn local(endpoint: &str) -> Self {
        let builder = Builder::new()
            .behavior_version_latest()
            .region(aws_sdk_apigatewaymanagement::config::Region::new(
                "us-east-1",
            ))
            .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
                "local", "local", None, None, "local",
            ));
        Self::with(builder, endpoint)
    }

    fn with(builder: Builder, endpoint: &str) -> Self {
        let config = builder
            .endpoint_url(endpoint)
            .timeout_config(sdk_timeouts())
            .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

#[async_trait]
impl Pusher for ApiGatewayPusher {
    async fn post(&self, connection: &ConnectionId, frame: &[u8]) -> Result<(), PushError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection.as_str())
            .data(Blob::new(frame))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => Err(push_error(&err)),
        }
    }

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        match self
            .client
            .delete_connection()
            .connection_id(connection.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(push_error(&err)),
        }
    }
}

/// A connection API Gateway no longer knows is `Gone`; anything else failed.
fn push_error<E, R>(err: &SdkError<E, R>) -> PushError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if err.code() == Some("GoneException") {
        PushError::Gone
    } else {
        if err.code() == Some("LimitExceededException") {
            crate::metrics::count_throttle();
        }
        PushError::Failed(DisplayErrorContext(err).to_string().into())
    }
}
