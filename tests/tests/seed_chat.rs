//! Seed 001's chat client against chat-local, as its document describes it: a socket per
//! chat, `mt: message_upload` in, `message_upload_confirm` with the stored message
//! document, the bot's `typing_indicator`, `chat_message_bot_partial`s,
//! `stop_typing_indicator` and the stored reply; `mt: stop` answered with
//! `stopped_generation`. The seed's own JavaScript example runs too, under Node.

use chat_e2e::{Caller, Socket, TestApp, TokenIn, fields, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The seed's `/chat/ws/{chat_id}`, with the chat, the token and the dialect in the query
/// (an API Gateway WebSocket URL routes no path).
fn chat_url(chat: &str, caller: &Caller) -> String {
    format!(
        "/chat/ws/{chat}?chat_id={chat}&token={}&dialect=chat",
        caller.token
    )
}

/// A chat of the caller's, made with the seed's `POST /chat/`.
async fn new_chat(app: &TestApp, owner: &Caller) -> String {
    let created = app
        .post(
            "/chat/",
            owner,
            json!({"user_id": owner.id, "title": "AI Discussion"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    created.body["_id"].as_str().expect("a chat id").to_owned()
}

/// Ann's chat with the deployment's default chatbot, and her socket to it.
async fn bot_chat(app: &TestApp, ann: &Caller) -> (String, Socket) {
    let chat = new_chat(app, ann).await;
    let socket = app
        .connect_to(&chat_url(&chat, ann), None, TokenIn::Query)
        .await
        .expect("the handshake succeeds");
    (chat, socket)
}

/// The seed's example message.
fn upload(message: &str) -> Value {
    json!({
        "mt": "message_upload",
        "message": message,
        "userId": "123",
        "timezone": "UTC",
        "selectedLanguage": "en",
    })
}

/// 001's `chat_messages` document, flattened into the frame: every field it lists, and the
/// sender.
fn assert_document(frame: &Value, mt: &str, chat: &str, is_bot: bool) {
    assert_eq!(
        fields(frame),
        [
            "_id",
            "chat_id",
            "created_ts",
            "is_bot",
            "is_edited",
            "message",
            "mt",
            "reaction",
            "sender_id",
            "token",
            "type",
            "updated_ts",
        ],
        "{frame}"
    );
    assert_eq!(
        (&frame["mt"], &frame["chat_id"], &frame["is_bot"]),
        (&json!(mt), &json!(chat), &json!(is_bot)),
        "{frame}"
    );
    assert_eq!(
        (&frame["type"], &frame["is_edited"], &frame["reaction"]),
        (&json!("text"), &json!(false), &Value::Null)
    );
    assert_eq!(frame["updated_ts"], frame["created_ts"]);
}

/// The frames of one bot reply after its `typing_indicator`, up to the frame named `last`:
/// what the partials said, and the frames after them.
async fn partials_until(socket: &mut Socket, reply: &Value, last: &str) -> (String, Vec<Value>) {
    let mut said = String::new();
    let mut after = Vec::new();
    loop {
        let frame = socket.next().await;
        if frame["mt"] == "chat_message_bot_partial" {
            assert_eq!(
                (fields(&frame), &frame["_id"]),
                (vec!["_id", "message", "mt"], reply)
            );
            said.push_str(frame["message"].as_str().unwrap_or_default());
            continue;
        }
        let done = frame["mt"] == last;
        after.push(frame);
        if done {
            return (said, after);
        }
    }
}

async fn a_chat_works_as_seed_001_describes(app: &TestApp) {
    let ann = app.user("ann");
    let (chat, mut socket) = bot_chat(app, &ann).await;

    socket.send(upload("Hello")).await;
    let confirm = socket.next().await;
    assert_document(&confirm, "message_upload_confirm", &chat, false);
    assert_eq!(
        (
            &confirm["message"],
            &confirm["sender_id"],
            &confirm["token"]
        ),
        (&json!("Hello"), &json!("ann"), &Value::Null)
    );

    let typing = socket.next().await;
    assert_eq!(fields(&typing), ["_id", "mt"], "{typing}");
    assert_eq!(typing["mt"], "typing_indicator");
    let (said, after) = partials_until(&mut socket, &typing["_id"], "message_upload_confirm").await;
    assert_eq!(
        after.iter().map(|f| &f["mt"]).collect::<Vec<_>>(),
        ["stop_typing_indicator", "message_upload_confirm"]
    );
    let reply = &after[1];
    assert_document(reply, "message_upload_confirm", &chat, true);
    assert_eq!(
        (&reply["_id"], &reply["message"], &reply["sender_id"]),
        (&typing["_id"], &json!(said), &json!("assistant"))
    );
    assert!(reply["token"].as_u64().is_some_and(|n| n > 0), "{reply}");
    assert!(said.ends_with("You said: Hello"), "{said}");

    // Stopped during a long reply: what was said so far, stored.
    socket.send(upload("and then ".repeat(300).trim())).await;
    let typing = socket.next_named("mt", "typing_indicator").await;
    socket.next_named("mt", "chat_message_bot_partial").await;
    socket.send(json!({"mt": "stop"})).await;
    let (_, after) = partials_until(&mut socket, &typing["_id"], "stopped_generation").await;
    let stopped = after.last().expect("stopped_generation");
    assert_eq!(
        after.iter().rev().nth(1).map(|f| &f["mt"]),
        Some(&json!("stop_typing_indicator")),
        "{after:?}"
    );
    assert_document(stopped, "stopped_generation", &chat, true);
    assert_eq!(stopped["_id"], typing["_id"]);
    let kept = stopped["message"].as_str().unwrap_or_default();
    assert!(!kept.is_empty() && kept.len() < 2_700, "{kept}");

    socket.send_text("this is not JSON").await;
    let error = socket.next_named("mt", "error").await;
    assert_eq!(fields(&error), ["code", "message", "mt"]);
    assert_eq!(error["code"], "invalid_frame");
    socket.close().await;
}

chat_e2e::on_both_stores! {
    a_chat_works_as_seed_001_describes => a_chat_client_uploads_messages_and_gets_the_bots_streamed_and_stopped_replies, the_chat_runs_the_same_on_dynamodb;
}

/// The seed's JavaScript example, as written, with Node's built-in `WebSocket`: only its
/// URL changes (`tests/seeds/chat.mjs` says how).
#[tokio::test]
async fn the_seeds_javascript_example_runs_under_node() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let chat = new_chat(&app, &ann).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/chat.mjs");
    let stdout = app
        .run_node(
            script,
            &[("CHAT_ID", chat.as_str()), ("CHAT_TOKEN", &ann.token)],
        )
        .await;
    for printed in [
        "mt: 'message_upload_confirm'",
        "message: 'Hello, how are you?'",
        "mt: 'typing_indicator'",
        "mt: 'chat_message_bot_partial'",
        "mt: 'stop_typing_indicator'",
        "is_bot: true",
        "You said: Hello, how are you?",
    ] {
        assert!(stdout.contains(printed), "{printed} in {stdout}");
    }
    app.stop().await;
}
