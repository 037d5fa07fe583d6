//! Moderation end to end, with the deployment's defaults: profanity masked and marked
//! `moderated` wherever a message is stored and shown, spam and malicious content refused
//! (REST 422, a WebSocket `error` frame, nothing stored, the socket open), edits moderated
//! like sends, and the character rules for titles, file names and tokens.

use std::time::Duration;

use chat_e2e::{Caller, FilePart, Socket, TestApp, TokenIn, fields};
use reqwest::StatusCode;
use serde_json::json;

/// A group session of ann's with bob, and bob's socket in it past the welcome.
async fn group_with_listener(app: &TestApp) -> (String, Caller, Caller, Socket) {
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    let mut socket = app.connect(&bob, Some(&session)).await;
    socket.next_of("chat_history").await;
    (session, ann, bob, socket)
}

/// The messages stored, oldest first, as `(content, moderated)`.
async fn stored(app: &TestApp, session: &str, caller: &Caller) -> Vec<(String, bool)> {
    let listed = app
        .get(&format!("/sessions/{session}/messages?order=asc"), caller)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            (
                m["content"].as_str().unwrap_or_default().to_owned(),
                m["moderated"] == true,
            )
        })
        .collect()
}

/// A refused REST request: 422 `moderated`, naming the rule.
fn assert_moderated(reply: &chat_e2e::Reply, rule: &str) {
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error_code(), "moderated");
    assert_eq!(reply.error_message(), format!("moderated: {rule}"));
}

/// The `error` frame of a refused WebSocket frame; the socket stays open (a ping is still
/// answered).
async fn assert_moderated_frame(socket: &mut Socket, rule: &str) {
    let error = socket.next_of("error").await;
    assert_eq!(
        (&error["code"], &error["message"]),
        (&json!("moderated"), &json!(format!("moderated: {rule}"))),
        "{error}"
    );
    assert!(error.get("close_code").is_none(), "{error}");
    socket.send(json!({"action": "ping"})).await;
    socket.next_of("pong").await;
}

