//! Seed 004's visitor support client against chat-local, as its document describes it: a
//! visitor started over REST connects with its token in `Sec-WebSocket-Protocol: Bearer,
//! <token>`, gets `connection_established`, and chats with the business's agent in `text`
//! and `file` frames broadcast to both, until `session_ended` closes the socket.

use std::time::Duration;

use chat_e2e::{Caller, Socket, TestApp, TokenIn, fields, is_rfc3339_millis};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const REPORT: &[u8] = b"%PDF-1.4 the order that never came";

/// The seed's `/ws/visitor-chat/?session_id=`, with the dialect named, the token in the
/// subprotocol header as the seed's clients send it.
async fn visitor_chat(app: &TestApp, caller: &Caller, session: &str) -> Result<Socket, u16> {
    app.connect_to(
        &format!("/ws/visitor-chat/?session_id={session}&dialect=visitor"),
        Some(caller),
        TokenIn::SubprotocolAs("Bearer"),
    )
    .await
}

/// A visitor of the business `acme`, from the seed's public `POST /chat/start-session/`,
/// and its session.
async fn visitor(app: &TestApp) -> (Caller, String) {
    let start = app
        .request(
            Method::POST,
            "/chat/start-session/",
            None,
            Some(json!({"business": "acme"})),
        )
        .await;
    assert_eq!(start.status, StatusCode::CREATED, "{start:?}");
    let data = &start.body["data"];
    let text = |value: &Value| value.as_str().expect("a string").to_owned();
    let visitor = Caller {
        id: text(&data["visitor_id"]),
        token: text(&data["visitor_token"]),
    };
    (visitor, text(&data["session_id"]))
}

/// `text` as the seed broadcasts it.
fn assert_text(frame: &Value, content: &str, sender: &Caller) {
    assert_eq!(
        fields(frame),
        ["content", "sender_id", "timestamp", "type"],
        "{frame}"
    );
    assert_eq!(
        (&frame["type"], &frame["content"], &frame["sender_id"]),
        (&json!("text"), &json!(content), &json!(sender.id))
    );
    assert!(is_rfc3339_millis(&frame["timestamp"]), "{frame}");
}

async fn a_support_chat_works_as_seed_004_documents(app: &TestApp) {
    let (visitor, session) = visitor(app).await;
    let agent = app.caller("ada", "agent", Some("acme"));

    let mut visitors = visitor_chat(app, &visitor, &session)
        .await
        .expect("the handshake succeeds");
    assert_eq!(visitors.protocol.as_deref(), Some("Bearer"));
    let established = visitors.next().await;
    assert_eq!(
        established,
        json!({"type": "connection_established", "session_id": session})
    );
    let mut agents = visitor_chat(app, &agent, &session)
        .await
        .expect("the agent of the business may enter");
    assert_eq!(agents.next().await["type"], "connection_established");
    // No history and no presence in 004: the visitor hears nothing of the agent's arrival.
    agents.expect_silence(Duration::from_millis(300)).await;
    visitors.expect_silence(Duration::from_millis(300)).await;

    visitors
        .send(json!({"type": "text", "content": "Hello, I need help!"}))
        .await;
    for socket in [&mut visitors, &mut agents] {
        assert_text(&socket.next().await, "Hello, I need help!", &visitor);
    }
    agents
        .send(json!({"type": "text", "content": "How can I help?"}))
        .await;
    assert_text(&visitors.next().await, "How can I help?", &agent);
    agents.next().await;

    // A file goes up over HTTP first, then its URL over the socket.
    let upload = app
        .announce_upload(
            &session,
            &visitor,
            "example.pdf",
            "application/pdf",
            REPORT.len(),
        )
        .await;
    assert_eq!(upload.status, StatusCode::CREATED, "{upload:?}");
    assert_eq!(app.put_upload(&upload.body, REPORT).await, StatusCode::OK);
    visitors
        .send(json!({"type": "file", "file": upload.body["url"], "is_audio": false}))
        .await;
    for socket in [&mut visitors, &mut agents] {
        let file = socket.next().await;
        assert_eq!(
            fields(&file),
            [
                "file",
                "file_name",
                "is_audio",
                "sender_id",
                "timestamp",
                "type"
            ],
            "{file}"
        );
        assert_eq!(
            (&file["type"], &file["file_name"], &file["is_audio"]),
            (&json!("file"), &json!("example.pdf"), &json!(false))
        );
        assert_eq!(file["sender_id"], json!(visitor.id));
        let link = file["file"].as_str().expect("a download link");
        let downloaded = app.http.get(link).send().await.expect("the store answers");
        assert_eq!(downloaded.bytes().await.expect("bytes").as_ref(), REPORT);
    }

    // Refused handshakes are HTTP statuses: the seed's 4002 and 4003 cannot be sent then.
    let unknown = visitor_chat(app, &visitor, "01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(unknown.map(|_| ()), Err(404));
    let malformed = visitor_chat(app, &visitor, "nope").await;
    assert_eq!(malformed.map(|_| ()), Err(400));
    let missing = app
        .connect_to(
            "/ws/visitor-chat/?dialect=visitor",
            Some(&visitor),
            TokenIn::SubprotocolAs("Bearer"),
        )
        .await;
    assert_eq!(missing.map(|_| ()), Err(400), "the seed's 4001");
    let stranger = app.caller("eve", "agent", Some("globex"));
    let refused = visitor_chat(app, &stranger, &session).await;
    assert_eq!(
        refused.map(|_| ()),
        Err(404),
        "hidden as an unknown session"
    );

    let ended = app.delete(&format!("/sessions/{session}"), &agent).await;
    assert_eq!(ended.status, StatusCode::OK, "{ended:?}");
    for socket in [&mut visitors, &mut agents] {
        let frame = socket.next().await;
        assert_eq!(fields(&frame), ["message", "timestamp", "type"], "{frame}");
        assert_eq!(
            (&frame["type"], &frame["message"]),
            (&json!("session_ended"), &json!("The session has ended."))
        );
        assert!(is_rfc3339_millis(&frame["timestamp"]), "{frame}");
        assert!(socket.closed().await.is_some(), "the socket closes");
    }
    let again = visitor_chat(app, &visitor, &session).await;
    assert_eq!(again.map(|_| ()), Err(410));
}

chat_e2e::on_both_stores! {
    a_support_chat_works_as_seed_004_documents => a_visitor_and_an_agent_chat_in_text_and_files_until_the_session_ends, the_visitor_support_chat_runs_the_same_on_dynamodb;
}
