//! Amazon Bedrock's `ConverseStream` API as the `ChatModel`: one API for every text model
//! Bedrock serves (Claude, Llama, Mistral, Nova, ...), named by model or inference-profile
//! id. Replies stream as an AWS event stream, read as they arrive; the stream owns the
//! HTTP response, so dropping it aborts the request.
//!
//! Bedrock is stricter than OpenAI-style servers about the conversation: it must start with
//! a user turn, roles must alternate, and no text may be blank. The prompt is fitted to
//! that ([`Prompt::alternating_turns`]) rather than refused. Models that take no system
//! prompt (Titan Text, Mistral 7B and Mixtral Instruct, Cohere Command) get it at the head
//! of the first user turn; so does any other model that refuses one ("This model doesn't
//! support system messages"), from then on. Reasoning deltas (DeepSeek-R1, Claude's
//! extended thinking) pass as progress, and a `messageStop` other than the end of the turn
//! marks the reply cut.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Builder;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, ReasoningContentBlockDelta, StopReason, SystemContentBlock,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::event_stream::RawMessage;
use futures::StreamExt;
use tokio::time::Instant;

use chat_core::domain::IncompleteReason;
use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker};

mod embeddings;
pub use embeddings::BedrockEmbedder;

/// The longest provider message passed on in an error.
const MAX_MESSAGE_CHARS: usize = 500;
/// How long a connection to Bedrock may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After `messageStop`, how long to wait for the `metadata` event that carries the usage
/// (Bedrock sends it right after); the reply itself is complete by then.
const METADATA_GRACE: Duration = Duration::from_secs(2);

type Events = EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>;

#[derive(Debug)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    /// Models that refused a system prompt: theirs goes into the first user turn.
    without_system: Mutex<BTreeSet<String>>,
    /// How long the reply may take to start: the request (with the SDK's retries) and its
    /// first event (the model may be loading, or the prompt long).
    first_byte_timeout: Duration,
    /// The longest gap allowed between events once the reply has started.
    idle_timeout: Duration,
}

impl BedrockModel {
    /// The model (or inference profile) in the function's own region, with its own
    /// credentials and the SDK's usual retries of throttling and server errors.
    pub fn new(sdk_config: &aws_config::SdkConfig, model_id: impl Into<String>) -> Self {
        Self::with(Builder::from(sdk_config), model_id)
    }

    /// A stand-in endpoint on this machine (tests), which checks no signatures. Nothing is
    /// retried, so that each answer of the stand-in is seen as it is.
    pub fn local(endpoint: &str, model_id: impl Into<String>) -> Self {
        Self::with(local_builder(endpoint), model_id)
    }

    /// Changes how long the reply may take to start (default 20 s) and the longest gap
    /// between its events (default 30 s).
    pub fn with_timeouts(mut self, first_byte: Duration, idle: Duration) -> Self {
        self.first_byte_timeout = first_byte;
        self.idle_timeout = idle;
        let config = self
            .client
            .config()
            .to_builder()
            .timeout_config(stream_timeouts(first_byte))
            .build();
        self.client = Client::from_conf(config);
        self
    }

