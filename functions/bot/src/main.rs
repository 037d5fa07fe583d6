//! The `bot` Lambda: streams model replies into bot sessions.

use chat_aws::production::Deployed;
use chat_core::ports::Job;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployed = Deployed::from_env().await?;
    let config = &deployed.config;
    let app = bot::App::new(
        deployed.services,
        bot::settings(config.require_bot()?, Some(&deployed.sdk_config)).await,
        config.require_websocket_endpoint()?.to_owned(),
        bot::embedder(config.embeddings.as_ref(), Some(&deployed.sdk_config)).await,
    );
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Job>| {
        let span = chat_apigw::job_span(&event.payload);
        // Boxed: a reply's future is large, and the runtime holds one.
        Box::pin(chat_apigw::observed(span, bot::handle(app, event.payload)))
    }))
    .await
}
