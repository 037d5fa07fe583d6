//! The Bedrock model against a local server that answers `ConverseStream` as Bedrock does:
//! an AWS event stream (binary frames, written in pieces, with pauses, exceptions and
//! hang-ups), or a JSON error with its type in `x-amzn-ErrorType`. The model id picks what
//! the server does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_bedrock::BedrockModel;
use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker, Turn};
use chat_testkit::models::{PATIENCE, Step, collect, stream_body, text};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What the server received.
struct Seen {
    model_id: String,
    content_type: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Server {
    seen: Mutex<Vec<Seen>>,
    /// Signalled when a response body is dropped: finished, or the client hung up.
    closed: Notify,
}

fn frame(headers: Vec<Header>, payload: &Value) -> Vec<u8> {
    let mut message = Message::new(payload.to_string().into_bytes());
    for header in headers {
        message = message.add_header(header);
    }
    let mut bytes = Vec::new();
    write_message_to(&message, &mut bytes).expect("an encoded frame");
    bytes
}

fn string_header(name: &'static str, value: &'static str) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

/// An event frame as Bedrock sends it.
fn event(event_type: &'static str, payload: Value) -> Step {
    Step::Send(frame(
        vec![
            string_header(":event-type", event_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "event"),
        ],
        &payload,
    ))
}

/// An exception frame as Bedrock sends it mid-stream.
fn exception(exception_type: &'static str, payload: Value) -> Step {
    Step::Send(frame(
        vec![
            string_header(":exception-type", exception_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "exception"),
        ],
        &payload,
    ))
}

fn message_start() -> Step {
    event("messageStart", json!({"role": "assistant"}))
}

fn text_delta(text: &str) -> Step {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": text}}),
    )
}

fn block_stop() -> Step {
    event("contentBlockStop", json!({"contentBlockIndex": 0}))
}

fn message_stop() -> Step {
    stopped("end_turn")
}

fn stopped(reason: &str) -> Step {
    event("messageStop", json!({"stopReason": reason}))
}

fn metadata(output_tokens: u32) -> Step {
    event(
        "metadata",
        json!({
            "usage": {"inputTokens": 5, "outputTokens": output_tokens, "totalTokens": 5 + output_tokens},
            "metrics": {"latencyMs": 1},
        }),
    )
}

/// One frame sent in two pieces, cut at `at`.
fn split(step: Step, at: usize) -> [Step; 2] {
    let Step::Send(bytes) = step else {
        panic!("only sent frames can be split");
    };
    let (a, b) = bytes.split_at(at);
    [Step::Send(a.to_vec()), Step::Send(b.to_vec())]
}

fn script(model_id: &str) -> Vec<Step> {
    let pause = || Step::Wait(Duration::from_millis(30));
    match model_id {
        "error-mid" => vec![
            message_start(),
            text_delta("one"),
            exception(
                "modelStreamErrorException",
                json!({
                    "message": "The model stopped unexpectedly.",
                    "originalStatusCode": 500,
                    "originalMessage": "boom",
                }),
            ),
            Step::Hang,
        ],
        "drops" => vec![
            message_start(),
            text_delta("one"),
            pause(),
            text_delta("two"),
            pause(),
            Step::Fail,
        ],
        "ends-early" => vec![message_start(), text_delta("one"), text_delta("two")],
        "keeps-open" => vec![
            message_start(),
            text_delta("all done"),
            block_stop(),
            message_stop(),
            metadata(2),
            Step::Hang,
        ],
        "stops-quietly" => vec![
            message_start(),
            text_delta("done"),
            block_stop(),
            message_stop(),
            Step::Hang,
        ],
        "silent" => vec![Step::Wait(Duration::from_secs(60))],
        // DeepSeek-R1 (and Claude's extended thinking): reasoning deltas before the text.
        "thinks" => vec![
            message_start(),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "The user greets me."}}}),
            ),
            pause(),
            block_stop(),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"text": "Hello!"}}),
            ),
            message_stop(),
            metadata(4),
        ],
        "cut-max-tokens" => vec![
            message_start(),
            text_delta("Partial"),
            stopped("max_tokens"),
            metadata(3),
        ],
        "guardrail" => vec![
            message_start(),
            stopped("guardrail_intervened"),
            metadata(0),
        ],
        "context-full" => vec![
            message_start(),
            text_delta("So"),
            stopped("model_context_window_exceeded"),
            metadata(1),
        ],
        "validation-mid" => vec![
            message_start(),
            text_delta("one"),
            exception(
                "validationException",
                json!({"message": "Input is too long for requested model."}),
            ),
            Step::Hang,
        ],
        "slow" => vec![
            message_start(),
            text_delta("first"),
            Step::Wait(Duration::from_secs(60)),
        ],
        // Frames cut in pieces, an event type this SDK does not know, then Bedrock's order:
        // the usage comes after `messageStop`.
        _ => {
            let [a, b] = split(text_delta("lo, "), 7);
            let [c, d] = split(text_delta("world"), 40);
            vec![
                message_start(),
                text_delta("Hel"),
                pause(),
                a,
                pause(),
                b,
                event("somethingNew", json!({"x": 1})),
                c,
                pause(),
                d,
                block_stop(),
                message_stop(),
                pause(),
                metadata(7),
            ]
        }
    }
}

