//! The `sessions` Lambda: the REST API behind API Gateway's HTTP API (its `$default`
//! route: everything but the file routes), as `chat_rest`'s router run by `lambda_http`.

use std::sync::Arc;

use chat_aws::production::Deployed;
use chat_providers::HttpKeySets;
use chat_rest::State;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let deployed = Deployed::from_env().await?;
    let config = &deployed.config;
    let endpoint = config.require_websocket_endpoint()?;
    let state = State::new(
        config,
        &deployed.services,
        endpoint,
        Arc::new(HttpKeySets::new()),
    );
    lambda_http::run(chat_rest::sessions(state)).await
}
