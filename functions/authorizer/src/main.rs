//! The `authorizer` Lambda.

use std::sync::Arc;

use chat_shared::auth::Authenticator;
use chat_shared::config::{self, Environment};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = config::auth_settings(&Environment)?;
    let visitor_secret = config::visitor_secret(&Environment, &settings)?;
    let authenticator = Arc::new(Authenticator::new(settings, visitor_secret));
    run(service_fn(move |event: LambdaEvent<_>| {
        let authenticator = authenticator.clone();
        async move { authorizer::handle(&authenticator, event.payload).await }
    }))
    .await
}
