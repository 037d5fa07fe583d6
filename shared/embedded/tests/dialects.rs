//! A broadcast to a session whose connections speak different dialects: each gets the
//! frame in its own dialect, or nothing where its dialect has no such frame, from the one
//! read of the session's connections every broadcast makes.

use std::sync::Arc;

use chat_core::domain::{
    ChatbotId, Connection, ConnectionId, Content, Dialect, Member, MemberRole, Message, Principal,
    Session, SessionId, SessionKind, SessionSpec, Timestamp, UserId,
};
use chat_core::ports::{Store, SystemClock};
use chat_core::protocol::{MessageView, ServerFrame};
use chat_core::service::Fanout;
use chat_embedded::EmbeddedStore;
use chat_testkit::Recorder;
use serde_json::json;

#[tokio::test]
async fn each_connection_gets_the_frame_in_its_own_dialect_or_not_at_all() {
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
    let connect = |id: &str, dialect: Dialect| {
        Connection::new(
            ConnectionId::parse(id).expect("id"),
            principal.clone(),
            Some(session.id),
            now,
        )
        .with_dialect(dialect)
    };
    let connections = [
        connect("web-1", Dialect::Canonical),
        connect("web-2", Dialect::Canonical),
        connect("ai-1", Dialect::Ai),
        connect("ai-2", Dialect::Ai),
    ];
    for connection in &connections {
        store.put_connection(connection).await.expect("stored");
    }
    let recorder = Arc::new(Recorder::default());
    let fanout = Fanout::new(store.clone(), recorder.clone(), Arc::new(SystemClock));

    let mut reply = Message::text(
        session.id,
        UserId::parse("assistant").expect("id"),
        None,
        Content::parse("Hello!").expect("text"),
        now,
    );
    reply.is_bot = true;
    let complete = ServerFrame::ResponseComplete {
        response_id: reply.id,
        message: MessageView::new(&reply),
        token_count: None,
    };
    let chunk = ServerFrame::ResponseChunk {
        response_id: reply.id,
        chunk: "Hel".into(),
    };
    let delivered = fanout.broadcast(session.id, &chunk).await.expect("sent");
    assert_eq!(
        delivered.delivered, 2,
        "only the canonical clients know chunks"
    );
    let delivered = fanout.broadcast(session.id, &complete).await.expect("sent");
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
