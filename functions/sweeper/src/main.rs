//! The `sweeper` Lambda, invoked by EventBridge Scheduler.

use chat_aws::production::Deployed;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployed = Deployed::from_env().await?;
    let config = &deployed.config;
    let endpoint = config.require_websocket_endpoint()?.to_owned();
    let app = sweeper::App::new(deployed.services, config, endpoint);
    let app = &app;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            // Whatever else the schedule's input holds, a run sweeps as of now.
            let request = serde_json::from_value(event.payload).unwrap_or_default();
            let span = chat_apigw::invocation_span("sweep", None);
            chat_apigw::observed(span, sweeper::handle(app, request)).await
        },
    ))
    .await
}
