//! API Gateway glue the WebSocket functions share: the authorizer's context carried to
//! every later event, the management endpoint an event came through, and the one chat
//! service per endpoint a warm function keeps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use serde_json::Value;

use crate::adapters::ApiGatewayPusher;
use crate::domain::{ConnectionId, Principal, ValidationError};
use crate::ports::{Clock, Pusher, Store};
use crate::service::{ChatService, Files};

/// The authorizer's context: what later events know of the caller without a lookup.
/// API Gateway allows only strings, numbers and booleans there, so absent means absent.
pub fn principal_context(principal: &Principal) -> HashMap<String, Value> {
    let mut context = HashMap::from([
        (
            "user_id".to_owned(),
            Value::from(principal.user_id.as_str()),
        ),
        ("role".to_owned(), Value::from(principal.role.as_str())),
    ]);
    if let Some(name) = &principal.name {
        context.insert("name".to_owned(), Value::from(name.as_str()));
    }
    if let Some(org) = &principal.org {
        context.insert("org".to_owned(), Value::from(org.as_str()));
    }
    context
}

/// The caller of a WebSocket event, from the context the authorizer returned.
pub fn event_principal(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<Principal, ValidationError> {
    let fields = &event.request_context.authorizer.fields;
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let user = text("user_id")
        .ok_or_else(|| ValidationError::new("user_id", "is missing from the authorizer context"))?;
    Principal::from_claims(user, text("role"), text("name"), text("org"))
}

/// The connection an event came from.
pub fn event_connection(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<ConnectionId, ValidationError> {
    let id = event
        .request_context
        .connection_id
        .as_deref()
        .unwrap_or_default();
    ConnectionId::parse(id)
}

/// The management API's URL for the API an event came through.
pub fn event_endpoint(event: &ApiGatewayWebsocketProxyRequest) -> String {
    let context = &event.request_context;
    ApiGatewayPusher::endpoint_for(
        context.domain_name.as_deref().unwrap_or("localhost"),
        context.stage.as_deref().unwrap_or("$default"),
    )
}

/// A response with only a status (and an optional header).
pub fn status_response(
    status: u16,
    header: Option<(&'static str, &str)>,
) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.body = None::<Body>;
    if let Some((name, value)) = header
        && let Ok(value) = value.parse()
    {
        response.headers.insert(name, value);
    }
    response
}

/// What every WebSocket function builds at cold start: configuration, AWS clients, and the
/// chat service per endpoint. `WEBSOCKET_ENDPOINT`, when set, overrides the endpoint the
/// events name (needed behind a custom domain).
pub async fn production_services()
-> Result<(Services, crate::config::Config, aws_config::SdkConfig), crate::config::ConfigError> {
    let config = crate::config::Config::from_env()?;
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = Arc::new(crate::adapters::DynamoStore::from_sdk_config(
        &sdk_config,
        &config.store,
    ));
    let fixed = crate::config::websocket_endpoint(&crate::config::Environment).ok();
    let services = Services::new(
        store,
        Arc::new(crate::ports::SystemClock),
        Services::api_gateway(&sdk_config),
        fixed,
    )
    .with_files(production_files(&config, &sdk_config))
    .with_bot_invoker(production_bot_invoker(&config, &sdk_config));
    Ok((services, config, sdk_config))
}

/// Attachments in the configured S3 bucket; none when `ATTACHMENTS_BUCKET` is unset.
fn production_files(
    config: &crate::config::Config,
    sdk_config: &aws_config::SdkConfig,
) -> Option<Files> {
    let bucket = config.attachments_bucket.as_ref()?;
    Some(Files {
        blobs: Arc::new(crate::adapters::S3BlobStore::new(
            sdk_config,
            bucket.clone(),
        )),
        policy: config.limits.uploads.clone(),
    })
}

/// Starts bot replies in the function `BOT_FUNCTION_NAME` names; none when it is unset.
fn production_bot_invoker(
    config: &crate::config::Config,
    sdk_config: &aws_config::SdkConfig,
) -> Option<Arc<dyn crate::ports::Invoker>> {
    let function = config.bot_function.clone()?;
    Some(Arc::new(crate::adapters::LambdaInvoker::new(
        sdk_config, function,
    )))
}

/// Makes a pusher for a management endpoint.
pub type PusherFactory = Arc<dyn Fn(&str) -> Arc<dyn Pusher> + Send + Sync>;

/// The chat service for the endpoint events arrive through, built once per endpoint (a
/// function serves one API, so in practice once per cold start).
pub struct Services {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pushers: PusherFactory,
    /// Overrides the event's endpoint (e.g. a custom domain's events still post to the
    /// execute-api endpoint).
    fixed_endpoint: Option<String>,
    files: Option<Files>,
    bot_invoker: Option<Arc<dyn crate::ports::Invoker>>,
    current: Mutex<Option<(String, ChatService)>>,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        pushers: PusherFactory,
        fixed_endpoint: Option<String>,
    ) -> Self {
        Self {
            store,
            clock,
            pushers,
            fixed_endpoint,
            files: None,
            bot_invoker: None,
            current: Mutex::new(None),
        }
    }

    /// The same services with attachments stored in `files`.
    pub fn with_files(self, files: Option<Files>) -> Self {
        Self { files, ..self }
    }

    /// The same services starting bot replies through `invoker`.
    pub fn with_bot_invoker(self, bot_invoker: Option<Arc<dyn crate::ports::Invoker>>) -> Self {
        Self {
            bot_invoker,
            ..self
        }
    }

    /// API Gateway's Management API with the function's own credentials and region.
    pub fn api_gateway(sdk_config: &aws_config::SdkConfig) -> PusherFactory {
        let sdk_config = sdk_config.clone();
        Arc::new(move |endpoint| {
            Arc::new(ApiGatewayPusher::new(&sdk_config, endpoint)) as Arc<dyn Pusher>
        })
    }

    pub fn for_event(&self, event: &ApiGatewayWebsocketProxyRequest) -> ChatService {
        let endpoint = self
            .fixed_endpoint
            .clone()
            .unwrap_or_else(|| event_endpoint(event));
        self.for_endpoint(&endpoint)
    }

    pub fn for_endpoint(&self, endpoint: &str) -> ChatService {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((known, service)) = current.as_ref()
            && known == endpoint
        {
            return service.clone();
        }
        let service = ChatService::new(
            self.store.clone(),
            (self.pushers)(endpoint),
            self.clock.clone(),
        )
        .with_files(self.files.clone())
        .with_bot_invoker(self.bot_invoker.clone());
        *current = Some((endpoint.to_owned(), service.clone()));
        service
    }
}

/// The whole `main` of a WebSocket route function: its services built once from the
/// environment, then every event handed to `handler`.
pub async fn run_route<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<Services>, ApiGatewayWebsocketProxyRequest) -> Fut,
    Fut: std::future::Future<Output = Result<ApiGatewayProxyResponse, lambda_runtime::Error>>,
{
    lambda_runtime::tracing::init_default_subscriber();
    let (services, _, _) = production_services().await?;
    let services = Arc::new(services);
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            handler(services.clone(), event.payload)
        },
    ))
    .await
}

