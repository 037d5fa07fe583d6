//! An OpenAI-compatible chat-completions server as the `ChatModel`: OpenAI itself, or a
//! local Ollama, vLLM or llama.cpp server. Replies stream as Server-Sent Events, read as
//! they arrive; the stream owns the HTTP response, so dropping it aborts the request.
//!
//! What real servers send beyond OpenAI's happy path, and how it is read:
//! - the conversation is sent with alternating roles, starting with the user
//!   ([`Prompt::alternating_turns`]): Mistral's and Gemma's chat templates on vLLM and
//!   llama.cpp answer 400 otherwise;
//! - the token limit goes in the field the server reads ([`TokenLimitField`]), switched
//!   once if the server names it unsupported;
//! - 429 and 5xx answers are retried within the first-byte budget, after `retry-after-ms`
//!   or `Retry-After` when given; an exhausted quota or billing limit is refused at once;
//! - reasoning deltas (`reasoning_content`, `reasoning`) are passed on as progress;
//! - `finish_reason` `length` and `content_filter` mark the reply cut;
//! - a mid-stream error as an SSE `error:` field (llama.cpp before September 2025), an
//!   `event: error`, or an `error` object ends the reply with its message.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use chat_core::config::TokenLimitField;
use chat_core::domain::IncompleteReason;
use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker};

/// The most of an error answer's body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The longest event (or line) accepted from the stream; more means a broken provider.
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// The longest provider message passed on in an error.
const MAX_MESSAGE_CHARS: usize = 500;
/// How many times a reply is asked for (the first try and its retries).
const MAX_ATTEMPTS: u32 = 4;
/// The wait before the first retry when the server names none; doubled each time.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(200);

/// Where and how to reach an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// The API root, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`
    /// (Ollama); `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token when set; local servers usually need none.
    pub api_key: Option<String>,
    /// How long the first byte of the reply may take (the model may be loading).
    pub first_byte_timeout: Duration,
    /// The longest gap allowed between pieces of a reply once it has started.
    pub idle_timeout: Duration,
    /// The field the reply's token limit is sent in (switched if the server refuses it).
    pub token_limit_field: TokenLimitField,
}

impl OpenAiSettings {
    /// Settings with the default timeouts (20 s to the first byte, retries included; 30 s
    /// between bytes) and the token limit field the server is known to read.
    pub fn new(
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: Option<String>,
    ) -> Self {
        let base_url = base_url.into();
        Self {
            token_limit_field: TokenLimitField::for_server(&base_url),
            base_url,
            model: model.into(),
            api_key,
            first_byte_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Never prints the key.
impl fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("token_limit_field", &self.token_limit_field)
            .finish()
    }
}

#[derive(Debug)]
pub struct OpenAiModel {
    settings: OpenAiSettings,
    /// Built on first use so that constructing the model does no I/O and cannot fail.
    client: OnceCell<reqwest::Client>,
    /// The server refused the configured token limit field: the other one is sent.
    other_token_field: AtomicBool,
}

impl OpenAiModel {
    pub fn new(settings: OpenAiSettings) -> Self {
        Self {
            settings,
            client: OnceCell::new(),
            other_token_field: AtomicBool::new(false),
        }
    }

    fn token_limit_field(&self) -> TokenLimitField {
        let field = self.settings.token_limit_field;
        if self.other_token_field.load(Ordering::Relaxed) {
            field.other()
        } else {
            field
        }
    }

    fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        )
    }

    /// What an answer that is not a success says: its status, the provider's error, and
    /// when to try again.
    async fn failure(&self, mut response: reqwest::Response) -> Failure {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        let read = tokio::time::timeout(self.settings.first_byte_timeout, async {
            while body.len() < MAX_ERROR_BODY {
                match response.chunk().await {
                    Ok(Some(bytes)) => body.extend_from_slice(&bytes),
                    _ => break,
                }
            }
        });
        // A body that is slow or broken just leaves the message out.
        let _ = read.await;
        let json = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
        let field = |name: &str| {
            json.pointer(&format!("/error/{name}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Failure {
            status: status.as_u16(),
            message: error_message(&json)
                .map(|message| scrub(&message, self.settings.api_key.as_deref())),
            code: field("code").or_else(|| field("type")),
            param: field("param"),
            retry_after,
        }
    }
}

/// An answer that is not a success.
#[derive(Debug)]
struct Failure {
    status: u16,
    message: Option<String>,
    /// OpenAI's `error.code` (else `error.type`): `rate_limit_exceeded`,
    /// `insufficient_quota`, `unsupported_parameter`...
    code: Option<String>,
    /// The request field the error is about.
    param: Option<String>,
    retry_after: Option<Duration>,
}

/// Codes of a quota or billing limit: no retry helps until an admin acts.
const QUOTA_CODES: [&str; 4] = [
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
    "access_terminated",
];

impl Failure {
    fn text(&self) -> String {
        match &self.message {
            Some(message) if !message.is_empty() => format!("HTTP {}: {message}", self.status),
            _ => format!("HTTP {}", self.status),
        }
    }

    /// The server refused the token limit field it was sent: OpenAI names it in `param`
    /// (`unsupported_parameter`), older servers only in the message.
    fn refuses_token_field(&self, field: TokenLimitField) -> bool {
        let name = field.as_str();
        let message = self.message.as_deref().unwrap_or_default();
        self.status == 400
            && match &self.param {
                Some(param) => {
                    param == name
                        && (self.code.as_deref() == Some("unsupported_parameter")
                            || message
                                .to_ascii_lowercase()
                                .contains("unsupported parameter"))
                }
                None => {
                    message.contains(&format!("Unsupported parameter: '{name}'"))
                        || message
                            .contains(&format!("Unrecognized request argument supplied: {name}"))
                }
            }
    }

    fn is_quota(&self) -> bool {
        self.status == 402
            || self
                .code
                .as_deref()
                .is_some_and(|c| QUOTA_CODES.contains(&c))
    }

    /// Rate limits and server errors pass; asking again later may work.
    fn is_transient(&self) -> bool {
        !self.is_quota() && matches!(self.status, 408 | 409 | 429 | 500..=599)
    }

    fn into_error(self) -> ModelError {
        if self.is_quota() {
            ModelError::Refused(format!(
                "the provider's quota or billing limit is reached ({}); raise it or add credit with the provider: {}",
                self.code.as_deref().unwrap_or("payment required"),
                self.text()
            ))
        } else if self.is_transient() {
            ModelError::Unavailable(self.text())
        } else {
            ModelError::Refused(self.text())
        }
    }
}

/// How long the server asks to wait: `retry-after-ms` (OpenAI, Azure), else `Retry-After`
/// in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

#[async_trait]
impl ChatModel for OpenAiModel {
    fn name(&self) -> String {
        format!("openai:{}", self.settings.model)
    }

    async fn reply(&self, prompt: &Prompt) -> Result<ReplyStream, ModelError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                reqwest::Client::builder()
                    .connect_timeout(self.settings.first_byte_timeout)
                    .build()
            })
            .await
            .map_err(|e| ModelError::Unavailable(describe(&e)))?;

        let first_byte_deadline = Instant::now() + self.settings.first_byte_timeout;
        let mut switched_field = false;
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let field = self.token_limit_field();
            let mut request = client
                .post(self.url())
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .json(&ChatRequest::new(&self.settings.model, prompt, field));
            if let Some(key) = &self.settings.api_key {
                request = request.bearer_auth(key);
            }
            let response = tokio::time::timeout_at(first_byte_deadline, request.send())
                .await
                .map_err(|_| ModelError::Timeout)?
                .map_err(from_transport)?;
            if response.status().is_success() {
                break response;
            }
            let failure = self.failure(response).await;
            if !switched_field && failure.refuses_token_field(field) {
                // Remembered: every later reply sends the field this server reads.
                switched_field = true;
                self.other_token_field.fetch_xor(true, Ordering::Relaxed);
                tracing::info!(
                    refused = field.as_str(),
                    "the model server wants the other token limit field"
                );
                continue;
            }
            let wait = failure
                .retry_after
                .unwrap_or(FIRST_RETRY_WAIT * 2u32.pow(attempt - 1));
            if !failure.is_transient()
                || attempt >= MAX_ATTEMPTS
                || Instant::now() + wait >= first_byte_deadline
            {
                return Err(failure.into_error());
            }
            tracing::info!(
                status = failure.status,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "the model server asks to try again"
            );
            tokio::time::sleep(wait).await;
        };

        let reading = Reading {
            response: Some(response),
            parser: SseParser::default(),
            pending: VecDeque::new(),
            first_byte_deadline: Some(first_byte_deadline),
            idle_timeout: self.settings.idle_timeout,
            api_key: self.settings.api_key.clone(),
        };
        Ok(futures::stream::unfold(reading, Reading::next).boxed())
    }
}