    fn with(builder: Builder, model_id: impl Into<String>) -> Self {
        let first_byte_timeout = Duration::from_secs(20);
        let config = builder
            .timeout_config(stream_timeouts(first_byte_timeout))
            .build();
        Self {
            client: Client::from_conf(config),
            model_id: model_id.into(),
            without_system: Mutex::new(BTreeSet::new()),
            first_byte_timeout,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A client of a stand-in endpoint on this machine (tests), which checks no signatures.
/// Nothing is retried, so that each answer of the stand-in is seen as it is.
fn local_builder(endpoint: &str) -> Builder {
    Builder::new()
        .behavior_version_latest()
        .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
}

/// The SDK's timeouts for a streamed reply. Not `sdk_timeouts()`: its 8 s operation timeout
/// is far too short for a model to start answering (and a streamed body must never fall
/// under an operation timeout). Here the SDK bounds only what it can see, reaching
/// Bedrock and each attempt up to the response's headers; the adapter itself bounds the
/// whole start (retries included) by `first_byte_timeout` and each gap in the stream by
/// `idle_timeout`, as the OpenAI adapter does. The operation timeout is disabled outright,
/// so none set in the shared SDK configuration can cut a reply off.
fn stream_timeouts(first_byte: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(first_byte)
        .operation_attempt_timeout(first_byte)
        .disable_operation_timeout()
        .build()
}

#[async_trait]
impl ChatModel for BedrockModel {
    fn name(&self) -> String {
        format!("bedrock:{}", self.model_id)
    }

    async fn reply(&self, prompt: &Prompt) -> Result<ReplyStream, ModelError> {
        let model_id = prompt
            .model
            .as_ref()
            .map_or(self.model_id.as_str(), |m| m.as_str());
        let deadline = Instant::now() + self.first_byte_timeout;
        let known = !takes_system_prompt(model_id) || self.refused_system(model_id);
        match self.start(prompt, model_id, known, deadline).await {
            Err(ModelError::Refused(message)) if !known && refuses_system_prompt(&message) => {
                tracing::info!(
                    model = model_id,
                    "the model takes no system prompt; it goes into the first turn"
                );
                if let Ok(mut models) = self.without_system.lock() {
                    models.insert(model_id.to_owned());
                }
                self.start(prompt, model_id, true, deadline).await
            }
            other => other,
        }
    }
}

impl BedrockModel {
    fn refused_system(&self, model_id: &str) -> bool {
        self.without_system
            .lock()
            .is_ok_and(|models| models.contains(model_id))
    }

    /// Asks for the reply, the system prompt in the first turn when `system_in_turn`, and
    /// hands back its stream once Bedrock has answered, all before `first_byte_deadline`.
    async fn start(
        &self,
        prompt: &Prompt,
        model_id: &str,
        system_in_turn: bool,
        first_byte_deadline: Instant,
    ) -> Result<ReplyStream, ModelError> {
        let request = Request::new(prompt, system_in_turn)?;
        let send = self
            .client
            .converse_stream()
            .model_id(model_id)
            .set_system(request.system)
            .set_messages(Some(request.messages))
            .inference_config(request.inference);
        let output = tokio::time::timeout_at(first_byte_deadline, send.send())
            .await
            .map_err(|_| ModelError::Timeout)?
            .map_err(|e| {
                let error = from_request_error(&e);
                tracing::warn!(error = %DisplayErrorContext(&e), "Bedrock refused to start a reply");
                error
            })?;

        let reading = Reading {
            events: Some(output.stream),
            first_byte_deadline: Some(first_byte_deadline),
            idle_timeout: self.idle_timeout,
            stopped: false,
        };
        Ok(futures::stream::unfold(reading, Reading::next).boxed())
    }
}

/// Whether Bedrock's Converse API takes a system prompt for the model (its "supported
/// models and model features" table), by id or inference profile id (`us.`, `eu.`, ...).
fn takes_system_prompt(model_id: &str) -> bool {
    const WITHOUT: [&str; 5] = [
        "amazon.titan-text-",
        "mistral.mistral-7b-instruct",
        "mistral.mixtral-8x7b-instruct",
        "cohere.command-text",
        "cohere.command-light-text",
    ];
    // A cross-region inference profile's id is the model's behind a geography.
    const GEOGRAPHIES: [&str; 8] = ["us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"];
    let id = match model_id.split_once('.') {
        Some((prefix, rest)) if GEOGRAPHIES.contains(&prefix) => rest,
        _ => model_id,
    };
    !WITHOUT.iter().any(|family| id.starts_with(family))
}

/// Bedrock's ValidationException for a system prompt the model cannot take.
fn refuses_system_prompt(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("support system message")
        || message.contains("system messages are not supported")
}

/// The parts of a `ConverseStream` request that come from the prompt.
#[derive(Debug, PartialEq)]
struct Request {
    /// `None` when there is no system prompt (Bedrock refuses a blank one).
    system: Option<Vec<SystemContentBlock>>,
    messages: Vec<Message>,
    inference: InferenceConfiguration,
}

impl Request {
    /// The request, its system prompt at the head of the first user turn when
    /// `system_in_turn` (for models that take none).
    fn new(prompt: &Prompt, system_in_turn: bool) -> Result<Self, ModelError> {
        let system = (!system_in_turn && !prompt.system.trim().is_empty())
            .then(|| vec![SystemContentBlock::Text(prompt.system.clone())]);
        let turns = if system_in_turn {
            prompt.turns_with_system_first()
        } else {
            prompt.alternating_turns()
        };
        if turns.is_empty() {
            return Err(ModelError::Refused(
                "the prompt has no user turn to answer".to_owned(),
            ));
        }
        let messages = turns
            .into_iter()
            .map(|turn| {
                Message::builder()
                    .role(match turn.speaker {
                        Speaker::User => ConversationRole::User,
                        Speaker::Assistant => ConversationRole::Assistant,
                    })
                    .content(ContentBlock::Text(turn.text))
                    .build()
                    .map_err(|e| ModelError::Refused(format!("cannot build the request: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let inference = InferenceConfiguration::builder()
            .max_tokens(i32::try_from(prompt.max_tokens).unwrap_or(i32::MAX))
            .set_temperature(prompt.temperature.map(|t| t.as_f32()))
            .build();
        Ok(Self {
            system,
            messages,
            inference,
        })
    }
}

/// The state of a reply being read: the events it comes from (dropped once the reply is
/// over, which closes the connection).
struct Reading {
    events: Option<Events>,
    /// Until the first event arrives: when it must have.
    first_byte_deadline: Option<Instant>,
    idle_timeout: Duration,
    /// `messageStop` has arrived: the text is complete, only the usage may follow.
    stopped: bool,
}

impl Reading {
    async fn next(mut self) -> Option<(Result<ReplyEvent, ModelError>, Self)> {
        loop {
            let events = self.events.as_mut()?;
            let deadline = match self.first_byte_deadline.take() {
                Some(deadline) => deadline,
                None if self.stopped => Instant::now() + METADATA_GRACE.min(self.idle_timeout),
                None => Instant::now() + self.idle_timeout,
            };
            let received = tokio::time::timeout_at(deadline, events.recv()).await;
            let step = match received {
                Err(_) => Step::Fail(ModelError::Timeout),
                Ok(Err(e)) => Step::Fail(from_stream_error(&e)),
                Ok(Ok(None)) => Step::End,
                Ok(Ok(Some(event))) => interpret(&event),
            };
            match step {
                Step::Skip => {}
                Step::Emit(event) => {
                    if self.stopped {
                        // The usage after `messageStop` is the last thing Bedrock sends.
                        self.events = None;
                    }
                    return Some((Ok(event), self));
                }
                Step::Stop(None) => self.stopped = true,
                Step::Stop(Some(reason)) => {
                    self.stopped = true;
                    return Some((Ok(ReplyEvent::Cut(reason)), self));
                }
                Step::End | Step::Fail(_) if self.stopped => {
                    // The reply was complete; only its usage is missing.
                    self.events = None;
                    return None;
                }
                Step::End => {
                    return self.fail(ModelError::Unavailable("the stream ended early".to_owned()));
                }
                Step::Fail(error) => return self.fail(error),
            }
        }
    }

    /// Ends the reply with `error`.
    fn fail(mut self, error: ModelError) -> Option<(Result<ReplyEvent, ModelError>, Self)> {
        self.events = None;
        Some((Err(error), self))
    }
}

/// What one thing read from the stream means.
#[derive(Debug, PartialEq)]
enum Step {
    Emit(ReplyEvent),
    /// Nothing for the caller (the start or end of a block, a non-text delta, ...).
    Skip,
    /// `messageStop`: the reply is over, cut short for the reason if one is given.
    Stop(Option<IncompleteReason>),
    /// The stream ended.
    End,
    Fail(ModelError),
}

fn interpret(event: &ConverseStreamOutput) -> Step {
    match event {
        ConverseStreamOutput::ContentBlockDelta(delta) => match &delta.delta {
            Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                Step::Emit(ReplyEvent::Text(text.clone()))
            }
            Some(ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(
                thought,
            ))) if !thought.is_empty() => Step::Emit(ReplyEvent::Reasoning(thought.clone())),
            _ => Step::Skip,
        },
        ConverseStreamOutput::Metadata(metadata) => match &metadata.usage {
            Some(usage) => Step::Emit(ReplyEvent::Usage {
                output_tokens: u32::try_from(usage.output_tokens).unwrap_or(0),
            }),
            None => Step::Skip,
        },
        ConverseStreamOutput::MessageStop(stop) => Step::Stop(match &stop.stop_reason {
            StopReason::MaxTokens => Some(IncompleteReason::MaxTokens),
            StopReason::ContentFiltered | StopReason::GuardrailIntervened => {
                Some(IncompleteReason::ContentFilter)
            }
            StopReason::ModelContextWindowExceeded => Some(IncompleteReason::ContextWindow),
            StopReason::MalformedModelOutput | StopReason::MalformedToolUse => {
                Some(IncompleteReason::MalformedOutput)
            }
            _ => None,
        }),
        _ => Step::Skip,
    }
}

/// How a refusal to start is passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Refused,
    /// A service quota of the account is exhausted.
    Quota,
    Unavailable,
    Timeout,
}

/// By the exception Bedrock named, the same whether it came at the request's start or in
/// the middle of the stream: the caller's mistakes are refused (a `validationException`
/// mid-stream too), an exhausted quota is refused for an admin to raise, throttling and
/// server errors are worth retrying later. For one this SDK does not know, by its HTTP
/// status, if it has one.
fn verdict(exception: Option<&str>, status: Option<u16>) -> Verdict {
    let exception = exception.map(str::to_ascii_lowercase);
    match exception.as_deref() {
        Some("accessdeniedexception" | "validationexception" | "resourcenotfoundexception") => {
            Verdict::Refused
        }
        Some("servicequotaexceededexception") => Verdict::Quota,
        Some("modeltimeoutexception") => Verdict::Timeout,
        Some(
            "throttlingexception"
            | "serviceunavailableexception"
            | "internalserverexception"
            | "modelnotreadyexception"
            | "modelerrorexception"
            | "modelstreamerrorexception",
        ) => Verdict::Unavailable,
        _ => match status {
            Some(408 | 429) => Verdict::Unavailable,
            Some(400..=499) => Verdict::Refused,
            _ => Verdict::Unavailable,
        },
    }
}

/// The exception's name and `Name: message`: the variant's for those this SDK knows, the
/// code and message Bedrock sent for the others.
fn request_exception(error: &ConverseStreamError) -> (Option<&str>, String) {
    use ConverseStreamError as E;
    let (name, text) = match error {
        E::AccessDeniedException(e) => ("AccessDeniedException", e.to_string()),
        E::InternalServerException(e) => ("InternalServerException", e.to_string()),
        E::ModelErrorException(e) => ("ModelErrorException", e.to_string()),
        E::ModelNotReadyException(e) => ("ModelNotReadyException", e.to_string()),
        E::ModelTimeoutException(e) => ("ModelTimeoutException", e.to_string()),
        E::ResourceNotFoundException(e) => ("ResourceNotFoundException", e.to_string()),
        E::ServiceUnavailableException(e) => ("ServiceUnavailableException", e.to_string()),
        E::ThrottlingException(e) => ("ThrottlingException", e.to_string()),
        E::ValidationException(e) => ("ValidationException", e.to_string()),
        E::ModelStreamErrorException(e) => ("ModelStreamErrorException", e.to_string()),
        other => return (other.code(), unknown_message(other)),
    };
    (Some(name), text)
}

fn stream_exception(error: &ConverseStreamOutputError) -> (Option<&str>, String) {
    use ConverseStreamOutputError as E;
    let (name, text) = match error {
        E::InternalServerException(e) => ("InternalServerException", e.to_string()),
        E::ModelStreamErrorException(e) => ("ModelStreamErrorException", e.to_string()),
        E::ValidationException(e) => ("ValidationException", e.to_string()),
        E::ThrottlingException(e) => ("ThrottlingException", e.to_string()),
        E::ServiceUnavailableException(e) => ("ServiceUnavailableException", e.to_string()),
        other => return (other.code(), unknown_message(other)),
    };
    (Some(name), text)
}

/// The error a verdict makes of Bedrock's message.
fn judged(verdict: Verdict, message: String) -> ModelError {
    match verdict {
        Verdict::Refused => ModelError::Refused(message),
        Verdict::Quota => ModelError::Refused(format!(
            "the account's Bedrock quota is reached; raise it in the Service Quotas console: {message}"
        )),
        Verdict::Unavailable => ModelError::Unavailable(message),
        Verdict::Timeout => ModelError::Timeout,
    }
}

/// A failure to start the reply.
fn from_request_error(error: &SdkError<ConverseStreamError, HttpResponse>) -> ModelError {
    match error {
        SdkError::ServiceError(context) => {
            let (name, message) = request_exception(context.err());
            judged(
                verdict(name, Some(context.raw().status().as_u16())),
                clip(&message),
            )
        }
        other => from_transport(other),
    }
}

/// A failure in the middle of the reply: Bedrock's exceptions, judged as at the start, and
/// broken connections alike.
fn from_stream_error(error: &SdkError<ConverseStreamOutputError, RawMessage>) -> ModelError {
    match error {
        SdkError::ServiceError(context) => {
            let (name, message) = stream_exception(context.err());
            judged(verdict(name, None), clip(&message))
        }
        other => from_transport(other),
    }
}

/// Anything but an answer from Bedrock: timeouts, an unreachable endpoint, a broken or
/// unreadable response.
fn from_transport<E, R>(error: &SdkError<E, R>) -> ModelError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let timed_out = match error {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_timeout(),
        _ => false,
    };
    if timed_out {
        ModelError::Timeout
    } else {
        ModelError::Unavailable(clip(&DisplayErrorContext(error).to_string()))
    }
}

fn unknown_message(error: &impl ProvideErrorMetadata) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => "an unrecognised error".to_owned(),
    }
}

/// A provider's message made short enough to pass on.
fn clip(message: &str) -> String {
    let message = message.trim();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…"
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_bedrockruntime::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_bedrockruntime::types::error::{
        AccessDeniedException, ModelStreamErrorException, ThrottlingException, ValidationException,
    };
    use aws_sdk_bedrockruntime::types::{
        ContentBlockDeltaEvent, ContentBlockStopEvent, ConverseStreamMetadataEvent,
        MessageStartEvent, MessageStopEvent, StopReason, TokenUsage, ToolUseBlockDelta,
    };
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::event_stream::Message as RawFrame;

    use chat_core::ports::Turn;

    use super::*;

    fn turn(speaker: Speaker, text: &str) -> Turn {
        Turn {
            speaker,
            text: text.to_owned(),
        }
    }

    fn message(role: ConversationRole, text: &str) -> Message {
        Message::builder()
            .role(role)
            .content(ContentBlock::Text(text.to_owned()))
            .build()
            .expect("a message")
    }

    #[test]
    fn bedrock_request_has_the_system_prompt_the_messages_and_the_token_limit() {
        let prompt = Prompt {
            system: "be brief".into(),
            turns: vec![
                turn(Speaker::User, "hi"),
                turn(Speaker::Assistant, "hello"),
                turn(Speaker::User, "bye"),
            ],
            max_tokens: 64,
            model: None,
            temperature: None,
        };
        assert_eq!(
            Request::new(&prompt, false).expect("a request"),
            Request {
                system: Some(vec![SystemContentBlock::Text("be brief".into())]),
                messages: vec![
                    message(ConversationRole::User, "hi"),
                    message(ConversationRole::Assistant, "hello"),
                    message(ConversationRole::User, "bye"),
                ],
                inference: InferenceConfiguration::builder().max_tokens(64).build(),
            }
        );
    }

    #[test]
    fn bedrock_request_leaves_out_a_blank_system_prompt_and_caps_the_token_limit() {
        let prompt = Prompt {
            system: " \n".into(),
            turns: vec![turn(Speaker::User, "hi")],
            max_tokens: u32::MAX,
            model: None,
            temperature: None,
        };
        let request = Request::new(&prompt, false).expect("a request");
        assert_eq!(request.system, None);
        assert_eq!(request.inference.max_tokens, Some(i32::MAX));
    }

    #[test]
    fn bedrock_request_without_a_user_turn_is_refused() {
        let prompt = Prompt {
            system: "s".into(),
            turns: vec![turn(Speaker::Assistant, "hello"), turn(Speaker::User, " ")],
            max_tokens: 1,
            model: None,
            temperature: None,
        };
        assert!(matches!(
            Request::new(&prompt, false),
            Err(ModelError::Refused(_))
        ));
    }

    #[test]
    fn bedrock_request_for_a_model_without_system_prompts_puts_it_in_the_first_turn() {
        let prompt = Prompt {
            system: "be brief".into(),
            turns: vec![
                turn(Speaker::Assistant, "Welcome!"),
                turn(Speaker::User, "hi"),
                turn(Speaker::User, "there"),
            ],
            max_tokens: 64,
            model: None,
            temperature: None,
        };
        let request = Request::new(&prompt, true).expect("a request");
        assert_eq!(request.system, None);
        assert_eq!(
            request.messages,
            [message(ConversationRole::User, "be brief\n\nhi\n\nthere")]
        );
        for without in [
            "amazon.titan-text-express-v1",
            "amazon.titan-text-premier-v1:0",
            "mistral.mistral-7b-instruct-v0:2",
            "mistral.mixtral-8x7b-instruct-v0:1",
            "cohere.command-text-v14",
            "cohere.command-light-text-v14",
            "us.amazon.titan-text-lite-v1",
        ] {
            assert!(!takes_system_prompt(without), "{without}");
        }
        for with in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "mistral.mistral-large-2402-v1:0",
            "cohere.command-r-plus-v1:0",
            "us.deepseek.r1-v1:0",
            "amazon.nova-pro-v1:0",
        ] {
            assert!(takes_system_prompt(with), "{with}");
        }
        assert!(refuses_system_prompt(
            "ValidationException: This model doesn't support system messages. Try again without a system message."
        ));
        assert!(!refuses_system_prompt(
            "ValidationException: Malformed input request"
        ));
    }

    fn delta(delta: ContentBlockDelta) -> ConverseStreamOutput {
        ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(0)
                .delta(delta)
                .build()
                .expect("a delta"),
        )
    }

