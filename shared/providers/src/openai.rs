//! An OpenAI-compatible chat-completions server as the `ChatModel`: OpenAI itself, or a
//! local Ollama, vLLM or llama.cpp server. Replies stream as Server-Sent Events, read as
//! they arrive; the stream owns the HTTP response, so dropping it aborts the request.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker};

/// The most of an error answer's body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The longest event (or line) accepted from the stream; more means a broken provider.
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// The longest provider message passed on in an error.
const MAX_MESSAGE_CHARS: usize = 500;

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
}

impl OpenAiSettings {
    /// Settings with the default timeouts: 20 s to the first byte, 30 s between bytes.
    pub fn new(
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: Option<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
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
            .finish()
    }
}

#[derive(Debug)]
pub struct OpenAiModel {
    settings: OpenAiSettings,
    /// Built on first use so that constructing the model does no I/O and cannot fail.
    client: OnceCell<reqwest::Client>,
}

impl OpenAiModel {
    pub fn new(settings: OpenAiSettings) -> Self {
        Self {
            settings,
            client: OnceCell::new(),
        }
    }

    fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        )
    }

    /// The error for an answer that is not a success, with the provider's message if any.
    async fn failure(&self, mut response: reqwest::Response) -> ModelError {
        let status = response.status();
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
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|json| error_message(&json))
            .map(|message| scrub(&message, self.settings.api_key.as_deref()));
        let text = match message {
            Some(message) if !message.is_empty() => format!("HTTP {}: {message}", status.as_u16()),
            _ => format!("HTTP {status}"),
        };
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        if status.is_client_error() && !retryable {
            ModelError::Refused(text)
        } else {
            ModelError::Unavailable(text)
        }
    }
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

        let mut request = client
            .post(self.url())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&ChatRequest::new(&self.settings.model, prompt));
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }

        let started = Instant::now();
        let first_byte_deadline = started + self.settings.first_byte_timeout;
        let response = tokio::time::timeout_at(first_byte_deadline, request.send())
            .await
            .map_err(|_| ModelError::Timeout)?
            .map_err(from_transport)?;
        if !response.status().is_success() {
            return Err(self.failure(response).await);
        }

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
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    stream: bool,
    stream_options: StreamOptions,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> ChatRequest<'a> {
    fn new(model: &'a str, prompt: &'a Prompt) -> Self {
        let system = (!prompt.system.is_empty()).then_some(Message {
            role: "system",
            content: &prompt.system,
        });
        let turns = prompt.turns.iter().map(|turn| Message {
            role: match turn.speaker {
                Speaker::User => "user",
                Speaker::Assistant => "assistant",
            },
            content: &turn.text,
        });
        Self {
            // A chatbot's own model, else the one the adapter was configured with.
            model: prompt.model.as_ref().map_or(model, |m| m.as_str()),
            messages: system.into_iter().chain(turns).collect(),
            max_tokens: prompt.max_tokens,
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
        for data in self.parser.feed(bytes) {
            match interpret(&data) {
                Chunk::Events(events) => self.pending.extend(events.into_iter().map(Ok)),
                Chunk::Done => {
                    self.response = None;
                    return;
                }
                Chunk::Failed(ModelError::Unavailable(message)) => {
                    let message = scrub(&message, self.api_key.as_deref());
                    return self.fail(ModelError::Unavailable(message));
                }
                Chunk::Failed(error) => return self.fail(error),
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
        let message =
            error_message(&json).unwrap_or_else(|| "the provider reported an error".to_owned());
        return Chunk::Failed(ModelError::Unavailable(message));
    }
    let mut events = Vec::new();
    let content = json
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty());
    if let Some(text) = content {
        events.push(ReplyEvent::Text(text.to_owned()));
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

/// Splits a Server-Sent Events stream into the data of its events, fed network chunks as
/// they come: lines may be split anywhere, end in `\n`, `\r\n` or `\r`; an event's `data:`
/// lines are joined with `\n`; comments and other fields are skipped; a blank line ends
/// an event.
#[derive(Default)]
struct SseParser {
    /// The current line so far.
    line: Vec<u8>,
    /// The current event's data so far, each line followed by `\n`.
    data: String,
    /// The last byte seen ended a line with `\r`, so a `\n` right after belongs to it.
    after_cr: bool,
    /// The first line has been read (a byte-order mark may start only that).
    started: bool,
}

impl SseParser {
    /// The data of the events that `bytes` completes, in order.
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
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
        self.line.len() + self.data.len()
    }

    fn end_line(&mut self, events: &mut Vec<String>) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if !std::mem::replace(&mut self.started, true) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            let mut data = std::mem::take(&mut self.data);
            if data.pop().is_some() {
                events.push(data);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        if field == "data" {
            self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
            self.data.push('\n');
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
            events.extend(parser.feed(std::slice::from_ref(byte)));
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
        let json = serde_json::to_value(ChatRequest::new("m", &prompt)).expect("json");
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
