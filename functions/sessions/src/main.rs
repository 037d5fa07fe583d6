//! The `sessions` Lambda: the REST API behind API Gateway's HTTP API.

use std::sync::Arc;

use chat_shared::adapters::{ApiGatewayPusher, DynamoStore};
use chat_shared::auth::Authenticator;
use chat_shared::config::{self, Config, Environment};
use chat_shared::ports::SystemClock;
use chat_shared::service::ChatService;
use lambda_http::{Error, run, service_fn};
use sessions::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let websocket_endpoint = config::websocket_endpoint(&Environment)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = Arc::new(DynamoStore::from_sdk_config(&aws, &config.store));
    let pusher = Arc::new(ApiGatewayPusher::new(&aws, &websocket_endpoint));
    let clock = Arc::new(SystemClock);
    let app = Arc::new(App {
        service: ChatService::new(store, pusher, clock.clone()),
        authenticator: Arc::new(Authenticator::new(config.auth, config.visitor_secret)),
        clock,
    });
    run(service_fn(move |request| handle(app.clone(), request))).await
}