/// The bot's model from `BOT_PROVIDER`: `openai` (any OpenAI-compatible server:
/// `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY`), `bedrock` (Amazon Bedrock's
/// ConverseStream with `BEDROCK_MODEL_ID`, through `sdk_config`'s credentials and region)
/// or `echo` (the offline stand-in).
/// `None` when unset; the caller decides whether that is an error (the `bot` function) or
/// means the echo model (the local server). `BOT_SYSTEM_PROMPT` and `BOT_MAX_TOKENS` tune it.
pub fn bot_settings(
    source: &impl crate::config::Source,
    sdk_config: Option<&aws_config::SdkConfig>,
) -> Result<Option<crate::service::BotSettings>, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let problem = |variable: &'static str, problem: &str| ConfigError {
        variable,
        problem: problem.to_owned(),
    };
    let Some(provider) = crate::config::optional(source, "BOT_PROVIDER") else {
        return Ok(None);
    };
    let model: Arc<dyn crate::ports::ChatModel> = match provider.as_str() {
        "echo" => Arc::new(crate::adapters::EchoModel::default()),
        "openai" => {
            let base_url = crate::config::optional(source, "OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
            let model = crate::config::optional(source, "OPENAI_MODEL")
                .ok_or_else(|| problem("OPENAI_MODEL", "is not set (e.g. gpt-4o-mini)"))?;
            let key = crate::config::optional(source, "OPENAI_API_KEY");
            Arc::new(crate::adapters::OpenAiModel::new(
                crate::adapters::OpenAiSettings::new(base_url, model, key),
            ))
        }
        "bedrock" => {
            let model_id =
                crate::config::optional(source, "BEDROCK_MODEL_ID").ok_or_else(|| {
                    problem(
                        "BEDROCK_MODEL_ID",
                        "is not set (e.g. anthropic.claude-3-haiku-20240307-v1:0)",
                    )
                })?;
            let sdk_config = sdk_config.ok_or_else(|| {
                problem(
                    "BOT_PROVIDER",
                    "bedrock needs the AWS configuration to call Bedrock",
                )
            })?;
            Arc::new(crate::adapters::BedrockModel::new(sdk_config, model_id))
        }
        _ => return Err(problem("BOT_PROVIDER", "must be openai, bedrock or echo")),
    };
    let mut settings = crate::service::BotSettings::new(model);
    if let Some(prompt) = source
        .get("BOT_SYSTEM_PROMPT")
        .filter(|p| !p.trim().is_empty())
    {
        settings.system_prompt = prompt;
    }
    if let Some(max) = crate::config::optional(source, "BOT_MAX_TOKENS") {
        settings.max_reply_tokens = max
            .parse()
            .map_err(|_| problem("BOT_MAX_TOKENS", "must be a whole number"))?;
    }
    Ok(Some(settings))
}