    #[test]
    fn bedrock_text_deltas_and_usage_are_passed_on_and_message_stop_stops() {
        assert_eq!(
            interpret(&delta(ContentBlockDelta::Text("Hel".into()))),
            Step::Emit(ReplyEvent::Text("Hel".into()))
        );
        let usage = TokenUsage::builder()
            .input_tokens(5)
            .output_tokens(7)
            .total_tokens(12)
            .build()
            .expect("usage");
        let metadata = ConverseStreamMetadataEvent::builder().usage(usage).build();
        assert_eq!(
            interpret(&ConverseStreamOutput::Metadata(metadata)),
            Step::Emit(ReplyEvent::Usage { output_tokens: 7 })
        );
        let stop = MessageStopEvent::builder()
            .stop_reason(StopReason::EndTurn)
            .build()
            .expect("a stop");
        assert_eq!(
            interpret(&ConverseStreamOutput::MessageStop(stop)),
            Step::Stop(None)
        );
        for (reason, cut) in [
            (StopReason::MaxTokens, IncompleteReason::MaxTokens),
            (StopReason::ContentFiltered, IncompleteReason::ContentFilter),
            (
                StopReason::GuardrailIntervened,
                IncompleteReason::ContentFilter,
            ),
            (
                StopReason::ModelContextWindowExceeded,
                IncompleteReason::ContextWindow,
            ),
            (
                StopReason::MalformedModelOutput,
                IncompleteReason::MalformedOutput,
            ),
        ] {
            let stop = MessageStopEvent::builder()
                .stop_reason(reason.clone())
                .build()
                .expect("a stop");
            assert_eq!(
                interpret(&ConverseStreamOutput::MessageStop(stop)),
                Step::Stop(Some(cut)),
                "{reason:?}"
            );
        }
        let thought = ReasoningContentBlockDelta::Text("Let me think.".into());
        assert_eq!(
            interpret(&delta(ContentBlockDelta::ReasoningContent(thought))),
            Step::Emit(ReplyEvent::Reasoning("Let me think.".into()))
        );
    }

