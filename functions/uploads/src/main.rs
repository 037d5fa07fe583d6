//! The `uploads` Lambda: the file routes of the HTTP API (`chat_rest::uploads::ROUTES`),
//! as `chat_rest`'s router run by `lambda_http`.

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
    if config.attachments_bucket.is_none() {
        return Err("ATTACHMENTS_BUCKET is not set: the uploads function needs a bucket".into());
    }
    let endpoint = config.require_websocket_endpoint()?;
    let state = State::new(
        config,
        &deployed.services,
        endpoint,
        Arc::new(HttpKeySets::new()),
    );
    lambda_http::run(chat_rest::uploads(state)).await
}
