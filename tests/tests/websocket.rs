//! The WebSocket API with real clients against the spawned local server, which runs the
//! real authorizer, connect, disconnect and message functions as API Gateway would.

use std::time::Duration;

use chat_core::domain::{Connection, ConnectionId, Principal, Role, SessionId, Timestamp, UserId};
use chat_e2e::{Caller, Socket, TestApp, TokenIn, spawn_app, spawn_app_on_dynamodb};
use serde_json::{Value, json};

const QUIET: Duration = Duration::from_millis(300);

/// A group session of ann (owner), bob and cy.
async fn group(app: &TestApp) -> (String, Caller, Caller, Caller) {
    let (ann, bob, cy) = (app.user("ann"), app.user("bob"), app.user("cy"));
    let session = app
        .create_session(
            &ann,
            json!({"kind": "group", "title": "Team", "members": ["bob", "cy"]}),
        )
        .await;
    (session, ann, bob, cy)
}

/// Connects bound to the session and reads the welcome.
async fn join(app: &TestApp, caller: &Caller, session: &str) -> Socket {
    let mut socket = app.connect(caller, Some(session)).await;
    let info = socket.next().await;
    assert_eq!(info["type"], "session_info", "{info}");
    assert_eq!(
        (info["session"]["id"].as_str(), info["user_id"].as_str()),
        (Some(session), Some(caller.id.as_str()))
    );
    let history = socket.next().await;
    assert_eq!(history["type"], "chat_history", "{history}");
    socket
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect()
}

