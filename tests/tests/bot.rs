//! Bot replies end to end through the local server, on the echo model: a reply streams in
//! chunks that add up to the stored message, and a long one is stopped.

use chat_e2e::{Parts, Socket, TestApp, spawn_app};
use serde_json::{Value, json};

/// Ann's bot session, and her socket in it past the welcome.
async fn bot_session(app: &TestApp) -> (String, Socket) {
    app.bot_session(&app.user("ann")).await
}

/// The reply's frames up to (and including) the one that ends it, and the chunks' text.
async fn reply_frames(socket: &mut Socket, last: &str) -> (Vec<Value>, String) {
    let start = socket.next_of("response_start").await;
    let mut frames = vec![start];
    let mut text = String::new();
    loop {
        let frame = socket.next().await;
        if frame["type"] == "response_chunk" {
            text.push_str(frame["chunk"].as_str().expect("a chunk"));
        }
        let done = frame["type"] == last;
        frames.push(frame);
        if done {
            return (frames, text);
        }
    }
}

#[tokio::test]
async fn a_message_in_a_bot_session_is_answered_in_chunks_that_add_up_to_the_stored_reply() {
    let app = spawn_app().await;
    let (session, mut socket) = bot_session(&app).await;
    socket
        .send(json!({"action": "send", "content": "What is the capital of France?"}))
        .await;
    assert_eq!(
        socket.next_of("message_received").await["type"],
        "message_received"
    );
    let (frames, text) = reply_frames(&mut socket, "response_complete").await;
    let response_id = frames[0]["response_id"].clone();
    assert!(
        frames.iter().all(|f| f["response_id"] == response_id),
        "{frames:?}"
    );
    let chunks = frames
        .iter()
        .filter(|f| f["type"] == "response_chunk")
        .count();
    assert!(chunks >= 1, "{frames:?}");
    let complete = frames.last().expect("complete");
    let stored = &complete["message"];
    assert_eq!(stored["id"], response_id);
    assert_eq!(stored["content"].as_str(), Some(text.as_str()));
    assert_eq!(
        (stored["is_bot"].as_bool(), stored["sender_id"].as_str()),
        (Some(true), Some("helper"))
    );
    assert!(
        complete["token_count"].as_u64().is_some_and(|n| n > 0),
        "{complete}"
    );
    assert!(
        text.contains("echo model") && text.ends_with("You said: What is the capital of France?"),
        "{text}"
    );

    let ann = app.user("ann");
    let history = app
        .get(&format!("/sessions/{session}/messages?order=asc"), &ann)
        .await;
    let flags: Vec<(bool, String)> = history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            (
                m["is_bot"].as_bool().unwrap_or_default(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            (false, "What is the capital of France?".to_owned()),
            (true, text)
        ]
    );
}

#[tokio::test]
async fn a_long_reply_is_stopped_and_what_was_said_so_far_is_kept() {
    let app = spawn_app().await;
    let (session, mut socket) = bot_session(&app).await;
    let long = "and then ".repeat(300);
    socket
        .send(json!({"action": "send", "content": long.trim()}))
        .await;
    socket.next_of("response_chunk").await;
    socket.send(json!({"mt": "stop"})).await;
    let stopped = socket.next_of("stopped_generation").await;
    let kept = stopped["message"]["content"]
        .as_str()
        .expect("content")
        .to_owned();
    assert!(
        !kept.is_empty() && kept.len() < long.len(),
        "stopped early: {} characters",
        kept.len()
    );
    assert_eq!(stopped["message"]["is_bot"], true);

    // Nothing more of that reply arrives, and a stop with none in progress is refused.
    socket
        .expect_silence(std::time::Duration::from_millis(500))
        .await;
    socket.send(json!({"action": "stop"})).await;
    assert_eq!(socket.next_of("error").await["code"], "conflict");

    let ann = app.user("ann");
    let reply = app
        .get(
            &format!(
                "/sessions/{session}/messages/{}",
                stopped["response_id"].as_str().expect("id")
            ),
            &ann,
        )
        .await;
    assert_eq!(
        reply.body["message"]["content"].as_str(),
        Some(kept.as_str())
    );
}

#[tokio::test]
async fn a_message_posted_over_rest_in_a_bot_session_is_answered_over_the_socket() {
    let app = spawn_app().await;
    let (session, mut socket) = bot_session(&app).await;
    let ann = app.user("ann");
    app.post_message(&session, &ann, "hello from REST").await;
    let (_, text) = reply_frames(&mut socket, "response_complete").await;
    assert!(text.ends_with("You said: hello from REST"), "{text}");
}

/// The frames of the reply in progress that `socket` gets from now until
/// `response_complete`: each reply frame's type, in order, and the chunks' text.
async fn rest_of_reply(socket: &mut Socket) -> (Vec<String>, String, Value) {
    let mut kinds = Vec::new();
    let mut text = String::new();
    loop {
        let frame = socket.next().await;
        let kind = frame["type"].as_str().unwrap_or_default().to_owned();
        if !kind.starts_with("response_") {
            continue;
        }
        if kind == "response_chunk" {
            text.push_str(frame["chunk"].as_str().expect("a chunk"));
        }
        kinds.push(kind);
        if frame["type"] == "response_complete" {
            return (kinds, text, frame);
        }
    }
}

/// A connection coming to a bot session mid-reply, however it comes (connecting to the
/// session, a `join`, a `resume` after a reconnect), hears the reply start once, gets the
/// text so far as one chunk, then the rest: its chunks add up to the stored reply exactly,
/// nothing doubled or missing. On both stores.
#[tokio::test]
async fn connections_that_come_mid_reply_get_the_text_so_far_then_the_rest_and_nothing_twice() {
    chat_e2e::each_store(Parts::default, reply_in_progress_reaches_whoever_comes).await;
}

async fn reply_in_progress_reaches_whoever_comes(app: TestApp) {
    let (session, mut first) = bot_session(&app).await;
    let ann = app.user("ann");
    let long = "and then ".repeat(150);
    first
        .send(json!({"action": "send", "content": long.trim()}))
        .await;
    let asked = first.next_of("chat_message").await;
    first.next_of("response_chunk").await;
    first.next_of("response_chunk").await;

    let mut connected = app.connect(&ann, Some(&session)).await;
    connected.next_of("chat_history").await;
    let mut joined = app.connect(&ann, None).await;
    joined
        .send(json!({"action": "join", "session_id": session}))
        .await;
    joined.next_of("chat_history").await;
    let mut resumed = app.connect(&ann, None).await;
    let seq = asked["message"]["seq"].as_u64().expect("a seq");
    resumed
        .send(json!({"action": "resume", "session_id": session, "after_seq": seq}))
        .await;

    let (_, _, complete) = rest_of_reply(&mut first).await;
    let stored = complete["message"]["content"]
        .as_str()
        .expect("content")
        .to_owned();
    for (how, socket) in [
        ("connecting", &mut connected),
        ("joining", &mut joined),
        ("resuming", &mut resumed),
    ] {
        let (kinds, text, _) = rest_of_reply(socket).await;
        assert_eq!(
            kinds.first().map(String::as_str),
            Some("response_start"),
            "{how}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "response_start").count(),
            1,
            "{how}: {kinds:?}"
        );
        assert!(kinds.len() > 3, "{how} came mid-reply: {kinds:?}");
        assert_eq!(text, stored, "{how}: the chunks add up to the reply");
    }
    assert!(stored.len() > 500, "a long reply: {}", stored.len());
}
