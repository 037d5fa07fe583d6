//! The `disconnect` Lambda.

use std::sync::Arc;

use chat_shared::gateway::production_services;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (services, _, _) = production_services().await?;
    let services = Arc::new(services);
    run(service_fn(move |event: LambdaEvent<_>| {
        let services = services.clone();
        async move { disconnect::handle(&services, event.payload).await }
    }))
    .await
}
