//! The OpenAI-compatible model against a local streaming server that answers as such
//! servers do: Server-Sent Events written in pieces, with pauses, errors and hang-ups.
//! The request's `model` picks what the server does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker, Turn};
use chat_providers::{OpenAiModel, OpenAiSettings};
use chat_testkit::models::{PATIENCE, Step, collect, stream_body, text};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

const KEY: &str = "sk-test-secret-key";

/// What the server received.
struct Seen {
    authorization: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Server {
    seen: Mutex<Vec<Seen>>,
    /// Signalled when a response body is dropped: finished, or the client hung up.
    closed: Notify,
}

fn text_chunk(text: &str) -> String {
    let chunk = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n")
}

fn usage_chunk(completion_tokens: u32) -> String {
    let chunk = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 20, "completion_tokens": completion_tokens, "total_tokens": 20 + completion_tokens},
    });
    format!("data: {chunk}\n\n")
}

fn delta_chunk(delta: Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}

fn send(text: impl Into<String>) -> Step {
    Step::Send(text.into().into_bytes())
}

const DONE: &str = "data: [DONE]\n\n";

fn script(model: &str) -> Vec<Step> {
    let pause = || Step::Wait(Duration::from_millis(30));
    match model {
        // Pieces split mid-line and mid-event, CRLF endings, comments and a role-only delta.
        "chunks" => {
            let second = text_chunk("lo, ").replace('\n', "\r\n");
            let (a, b) = second.split_at(17);
            vec![
                send(": keep-alive\n\n"),
                send(
                    r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
                ),
                send("\n\n"),
                send(text_chunk("Hel")),
                pause(),
                send(a),
                pause(),
                send(b),
                send(text_chunk("world")),
                pause(),
                send(usage_chunk(3)),
                send(DONE),
            ]
        }
        "keeps-open" => vec![
            send(text_chunk("all")),
            send(text_chunk(" done")),
            send(DONE),
            Step::Hang,
        ],
        "drops" => vec![
            send(text_chunk("one")),
            pause(),
            send(text_chunk("two")),
            pause(),
            Step::Fail,
        ],
        "ends-early" => vec![send(text_chunk("one")), send(text_chunk("two"))],
        "error-mid" => vec![
            send(text_chunk("one")),
            send(
                "data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}\n\n",
            ),
            Step::Hang,
        ],
        "slow" => vec![
            send(text_chunk("first")),
            Step::Wait(Duration::from_secs(60)),
        ],
        "silent" => vec![Step::Wait(Duration::from_secs(60))],
        // llama.cpp's server before September 2025: a failure mid-stream is an SSE
        // `error:` field, then [DONE] as if all were well.
        "llama-context" => vec![
            send(text_chunk("one")),
            send(
                "error: {\"code\":500,\"message\":\"the request exceeds the available context size, try increasing it\",\"type\":\"exceed_context_size_error\"}\n\n",
            ),
            send(DONE),
        ],
        "event-error" => vec![
            send(text_chunk("one")),
            send(
                "event: error\ndata: {\"error\":{\"message\":\"Internal error\",\"type\":\"server_error\"}}\n\n",
            ),
            send(DONE),
        ],
        // vLLM and llama.cpp (`reasoning_content`), Ollama and newer vLLM (`reasoning`).
        "thinks" => vec![
            send(delta_chunk(
                json!({"role": "assistant", "reasoning_content": "Hmm,"}),
                None,
            )),
            pause(),
            send(delta_chunk(
                json!({"reasoning": " the user wants a greeting."}),
                None,
            )),
            send(delta_chunk(json!({"content": "Hello!"}), None)),
            send(delta_chunk(json!({}), Some("stop"))),
            send(usage_chunk(9)),
            send(DONE),
        ],
        "cut-length" => vec![
            send(text_chunk("Partial")),
            send(delta_chunk(json!({}), Some("length"))),
            send(DONE),
        ],
        "filtered" => vec![
            send(delta_chunk(json!({}), Some("content_filter"))),
            send(DONE),
        ],
        _ => vec![send(text_chunk("ok")), send(DONE)],
    }
}

/// Tells the server its body was dropped.
struct OnDrop(Arc<Server>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.closed.notify_one();
    }
}

