//! The bot: invoked asynchronously with a `BotReply` job for each message in a bot
//! session, so no API Gateway integration timeout caps a reply.

use chat_shared::gateway::Services;
use chat_shared::ports::Job;
use chat_shared::service::BotSettings;
use lambda_runtime::Error;

/// What the function builds at cold start.
pub struct App {
    pub services: Services,
    pub bot: BotSettings,
    /// The WebSocket API's management endpoint the replies are posted through.
    pub endpoint: String,
}

pub async fn handle(app: &App, job: Job) -> Result<(), Error> {
    match job {
        Job::BotReply {
            session_id,
            message_id,
        } => {
            app.services
                .for_endpoint(&app.endpoint)
                .run_bot_reply(&app.bot, session_id, message_id)
                .await?;
            Ok(())
        }
        other => Err(format!("the bot does not run {other:?}").into()),
    }
}
