//! Amazon Bedrock's `ConverseStream` API as the `ChatModel`: one API for every text model
//! Bedrock serves (Claude, Llama, Mistral, Nova, ...), named by model or inference-profile
//! id. Replies stream as an AWS event stream, read as they arrive; the stream owns the
//! HTTP response, so dropping it aborts the request.
//!
//! Bedrock is stricter than OpenAI-style servers about the conversation: it must start with
//! a user turn, roles must alternate, and no text may be blank. The prompt is fitted to
//! that (see `conversation`) rather than refused.

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
    InferenceConfiguration, Message, SystemContentBlock,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::event_stream::RawMessage;
use futures::StreamExt;
use tokio::time::Instant;

use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker, Turn};

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

#[derive(Clone, Debug)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
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
        let request = Request::new(prompt)?;
        let send = self
            .client
            .converse_stream()
            .model_id(
                prompt
                    .model
                    .as_ref()
                    .map_or(self.model_id.as_str(), |m| m.as_str()),
            )
            .set_system(request.system)
            .set_messages(Some(request.messages))
            .inference_config(request.inference);

        let first_byte_deadline = Instant::now() + self.first_byte_timeout;
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

/// The parts of a `ConverseStream` request that come from the prompt.
#[derive(Debug, PartialEq)]
struct Request {
    /// `None` when there is no system prompt (Bedrock refuses a blank one).
    system: Option<Vec<SystemContentBlock>>,
    messages: Vec<Message>,
    inference: InferenceConfiguration,
}