fn error_answer(status: StatusCode, message: &str) -> Response {
    let body =
        json!({"error": {"message": message, "type": "invalid_request_error", "code": null}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn completions(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (earlier, alternates, limit_field) = {
        let alternates = roles_alternate(&body);
        let limit_field = ["max_tokens", "max_completion_tokens"]
            .into_iter()
            .find(|field| body.get(field).is_some());
        let mut seen = server.seen.lock().expect("the lock");
        let earlier = seen
            .iter()
            .filter(|s| s.body["model"] == model.as_str())
            .count();
        seen.push(Seen {
            authorization,
            body,
        });
        (earlier, alternates, limit_field)
    };
    match model.as_str() {
        // OpenAI's reasoning and newer models, word for word.
        "o3-mini" if limit_field == Some("max_tokens") => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter"
            }})
            .to_string(),
        )
            .into_response(),
        // Mistral's chat template on vLLM (or llama.cpp with --jinja).
        "mistral-template" if !alternates => error_answer(
            StatusCode::BAD_REQUEST,
            "Conversation roles must alternate user/assistant/user/assistant/...",
        ),
        "flaky-429" if earlier == 0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("retry-after-ms"), "50"),
            ],
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
                .to_string(),
        )
            .into_response(),
        "flaky-503" if earlier < 2 => (StatusCode::SERVICE_UNAVAILABLE, "upstream busy").into_response(),
        "busy-for-a-minute" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "slow down",
        )
            .into_response(),
        "no-quota" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota",
                "param": null,
                "code": "insufficient_quota"
            }})
            .to_string(),
        )
            .into_response(),
        "unauthorized" => error_answer(
            StatusCode::UNAUTHORIZED,
            &format!(
                "Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."
            ),
        ),
        "unknown-model" => error_answer(
            StatusCode::NOT_FOUND,
            "The model `unknown-model` does not exist",
        ),
        "broken" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "throttled" => error_answer(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached"),
        model => {
            let body = stream_body(script(model), OnDrop(server.clone()));
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(body)
                .expect("a response")
        }
    }
}

/// Whether the messages are as a strict chat template wants them: an optional system
/// message, then user and assistant by turns, starting with the user.
fn roles_alternate(body: &Value) -> bool {
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .map(|messages| messages.iter().filter_map(|m| m["role"].as_str()).collect())
        .unwrap_or_default();
    let turns = roles.strip_prefix(&["system"]).unwrap_or(&roles);
    turns
        .iter()
        .enumerate()
        .all(|(i, role)| *role == if i % 2 == 0 { "user" } else { "assistant" })
}

/// Serves the stand-in on a free port; returns its `/v1` base URL.
async fn serve() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/v1"), server)
}

fn model(base_url: &str, name: &str) -> OpenAiModel {
    OpenAiModel::new(OpenAiSettings::new(base_url, name, Some(KEY.to_owned())))
}

fn prompt() -> Prompt {
    Prompt {
        system: "You are terse.".into(),
        turns: vec![
            Turn {
                speaker: Speaker::User,
                text: "Hi".into(),
            },
            Turn {
                speaker: Speaker::Assistant,
                text: "Hello.".into(),
            },
            Turn {
                speaker: Speaker::User,
                text: "Greet the world".into(),
            },
        ],
        max_tokens: 256,
        model: None,
        temperature: None,
    }
}

async fn start(model: &OpenAiModel) -> ReplyStream {
    chat_testkit::models::start(model, &prompt()).await
}

async fn refusal(model: &OpenAiModel) -> ModelError {
    chat_testkit::models::refusal(model, &prompt()).await
}

#[tokio::test]
async fn chunks_arrive_in_order_and_add_up_to_the_reply_with_usage() {
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "chunks")).await).await;
    assert_eq!(
        events,
        [
            text("Hel"),
            text("lo, "),
            text("world"),
            Ok(ReplyEvent::Usage { output_tokens: 3 })
        ]
    );
}