/// Tells the server its body was dropped.
struct OnDrop(Arc<Server>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.closed.notify_one();
    }
}

/// An error answer as Bedrock sends it.
fn error_answer(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("x-amzn-errortype"),
                format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ),
        ],
        json!({"message": message}).to_string(),
    )
        .into_response()
}

async fn converse_stream(
    State(server): State<Arc<Server>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    server.seen.lock().expect("the lock").push(Seen {
        model_id: model_id.clone(),
        content_type,
        body,
    });
    let has_system = server
        .seen
        .lock()
        .expect("the lock")
        .last()
        .is_some_and(|seen| seen.body.get("system").is_some());
    match model_id.as_str() {
        // What Bedrock answers a model that takes no system prompt.
        "mistral.mistral-7b-instruct-v0:2" | "acme.no-system-v1" if has_system => error_answer(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "This model doesn't support system messages. Try again without a system message.",
        ),
        "quota" => error_answer(
            StatusCode::BAD_REQUEST,
            "ServiceQuotaExceededException",
            "Your request exceeds the service quota for your account.",
        ),
        "denied" => error_answer(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        "unknown-model" => error_answer(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "The provided model identifier is invalid.",
        ),
        "throttled" => error_answer(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        "broken" => error_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an internal error.",
        ),
        model_id => Response::builder()
            .header(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")
            .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000")
            .body(stream_body(script(model_id), OnDrop(server.clone())))
            .expect("a response"),
    }
}

/// Serves the stand-in on a free port; returns its endpoint.
async fn serve() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/model/{model_id}/converse-stream", post(converse_stream))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), server)
}

fn turn(speaker: Speaker, text: &str) -> Turn {
    Turn {
        speaker,
        text: text.to_owned(),
    }
}

fn prompt() -> Prompt {
    Prompt {
        system: "You are terse.".into(),
        turns: vec![
            turn(Speaker::Assistant, "Welcome!"),
            turn(Speaker::User, "Hi"),
            turn(Speaker::User, "Are you there?"),
            turn(Speaker::Assistant, "Hello."),
            turn(Speaker::User, "Greet the world"),
        ],
        max_tokens: 256,
        model: None,
        temperature: None,
    }
}

async fn start(model: &BedrockModel) -> ReplyStream {
    chat_testkit::models::start(model, &prompt()).await
}

async fn refusal(model: &BedrockModel) -> ModelError {
    chat_testkit::models::refusal(model, &prompt()).await
}

#[tokio::test]
async fn chunks_arrive_in_order_and_add_up_to_the_reply_with_usage() {
    let (endpoint, _server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "chunks")).await).await;
    assert_eq!(
        events,
        [
            text("Hel"),
            text("lo, "),
            text("world"),
            Ok(ReplyEvent::Usage { output_tokens: 7 })
        ]
    );
}

#[tokio::test]
async fn the_request_carries_the_model_the_system_prompt_alternating_messages_and_max_tokens() {
    let (endpoint, server) = serve().await;
    let model_id = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    let model = BedrockModel::local(&endpoint, model_id);
    assert_eq!(model.name(), format!("bedrock:{model_id}"));
    collect(start(&model).await).await;

    let seen = server.seen.lock().expect("the lock");
    let [request] = seen.as_slice() else {
        panic!("{} requests", seen.len());
    };
    assert_eq!(request.model_id, model_id);
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    // The leading assistant turn is dropped and the two user turns become one.
    assert_eq!(
        request.body,
        json!({
            "system": [{"text": "You are terse."}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi\n\nAre you there?"}]},
                {"role": "assistant", "content": [{"text": "Hello."}]},
                {"role": "user", "content": [{"text": "Greet the world"}]},
            ],
            "inferenceConfig": {"maxTokens": 256},
        })
    );
}