/// The request body: the prompt as chat messages, asking for a stream that ends with usage.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    stream: bool,
    stream_options: StreamOptions,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> ChatRequest<'a> {
    fn new(model: &'a str, prompt: &'a Prompt, token_field: TokenLimitField) -> Self {
        let system = (!prompt.system.is_empty()).then_some(Message {
            role: "system",
            content: prompt.system.as_str().into(),
        });
        let turns = prompt.alternating_turns().into_iter().map(|turn| Message {
            role: match turn.speaker {
                Speaker::User => "user",
                Speaker::Assistant => "assistant",
            },
            content: turn.text.into(),
        });
        let limit = Some(prompt.max_tokens);
        Self {
            // A chatbot's own model, else the one the adapter was configured with.
            model: prompt.model.as_ref().map_or(model, |m| m.as_str()),
            messages: system.into_iter().chain(turns).collect(),
            max_tokens: limit.filter(|_| token_field == TokenLimitField::MaxTokens),
            max_completion_tokens: limit
                .filter(|_| token_field == TokenLimitField::MaxCompletionTokens),
            temperature: prompt.temperature.map(|t| t.as_f32()),
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
        }
    }
}

/// The state of a reply being read: the response it comes from (dropped once the reply is
/// over), the events parsed but not yet handed out.
struct Reading {
    response: Option<reqwest::Response>,
    parser: SseParser,
    pending: VecDeque<Result<ReplyEvent, ModelError>>,
    /// Until the first bytes of the body arrive: when they must have.
    first_byte_deadline: Option<Instant>,
    idle_timeout: Duration,
    /// To keep it out of error messages the provider sends.
    api_key: Option<String>,
}

impl Reading {
    async fn next(mut self) -> Option<(Result<ReplyEvent, ModelError>, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some((item, self));
            }
            let response = self.response.as_mut()?;
            let deadline = self
                .first_byte_deadline
                .take()
                .unwrap_or_else(|| Instant::now() + self.idle_timeout);
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => self.fail(ModelError::Timeout),
                Ok(Err(e)) => self.fail(from_transport(e)),
                Ok(Ok(None)) => {
                    self.fail(ModelError::Unavailable("the stream ended early".to_owned()));
                }
                Ok(Ok(Some(bytes))) => self.take(&bytes),
            }
        }
    }

    /// Ends the reply with `error` after what is already pending.
    fn fail(&mut self, error: ModelError) {
        self.response = None;
        self.pending.push_back(Err(error));
    }

    fn take(&mut self, bytes: &[u8]) {
        for event in self.parser.feed(bytes) {
            let chunk = match (&event.error, event.name.as_deref()) {
                (Some(error), _) => failed(error),
                (None, Some("error")) => failed(&event.data),
                _ => interpret(&event.data),
            };
            match chunk {
                Chunk::Events(events) => self.pending.extend(events.into_iter().map(Ok)),
                Chunk::Done => {
                    self.response = None;
                    return;
                }
                Chunk::Failed(error) => {
                    let key = self.api_key.as_deref();
                    return self.fail(match error {
                        ModelError::Unavailable(message) => {
                            ModelError::Unavailable(scrub(&message, key))
                        }
                        ModelError::Refused(message) => ModelError::Refused(scrub(&message, key)),
                        ModelError::Timeout => ModelError::Timeout,
                    });
                }
            }
        }
        if self.parser.buffered() > MAX_EVENT_BYTES {
            self.fail(ModelError::Unavailable(
                "the provider sent an oversized event".to_owned(),
            ));
        }
    }
}

