//! What a deployed function builds at cold start: the production adapters (the table, the
//! stage's Management API, the bucket, the bot function) and, for the WebSocket route
//! functions, their whole `main`.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_core::compose::{Adapters, PusherFactory, Services};
use chat_core::config::{Config, ConfigError, Environment};
use chat_core::ports::{BlobStore, Invoker, Pusher, SystemClock};

use crate::metrics::EmbeddedMetrics;
use crate::{ApiGatewayPusher, DynamoStore, LambdaInvoker, S3BlobStore};
use chat_aws_base::stored::with_stored;
use chat_core::metrics::Metrics;

pub use chat_aws_base::sdk_config;

/// A deployed function's adapters: the table, the stage's Management API, the attachments
/// bucket (when `ATTACHMENTS_BUCKET` is set) and the bot function (when
/// `BOT_FUNCTION_NAME` is set), through `sdk_config`'s credentials and region.
pub fn production_adapters(config: &Config, sdk_config: &aws_config::SdkConfig) -> Adapters {
    Adapters {
        store: Arc::new(DynamoStore::from_sdk_config(sdk_config, &config.store)),
        pushers: api_gateway(sdk_config),
        blobs: config.attachments_bucket.as_ref().map(|bucket| {
            Arc::new(S3BlobStore::new(sdk_config, bucket.clone())) as Arc<dyn BlobStore>
        }),
        bot_invoker: config.bot_function.as_ref().map(|function| {
            Arc::new(LambdaInvoker::new(sdk_config, function.clone())) as Arc<dyn Invoker>
        }),
        clock: Arc::new(SystemClock),
    }
}

/// API Gateway's Management API with the function's own credentials and region.
pub fn api_gateway(sdk_config: &aws_config::SdkConfig) -> PusherFactory {
    let sdk_config = sdk_config.clone();
    Arc::new(move |endpoint| {
        Arc::new(ApiGatewayPusher::new(&sdk_config, endpoint)) as Arc<dyn Pusher>
    })
}

/// What a deployed function builds once at cold start.
pub struct Deployed {
    pub config: Config,
    pub services: Services,
    /// For the clients only some functions build (Lambda invoke of itself, Bedrock).
    pub sdk_config: aws_config::SdkConfig,
}

impl Deployed {
    /// The configuration from the environment and the values it names, the AWS
    /// configuration, and the services composed of the production adapters.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk_config = sdk_config().await;
        let config = Config::from_source(&with_stored(Environment, Some(&sdk_config)).await?)?;
        let mut services = Services::new(&config, production_adapters(&config, &sdk_config));
        if let Some(metrics) = EmbeddedMetrics::from_env() {
            let metrics: Arc<dyn Metrics> = Arc::new(metrics);
            crate::metrics::install(metrics.clone());
            services = services.with_metrics(metrics);
        }
        Ok(Self {
            config,
            services,
            sdk_config,
        })
    }
}

/// The whole `main` of a WebSocket route function: its services built once from the
/// environment, then every event handed to `handler`.
pub async fn run_route<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<Services>, ApiGatewayWebsocketProxyRequest) -> Fut,
    Fut: std::future::Future<Output = Result<ApiGatewayProxyResponse, lambda_runtime::Error>>,
{
    lambda_runtime::tracing::init_default_subscriber();
    let services = Arc::new(Deployed::from_env().await?.services);
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let span = chat_apigw::websocket_span(&event.payload);
            // Boxed: the handlers' futures are large, and the runtime holds one.
            Box::pin(chat_apigw::observed(
                span,
                handler(services.clone(), event.payload),
            ))
        },
    ))
    .await
}