    #[test]
    fn bedrock_other_events_are_skipped() {
        let start = MessageStartEvent::builder()
            .role(ConversationRole::Assistant)
            .build()
            .expect("a start");
        let block_stop = ContentBlockStopEvent::builder()
            .content_block_index(0)
            .build()
            .expect("a block stop");
        let tool = ToolUseBlockDelta::builder()
            .input("{}")
            .build()
            .expect("a tool delta");
        for event in [
            ConverseStreamOutput::MessageStart(start),
            ConverseStreamOutput::ContentBlockStop(block_stop),
            ConverseStreamOutput::Metadata(ConverseStreamMetadataEvent::builder().build()),
            delta(ContentBlockDelta::Text(String::new())),
            delta(ContentBlockDelta::ToolUse(tool)),
        ] {
            assert_eq!(interpret(&event), Step::Skip, "{event:?}");
        }
    }

    fn answer(status: u16, error: ConverseStreamError) -> SdkError<ConverseStreamError> {
        let status = StatusCode::try_from(status).expect("a status");
        SdkError::service_error(error, HttpResponse::new(status, SdkBody::empty()))
    }

    #[test]
    fn bedrock_client_errors_are_refused_with_their_message() {
        let denied = ConverseStreamError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("You don't have access to the model with the specified model ID.")
                .build(),
        );
        assert_eq!(
            from_request_error(&answer(403, denied)),
            ModelError::Refused(
                "AccessDeniedException: You don't have access to the model with the specified model ID."
                    .into()
            )
        );
        let invalid = ConverseStreamError::ValidationException(
            ValidationException::builder()
                .message("Input is too long for requested model.")
                .build(),
        );
        assert!(matches!(
            from_request_error(&answer(400, invalid)),
            ModelError::Refused(m) if m.contains("too long")
        ));
        let unknown = ConverseStreamError::generic(
            ErrorMetadata::builder()
                .code("UnrecognizedClientException")
                .message("The security token included in the request is invalid.")
                .build(),
        );
        assert_eq!(
            from_request_error(&answer(403, unknown)),
            ModelError::Refused(
                "UnrecognizedClientException: The security token included in the request is invalid."
                    .into()
            )
        );
    }

    #[test]
    fn bedrock_throttling_and_server_errors_are_unavailable() {
        let throttled = ConverseStreamError::ThrottlingException(
            ThrottlingException::builder()
                .message("Too many requests, please wait before trying again.")
                .build(),
        );
        assert!(matches!(
            from_request_error(&answer(429, throttled)),
            ModelError::Unavailable(m) if m.starts_with("ThrottlingException: Too many")
        ));
        for status in [429, 500, 503] {
            let unknown = ConverseStreamError::generic(ErrorMetadata::builder().build());
            assert_eq!(
                from_request_error(&answer(status, unknown)),
                ModelError::Unavailable("an unrecognised error".into()),
                "{status}"
            );
        }
    }

    #[test]
    fn bedrock_timeouts_are_timeouts_and_other_failures_unavailable() {
        let timeout: SdkError<ConverseStreamError> = SdkError::timeout_error("too slow");
        assert_eq!(from_request_error(&timeout), ModelError::Timeout);
        let connect: SdkError<ConverseStreamError> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect timeout".into()));
        assert_eq!(from_request_error(&connect), ModelError::Timeout);
        let refused: SdkError<ConverseStreamError> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        assert!(matches!(
            from_request_error(&refused),
            ModelError::Unavailable(m) if m.contains("connection refused")
        ));
    }

    #[test]
    fn bedrock_exceptions_mid_stream_are_unavailable_with_their_message() {
        let failed = ConverseStreamOutputError::ModelStreamErrorException(
            ModelStreamErrorException::builder()
                .message("The model stopped answering.")
                .original_status_code(500)
                .build(),
        );
        let error = SdkError::service_error(failed, RawMessage::Decoded(RawFrame::new(vec![])));
        assert_eq!(
            from_stream_error(&error),
            ModelError::Unavailable(
                "ModelStreamErrorException: The model stopped answering.".into()
            )
        );
        let broken: SdkError<ConverseStreamOutputError, RawMessage> =
            SdkError::dispatch_failure(ConnectorError::io("connection reset".into()));
        assert!(matches!(
            from_stream_error(&broken),
            ModelError::Unavailable(m) if m.contains("connection reset")
        ));
    }

    #[test]
    fn bedrock_validation_exception_is_refused_at_the_start_and_mid_stream_alike() {
        let mid_stream = ConverseStreamOutputError::ValidationException(
            ValidationException::builder()
                .message("The model returned the following errors: Input is too long")
                .build(),
        );
        let error = SdkError::service_error(mid_stream, RawMessage::Decoded(RawFrame::new(vec![])));
        let at_start = answer(
            400,
            ConverseStreamError::ValidationException(
                ValidationException::builder()
                    .message("The model returned the following errors: Input is too long")
                    .build(),
            ),
        );
        assert!(matches!(from_stream_error(&error), ModelError::Refused(_)));
        assert!(matches!(
            from_request_error(&at_start),
            ModelError::Refused(_)
        ));
        assert_eq!(verdict(Some("validationException"), None), Verdict::Refused);
        assert_eq!(
            verdict(Some("ServiceQuotaExceededException"), Some(400)),
            Verdict::Quota
        );
        assert_eq!(
            verdict(Some("throttlingException"), None),
            Verdict::Unavailable
        );
    }

    #[test]
    fn bedrock_messages_are_kept_short() {
        assert_eq!(clip(" short "), "short");
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(clip(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn bedrock_name_names_the_model() {
        let model = BedrockModel::local("http://127.0.0.1:1", "anthropic.claude-3-haiku");
        assert_eq!(model.name(), "bedrock:anthropic.claude-3-haiku");
    }
}