#[tokio::test]
async fn no_system_block_is_sent_for_an_empty_system_prompt() {
    let (endpoint, server) = serve().await;
    let model = BedrockModel::local(&endpoint, "chunks");
    let prompt = Prompt {
        system: String::new(),
        turns: vec![turn(Speaker::User, "Hi")],
        max_tokens: 10,
        model: None,
        temperature: None,
    };
    let stream = tokio::time::timeout(PATIENCE, model.reply(&prompt))
        .await
        .expect("an answer in time")
        .expect("a reply");
    collect(stream).await;
    let seen = server.seen.lock().expect("the lock");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body,
        json!({
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 10},
        })
    );
}

#[tokio::test]
async fn the_usage_after_message_stop_ends_the_stream_even_if_the_server_keeps_it_open() {
    let (endpoint, server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "keeps-open")).await).await;
    assert_eq!(
        events,
        [text("all done"), Ok(ReplyEvent::Usage { output_tokens: 2 })]
    );
    tokio::time::timeout(PATIENCE, server.closed.notified())
        .await
        .expect("the connection is closed");
}

#[tokio::test]
async fn a_mid_stream_exception_yields_the_text_so_far_then_unavailable_with_its_message() {
    let (endpoint, _server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "error-mid")).await).await;
    assert_eq!(
        events,
        [
            text("one"),
            Err(ModelError::Unavailable(
                "ModelStreamErrorException: The model stopped unexpectedly.".into()
            ))
        ]
    );
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_yields_the_texts_so_far_then_unavailable() {
    let (endpoint, _server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "drops")).await).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[..2], [text("one"), text("two")]);
    assert!(
        matches!(&events[2], Err(ModelError::Unavailable(_))),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_stream_that_ends_without_message_stop_ends_with_unavailable() {
    let (endpoint, _server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "ends-early")).await).await;
    assert_eq!(
        events,
        [
            text("one"),
            text("two"),
            Err(ModelError::Unavailable("the stream ended early".into()))
        ]
    );
}

#[tokio::test]
async fn a_403_access_denied_answer_is_refused_with_its_message() {
    let (endpoint, _server) = serve().await;
    let error = refusal(&BedrockModel::local(&endpoint, "denied")).await;
    assert_eq!(
        error,
        ModelError::Refused(
            "AccessDeniedException: You don't have access to the model with the specified model ID."
                .into()
        )
    );
}

