//! The `bot` Lambda: streams model replies into bot sessions.

use chat_shared::config::{ConfigError, Environment, websocket_endpoint};
use chat_shared::gateway::{bot_settings, production_services};
use chat_shared::ports::Job;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (services, _, sdk_config) = production_services().await?;
    let bot = bot_settings(&Environment, Some(&sdk_config))?.ok_or(ConfigError {
        variable: "BOT_PROVIDER",
        problem: "is not set: name the model provider (openai, bedrock, or echo for a stand-in)"
            .into(),
    })?;
    let endpoint = websocket_endpoint(&Environment)?;
    let app = bot::App {
        services,
        bot,
        endpoint,
    };
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Job>| async move {
        bot::handle(app, event.payload).await
    }))
    .await
}
