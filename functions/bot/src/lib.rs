//! The bot: invoked asynchronously with a `BotReply` job for each message in a bot
//! session, so no API Gateway integration timeout caps a reply, and with an
//! `IndexDocument` job for each document an admin adds to a chatbot, and the
//! `IndexLibraryDocument` job for each a user adds to their library.

use std::sync::Arc;

use chat_bedrock::{BedrockEmbedder, BedrockModel};
use chat_core::compose::Services;
use chat_core::config::{BotConfig, BotProvider, EmbeddingsConfig, EmbeddingsProvider};
use chat_core::ports::{ChatModel, Embedder, Job, error_chain};
use chat_core::service::{BotSettings, DocumentReaders};
use chat_providers::{
    EchoModel, OpenAiEmbedder, OpenAiEmbedderSettings, OpenAiModel, OpenAiSettings,
};
use lambda_runtime::Error;

pub mod extract;

/// What the function builds at cold start.
pub struct App {
    pub services: Services,
    pub bot: BotSettings,
    /// The WebSocket API's management endpoint the replies are posted through.
    pub endpoint: String,
}

impl App {
    /// The bot on `services`, reading shared PDFs as well as text, and embedding what it
    /// indexes with `embedder`, if any.
    pub fn new(
        services: Services,
        bot: BotSettings,
        endpoint: String,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Self {
        let readers = DocumentReaders {
            extractor: Arc::new(extract::FileText),
            embedder,
        };
        Self {
            services: services.with_readers(readers),
            bot,
            endpoint,
        }
    }
}

/// The configured embeddings model, if any; Bedrock's through `sdk_config` as
/// [`settings`] has it.
pub async fn embedder(
    config: Option<&EmbeddingsConfig>,
    sdk_config: Option<&aws_config::SdkConfig>,
) -> Option<Arc<dyn Embedder>> {
    let config = config?;
    Some(match &config.provider {
        EmbeddingsProvider::OpenAi { base_url, api_key } => {
            Arc::new(OpenAiEmbedder::new(OpenAiEmbedderSettings {
                base_url: base_url.clone(),
                model: config.model.clone(),
                api_key: api_key.as_ref().map(|key| key.expose().to_owned()),
                dimensions: config.dimensions,
            }))
        }
        EmbeddingsProvider::Bedrock => {
            let loaded;
            let sdk_config = match sdk_config {
                Some(sdk_config) => sdk_config,
                None => {
                    loaded = chat_aws::production::sdk_config().await;
                    &loaded
                }
            };
            Arc::new(BedrockEmbedder::new(
                sdk_config,
                config.model.clone(),
                config.dimensions,
            ))
        }
    })
}

/// The configured model, asked as configured. Bedrock calls go through `sdk_config`, or,
/// when none is given (the local server), the AWS configuration loaded now: only Bedrock
/// needs one, so nothing else reads AWS credentials or waits on them.
pub async fn settings(
    config: &BotConfig,
    sdk_config: Option<&aws_config::SdkConfig>,
) -> BotSettings {
    let model: Arc<dyn ChatModel> = match &config.provider {
        BotProvider::Echo => Arc::new(EchoModel::default()),
        BotProvider::OpenAi {
            base_url,
            model,
            api_key,
            token_limit_field,
        } => {
            let mut settings = OpenAiSettings::new(
                base_url.clone(),
                model.clone(),
                api_key.as_ref().map(|key| key.expose().to_owned()),
            );
            if let Some(field) = token_limit_field {
                settings.token_limit_field = *field;
            }
            Arc::new(OpenAiModel::new(settings))
        }
        BotProvider::Bedrock { model_id } => match sdk_config {
            Some(sdk_config) => Arc::new(BedrockModel::new(sdk_config, model_id.clone())),
            None => Arc::new(BedrockModel::new(
                &chat_aws::production::sdk_config().await,
                model_id.clone(),
            )),
        },
    };
    BotSettings::new(model)
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
                .await
                // The runtime logs what the invocation failed with: the whole cause.
                .map_err(|error| error_chain(&error))?;
            Ok(())
        }
        Job::IndexDocument {
            chatbot_id,
            attachment_id,
            file_name,
            content_type,
        } => {
            let indexing = app
                .services
                .for_endpoint(&app.endpoint)
                .index_chatbot_document(&chatbot_id, attachment_id, &file_name, &content_type)
                .await
                .map_err(|error| error_chain(&error))?;
            tracing::info!(chatbot = %chatbot_id, document = %attachment_id, ?indexing, "indexed a chatbot's document");
            Ok(())
        }
        Job::IndexLibraryDocument {
            owner_id,
            document_id,
            file_name,
            content_type,
        } => {
            let state = app
                .services
                .for_endpoint(&app.endpoint)
                .index_library_document(&owner_id, document_id, &file_name, &content_type)
                .await
                .map_err(|error| error_chain(&error))?;
            tracing::info!(document = %document_id, ?state, "indexed a library document");
            Ok(())
        }
        other => Err(format!("the bot does not run {other:?}").into()),
    }
}