#[tokio::test]
async fn an_invalid_model_is_refused_with_its_message() {
    let (endpoint, _server) = serve().await;
    let error = refusal(&BedrockModel::local(&endpoint, "unknown-model")).await;
    assert!(
        matches!(&error, ModelError::Refused(m) if m.contains("model identifier is invalid")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_429_throttling_or_500_answer_is_unavailable() {
    let (endpoint, server) = serve().await;
    for name in ["throttled", "broken"] {
        let error = refusal(&BedrockModel::local(&endpoint, name)).await;
        assert!(
            matches!(error, ModelError::Unavailable(_)),
            "{name}: {error:?}"
        );
    }
    assert_eq!(server.seen.lock().expect("the lock").len(), 2);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    drop(listener);
    let error = refusal(&BedrockModel::local(&format!("http://{address}"), "chunks")).await;
    assert!(matches!(error, ModelError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn dropping_a_slow_stream_returns_promptly_and_closes_the_connection() {
    let (endpoint, server) = serve().await;
    let mut stream = start(&BedrockModel::local(&endpoint, "slow")).await;
    let first = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the first chunk in time");
    assert_eq!(first, Some(text("first")));
    drop(stream);
    tokio::time::timeout(PATIENCE, server.closed.notified())
        .await
        .expect("the server sees the connection closed");
}

#[tokio::test]
async fn a_stream_idle_for_longer_than_the_idle_timeout_times_out() {
    let (endpoint, _server) = serve().await;
    let model = BedrockModel::local(&endpoint, "slow")
        .with_timeouts(Duration::from_secs(5), Duration::from_millis(200));
    let events = collect(start(&model).await).await;
    assert_eq!(events, [text("first"), Err(ModelError::Timeout)]);
}

#[tokio::test]
async fn a_reply_that_stops_without_usage_ends_after_message_stop() {
    let (endpoint, server) = serve().await;
    let model = BedrockModel::local(&endpoint, "stops-quietly")
        .with_timeouts(Duration::from_secs(5), Duration::from_millis(200));
    let events = collect(start(&model).await).await;
    assert_eq!(events, [text("done")]);
    tokio::time::timeout(PATIENCE, server.closed.notified())
        .await
        .expect("the connection is closed");
}

#[tokio::test]
async fn a_reply_whose_first_event_never_comes_times_out() {
    let (endpoint, _server) = serve().await;
    let model = BedrockModel::local(&endpoint, "silent")
        .with_timeouts(Duration::from_millis(200), Duration::from_secs(5));
    // Whether the headers or only the first event were slow, the reply times out.
    let events = match tokio::time::timeout(PATIENCE, model.reply(&prompt()))
        .await
        .expect("an answer in time")
    {
        Ok(stream) => collect(stream).await,
        Err(error) => vec![Err(error)],
    };
    assert_eq!(events, [Err(ModelError::Timeout)]);
}

fn requests_for(server: &Server, model_id: &str) -> Vec<Value> {
    server
        .seen
        .lock()
        .expect("the lock")
        .iter()
        .filter(|seen| seen.model_id == model_id)
        .map(|seen| seen.body.clone())
        .collect()
}

#[tokio::test]
async fn reasoning_streams_as_progress_before_the_text() {
    let (endpoint, _server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "thinks")).await).await;
    assert_eq!(
        events,
        [
            Ok(ReplyEvent::Reasoning("The user greets me.".into())),
            text("Hello!"),
            Ok(ReplyEvent::Usage { output_tokens: 4 }),
        ]
    );
}

#[tokio::test]
async fn a_stop_reason_other_than_the_end_of_the_turn_marks_the_reply_cut() {
    use chat_core::domain::IncompleteReason as Why;
    let (endpoint, _server) = serve().await;
    let cases: [(&str, Vec<Result<ReplyEvent, ModelError>>); 3] = [
        (
            "cut-max-tokens",
            vec![
                text("Partial"),
                Ok(ReplyEvent::Cut(Why::MaxTokens)),
                Ok(ReplyEvent::Usage { output_tokens: 3 }),
            ],
        ),
        (
            "guardrail",
            vec![
                Ok(ReplyEvent::Cut(Why::ContentFilter)),
                Ok(ReplyEvent::Usage { output_tokens: 0 }),
            ],
        ),
        (
            "context-full",
            vec![
                text("So"),
                Ok(ReplyEvent::Cut(Why::ContextWindow)),
                Ok(ReplyEvent::Usage { output_tokens: 1 }),
            ],
        ),
    ];
    for (model_id, expected) in cases {
        let events = collect(start(&BedrockModel::local(&endpoint, model_id)).await).await;
        assert_eq!(events, expected, "{model_id}");
    }
}

#[tokio::test]
async fn a_validation_exception_mid_stream_is_a_refusal_as_at_the_start() {
    let (endpoint, _server) = serve().await;
    let events = collect(start(&BedrockModel::local(&endpoint, "validation-mid")).await).await;
    assert_eq!(events[0], text("one"));
    assert!(
        matches!(&events[1], Err(ModelError::Refused(m)) if m.contains("Input is too long")),
        "{events:?}"
    );
    assert!(matches!(
        refusal(&BedrockModel::local(&endpoint, "unknown-model")).await,
        ModelError::Refused(_)
    ));
}

#[tokio::test]
async fn a_model_without_system_prompts_gets_the_instructions_in_the_first_user_turn() {
    let (endpoint, server) = serve().await;
    let known = "mistral.mistral-7b-instruct-v0:2";
    collect(start(&BedrockModel::local(&endpoint, known)).await).await;
    let sent = requests_for(&server, known);
    assert_eq!(sent.len(), 1, "known: asked once, without a system prompt");
    assert!(sent[0].get("system").is_none());
    let first = sent[0]["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(first.starts_with("You are terse.\n\nHi"), "{first}");

    // A model the adapter does not know: refused once, then asked that way from then on.
    let unknown = "acme.no-system-v1";
    let model = BedrockModel::local(&endpoint, unknown);
    assert_eq!(
        collect(start(&model).await).await.first(),
        Some(&text("Hel"))
    );
    collect(start(&model).await).await;
    let systems: Vec<bool> = requests_for(&server, unknown)
        .iter()
        .map(|body| body.get("system").is_some())
        .collect();
    assert_eq!(systems, [true, false, false]);
}

#[tokio::test]
async fn an_exhausted_quota_is_refused_with_a_message_an_admin_can_act_on() {
    let (endpoint, _server) = serve().await;
    let refused = refusal(&BedrockModel::local(&endpoint, "quota")).await;
    assert!(
        matches!(&refused, ModelError::Refused(m) if m.contains("Service Quotas") && m.contains("exceeds the service quota")),
        "{refused:?}"
    );
}