/// What one event of the stream means.
#[derive(Debug, PartialEq)]
enum Chunk {
    Events(Vec<ReplyEvent>),
    Done,
    Failed(ModelError),
}

fn interpret(data: &str) -> Chunk {
    let data = data.trim();
    if data == "[DONE]" {
        return Chunk::Done;
    }
    if data.is_empty() {
        return Chunk::Events(Vec::new());
    }
    let Ok(json) = serde_json::from_str::<Value>(data) else {
        return Chunk::Failed(ModelError::Unavailable(
            "the provider sent an unreadable chunk".to_owned(),
        ));
    };
    if json.get("error").is_some_and(|e| !e.is_null()) {
        return failed(data);
    }
    let mut events = Vec::new();
    let delta = |field: &str| {
        json.pointer(&format!("/choices/0/delta/{field}"))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    // vLLM and llama.cpp name it `reasoning_content`, vLLM's newer releases and Ollama
    // `reasoning`.
    if let Some(thought) = delta("reasoning_content").or_else(|| delta("reasoning")) {
        events.push(ReplyEvent::Reasoning(thought.to_owned()));
    }
    if let Some(text) = delta("content") {
        events.push(ReplyEvent::Text(text.to_owned()));
    }
    let finish = json
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str);
    match finish {
        Some("length") => events.push(ReplyEvent::Cut(IncompleteReason::MaxTokens)),
        Some("content_filter") => events.push(ReplyEvent::Cut(IncompleteReason::ContentFilter)),
        _ => {}
    }
    if let Some(tokens) = json
        .pointer("/usage/completion_tokens")
        .and_then(Value::as_u64)
    {
        events.push(ReplyEvent::Usage {
            output_tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        });
    }
    Chunk::Events(events)
}

/// An error the server sent mid-stream (an `error` object, an SSE `error:` field, an
/// `event: error`): its message; refused when the request itself was at fault (a 4xx code,
/// a prompt over the context size), otherwise unavailable.
fn failed(data: &str) -> Chunk {
    let json = serde_json::from_str::<Value>(data.trim()).unwrap_or(Value::Null);
    let message = error_message(&json)
        .or_else(|| (!data.trim().is_empty() && json.is_null()).then(|| data.trim().to_owned()))
        .unwrap_or_else(|| "the provider reported an error".to_owned());
    let error = json.get("error").filter(|e| e.is_object()).unwrap_or(&json);
    let code = error.get("code").and_then(Value::as_u64);
    let kind = error
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let request_at_fault = code.is_some_and(|c| (400..500).contains(&c) && c != 408 && c != 429)
        || kind.contains("invalid_request")
        || kind.contains("exceed_context");
    Chunk::Failed(if request_at_fault {
        ModelError::Refused(message)
    } else {
        ModelError::Unavailable(message)
    })
}

/// A provider's message made safe to pass on: no key, not too long.
pub(crate) fn scrub(message: &str, api_key: Option<&str>) -> String {
    let mut message = message.trim().to_owned();
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        message = message.replace(key, "[redacted]");
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    message
}