#[tokio::test]
async fn three_members_chat_live_with_presence_typing_edits_reactions_and_history() {
    let app = spawn_app().await;
    let (session, ann, bob, cy) = group(&app).await;
    let earlier = app
        .post_message(&session, &ann, "before anyone connected")
        .await;

    let mut ann_socket = join(&app, &ann, &session).await;
    let mut bob_socket = app.connect(&bob, Some(&session)).await;
    assert_eq!(bob_socket.next().await["type"], "session_info");
    let history = bob_socket.next().await;
    assert_eq!(
        history["messages"][0]["id"].as_str(),
        Some(earlier.as_str())
    );
    let joined = ann_socket.next_of("user_joined").await;
    assert_eq!(
        (joined["user_id"].as_str(), strings(&joined["online"])),
        (Some("bob"), vec!["ann", "bob"])
    );
    let mut cy_socket = join(&app, &cy, &session).await;
    assert_eq!(
        strings(&ann_socket.next_of("user_joined").await["online"]),
        vec!["ann", "bob", "cy"]
    );
    bob_socket.next_of("user_joined").await;

    // A send: acknowledged to the sender, broadcast to everyone.
    ann_socket
        .send(json!({"action": "send", "content": "hello team", "client_msg_id": "a-1"}))
        .await;
    let ack = ann_socket.next_of("message_received").await;
    assert_eq!(ack["client_msg_id"], "a-1");
    let id = ack["message_id"].as_str().expect("an id").to_owned();
    for socket in [&mut ann_socket, &mut bob_socket, &mut cy_socket] {
        let message = socket.next_of("chat_message").await;
        assert_eq!(
            (
                message["message"]["id"].as_str(),
                message["message"]["content"].as_str()
            ),
            (Some(id.as_str()), Some("hello team"))
        );
        assert_eq!(message["message"]["sender_name"], "ann (test)");
    }

    // Typing goes to the others only.
    bob_socket
        .send(json!({"action": "typing", "is_typing": true}))
        .await;
    for socket in [&mut ann_socket, &mut cy_socket] {
        let typing = socket.next_of("typing_status").await;
        assert_eq!(
            (
                typing["user_id"].as_str(),
                typing["is_typing"].as_bool(),
                strings(&typing["typing"])
            ),
            (Some("bob"), Some(true), vec!["bob"])
        );
    }
    bob_socket.expect_silence(QUIET).await;

    // Edit, react, delete: every member sees each.
    ann_socket
        .send(json!({"action": "edit", "message_id": id, "content": "hello, team"}))
        .await;
    for socket in [&mut ann_socket, &mut bob_socket, &mut cy_socket] {
        assert_eq!(
            socket.next_of("message_updated").await["message"]["content"],
            "hello, team"
        );
    }
    bob_socket
        .send(json!({"action": "react", "message_id": id, "reaction": "🎉"}))
        .await;
    for socket in [&mut ann_socket, &mut bob_socket, &mut cy_socket] {
        assert_eq!(
            socket.next_of("reaction_updated").await["message"]["reactions"],
            json!({"🎉": ["bob"]})
        );
    }
    bob_socket
        .send(json!({"action": "unreact", "message_id": id, "reaction": "🎉"}))
        .await;
    assert_eq!(
        cy_socket.next_of("reaction_updated").await["message"]["reactions"],
        json!({})
    );
    bob_socket
        .send(json!({"action": "edit", "message_id": id, "content": "not mine"}))
        .await;
    assert_eq!(bob_socket.next_of("error").await["code"], "forbidden");

    // A REST post arrives on the sockets like any other.
    let rest = app.post_message(&session, &cy, "sent over HTTP").await;
    assert_eq!(
        ann_socket.next_of("chat_message").await["message"]["id"].as_str(),
        Some(rest.as_str())
    );

    // History pages back through everything, oldest first.
    cy_socket
        .send(json!({"action": "history", "limit": 2}))
        .await;
    let page = cy_socket.next_of("chat_history").await;
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![id.as_str(), rest.as_str()]);
    let before = page["next_cursor"].as_str().expect("an older page");
    cy_socket
        .send(json!({"action": "history", "before": before}))
        .await;
    let older = cy_socket.next_of("chat_history").await;
    assert_eq!(older["messages"][0]["id"].as_str(), Some(earlier.as_str()));
    assert_eq!(older["next_cursor"], Value::Null);

    ann_socket
        .send(json!({"action": "delete", "message_id": id}))
        .await;
    let deleted = bob_socket.next_of("message_deleted").await;
    assert_eq!(
        (
            deleted["message"]["deleted"].as_bool(),
            deleted["message"]["content"].as_str()
        ),
        (Some(true), Some(""))
    );

    // Leaving and closing tell the rest.
    cy_socket.close().await;
    let left = ann_socket.next_of("user_left").await;
    assert_eq!(
        (left["user_id"].as_str(), strings(&left["online"])),
        (Some("cy"), vec!["ann", "bob"])
    );
    bob_socket.send(json!({"action": "leave"})).await;
    assert_eq!(ann_socket.next_of("user_left").await["user_id"], "bob");
    bob_socket.send(json!({"action": "ping"})).await;
    assert_eq!(
        bob_socket.next_of("pong").await,
        json!({"type": "pong"}),
        "the socket stays open after leave"
    );
    bob_socket
        .send(json!({"action": "send", "content": "anyone?"}))
        .await;
    assert_eq!(bob_socket.next_of("error").await["code"], "conflict");
}

#[tokio::test]
async fn the_token_is_found_in_each_place_the_contract_lets_it_travel() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    for place in [
        TokenIn::Query,
        TokenIn::Header,
        TokenIn::Cookie,
        TokenIn::Subprotocol,
    ] {
        let mut socket = app
            .try_connect(Some(&ann), None, place)
            .await
            .unwrap_or_else(|s| panic!("{place:?}: refused with {s}"));
        let expected = matches!(place, TokenIn::Subprotocol).then(|| "bearer".to_owned());
        assert_eq!(socket.protocol, expected, "{place:?}");
        socket.send(json!({"action": "ping"})).await;
        assert_eq!(socket.next().await["type"], "pong", "{place:?}");
    }
}