#[tokio::test]
async fn the_request_carries_the_model_the_messages_the_token_limit_streaming_and_the_key() {
    let (base_url, server) = serve().await;
    let model = model(&base_url, "chunks");
    assert_eq!(model.name(), "openai:chunks");
    collect(start(&model).await).await;

    let seen = server.seen.lock().expect("the lock");
    let [request] = seen.as_slice() else {
        panic!("{} requests", seen.len());
    };
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer sk-test-secret-key")
    );
    assert_eq!(
        request.body,
        json!({
            "model": "chunks",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Greet the world"},
            ],
            "max_tokens": 256,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[tokio::test]
async fn no_authorization_header_is_sent_without_a_key() {
    let (base_url, server) = serve().await;
    let model = OpenAiModel::new(OpenAiSettings::new(&base_url, "chunks", None));
    collect(start(&model).await).await;
    let seen = server.seen.lock().expect("the lock");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization, None);
}

#[tokio::test]
async fn done_ends_the_stream_even_if_the_server_keeps_the_connection_open() {
    let (base_url, server) = serve().await;
    let events = collect(start(&model(&base_url, "keeps-open")).await).await;
    assert_eq!(events, [text("all"), text(" done")]);
    tokio::time::timeout(PATIENCE, server.closed.notified())
        .await
        .expect("the connection is closed");
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_yields_the_texts_so_far_then_unavailable() {
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "drops")).await).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[..2], [text("one"), text("two")]);
    assert!(
        matches!(&events[2], Err(ModelError::Unavailable(_))),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_stream_that_ends_without_done_ends_with_unavailable() {
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "ends-early")).await).await;
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
async fn an_error_payload_mid_stream_ends_the_reply_as_unavailable_with_its_message() {
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "error-mid")).await).await;
    assert_eq!(
        events,
        [
            text("one"),
            Err(ModelError::Unavailable(
                "The server had an error while processing your request.".into()
            ))
        ]
    );
}

