//! A broadcast to a session whose connections speak different dialects: each gets the
//! frame in its own dialect, or nothing where its dialect has no such frame, from the one
//! read of the session's connections every broadcast makes.

use std::sync::Arc;

use chat_core::domain::{
    ChatbotId, Connection, ConnectionId, Content, Dialect, Member, MemberRole, Message, MessageId,
    Principal, Session, SessionId, SessionKind, SessionSpec, Timestamp, UserId,
};
use chat_core::ports::{Store, SystemClock};
use chat_core::protocol::{MessageView, ServerFrame};
use chat_core::service::Fanout;
use chat_embedded::EmbeddedStore;
use chat_testkit::Recorder;
use serde_json::json;

/// Ann's bot session, with one connection of hers per `(id, dialect)`, and a fan-out that
/// records what it posts.
struct Speakers {
    session: SessionId,
    connections: Vec<Connection>,
    fanout: Fanout,
    recorder: Arc<Recorder>,
}

async fn speakers(dialects: &[(&str, Dialect)]) -> Speakers {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new());
    let now = Timestamp::now();
    let ann = UserId::parse("ann").expect("id");
    let session = Session::open(
        SessionId::new(now),
        SessionSpec {
            chatbot_id: Some(ChatbotId::parse("assistant").expect("id")),
            ..SessionSpec::new(SessionKind::Bot, ann.clone())
        },
        now,
    )
    .expect("a session");
    let owner = Member::new(session.id, ann.clone(), MemberRole::Owner, None, now);
    store
        .create_session(&session, &[owner])
        .await
        .expect("created");
    let principal = Principal::from_claims("ann", None, None, None).expect("a principal");
    let connections: Vec<Connection> = dialects
        .iter()
        .map(|(id, dialect)| {
            Connection::new(
                ConnectionId::parse(id).expect("id"),
                principal.clone(),
                Some(session.id),
                now,
            )
            .with_dialect(*dialect)
        })
        .collect();
    for connection in &connections {
        store.put_connection(connection).await.expect("stored");
    }
    let recorder = Arc::new(Recorder::default());
    let fanout = Fanout::new(store.clone(), recorder.clone(), Arc::new(SystemClock));
    Speakers {
        session: session.id,
        connections,
        fanout,
        recorder,
    }
}

/// The bot's stored reply "Hello!" in `session`.
fn reply(session: SessionId) -> Message {
    let mut reply = Message::text(
        session,
        UserId::parse("assistant").expect("id"),
        None,
        Content::parse("Hello!").expect("text"),
        Timestamp::now(),
    );
    reply.is_bot = true;
    reply
}

fn complete(reply: &Message) -> ServerFrame {
    ServerFrame::ResponseComplete {
        response_id: reply.id,
        message: MessageView::new(reply),
        token_count: None,
    }
}

#[tokio::test]
async fn each_connection_gets_the_frame_in_its_own_dialect_or_not_at_all() {
    let Speakers {
        session,
        connections,
        fanout,
        recorder,
    } = speakers(&[
        ("web-1", Dialect::Canonical),
        ("web-2", Dialect::Canonical),
        ("ai-1", Dialect::Ai),
        ("ai-2", Dialect::Ai),
    ])
    .await;
    let reply = reply(session);
    let complete = complete(&reply);
    let chunk = ServerFrame::ResponseChunk {
        response_id: reply.id,
        chunk: "Hel".into(),
    };
    let delivered = fanout.broadcast(session, &chunk).await.expect("sent");
    assert_eq!(
        delivered.delivered, 2,
        "only the canonical clients know chunks"
    );
    let delivered = fanout.broadcast(session, &complete).await.expect("sent");
    assert_eq!(delivered.delivered, 4);

    let canonical: serde_json::Value = serde_json::from_str(&complete.to_json()).expect("JSON");
    for web in &connections[..2] {
        let frames = recorder.frames_to(&web.id);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(frames[0]["type"], "response_chunk");
        assert_eq!(frames[1], canonical);
    }
    for ai in &connections[2..] {
        let frames = recorder.frames_to(&ai.id);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(
            (&frames[0]["type"], &frames[0]["message"]),
            (&json!("ai_response"), &json!("Hello!"))
        );
    }
}

#[tokio::test]
async fn a_dialect_that_renders_several_frames_gets_them_all_in_order() {
    let dialects: Vec<(String, Dialect)> = Dialect::ALL
        .into_iter()
        .map(|dialect| (format!("{}-1", dialect.as_str()), dialect))
        .collect();
    let named: Vec<(&str, Dialect)> = dialects.iter().map(|(id, d)| (id.as_str(), *d)).collect();
    let Speakers {
        session,
        connections,
        fanout,
        recorder,
    } = speakers(&named).await;
    let reply = reply(session);
    let delivered = fanout
        .broadcast(session, &complete(&reply))
        .await
        .expect("sent");
    assert_eq!(
        delivered.delivered,
        Dialect::ALL.len(),
        "one each, counted once"
    );

    let reply_id = json!(reply.id);
    for connection in &connections {
        let frames = recorder.frames_to(&connection.id);
        let names: Vec<&serde_json::Value> = frames
            .iter()
            .map(|frame| frame.get("mt").unwrap_or(&frame["type"]))
            .collect();
        let expected = match connection.dialect {
            Dialect::Canonical => vec!["response_complete"],
            Dialect::Live => vec!["chat_message"],
            Dialect::Chat => vec!["stop_typing_indicator", "message_upload_confirm"],
            Dialect::Ai => vec!["ai_response"],
            Dialect::Chatbot => vec!["response_complete"],
            Dialect::Visitor => vec!["text"],
        };
        assert_eq!(names, expected, "{:?}: {frames:?}", connection.dialect);
    }
    let chat = connections
        .iter()
        .find(|c| c.dialect == Dialect::Chat)
        .expect("a chat connection");
    assert_eq!(recorder.frames_to(&chat.id)[1]["_id"], reply_id);

    // A reply's start reaches only the dialects that show it.
    let start = ServerFrame::ResponseStart {
        response_id: MessageId::new(Timestamp::now()),
    };
    let delivered = fanout.broadcast(session, &start).await.expect("sent");
    assert_eq!(
        delivered.delivered, 3,
        "canonical, chat and chatbot know it"
    );
}