/// The message of an OpenAI-style error, `{"error": {"message": ...}}`, or of the variants
/// some servers send (`{"error": "..."}`, `{"message": "..."}`).
pub(crate) fn error_message(json: &Value) -> Option<String> {
    let error = json.get("error");
    error
        .and_then(|e| e.get("message"))
        .or_else(|| error.filter(|e| e.is_string()))
        .or_else(|| json.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A failure to talk to the provider at all, or mid-reply.
fn from_transport(error: reqwest::Error) -> ModelError {
    if error.is_timeout() {
        ModelError::Timeout
    } else {
        // The URL is left out: a base URL may carry credentials.
        ModelError::Unavailable(describe(&error.without_url()))
    }
}

/// The error and its causes.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One event of a Server-Sent Events stream.
#[derive(Debug, Default, PartialEq)]
struct SseEvent {
    /// Its `event:` field, if any.
    name: Option<String>,
    /// Its `data:` lines, joined with `\n`.
    data: String,
    /// An `error:` field: not standard SSE, but what llama.cpp's server sent for a failure
    /// mid-stream before September 2025 (followed by `data: [DONE]`).
    error: Option<String>,
}

/// Splits a Server-Sent Events stream into its events, fed network chunks as they come:
/// lines may be split anywhere, end in `\n`, `\r\n` or `\r`; an event's `data:` lines are
/// joined with `\n`; comments and fields other than `event`, `data` and `error` are
/// skipped; a blank line ends an event (one with neither data nor an error is none).
#[derive(Default)]
struct SseParser {
    /// The current line so far.
    line: Vec<u8>,
    /// The current event so far, its data lines each followed by `\n`.
    event: SseEvent,
    /// The last byte seen ended a line with `\r`, so a `\n` right after belongs to it.
    after_cr: bool,
    /// The first line has been read (a byte-order mark may start only that).
    started: bool,
}

impl SseParser {
    /// The events that `bytes` completes, in order.
    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// How much is held for the line and event in progress.
    fn buffered(&self) -> usize {
        self.line.len() + self.event.data.len() + self.event.error.as_ref().map_or(0, String::len)
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if !std::mem::replace(&mut self.started, true) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            let mut event = std::mem::take(&mut self.event);
            let has_data = event.data.pop().is_some();
            if has_data || event.error.is_some() {
                events.push(event);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                self.event.data.push_str(value);
                self.event.data.push('\n');
            }
            "event" => self.event.name = Some(value.to_owned()),
            "error" => {
                let error = self.event.error.get_or_insert_with(String::new);
                if !error.is_empty() {
                    error.push('\n');
                }
                error.push_str(value);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<String> {
        let mut parser = SseParser::default();
        chunks
            .iter()
            .flat_map(|chunk| parser.feed(chunk.as_bytes()))
            .map(|event| event.data)
            .collect()
    }

    #[test]
    fn openai_sse_events_end_at_a_blank_line() {
        assert_eq!(
            parse(&["data: one\n\ndata: two\n\n", "data: three\n"]),
            ["one", "two"]
        );
    }

    #[test]
    fn openai_sse_lines_split_across_chunks_are_joined() {
        assert_eq!(
            parse(&["da", "ta: {\"a\"", ":1}", "\n", "\ndata:", " x\n\n"]),
            ["{\"a\":1}", "x"]
        );
    }

    #[test]
    fn openai_sse_crlf_and_cr_line_endings_work_even_when_split() {
        assert_eq!(
            parse(&[
                "data: one\r",
                "\n\r",
                "\ndata: two\r\r",
                "data: three\r\n\r\n"
            ]),
            ["one", "two", "three"]
        );
    }

    #[test]
    fn openai_sse_multi_line_data_is_joined_with_newlines() {
        assert_eq!(
            parse(&["data: first\ndata:second\ndata: \n\n"]),
            ["first\nsecond\n"]
        );
    }

    #[test]
    fn openai_sse_comments_and_other_fields_are_ignored() {
        assert_eq!(
            parse(&[
                ": keep-alive\n\n",
                "\u{feff}event: message\nid: 7\nretry: 10\ndata: x\n: note\nbogus\n\n"
            ]),
            ["x"]
        );
        assert_eq!(parse(&["\u{feff}data: y\n\n"]), ["y"]);
    }

    #[test]
    fn openai_sse_multibyte_text_split_across_chunks_survives() {
        let bytes = "data: héllo 👋\n\n".as_bytes();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for byte in bytes {
            events.extend(
                parser
                    .feed(std::slice::from_ref(byte))
                    .into_iter()
                    .map(|e| e.data),
            );
        }
        assert_eq!(events, ["héllo 👋"]);
    }

    #[test]
    fn openai_done_ends_the_stream() {
        assert_eq!(parse(&["data: [DONE]\n\n"]), ["[DONE]"]);
        assert_eq!(interpret("[DONE]"), Chunk::Done);
    }

    #[test]
    fn openai_chunks_give_text_and_usage_and_skip_empty_content() {
        let text = r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
        assert_eq!(
            interpret(text),
            Chunk::Events(vec![ReplyEvent::Text("Hi".into())])
        );
        for empty in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{}}]}"#,
            r#"{"choices":[]}"#,
        ] {
            assert_eq!(interpret(empty), Chunk::Events(vec![]), "{empty}");
        }
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12}}"#;
        assert_eq!(
            interpret(usage),
            Chunk::Events(vec![ReplyEvent::Usage { output_tokens: 12 }])
        );
    }

    #[test]
    fn openai_error_payloads_and_garbage_end_the_reply() {
        assert_eq!(
            interpret(r#"{"error":{"message":"overloaded","type":"server_error"}}"#),
            Chunk::Failed(ModelError::Unavailable("overloaded".into()))
        );
        assert_eq!(
            interpret(r#"{"error":"boom"}"#),
            Chunk::Failed(ModelError::Unavailable("boom".into()))
        );
        assert!(matches!(
            interpret("not json"),
            Chunk::Failed(ModelError::Unavailable(_))
        ));
    }

    #[test]
    fn openai_request_puts_the_system_prompt_first_and_names_roles() {
        use chat_core::ports::Turn;
        let prompt = Prompt {
            system: "be brief".into(),
            turns: vec![
                Turn {
                    speaker: Speaker::User,
                    text: "hi".into(),
                },
                Turn {
                    speaker: Speaker::Assistant,
                    text: "hello".into(),
                },
            ],
            max_tokens: 64,
            model: None,
            temperature: None,
        };
        let json = serde_json::to_value(ChatRequest::new("m", &prompt, TokenLimitField::MaxTokens))
            .expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ],
                "max_tokens": 64,
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn openai_sse_error_fields_and_error_events_are_kept_with_their_event() {
        // llama.cpp before September 2025: the failure as an `error:` field, then [DONE].
        let llama = r#"error: {"code":500,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}"#;
        let mut parser = SseParser::default();
        let events = parser.feed(format!("{llama}\n\ndata: [DONE]\n\n").as_bytes());
        assert_eq!(events.len(), 2);
        assert!(
            events[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("exceeds the available context"))
        );
        assert_eq!(events[1].data, "[DONE]");
        assert_eq!(
            failed(events[0].error.as_deref().unwrap_or_default()),
            Chunk::Failed(ModelError::Refused(
                "the request exceeds the available context size, try increasing it".into()
            ))
        );
        let named = parser.feed(b"event: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n");
        assert_eq!(named[0].name.as_deref(), Some("error"));
        assert_eq!(
            failed(&named[0].data),
            Chunk::Failed(ModelError::Unavailable("boom".into()))
        );
    }

    #[test]
    fn openai_reasoning_deltas_are_progress_and_finish_reasons_cut_the_reply() {
        for field in ["reasoning_content", "reasoning"] {
            let chunk =
                format!(r#"{{"choices":[{{"index":0,"delta":{{"{field}":"Let me think"}}}}]}}"#);
            assert_eq!(
                interpret(&chunk),
                Chunk::Events(vec![ReplyEvent::Reasoning("Let me think".into())]),
                "{field}"
            );
        }
        let length =
            r#"{"choices":[{"index":0,"delta":{"content":"and so"},"finish_reason":"length"}]}"#;
        assert_eq!(
            interpret(length),
            Chunk::Events(vec![
                ReplyEvent::Text("and so".into()),
                ReplyEvent::Cut(IncompleteReason::MaxTokens)
            ])
        );
        let filtered = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}"#;
        assert_eq!(
            interpret(filtered),
            Chunk::Events(vec![ReplyEvent::Cut(IncompleteReason::ContentFilter)])
        );
    }

    #[test]
    fn openai_request_sends_the_token_limit_in_the_field_the_server_reads() {
        let prompt = Prompt {
            system: String::new(),
            turns: vec![chat_core::ports::Turn {
                speaker: Speaker::User,
                text: "hi".into(),
            }],
            max_tokens: 64,
            model: None,
            temperature: None,
        };
        let json = serde_json::to_value(ChatRequest::new(
            "o3-mini",
            &prompt,
            TokenLimitField::MaxCompletionTokens,
        ))
        .expect("json");
        assert_eq!(json["max_completion_tokens"], 64);
        assert!(json.get("max_tokens").is_none());
        assert_eq!(
            TokenLimitField::for_server("https://api.openai.com/v1"),
            TokenLimitField::MaxCompletionTokens
        );
        assert_eq!(
            TokenLimitField::for_server("https://acme.openai.azure.com/openai/v1"),
            TokenLimitField::MaxCompletionTokens
        );
        for local in [
            "http://localhost:8080/v1",
            "http://vllm:8000/v1",
            "https://api.openai.com.evil/v1",
        ] {
            assert_eq!(
                TokenLimitField::for_server(local),
                TokenLimitField::MaxTokens,
                "{local}"
            );
        }
    }

    #[test]
    fn openai_quota_is_refused_for_an_admin_and_rate_limits_are_transient() {
        let answer = |status: u16, code: Option<&str>| Failure {
            status,
            message: Some("You exceeded your current quota".into()),
            code: code.map(str::to_owned),
            param: None,
            retry_after: None,
        };
        let quota = answer(429, Some("insufficient_quota"));
        assert!(!quota.is_transient());
        let ModelError::Refused(message) = quota.into_error() else {
            panic!("a refusal");
        };
        assert!(
            message.contains("quota or billing limit") && message.contains("insufficient_quota"),
            "{message}"
        );
        assert!(answer(429, Some("rate_limit_exceeded")).is_transient());
        assert!(answer(503, None).is_transient());
        assert!(!answer(402, None).is_transient());
        assert!(!answer(400, Some("invalid_request_error")).is_transient());
        let refused_field = Failure {
            status: 400,
            message: Some("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".into()),
            code: Some("unsupported_parameter".into()),
            param: Some("max_tokens".into()),
            retry_after: None,
        };
        assert!(refused_field.refuses_token_field(TokenLimitField::MaxTokens));
        assert!(!refused_field.refuses_token_field(TokenLimitField::MaxCompletionTokens));
    }

    #[test]
    fn openai_retry_after_reads_milliseconds_then_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().expect("a value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().expect("a value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.insert("retry-after-ms", "soon".parse().expect("a value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
    }

    #[test]
    fn openai_messages_lose_the_key_and_are_kept_short() {
        assert_eq!(scrub(" bad key sk-1 ", Some("sk-1")), "bad key [redacted]");
        assert_eq!(scrub("no key", None), "no key");
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(scrub(&long, None).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn openai_settings_debug_hides_the_key() {
        let settings = OpenAiSettings::new("http://x/v1", "m", Some("sk-secret".into()));
        assert!(!format!("{settings:?}").contains("sk-secret"));
        let model = OpenAiModel::new(settings);
        assert!(!format!("{model:?}").contains("sk-secret"));
        assert_eq!(model.name(), "openai:m");
    }
}