#[tokio::test]
async fn a_401_answer_is_refused_with_the_providers_message_but_not_the_key() {
    let (base_url, _server) = serve().await;
    let error = refusal(&model(&base_url, "unauthorized")).await;
    let ModelError::Refused(message) = &error else {
        panic!("{error:?}");
    };
    assert!(message.contains("Incorrect API key provided"), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn an_unknown_model_is_refused_with_the_providers_message() {
    let (base_url, _server) = serve().await;
    let error = refusal(&model(&base_url, "unknown-model")).await;
    assert!(
        matches!(&error, ModelError::Refused(m) if m.contains("does not exist")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_500_or_429_answer_is_unavailable() {
    let (base_url, _server) = serve().await;
    for name in ["broken", "throttled"] {
        let error = refusal(&model(&base_url, name)).await;
        assert!(
            matches!(error, ModelError::Unavailable(_)),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_base_url_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    drop(listener);
    let error = refusal(&model(&format!("http://{address}/v1"), "chunks")).await;
    assert!(matches!(error, ModelError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn dropping_a_slow_stream_returns_promptly_and_closes_the_connection() {
    let (base_url, server) = serve().await;
    let mut stream = start(&model(&base_url, "slow")).await;
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
    let (base_url, _server) = serve().await;
    let mut settings = OpenAiSettings::new(&base_url, "slow", None);
    settings.idle_timeout = Duration::from_millis(200);
    let events = collect(start(&OpenAiModel::new(settings)).await).await;
    assert_eq!(events, [text("first"), Err(ModelError::Timeout)]);
}

#[tokio::test]
async fn a_reply_whose_first_byte_never_comes_times_out() {
    let (base_url, _server) = serve().await;
    let mut settings = OpenAiSettings::new(&base_url, "silent", None);
    settings.first_byte_timeout = Duration::from_millis(200);
    // Whether the headers or only the body were slow, the reply times out.
    let model = OpenAiModel::new(settings);
    let events = match tokio::time::timeout(PATIENCE, model.reply(&prompt()))
        .await
        .expect("an answer in time")
    {
        Ok(stream) => collect(stream).await,
        Err(error) => vec![Err(error)],
    };
    assert_eq!(events, [Err(ModelError::Timeout)]);
}

fn requests_for(server: &Server, model: &str) -> Vec<Value> {
    server
        .seen
        .lock()
        .expect("the lock")
        .iter()
        .filter(|seen| seen.body["model"] == model)
        .map(|seen| seen.body.clone())
        .collect()
}

#[tokio::test]
async fn a_llama_cpp_error_field_mid_stream_fails_the_reply_with_its_message() {
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "llama-context")).await).await;
    assert_eq!(events[0], text("one"));
    assert!(
        matches!(&events[1], Err(ModelError::Refused(m)) if m.contains("exceeds the available context size")),
        "{events:?}"
    );
    assert_eq!(events.len(), 2, "nothing after the error, [DONE] or not");

    let events = collect(start(&model(&base_url, "event-error")).await).await;
    assert_eq!(
        events,
        [
            text("one"),
            Err(ModelError::Unavailable("Internal error".into()))
        ]
    );
}

#[tokio::test]
async fn reasoning_deltas_stream_as_progress_before_the_text() {
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "thinks")).await).await;
    assert_eq!(
        events,
        [
            Ok(ReplyEvent::Reasoning("Hmm,".into())),
            Ok(ReplyEvent::Reasoning(" the user wants a greeting.".into())),
            text("Hello!"),
            Ok(ReplyEvent::Usage { output_tokens: 9 }),
        ]
    );
}

#[tokio::test]
async fn a_reply_cut_by_its_length_or_a_filter_says_so() {
    use chat_core::domain::IncompleteReason;
    let (base_url, _server) = serve().await;
    let events = collect(start(&model(&base_url, "cut-length")).await).await;
    assert_eq!(
        events,
        [
            text("Partial"),
            Ok(ReplyEvent::Cut(IncompleteReason::MaxTokens))
        ]
    );
    let events = collect(start(&model(&base_url, "filtered")).await).await;
    assert_eq!(
        events,
        [Ok(ReplyEvent::Cut(IncompleteReason::ContentFilter))]
    );
}

#[tokio::test]
async fn a_server_that_refuses_max_tokens_gets_max_completion_tokens_from_then_on() {
    let (base_url, server) = serve().await;
    let model = model(&base_url, "o3-mini");
    assert_eq!(collect(start(&model).await).await, [text("ok")]);
    collect(start(&model).await).await;
    let sent: Vec<(bool, bool)> = requests_for(&server, "o3-mini")
        .iter()
        .map(|body| {
            (
                body.get("max_tokens").is_some(),
                body["max_completion_tokens"] == 256,
            )
        })
        .collect();
    assert_eq!(sent, [(true, false), (false, true), (false, true)]);
}

#[tokio::test]
async fn a_strict_chat_template_gets_alternating_roles_starting_with_the_user() {
    let (base_url, server) = serve().await;
    let mut asked = prompt();
    asked.turns.insert(
        0,
        Turn {
            speaker: Speaker::Assistant,
            text: "Welcome! Ask me anything.".into(),
        },
    );
    asked.turns.push(Turn {
        speaker: Speaker::User,
        text: "and the moon".into(),
    });
    let model = model(&base_url, "mistral-template");
    let events = collect(chat_testkit::models::start(&model, &asked).await).await;
    assert_eq!(events, [text("ok")]);
    let sent = &requests_for(&server, "mistral-template")[0];
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Greet the world\n\nand the moon"},
        ])
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_after_the_wait_the_server_asks() {
    let (base_url, server) = serve().await;
    assert_eq!(
        collect(start(&model(&base_url, "flaky-429")).await).await,
        [text("ok")]
    );
    assert_eq!(requests_for(&server, "flaky-429").len(), 2);
    assert_eq!(
        collect(start(&model(&base_url, "flaky-503")).await).await,
        [text("ok")]
    );
    assert_eq!(requests_for(&server, "flaky-503").len(), 3);
}

#[tokio::test]
async fn a_wait_longer_than_the_first_byte_budget_is_not_waited_and_a_spent_quota_is_refused() {
    let (base_url, server) = serve().await;
    let started = tokio::time::Instant::now();
    assert!(matches!(
        refusal(&model(&base_url, "busy-for-a-minute")).await,
        ModelError::Unavailable(m) if m.contains("429")
    ));
    assert!(started.elapsed() < PATIENCE, "no minute's wait");
    assert_eq!(requests_for(&server, "busy-for-a-minute").len(), 1);

    let refused = refusal(&model(&base_url, "no-quota")).await;
    assert!(
        matches!(&refused, ModelError::Refused(m) if m.contains("quota or billing limit") && m.contains("insufficient_quota")),
        "{refused:?}"
    );
    assert_eq!(requests_for(&server, "no-quota").len(), 1, "never retried");
}
