//! Seed 000's Live Chatting Manager client against chat-local, as its document describes
//! it: a bare connection whose first frame names the user and the session, `chat_history`
//! on joining, `chat_message`s broadcast to the session, `typing_indicator` answered with
//! `typing_status` to the others, presence, a bot's replies as `chat_message`s, and
//! `session_ended`. The frames it names are the contract's own.

use std::time::Duration;

use chat_e2e::{Caller, Socket, TestApp, TokenIn};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The seed's `ws://<host>:<port>` with the dialect named, and its first frame sent.
async fn live(app: &TestApp, caller: &Caller, session: &str) -> Socket {
    let mut socket = app
        .connect_to(
            &format!("/?dialect=live&token={}", caller.token),
            None,
            TokenIn::Query,
        )
        .await
        .expect("the handshake succeeds");
    socket
        .send(json!({"user_id": caller.id, "session_id": session}))
        .await;
    socket
}

/// A session made with the seed's `POST /api/chat/sessions`.
async fn live_session(app: &TestApp, owner: &Caller, body: Value) -> String {
    let created = app.post("/api/chat/sessions", owner, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    created.body["session"]["id"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

async fn a_live_chat_works_as_seed_000_describes(app: &TestApp) {
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let session = live_session(
        app,
        &ann,
        json!({"kind": "group", "title": "Team", "members": ["bob"]}),
    )
    .await;
    let earlier = app
        .post_message(&session, &ann, "before anyone connected")
        .await;

    // Joining sends the history, and nothing before it (000 has no session_info).
    let mut anns = live(app, &ann, &session).await;
    let history = anns.next().await;
    assert_eq!(history["type"], "chat_history", "{history}");
    assert_eq!(history["messages"][0]["id"], earlier.as_str());
    let mut bobs = live(app, &bob, &session).await;
    assert_eq!(bobs.next().await["type"], "chat_history");
    let joined = anns.next().await;
    assert_eq!(
        (&joined["type"], &joined["user_id"], &joined["online"]),
        (&json!("user_joined"), &json!("bob"), &json!(["ann", "bob"]))
    );

    // A message reaches everyone, the sender too; no acknowledgement comes first.
    anns.send(json!({"type": "chat_message", "content": "Hello, world!"}))
        .await;
    for socket in [&mut bobs, &mut anns] {
        let message = socket.next().await;
        assert_eq!(message["type"], "chat_message", "{message}");
        assert_eq!(
            (
                &message["message"]["content"],
                &message["message"]["sender_id"]
            ),
            (&json!("Hello, world!"), &json!("ann"))
        );
    }

    bobs.send(json!({"type": "typing_indicator", "is_typing": true}))
        .await;
    let typing = anns.next().await;
    assert_eq!(
        (&typing["type"], &typing["user_id"], &typing["is_typing"]),
        (&json!("typing_status"), &json!("bob"), &json!(true))
    );
    assert_eq!(typing["typing"], json!(["bob"]));
    bobs.expect_silence(Duration::from_millis(300)).await;

    bobs.close().await;
    let left = anns.next().await;
    assert_eq!(
        (&left["type"], &left["user_id"]),
        (&json!("user_left"), &json!("bob"))
    );

    let ended = app.delete(&format!("/sessions/{session}"), &ann).await;
    assert_eq!(ended.status, 200, "{ended:?}");
    let frame = anns.next().await;
    assert_eq!(
        (&frame["type"], &frame["session_id"]),
        (&json!("session_ended"), &json!(session))
    );
    assert!(anns.closed().await.is_some());
}

async fn a_bots_reply_arrives_as_a_chat_message(app: &TestApp) {
    let ann = app.user("ann");
    let session = live_session(app, &ann, json!({"kind": "bot", "chatbot_id": "helper"})).await;
    let mut socket = live(app, &ann, &session).await;
    assert_eq!(socket.next().await["type"], "chat_history");
    socket
        .send(json!({"type": "chat_message", "content": "Hi bot"}))
        .await;
    let mine = socket.next().await;
    assert_eq!(
        (&mine["type"], &mine["message"]["is_bot"]),
        (&json!("chat_message"), &json!(false))
    );
    // 000 streams nothing: the whole stored reply is one more message.
    let reply = socket.next().await;
    assert_eq!(reply["type"], "chat_message", "{reply}");
    assert_eq!(
        (&reply["message"]["is_bot"], &reply["message"]["sender_id"]),
        (&json!(true), &json!("helper"))
    );
    let content = reply["message"]["content"].as_str().unwrap_or_default();
    assert!(content.ends_with("You said: Hi bot"), "{content}");
    socket.expect_silence(Duration::from_millis(300)).await;
    socket.close().await;
}

chat_e2e::on_both_stores! {
    a_live_chat_works_as_seed_000_describes => a_live_chat_client_joins_chats_types_and_sees_the_session_end, the_live_chat_runs_the_same_on_dynamodb;
    a_bots_reply_arrives_as_a_chat_message => a_bots_reply_reaches_a_live_chat_client_as_a_chat_message, a_bots_reply_reaches_it_the_same_on_dynamodb;
}