async fn messages_are_masked_or_refused_over_rest_and_the_socket(app: &TestApp) {
    let (session, ann, bob, mut bob_socket) = group_with_listener(app).await;
    let messages = format!("/sessions/{session}/messages");

    // Masked profanity: stored, answered and broadcast masked, marked moderated.
    let posted = app
        .post(&messages, &ann, json!({"content": "hello crap"}))
        .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{posted:?}");
    assert_eq!(
        (
            &posted.body["message"]["content"],
            &posted.body["message"]["moderated"]
        ),
        (&json!("hello ****"), &json!(true))
    );
    let heard = bob_socket.next_of("chat_message").await;
    assert_eq!(
        (&heard["message"]["content"], &heard["message"]["moderated"]),
        (&json!("hello ****"), &json!(true)),
        "{heard}"
    );

    // The same over the socket.
    let mut ann_socket = app.connect(&ann, Some(&session)).await;
    ann_socket.next_of("chat_history").await;
    ann_socket
        .send(json!({"action": "send", "content": "Fuck!"}))
        .await;
    ann_socket.next_of("message_received").await;
    let heard = bob_socket.next_of("chat_message").await;
    assert_eq!(
        (&heard["message"]["content"], &heard["message"]["moderated"]),
        (&json!("****!"), &json!(true)),
        "{heard}"
    );

    // Spam and malicious content: refused over REST...
    let links: Vec<String> = (0..6).map(|i| format!("https://x.example/{i}")).collect();
    assert_moderated(
        &app.post(&messages, &ann, json!({"content": links.join(" ")}))
            .await,
        "the message contains more than 5 links",
    );
    assert_moderated(
        &app.post(&messages, &ann, json!({"content": "\u{1b}[2Jhi"}))
            .await,
        "the message contains control characters",
    );
    // ...and over the socket, which stays open.
    ann_socket
        .send(json!({"action": "send", "content": format!("no{}", "o".repeat(40))}))
        .await;
    assert_moderated_frame(
        &mut ann_socket,
        "the message repeats one character more than 30 times in a row",
    )
    .await;
    ann_socket
        .send(json!({"action": "send", "content": "click java\tscript:alert(1)"}))
        .await;
    assert_moderated_frame(&mut ann_socket, "the message contains a javascript: link").await;

    // Nothing refused was stored or broadcast: bob hears the next clean message next.
    let clean = app.post_message(&session, &ann, "still here").await;
    let heard = bob_socket.next_of("chat_message").await;
    assert_eq!(heard["message"]["content"], "still here", "{heard}");
    assert!(heard["message"].get("moderated").is_none(), "{heard}");
    assert_eq!(
        stored(app, &session, &bob).await,
        [
            ("hello ****".to_owned(), true),
            ("****!".to_owned(), true),
            ("still here".to_owned(), false),
        ]
    );

    // Edits are moderated like sends: a script link is refused over REST and the socket,
    // profanity masked.
    let edit = format!("{messages}/{clean}");
    assert_moderated(
        &app.patch(&edit, &ann, json!({"content": "see javascript:alert(1)"}))
            .await,
        "the message contains a javascript: link",
    );
    ann_socket
        .send(json!({"action": "edit", "message_id": clean, "content": "JAVASCRIPT:alert(1)"}))
        .await;
    assert_moderated_frame(&mut ann_socket, "the message contains a javascript: link").await;
    let edited = app
        .patch(&edit, &ann, json!({"content": "still here, crap"}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(
        (
            &edited.body["message"]["content"],
            &edited.body["message"]["moderated"]
        ),
        (&json!("still here, ****"), &json!(true))
    );
    let updated = bob_socket.next_of("message_updated").await;
    assert_eq!(
        updated["message"]["content"], "still here, ****",
        "{updated}"
    );
    assert_eq!(
        stored(app, &session, &bob).await[2].0,
        "still here, ****",
        "the refused edits changed nothing"
    );
    ann_socket.close().await;
    bob_socket.close().await;
}

async fn titles_file_names_and_tokens_keep_to_the_character_rules(app: &TestApp) {
    let ann = app.user("ann");
    let refused = app
        .post(
            "/sessions",
            &ann,
            json!({"kind": "group", "title": "Invoice\u{202E}fdp.exe"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.error_code(), "invalid_request");
    assert_eq!(
        refused.error_message(),
        "title: must not contain bidirectional override or isolate characters"
    );
    let session = app.create_session(&ann, json!({"kind": "group"})).await;
    let renamed = app
        .patch(
            &format!("/sessions/{session}"),
            &ann,
            json!({"title": "\u{200B}\u{200B}"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::BAD_REQUEST, "{renamed:?}");
    assert!(
        renamed.error_message().starts_with("title: "),
        "{renamed:?}"
    );

    // A file name that would show as "invoiceexe.txt", announced or posted.
    let spoofed = "invoice\u{202E}txt.exe";
    let announced = app
        .announce_upload(&session, &ann, spoofed, "text/plain", 5)
        .await;
    assert_eq!(announced.status, StatusCode::BAD_REQUEST, "{announced:?}");
    assert_eq!(
        announced.error_message(),
        "file_name: must not contain bidirectional override or isolate characters"
    );
    let posted = app
        .form(
            &format!("/sessions/{session}/attachments"),
            Some(&ann),
            &[],
            FilePart {
                name: spoofed,
                kind: "text/plain",
                bytes: b"hello",
            },
        )
        .await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{posted:?}");
    assert!(
        posted.error_message().starts_with("file_name: "),
        "{posted:?}"
    );

    // A token whose `sub` hides a zero-width space is refused over REST and at the
    // handshake.
    let lookalike = app.user("ann\u{200B}");
    let listed = app.get("/sessions", &lookalike).await;
    assert_eq!(listed.status, StatusCode::UNAUTHORIZED, "{listed:?}");
    assert_eq!(listed.error_code(), "unauthorized");
    assert!(listed.error_message().contains("sub"), "{listed:?}");
    let handshake = app
        .try_connect(Some(&lookalike), None, TokenIn::Query)
        .await
        .map(|_| ());
    assert_eq!(handshake, Err(401));
}

/// Seed 002's AI chat gets its own error frame for a refused send, `{type, message,
/// timestamp}`, and seed 001's chat its `{mt: "error", code, message}`.
async fn a_refused_send_gets_each_dialects_error_frame(app: &TestApp) {
    let ann = app.user("ann");
    let mut ai = app
        .connect_to(
            &format!("/ws/ai/ai-chat/c?dialect=ai&token={}", ann.token),
            None,
            TokenIn::Query,
        )
        .await
        .expect("the handshake succeeds");
    assert_eq!(ai.next().await["type"], "system");
    ai.send(json!({"content": "javascript:alert(1)"})).await;
    let error = ai.next().await;
    assert_eq!(fields(&error), ["message", "timestamp", "type"], "{error}");
    assert_eq!(
        (&error["type"], &error["message"]),
        (
            &json!("error"),
            &json!("moderated: the message contains a javascript: link")
        )
    );
    // Still open, and still answering.
    ai.send(json!({"content": "Hello, AI!"})).await;
    assert_eq!(ai.next().await["type"], "ai_response");

    let created = app
        .post("/chat/", &ann, json!({"user_id": "ann", "title": "Chat"}))
        .await;
    let chat = created.body["_id"].as_str().expect("a chat id");
    let mut chat_socket = app
        .connect_to(
            &format!("/?chat_id={chat}&token={}&dialect=chat", ann.token),
            None,
            TokenIn::Query,
        )
        .await
        .expect("the handshake succeeds");
    chat_socket
        .send(json!({"mt": "message_upload", "message": "@a @b @c @d @e @f @g @h @i @j @k"}))
        .await;
    let error = chat_socket.next_named("mt", "error").await;
    assert_eq!(
        (&error["code"], &error["message"]),
        (
            &json!("moderated"),
            &json!("moderated: the message contains more than 10 mentions")
        ),
        "{error}"
    );
    chat_socket.expect_silence(Duration::from_millis(300)).await;
    ai.close().await;
    chat_socket.close().await;
}

chat_e2e::on_both_stores! {
    messages_are_masked_or_refused_over_rest_and_the_socket => messages_are_masked_or_refused_on_the_embedded_store, messages_are_masked_or_refused_on_dynamodb;
    titles_file_names_and_tokens_keep_to_the_character_rules => character_rules_hold_on_the_embedded_store, character_rules_hold_on_dynamodb;
    a_refused_send_gets_each_dialects_error_frame => dialects_answer_a_refused_send_on_the_embedded_store, dialects_answer_a_refused_send_on_dynamodb;
}
