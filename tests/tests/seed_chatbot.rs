//! Seed 003's chatbot client against chat-local, as its document describes it: a socket to
//! one chatbot session, `session_info` on connecting, `{message, message_type}` in,
//! `message_received`, then `response_start`, `response_chunk`s and `response_complete`
//! with the whole reply; errors as `{type, message}`. The seed's socket code runs too,
//! under Node.

use chat_e2e::{Caller, Socket, TestApp, TokenIn, fields, is_rfc3339_millis, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The seed's `/ws/chat/{session_id}?token=`, with the session and the dialect in the
/// query too (an API Gateway WebSocket URL routes no path).
async fn chatbot(app: &TestApp, caller: &Caller, session: &str) -> Socket {
    app.connect_to(
        &format!(
            "/ws/chat/{session}?session_id={session}&token={}&dialect=chatbot",
            caller.token
        ),
        None,
        TokenIn::Query,
    )
    .await
    .expect("the handshake succeeds")
}

/// Exactly the seed's fields, and its type.
fn assert_shape(frame: &Value, kind: &str, expected: &[&str]) {
    assert_eq!(frame["type"], kind, "{frame}");
    assert_eq!(fields(frame), expected, "{frame}");
}

async fn a_chatbot_session_works_as_seed_003_documents(app: &TestApp) {
    let ann = app.user("ann");
    let opened = app
        .request(Method::POST, "/chatbot/helper/session", Some(&ann), None)
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{opened:?}");
    let session = opened.body["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let mut socket = chatbot(app, &ann, &session).await;

    let info = socket.next().await;
    assert_shape(
        &info,
        "session_info",
        &["chatbot_name", "message", "session_id", "type"],
    );
    assert_eq!(
        (&info["session_id"], &info["chatbot_name"], &info["message"]),
        (
            &json!(session),
            &json!("Helper"),
            &json!("Connected to Helper. You can start chatting!")
        )
    );

    let question = "Hello, can you help me with my project?";
    socket
        .send(json!({"message": question, "message_type": "text"}))
        .await;
    let received = socket.next().await;
    assert_shape(
        &received,
        "message_received",
        &["message_id", "timestamp", "type"],
    );
    assert!(is_rfc3339_millis(&received["timestamp"]), "{received}");

    let start = socket.next().await;
    assert_shape(&start, "response_start", &["message", "type"]);
    assert_eq!(start["message"], "Assistant is thinking...");
    let mut said = String::new();
    let complete = loop {
        let frame = socket.next().await;
        if frame["type"] != "response_chunk" {
            break frame;
        }
        assert_shape(&frame, "response_chunk", &["chunk", "type"]);
        said.push_str(frame["chunk"].as_str().unwrap_or_default());
    };
    assert_shape(
        &complete,
        "response_complete",
        &["full_response", "message_id", "timestamp", "type"],
    );
    assert_eq!(complete["full_response"], json!(said));
    assert!(said.ends_with(&format!("You said: {question}")), "{said}");
    assert!(is_rfc3339_millis(&complete["timestamp"]), "{complete}");
    assert_ne!(complete["message_id"], received["message_id"]);

    // The reply is the stored message of that id.
    let stored = app
        .get(
            &format!(
                "/sessions/{session}/messages/{}",
                complete["message_id"].as_str().unwrap_or_default()
            ),
            &ann,
        )
        .await;
    assert_eq!(stored.body["message"]["content"], json!(said));

    socket.send_text("this is not JSON").await;
    let error = socket.next().await;
    assert_shape(&error, "error", &["message", "type"]);
    socket.close().await;
}

chat_e2e::on_both_stores! {
    a_chatbot_session_works_as_seed_003_documents => a_chatbot_client_is_welcomed_acknowledged_and_answered_in_chunks, the_chatbot_session_runs_the_same_on_dynamodb;
}

/// The seed's client example, all five sections, as written, with Node's built-in
/// `fetch` and `WebSocket`: only the URLs change (`tests/seeds/chatbot.mjs` says how). Run
/// twice, the second run resumes nothing: the first closed its session.
#[tokio::test]
async fn the_seeds_javascript_example_runs_under_node() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/chatbot.mjs");
    let env = [
        ("CHAT_CHATBOT", "helper"),
        ("CHAT_TOKEN", ann.token.as_str()),
    ];
    let stdout = app.run_node(script, &env).await;
    for printed in [
        "chatbot_name: 'Helper'",
        "previous_messages: []",
        "Connected to chat",
        "system: Connected to Helper. You can start chatting!",
        "user: Hello, can you help me with my project?",
        "Message acknowledged:",
        "Assistant is responding...",
        "Response complete:",
        "assistant: This is the echo model",
        "the chunks add up to the full response: true",
        "session closed: 200",
    ] {
        assert!(stdout.contains(printed), "{printed} in {stdout}");
    }
    let sessions = app.get("/sessions?status=ended", &ann).await;
    assert_eq!(
        sessions.body["items"].as_array().map(Vec::len),
        Some(1),
        "{sessions:?}"
    );
    let again = app.run_node(script, &env).await;
    assert!(again.contains("previous_messages: []"), "{again}");
    app.stop().await;
}
