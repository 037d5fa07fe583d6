//! Seed 002's AI chat client against chat-local, as its document describes it: a bare
//! connection with a token, a `system` welcome, each `{content}` answered by one
//! `ai_response` with the whole reply, and errors as `{type, message, timestamp}`. The
//! seed's own JavaScript example runs too, under Node's built-in `WebSocket`.

use std::time::Duration;

use chat_e2e::{Caller, TestApp, TokenIn, spawn_app};
use serde_json::{Value, json};

/// The seed's URL (`/ws/ai/ai-chat/{client_id}`), with the dialect named in the query.
fn ai_chat_url(client_id: &str, token: &str) -> String {
    format!("/ws/ai/ai-chat/{client_id}?client_id={client_id}&dialect=ai&token={token}")
}

/// `2025-10-01T20:00:00.000000`: Python's naive ISO time, as the seed's frames carry it.
fn is_naive_iso(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 26
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
        && text.bytes().filter(u8::is_ascii_digit).count() == 20
}

/// Exactly the seed's three fields.
fn assert_seed_frame(frame: &Value, kind: &str) {
    assert_eq!(frame["type"], kind, "{frame}");
    assert!(frame["message"].is_string(), "{frame}");
    assert!(is_naive_iso(&frame["timestamp"]), "{frame}");
    assert_eq!(frame.as_object().map(|f| f.len()), Some(3), "{frame}");
}

async fn ai_chat(app: &TestApp, caller: &Caller, client_id: &str) -> chat_e2e::Socket {
    app.connect_to(&ai_chat_url(client_id, &caller.token), None, TokenIn::Query)
        .await
        .expect("the handshake succeeds")
}

async fn an_ai_chat_works_as_seed_002_documents(app: &TestApp) {
    let ann = app.user("ann");
    let mut socket = ai_chat(app, &ann, "client-1").await;
    let welcome = socket.next().await;
    assert_seed_frame(&welcome, "system");
    assert_eq!(
        welcome["message"],
        "Welcome to AI Chat, ann (test)! How can I assist you today?"
    );

    socket.send(json!({"content": "Hello, AI!"})).await;
    let answer = socket.next().await;
    assert_seed_frame(&answer, "ai_response");
    assert_eq!(
        answer["message"],
        "This is the echo model: no AI provider is configured, so I repeat what you said. You said: Hello, AI!"
    );
    // One frame per reply: no echo of the question, no acknowledgement, no chunks.
    socket.expect_silence(Duration::from_millis(300)).await;

    socket.send_text("this is not JSON").await;
    assert_seed_frame(&socket.next().await, "error");
    socket.send(json!({"content": ""})).await;
    assert_seed_frame(&socket.next().await, "error");

    // The socket stayed open, and a second connection is the same chat.
    socket.send(json!({"content": "Still there?"})).await;
    assert_seed_frame(&socket.next().await, "ai_response");
    let mut again = ai_chat(app, &ann, "client-2").await;
    assert_seed_frame(&again.next().await, "system");
    let sessions = app.get("/sessions", &ann).await;
    let items = sessions.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (&items[0]["kind"], &items[0]["chatbot_id"]),
        (&json!("bot"), &json!("assistant"))
    );
    let history = app
        .get(
            &format!(
                "/sessions/{}/messages?order=asc",
                items[0]["id"].as_str().unwrap_or_default()
            ),
            &ann,
        )
        .await;
    let said: Vec<&str> = history.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["is_bot"] == false)
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(said, ["Hello, AI!", "Still there?"]);
    socket.close().await;
    again.close().await;
}

chat_e2e::on_both_stores! {
    an_ai_chat_works_as_seed_002_documents => an_ai_chat_client_is_welcomed_and_answered_with_whole_replies, the_ai_chat_runs_the_same_on_dynamodb;
}

#[tokio::test]
async fn the_token_may_come_in_the_access_token_cookie_and_a_bad_one_is_refused() {
    let app = spawn_app().await;
    let bob = app.user("bob");
    let mut socket = app
        .connect_to("/ws/ai/ai-chat/c?dialect=ai", Some(&bob), TokenIn::Cookie)
        .await
        .expect("the handshake succeeds");
    assert_seed_frame(&socket.next().await, "system");
    let refused = app
        .connect_to(&ai_chat_url("c", "not-a-token"), None, TokenIn::Query)
        .await
        .map(|_| ());
    assert_eq!(refused, Err(401));
    let unknown = app
        .connect_to(
            &format!("/?dialect=klingon&token={}", bob.token),
            None,
            TokenIn::Query,
        )
        .await
        .map(|_| ());
    assert_eq!(unknown, Err(400));
    app.stop().await;
}

/// The seed's JavaScript example, as written, with Node's built-in `WebSocket`: only its
/// host and the query change (`tests/seeds/ai_chat.mjs` says how).
#[tokio::test]
async fn the_seeds_javascript_example_runs_unchanged_under_node() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/ai_chat.mjs");
    let stdout = app.run_node(script, &[("CHAT_TOKEN", &ann.token)]).await;
    assert!(
        stdout.contains("System: Welcome to AI Chat, ann (test)! How can I assist you today?"),
        "{stdout}"
    );
    assert!(stdout.contains("AI: This is the echo model"), "{stdout}");
    assert!(stdout.contains("You said: Hello, AI!"), "{stdout}");
    app.stop().await;
}
