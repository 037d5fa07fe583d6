//! The `connect` Lambda: `$connect`, and the welcome job it invokes itself with.

use std::sync::Arc;

use chat_aws::LambdaInvoker;
use chat_aws::production::Deployed;
use connect::{App, Invocation, handle_connect, handle_job};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployed = Deployed::from_env().await?;
    let config = &deployed.config;
    // The welcome job is this same function, invoked asynchronously.
    let own_name = config.require_function_name()?;
    let app = Arc::new(App {
        invoker: Arc::new(LambdaInvoker::new(&deployed.sdk_config, own_name)),
        dialect: config.ws_dialect,
        services: deployed.services,
    });
    run(service_fn(move |event: LambdaEvent<Invocation>| {
        let app = app.clone();
        async move {
            match event.payload {
                Invocation::Connect(event) => {
                    let span = chat_apigw::websocket_span(&event);
                    // Boxed: `$connect`'s future is large (clippy's large_futures).
                    let response =
                        Box::pin(chat_apigw::observed(span, handle_connect(&app, *event)));
                    Ok(serde_json::to_value(response.await?)?)
                }
                Invocation::Job(job) => {
                    let span = chat_apigw::job_span(&job);
                    let done = chat_apigw::observed(span, handle_job(&app, job)).await;
                    done.map(|()| Value::Null)
                }
            }
        }
    }))
    .await
}