impl Request {
    fn new(prompt: &Prompt) -> Result<Self, ModelError> {
        let system = (!prompt.system.trim().is_empty())
            .then(|| vec![SystemContentBlock::Text(prompt.system.clone())]);
        let turns = conversation(&prompt.turns);
        if turns.is_empty() {
            return Err(ModelError::Refused(
                "the prompt has no user turn to answer".to_owned(),
            ));
        }
        let messages = turns
            .into_iter()
            .map(|(speaker, text)| {
                Message::builder()
                    .role(match speaker {
                        Speaker::User => ConversationRole::User,
                        Speaker::Assistant => ConversationRole::Assistant,
                    })
                    .content(ContentBlock::Text(text))
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

/// The turns as Bedrock accepts them: blank turns are dropped (Bedrock refuses blank
/// text), then any assistant turns before the first user turn (the conversation must start
/// with the user), and consecutive turns of the same speaker are merged into one, their
/// texts separated by a blank line (the roles must alternate).
fn conversation(turns: &[Turn]) -> Vec<(Speaker, String)> {
    let mut merged: Vec<(Speaker, String)> = Vec::new();
    let spoken = turns
        .iter()
        .filter(|turn| !turn.text.trim().is_empty())
        .skip_while(|turn| turn.speaker != Speaker::User);
    for turn in spoken {
        match merged.last_mut() {
            Some((speaker, text)) if *speaker == turn.speaker => {
                text.push_str("\n\n");
                text.push_str(&turn.text);
            }
            _ => merged.push((turn.speaker, turn.text.clone())),
        }
    }
    merged
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
                Step::Stop => self.stopped = true,
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
    /// `messageStop`: the reply is complete.
    Stop,
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
            _ => Step::Skip,
        },
        ConverseStreamOutput::Metadata(metadata) => match &metadata.usage {
            Some(usage) => Step::Emit(ReplyEvent::Usage {
                output_tokens: u32::try_from(usage.output_tokens).unwrap_or(0),
            }),
            None => Step::Skip,
        },
        ConverseStreamOutput::MessageStop(_) => Step::Stop,
        _ => Step::Skip,
    }
}

/// How a refusal to start is passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Refused,
    Unavailable,
    Timeout,
}

/// By the error Bedrock named, or for one this SDK does not know, by its HTTP status:
/// the caller's mistakes (4xx) are refused, throttling and server errors are worth
/// retrying later.
fn verdict(error: &ConverseStreamError, status: u16) -> Verdict {
    use ConverseStreamError as E;
    match error {
        E::AccessDeniedException(_)
        | E::ValidationException(_)
        | E::ResourceNotFoundException(_) => Verdict::Refused,
        E::ModelTimeoutException(_) => Verdict::Timeout,
        E::ThrottlingException(_)
        | E::ServiceUnavailableException(_)
        | E::InternalServerException(_)
        | E::ModelNotReadyException(_)
        | E::ModelErrorException(_)
        | E::ModelStreamErrorException(_) => Verdict::Unavailable,
        _ => match status {
            408 | 429 => Verdict::Unavailable,
            400..=499 => Verdict::Refused,
            _ => Verdict::Unavailable,
        },
    }
}

/// A failure to start the reply.
fn from_request_error(error: &SdkError<ConverseStreamError, HttpResponse>) -> ModelError {
    match error {
        SdkError::ServiceError(context) => {
            let message = clip(&service_message(context.err()));
            match verdict(context.err(), context.raw().status().as_u16()) {
                Verdict::Refused => ModelError::Refused(message),
                Verdict::Unavailable => ModelError::Unavailable(message),
                Verdict::Timeout => ModelError::Timeout,
            }
        }
        other => from_transport(other),
    }
}

/// A failure in the middle of the reply: Bedrock's exceptions (the model failed, throttling,
/// ...) and broken connections alike; a retry may do better.
fn from_stream_error(error: &SdkError<ConverseStreamOutputError, RawMessage>) -> ModelError {
    match error {
        SdkError::ServiceError(context) => {
            ModelError::Unavailable(clip(&stream_message(context.err())))
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

/// `Kind: message` for the errors this SDK knows; the code and message Bedrock sent for
/// the others.
fn service_message(error: &ConverseStreamError) -> String {
    use ConverseStreamError as E;
    match error {
        E::AccessDeniedException(e) => e.to_string(),
        E::InternalServerException(e) => e.to_string(),
        E::ModelErrorException(e) => e.to_string(),
        E::ModelNotReadyException(e) => e.to_string(),
        E::ModelTimeoutException(e) => e.to_string(),
        E::ResourceNotFoundException(e) => e.to_string(),
        E::ServiceUnavailableException(e) => e.to_string(),
        E::ThrottlingException(e) => e.to_string(),
        E::ValidationException(e) => e.to_string(),
        E::ModelStreamErrorException(e) => e.to_string(),
        other => unknown_message(other),
    }
}

fn stream_message(error: &ConverseStreamOutputError) -> String {
    use ConverseStreamOutputError as E;
    match error {
        E::InternalServerException(e) => e.to_string(),
        E::ModelStreamErrorException(e) => e.to_string(),
        E::ValidationException(e) => e.to_string(),
        E::ThrottlingException(e) => e.to_string(),
        E::ServiceUnavailableException(e) => e.to_string(),
        other => unknown_message(other),
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
            Request::new(&prompt).expect("a request"),
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
        let request = Request::new(&prompt).expect("a request");
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
        assert!(matches!(Request::new(&prompt), Err(ModelError::Refused(_))));
    }

    #[test]
    fn bedrock_conversation_starts_with_the_user_and_alternates() {
        let turns = [
            turn(Speaker::Assistant, "Welcome!"),
            turn(Speaker::Assistant, "Ask me anything."),
            turn(Speaker::User, "one"),
            turn(Speaker::User, "two"),
            turn(Speaker::Assistant, "answer"),
            turn(Speaker::Assistant, ""),
            turn(Speaker::User, "  "),
            turn(Speaker::Assistant, "more"),
            turn(Speaker::User, "three"),
        ];
        assert_eq!(
            conversation(&turns),
            [
                (Speaker::User, "one\n\ntwo".to_owned()),
                (Speaker::Assistant, "answer\n\nmore".to_owned()),
                (Speaker::User, "three".to_owned()),
            ]
        );
        assert!(conversation(&[turn(Speaker::Assistant, "only")]).is_empty());
        assert!(conversation(&[]).is_empty());
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
            Step::Stop
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