#[tokio::test]
async fn refused_handshakes_answer_the_contracts_status() {
    let app = spawn_app().await;
    let (session, ann, _, _) = group(&app).await;
    let private = app
        .create_session(&ann, json!({"kind": "direct", "members": ["bob"]}))
        .await;
    let ended = app.create_session(&ann, json!({"kind": "group"})).await;
    app.delete(&format!("/sessions/{ended}"), &ann).await;
    let eve = app.user("eve");
    let forged = Caller {
        id: "ann".into(),
        token: format!("{}x", ann.token),
    };
    let expired = app.caller("ann", "user", None);
    let cases: Vec<(&str, Option<&Caller>, Option<&str>, u16)> = vec![
        ("no token", None, None, 401),
        ("a forged token", Some(&forged), None, 401),
        (
            "an unknown session",
            Some(&ann),
            Some("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            404,
        ),
        (
            "someone else's direct session, hidden as an unknown one",
            Some(&eve),
            Some(&private),
            404,
        ),
        ("an ended session", Some(&ann), Some(&ended), 410),
        ("a malformed session id", Some(&ann), Some("nope"), 400),
    ];
    for (what, caller, session, status) in cases {
        let refused = app
            .try_connect(caller, session, TokenIn::Query)
            .await
            .map(|_| ())
            .expect_err(what);
        assert_eq!(refused, status, "{what}");
    }
    drop(expired);
    // An invite-only group refuses a stranger; an open one lets any user in by id, and
    // connecting bound to it makes them a member.
    assert_eq!(
        app.try_connect(Some(&eve), Some(&session), TokenIn::Query)
            .await
            .map(|_| ()),
        Err(403)
    );
    let open = app
        .create_session(&ann, json!({"kind": "group", "join_policy": "open"}))
        .await;
    let mut socket = app.connect(&eve, Some(&open)).await;
    assert_eq!(socket.next().await["type"], "session_info");
}

#[tokio::test]
async fn a_bad_frame_gets_an_error_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let (session, ann, _, _) = group(&app).await;
    let mut socket = join(&app, &ann, &session).await;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "invalid_frame"),
        ("[1, 2]".into(), "invalid_frame"),
        (json!({"action": "dance"}).to_string(), "unknown_action"),
        (json!({"action": "send"}).to_string(), "invalid_frame"),
        (json!({"action": "send", "content": "  "}).to_string(), "invalid_frame"),
        (json!({"action": "typing", "is_typing": "yes"}).to_string(), "invalid_frame"),
        (json!({"action": "react", "message_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "reaction": "lol"}).to_string(), "invalid_frame"),
        (json!({"action": "edit", "message_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "content": "x"}).to_string(), "not_found"),
        (json!({"action": "send", "content": "x".repeat(26_000)}).to_string(), "too_large"),
        (json!({"action": "stop"}).to_string(), "conflict"),
        (json!({"type": "file", "file": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}).to_string(), "not_found"),
        (json!({"type": "file", "file": "ftp://files/x"}).to_string(), "invalid_frame"),
        (json!({"action": "send", "kind": "file"}).to_string(), "invalid_frame"),
        (json!({"action": "join", "session_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}).to_string(), "not_found"),
    ];
    for (frame, code) in cases {
        socket.send_text(&frame).await;
        let error = socket.next_of("error").await;
        assert_eq!(
            error["code"],
            code,
            "{}: {error}",
            &frame[..frame.len().min(60)]
        );
        assert!(error.get("close_code").is_none(), "{error}");
    }
    socket.send(json!({"action": "ping"})).await;
    assert_eq!(socket.next_of("pong").await["type"], "pong");
    assert!(
        app.get(&format!("/sessions/{session}/messages"), &ann)
            .await
            .body["items"]
            .as_array()
            .expect("items")
            .is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn the_seeds_frame_shapes_work_as_the_canonical_actions() {
    let app = spawn_app().await;
    let (session, ann, bob, _) = group(&app).await;
    let mut ann_socket = app.connect(&ann, None).await;
    ann_socket
        .send(json!({"user_id": "ann", "session_id": session}))
        .await;
    assert_eq!(ann_socket.next().await["type"], "session_info");
    assert_eq!(ann_socket.next().await["type"], "chat_history");
    let mut bob_socket = join(&app, &bob, &session).await;
    for (frame, content) in [
        (json!({"type": "chat_message", "content": "one"}), "one"),
        (json!({"type": "text", "content": "two"}), "two"),
        (json!({"content": "three"}), "three"),
        (json!({"message": "four", "message_type": "text"}), "four"),
        (json!({"mt": "message_upload", "message": "five"}), "five"),
    ] {
        ann_socket.send(frame).await;
        assert_eq!(
            bob_socket.next_of("chat_message").await["message"]["content"],
            content
        );
    }
    ann_socket
        .send(json!({"type": "typing_indicator", "is_typing": true}))
        .await;
    assert_eq!(bob_socket.next_of("typing_status").await["is_typing"], true);
    ann_socket.send(json!({"mt": "stop"})).await;
    assert_eq!(ann_socket.next_of("error").await["code"], "conflict");
}

#[tokio::test]
async fn a_first_frame_naming_another_user_is_refused_and_closes_the_socket() {
    let app = spawn_app().await;
    let (session, ann, _, _) = group(&app).await;
    let mut socket = app.connect(&ann, None).await;
    socket
        .send(json!({"user_id": "bob", "session_id": session}))
        .await;
    let error = socket.next_of("error").await;
    assert_eq!(
        (error["code"].as_str(), error["close_code"].as_u64()),
        (Some("forbidden"), Some(4003))
    );
    assert!(
        socket
            .closed()
            .await
            .is_some_and(|code| code == 1000 || code >= 1000)
    );
}

#[tokio::test]
async fn a_connection_found_gone_is_forgotten_unless_its_handshake_may_still_be_running() {
    let app = spawn_app().await;
    let (session, ann, bob, _) = group(&app).await;
    let mut ann_socket = join(&app, &ann, &session).await;
    // A connection whose socket vanished without $disconnect, as happens on AWS.
    let ghost = Connection::new(
        ConnectionId::parse("ghostConnection=").expect("id"),
        Principal {
            user_id: UserId::parse("bob").expect("id"),
            role: Role::User,
            name: None,
            org: None,
        },
        Some(SessionId::parse(&session).expect("id")),
        Timestamp::now().minus(std::time::Duration::from_secs(60)),
    );
    app.store().put_connection(&ghost).await.expect("stored");
    // One that answers 410 because its handshake is still running is kept.
    let opening = Connection::new(
        ConnectionId::parse("openingConnect=").expect("id"),
        ghost.principal.clone(),
        ghost.session_id,
        Timestamp::now(),
    );
    app.store().put_connection(&opening).await.expect("stored");
    let listed = app
        .get(&format!("/sessions/{session}/connections"), &ann)
        .await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(3));
    app.post_message(&session, &bob, "is anyone there?").await;
    ann_socket.next_of("chat_message").await;
    let kept = async |connection: &Connection| {
        app.store()
            .get_connection(&connection.id, Timestamp::now())
            .await
            .expect("read")
            .is_some()
    };
    assert!(!kept(&ghost).await, "the 410 removed the ghost");
    assert!(kept(&opening).await, "the connection still opening is kept");
}

#[tokio::test]
async fn concurrent_sends_with_one_client_msg_id_store_and_broadcast_one_message() {
    let app = spawn_app().await;
    let (session, ann, bob, _) = group(&app).await;
    let mut bob_socket = join(&app, &bob, &session).await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(join(&app, &ann, &session).await);
    }
    for socket in &mut sockets {
        socket
            .send(json!({"action": "send", "content": "only once", "client_msg_id": "same"}))
            .await;
    }
    let mut acked = Vec::new();
    for socket in &mut sockets {
        acked.push(
            socket.next_of("message_received").await["message_id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    acked.dedup();
    assert_eq!(
        acked.len(),
        1,
        "every retry is acknowledged with the original"
    );
    assert_eq!(
        bob_socket.next_of("chat_message").await["message"]["id"].as_str(),
        Some(acked[0].as_str())
    );
    let mut extra = 0;
    while let Ok(frame) = tokio::time::timeout(QUIET, bob_socket.next()).await {
        extra += usize::from(frame["type"] == "chat_message");
    }
    assert_eq!(extra, 0, "one broadcast only");
    let stored = app
        .get(&format!("/sessions/{session}/messages"), &bob)
        .await;
    assert_eq!(stored.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn ending_a_session_tells_and_closes_every_connection_and_refuses_new_ones() {
    let app = spawn_app().await;
    let (session, ann, bob, _) = group(&app).await;
    let mut sockets = vec![
        join(&app, &ann, &session).await,
        join(&app, &bob, &session).await,
    ];
    assert_eq!(
        app.delete(&format!("/sessions/{session}"), &ann)
            .await
            .status,
        200
    );
    for socket in &mut sockets {
        let ended = socket.next_of("session_ended").await;
        assert_eq!(
            (ended["session_id"].as_str(), ended["close_code"].as_u64()),
            (Some(session.as_str()), Some(4006))
        );
        assert!(socket.closed().await.is_some());
    }
    assert_eq!(
        app.try_connect(Some(&ann), Some(&session), TokenIn::Query)
            .await
            .map(|_| ()),
        Err(410)
    );
}

#[tokio::test]
async fn the_websocket_api_runs_the_same_on_dynamodb() {
    let Some(app) = spawn_app_on_dynamodb().await else {
        return;
    };
    let (session, ann, bob, _) = group(&app).await;
    let mut ann_socket = join(&app, &ann, &session).await;
    let mut bob_socket = join(&app, &bob, &session).await;
    ann_socket.next_of("user_joined").await;
    bob_socket
        .send(json!({"action": "send", "content": "over DynamoDB", "client_msg_id": "d-1"}))
        .await;
    assert_eq!(
        bob_socket.next_of("message_received").await["client_msg_id"],
        "d-1"
    );
    assert_eq!(
        ann_socket.next_of("chat_message").await["message"]["content"],
        "over DynamoDB"
    );
    bob_socket
        .send(json!({"action": "typing", "is_typing": true}))
        .await;
    assert_eq!(
        strings(&ann_socket.next_of("typing_status").await["typing"]),
        vec!["bob"]
    );
    bob_socket.close().await;
    assert_eq!(ann_socket.next_of("user_left").await["user_id"], "bob");
    app.stop().await;
}

#[tokio::test]
async fn a_history_larger_than_one_post_arrives_in_pages_under_128_kib_and_misses_nothing() {
    const POST_LIMIT: usize = 128 * 1024;
    let app = spawn_app().await;
    let (session, ann, _, cy) = group(&app).await;
    // 50 messages of 4,000 characters, each escaped to 12 KB of JSON: 600 KB of history.
    let long = "\u{1F600}\"".repeat(2_000);
    let mut posted = Vec::new();
    for _ in 0..50 {
        posted.push(app.post_message(&session, &ann, &long).await);
    }

    let mut socket = app.connect(&cy, Some(&session)).await;
    assert_eq!(socket.next().await["type"], "session_info");
    let mut page = socket.next().await;
    let mut pages = 0;
    let mut seen: Vec<String> = Vec::new();
    loop {
        assert_eq!(page["type"], "chat_history", "{page}");
        let bytes = page.to_string().len();
        assert!(bytes <= POST_LIMIT, "a page of {bytes} bytes");
        let ids: Vec<String> = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["id"].as_str().expect("an id").to_owned())
            .collect();
        assert!(!ids.is_empty(), "every page holds messages: {page}");
        pages += 1;
        seen.splice(0..0, ids);
        let Some(before) = page["next_cursor"].as_str() else {
            break;
        };
        socket
            .send(json!({"action": "history", "before": before}))
            .await;
        page = socket.next_of("chat_history").await;
    }
    assert!(pages > 4, "600 KB came in {pages} pages");
    assert_eq!(seen, posted, "every message once, oldest first");
    app.stop().await;
}
