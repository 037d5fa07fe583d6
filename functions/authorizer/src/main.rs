//! The `authorizer` Lambda.

use std::sync::Arc;

use chat_aws_base::stored::with_stored;
use chat_core::auth::Authenticator;
use chat_core::config::{AuthConfig, Environment};
use chat_providers::HttpKeySets;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = AuthConfig::from_source(&with_stored(Environment, None).await?)?;
    let authenticator = Arc::new(Authenticator::new(config, Arc::new(HttpKeySets::new())));
    run(service_fn(move |event: LambdaEvent<_>| {
        let authenticator = authenticator.clone();
        async move {
            let span = chat_apigw::invocation_span("authorize", None);
            chat_apigw::observed(span, authorizer::handle(&authenticator, event.payload)).await
        }
    }))
    .await
}
