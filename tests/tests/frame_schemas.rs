//! docs/schema/: the generated schemas are what the code generates now, every schema is a
//! valid draft 2020-12 schema, the schemas tell right frames from wrong ones, and the frame
//! tap the other suites run under reports a frame its schema does not describe.

use chat_core::domain::Dialect;
use chat_core::protocol::{ClientFrame, FrameError, generated_schemas};
use chat_e2e::frame_check::{
    Checked, FrameLog, FrameSchema, FrameSchemas, Side, schema_dir, schema_path,
};
use chat_local::ws_api::FrameDirection;
use serde_json::{Value, json};

const SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const MESSAGE: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
const SENT: &str = "2025-10-01T20:00:01.000Z";

fn pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema is JSON");
    text.push('\n');
    text
}

#[test]
fn the_committed_generated_schemas_are_what_the_code_generates() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (path, schema) in generated_schemas() {
        let file = schema_dir().join(&path);
        let generated = pretty(&schema);
        if update {
            std::fs::create_dir_all(file.parent().expect("a folder")).expect("a folder");
            std::fs::write(&file, &generated).expect("the schema is written");
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(generated.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "docs/schema/ differs from what the protocol types generate: {stale:?}. Regenerate with \
         `UPDATE_SCHEMAS=1 cargo test -p chat-e2e --test frame_schemas` and commit the result"
    );
}

#[test]
fn every_dialect_has_a_valid_schema_for_each_side() {
    for dialect in Dialect::ALL {
        for side in [Side::Client, Side::Server] {
            let path = schema_path(dialect, side);
            let text = std::fs::read_to_string(&path).expect("the schema is committed");
            let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema",
                "{}",
                path.display()
            );
            jsonschema::draft202012::meta::validate(&schema)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert!(schema["oneOf"].is_array(), "{}: a oneOf", path.display());
            FrameSchema::new(&schema).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        }
    }
}

fn check(
    direction: FrameDirection,
    dialect: Dialect,
    frame: &Value,
) -> Result<Checked, Vec<String>> {
    FrameSchemas::get().check(direction, dialect, &frame.to_string())
}

fn assert_fits(direction: FrameDirection, dialect: Dialect, frame: Value) {
    assert_eq!(
        check(direction, dialect, &frame),
        Ok(Checked::Matched),
        "{dialect:?} {direction:?}: {frame}"
    );
}

fn assert_refused(direction: FrameDirection, dialect: Dialect, frame: Value) {
    assert!(
        check(direction, dialect, &frame).is_err(),
        "{dialect:?} {direction:?} should be refused: {frame}"
    );
}

fn message_view() -> Value {
    json!({
        "id": MESSAGE,
        "session_id": SESSION,
        "seq": 1,
        "sender_id": "ann",
        "sender_name": null,
        "is_bot": false,
        "kind": "text",
        "content": "hello",
        "created_at": SENT,
        "edited": false,
        "deleted": false,
        "reactions": {"👍": ["bob"]},
    })
}

#[test]
fn the_canonical_server_schema_takes_the_contracts_frames_and_refuses_a_wrong_field() {
    let to_client = FrameDirection::ToClient;
    let canonical = Dialect::Canonical;
    assert_fits(to_client, canonical, json!({"type": "pong"}));
    assert_fits(
        to_client,
        canonical,
        json!({"type": "chat_message", "message": message_view()}),
    );
    assert_fits(
        to_client,
        canonical,
        json!({"type": "error", "code": "rate_limited", "message": "slow down", "retry_after_ms": 900}),
    );
    let mut renamed = message_view();
    renamed["sender"] = renamed["sender_id"].take();
    renamed
        .as_object_mut()
        .expect("an object")
        .remove("sender_id");
    assert_refused(
        to_client,
        canonical,
        json!({"type": "chat_message", "message": renamed}),
    );
    let mut mistyped = message_view();
    mistyped["seq"] = json!("1");
    assert_refused(
        to_client,
        canonical,
        json!({"type": "chat_message", "message": mistyped}),
    );
    assert_refused(
        to_client,
        canonical,
        json!({"type": "error", "code": "oops", "message": "x"}),
    );
    assert_refused(
        to_client,
        canonical,
        json!({"type": "session_ended", "session_id": SESSION, "reason": "over", "close_code": 1000}),
    );
    assert_refused(to_client, canonical, json!({"type": "pong", "extra": 1}));
}

#[test]
fn each_seed_dialects_server_schema_takes_its_frames_and_refuses_a_wrong_field() {
    let to_client = FrameDirection::ToClient;
    let document = json!({
        "mt": "message_upload_confirm", "_id": MESSAGE, "chat_id": SESSION, "message": "Hello",
        "is_bot": false, "reaction": null, "token": null, "type": "text", "is_edited": false,
        "created_ts": SENT, "updated_ts": SENT, "sender_id": "ann",
    });
    let mut wrong_document = document.clone();
    wrong_document["is_edited"] = json!("no");
    let rows: [(Dialect, Value, Value); 5] = [
        (
            Dialect::Live,
            json!({"type": "user_joined", "user_id": "bob", "online": ["ann", "bob"]}),
            json!({"type": "session_info", "session": {}, "user_id": "bob", "message": "hi"}),
        ),
        (Dialect::Chat, document, wrong_document),
        (
            Dialect::Ai,
            json!({"type": "ai_response", "message": "Hi", "timestamp": "2025-10-01T20:00:01.000000"}),
            json!({"type": "ai_response", "message": "Hi", "timestamp": SENT}),
        ),
        (
            Dialect::Chatbot,
            json!({"type": "response_complete", "message_id": MESSAGE, "timestamp": SENT, "full_response": "Hi"}),
            json!({"type": "response_complete", "message_id": MESSAGE, "timestamp": SENT, "response": "Hi"}),
        ),
        (
            Dialect::Visitor,
            json!({"type": "file", "file": null, "file_name": "a.png", "is_audio": false, "sender_id": "ann", "timestamp": SENT}),
            json!({"type": "file", "file": null, "file_name": "a.png", "is_audio": "no", "sender_id": "ann", "timestamp": SENT}),
        ),
    ];
    for (dialect, right, wrong) in rows {
        assert_fits(to_client, dialect, right);
        assert_refused(to_client, dialect, wrong);
        assert_fits(to_client, dialect, json!({"type": "pong"}));
    }
}

/// A frame the parser takes for every canonical action, with its required fields only.
fn minimal_action_frames() -> Vec<Value> {
    vec![
        json!({"action": "join", "session_id": SESSION}),
        json!({"action": "send", "content": "hi"}),
        json!({"action": "typing", "is_typing": true}),
        json!({"action": "edit", "message_id": MESSAGE, "content": "hi"}),
        json!({"action": "delete", "message_id": MESSAGE}),
        json!({"action": "react", "message_id": MESSAGE, "reaction": "👍"}),
        json!({"action": "unreact", "message_id": MESSAGE, "reaction": "👍"}),
        json!({"action": "history"}),
        json!({"action": "resume", "session_id": SESSION, "after_seq": 0}),
        json!({"action": "stop"}),
        json!({"action": "leave"}),
        json!({"action": "ping"}),
    ]
}

#[test]
fn the_canonical_client_schema_names_exactly_the_actions_the_parser_takes() {
    let schema = chat_core::protocol::canonical_client_schema();
    let mut named: Vec<&str> = schema["oneOf"]
        .as_array()
        .expect("a oneOf")
        .iter()
        .filter_map(|variant| variant.pointer("/properties/action/const")?.as_str())
        .collect();
    named.sort_unstable();
    let mut parsed: Vec<String> = Vec::new();
    for frame in minimal_action_frames() {
        ClientFrame::parse(&frame.to_string()).unwrap_or_else(|e| panic!("{frame}: {e}"));
        assert_fits(
            FrameDirection::FromClient,
            Dialect::Canonical,
            frame.clone(),
        );
        parsed.push(frame["action"].as_str().expect("an action").to_owned());
    }
    parsed.sort_unstable();
    assert_eq!(named, parsed);
    assert!(matches!(
        ClientFrame::parse(r#"{"action":"dance"}"#),
        Err(FrameError::UnknownAction(_))
    ));
}

#[test]
fn the_client_schemas_refuse_what_the_parser_refuses_for_its_shape() {
    let schemas = FrameSchemas::get();
    let refused = [
        json!({"action": "send"}),
        json!({"action": "send", "content": 5}),
        json!({"action": "typing", "is_typing": "true"}),
        json!({"action": "join", "session_id": "s1"}),
        json!({"action": "history", "limit": 0}),
        json!({"action": "resume", "session_id": SESSION}),
        json!({"type": "text"}),
        json!({"mt": "message_upload"}),
        json!({"type": "typing_indicator"}),
    ];
    for frame in refused {
        assert!(
            ClientFrame::parse(&frame.to_string()).is_err(),
            "the parser refuses {frame}"
        );
        let valid_somewhere = Dialect::ALL.into_iter().any(|dialect| {
            FrameSchema::load(&schema_path(dialect, Side::Client))
                .expect("a schema")
                .is_valid(&frame)
        });
        assert!(!valid_somewhere, "no client schema takes {frame}");
    }
    // Refused by the parser, the suites' bad input is not held against the schemas.
    assert_eq!(
        schemas.check(FrameDirection::FromClient, Dialect::Canonical, "{not json"),
        Ok(Checked::Refused)
    );
}

#[test]
fn the_seeds_client_frames_fit_their_dialects_client_schema() {
    let frames = [
        (
            Dialect::Live,
            json!({"user_id": "ann", "session_id": SESSION}),
        ),
        (
            Dialect::Live,
            json!({"type": "chat_message", "content": "Hello, world!"}),
        ),
        (
            Dialect::Live,
            json!({"type": "typing_indicator", "is_typing": true}),
        ),
        (
            Dialect::Chat,
            json!({"mt": "message_upload", "message": "hi", "userId": 7, "timezone": "Asia/Kolkata", "selectedLanguage": "en"}),
        ),
        (Dialect::Chat, json!({"mt": "stop"})),
        (Dialect::Ai, json!({"content": "Hello, AI!"})),
        (
            Dialect::Chatbot,
            json!({"message": "User's message text", "message_type": "text"}),
        ),
        (
            Dialect::Visitor,
            json!({"type": "text", "content": "Hello"}),
        ),
        (
            Dialect::Visitor,
            json!({"type": "file", "file": "https://files.example/sessions/x/y", "is_audio": false}),
        ),
    ];
    for (dialect, frame) in frames {
        ClientFrame::parse(&frame.to_string()).unwrap_or_else(|e| panic!("{frame}: {e}"));
        let own = FrameSchema::load(&schema_path(dialect, Side::Client)).expect("a schema");
        assert!(
            own.is_valid(&frame),
            "{dialect:?}: {frame}: {:?}",
            own.errors(&frame)
        );
    }
}

#[test]
fn the_tap_reports_a_server_frame_its_dialect_does_not_describe() {
    let log = FrameLog::default();
    let wrong = json!({"type": "chat_message", "message": {"id": MESSAGE}}).to_string();
    log.record(FrameDirection::ToClient, Dialect::Canonical, &wrong);
    log.record(
        FrameDirection::ToClient,
        Dialect::Canonical,
        r#"{"type":"pong"}"#,
    );
    // A canonical frame is not one of seed 002's.
    log.record(FrameDirection::ToClient, Dialect::Ai, &wrong);
    // Nor is API Gateway's own answer to a failed Lambda.
    log.record(
        FrameDirection::ToClient,
        Dialect::Canonical,
        r#"{"message": "Internal server error", "connectionId":"c1", "requestId":"r1"}"#,
    );
    // Bad input the suites send on purpose is not held against anyone.
    log.record(FrameDirection::FromClient, Dialect::Canonical, "{not json");
    log.record(
        FrameDirection::FromClient,
        Dialect::Canonical,
        r#"{"action":"dance"}"#,
    );
    let violations = log.violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert_eq!(violations[0].frame, wrong);
    assert!(
        violations[0]
            .errors
            .iter()
            .any(|error| error.contains("session_id")),
        "the error names a missing field: {:?}",
        violations[0].errors
    );
    assert_eq!(violations[1].dialect, Dialect::Ai);
    let report = std::panic::catch_unwind(|| log.assert_clean()).expect_err("a panic");
    let text = report
        .downcast_ref::<String>()
        .expect("a message")
        .to_owned();
    assert!(text.contains("2 WebSocket frame(s)"), "{text}");
    assert!(text.contains("ToClient on a ai connection"), "{text}");
}

#[tokio::test]
async fn the_suites_servers_check_every_frame_both_ways() {
    let app = chat_e2e::spawn_app().await;
    let ann = app.user("ann");
    let session = app
        .create_session(&ann, json!({"kind": "group", "title": "schemas"}))
        .await;
    let mut socket = app.connect(&ann, Some(&session)).await;
    socket.next_of("chat_history").await;
    socket
        .send(json!({"action": "send", "content": "hello"}))
        .await;
    socket.next_of("chat_message").await;
    socket.send(json!({"action": "ping"})).await;
    socket.next_of("pong").await;
    let checked = app.frames().checked();
    assert!(
        checked[&(Dialect::Canonical, Side::Client)] >= 2,
        "{checked:?}"
    );
    assert!(
        checked[&(Dialect::Canonical, Side::Server)] >= 4,
        "{checked:?}"
    );
    assert!(app.frames().violations().is_empty());
    app.stop().await;
}

/// A fixed time, so the frames are the same on every run.
fn at(millis: u64) -> chat_core::domain::Timestamp {
    chat_core::domain::Timestamp::from_unix_millis(millis)
}

/// One of every frame the server sends, with every optional field both unset and set.
fn every_server_frame() -> Vec<chat_core::protocol::ServerFrame> {
    use chat_core::domain::{
        Attachment, AttachmentId, AttachmentState, ChatbotId, ClientMsgId, Content, DisplayName,
        IncompleteReason, Member, MemberRole, Message, MessageId, MessageKind, Reaction, SessionId,
        SessionKind, SessionSpec, Source, UserId,
    };
    use chat_core::protocol::{ErrorCode, MessageView, ServerFrame, SessionView};

    let now = at(1_759_348_800_000);
    let user = |id: &str| UserId::parse(id).expect("an id");
    let session_id = SessionId::parse(SESSION).expect("an id");
    let spec = SessionSpec {
        chatbot_id: Some(ChatbotId::parse("helper").expect("an id")),
        end_on_disconnect: true,
        ..SessionSpec::new(SessionKind::Bot, user("ann"))
    };
    let session = chat_core::domain::Session::open(session_id, spec, now).expect("a session");
    let members = [
        Member::new(session_id, user("ann"), MemberRole::Owner, None, now),
        Member::new(
            session_id,
            user("helper"),
            MemberRole::Bot,
            DisplayName::parse("Helper").expect("a name"),
            now,
        ),
    ];
    let view = SessionView::new(&session, &members, vec![user("ann")]);
    let mut text = Message::text(
        session_id,
        user("ann"),
        None,
        Content::parse("hello").expect("content"),
        now,
    );
    text.reactions
        .add(Reaction::parse("👍").expect("an emoji"), user("bob"));
    let hello = MessageView::new(&text);
    let attachment = Attachment {
        id: AttachmentId::parse("01HZY6Q6E8J5G7XGZK3M2N4P5R").expect("an id"),
        session_id,
        uploader_id: user("ann"),
        file_name: "note.ogg".into(),
        content_type: "audio/ogg".into(),
        size: 1_234,
        state: AttachmentState::Ready,
        created_at: now,
    };
    let voice_note = MessageView {
        kind: MessageKind::File,
        content: "listen".into(),
        attachment: Some(chat_core::protocol::AttachmentView::new(&attachment)),
        edited: true,
        edited_at: Some(at(1_759_348_805_000)),
        client_msg_id: Some(ClientMsgId::parse("c-1").expect("an id")),
        ..hello.clone()
    }
    .with_download("https://files.example/note.ogg", at(1_759_349_400_000));
    let reply_id = MessageId::parse(MESSAGE).expect("an id");
    let answer = MessageView {
        id: reply_id,
        sender_id: user("helper"),
        sender_name: DisplayName::parse("Helper").expect("a name"),
        is_bot: true,
        content: "Hi there!".into(),
        reactions: Default::default(),
        token_count: Some(7),
        incomplete: true,
        incomplete_reason: Some(IncompleteReason::MaxTokens),
        moderated: true,
        sources: vec![Source {
            attachment_id: attachment.id,
            file_name: attachment.file_name.clone(),
        }],
        ..hello.clone()
    };
    let deleted = MessageView::new(&Message {
        deleted_at: Some(now),
        ..text.clone()
    });
    let mut frames = vec![
        ServerFrame::session_info(view, user("ann"), "Welcome".into()),
        ServerFrame::history_page(vec![hello.clone(), voice_note.clone()], None),
        ServerFrame::history_page(vec![], Some(MESSAGE.into())),
        ServerFrame::MessageReceived {
            message_id: hello.id,
            client_msg_id: None,
            timestamp: now,
        },
        ServerFrame::MessageReceived {
            message_id: hello.id,
            client_msg_id: Some(ClientMsgId::parse("c-1").expect("an id")),
            timestamp: now,
        },
        ServerFrame::MessageUpdated {
            message: voice_note.clone(),
        },
        ServerFrame::MessageDeleted { message: deleted },
        ServerFrame::ReactionUpdated {
            message: hello.clone(),
        },
        ServerFrame::user_joined(user("bob"), [user("ann"), user("bob")]),
        ServerFrame::user_left(user("bob"), [user("ann")]),
        ServerFrame::typing_status(user("bob"), true, [user("bob")]),
        ServerFrame::typing_status(user("bob"), false, []),
        ServerFrame::ResponseStart {
            response_id: reply_id,
        },
        ServerFrame::ResponseChunk {
            response_id: reply_id,
            chunk: "Hi ".into(),
        },
        ServerFrame::ResponseReasoning {
            response_id: reply_id,
            chunk: "thinking".into(),
        },
        ServerFrame::ResponseComplete {
            response_id: reply_id,
            message: answer.clone(),
            token_count: None,
        },
        ServerFrame::StoppedGeneration {
            response_id: reply_id,
            message: answer,
        },
        ServerFrame::session_ended(session_id, "ended by the owner"),
        ServerFrame::error(ErrorCode::InvalidFrame, "content: is required"),
        ServerFrame::error_closing(
            ErrorCode::NotFound,
            "no such session",
            chat_core::protocol::CloseCode::INVALID_SESSION_ID,
        ),
        ServerFrame::rate_limited("slow down", std::time::Duration::from_millis(900)),
        ServerFrame::Pong,
    ];
    frames.extend(
        [hello, voice_note]
            .into_iter()
            .map(|message| ServerFrame::ChatMessage { message }),
    );
    frames
}

#[test]
fn every_frame_each_dialect_renders_fits_that_dialects_server_schema() {
    let schemas = FrameSchemas::get();
    let mut rendered = 0;
    for dialect in Dialect::ALL {
        for frame in every_server_frame() {
            for text in chat_core::protocol::render(&frame, dialect, at(1_759_348_800_000)) {
                assert_eq!(
                    schemas.check(FrameDirection::ToClient, dialect, &text),
                    Ok(Checked::Matched),
                    "{dialect:?}: {text}"
                );
                rendered += 1;
            }
        }
    }
    assert!(rendered > 60, "{rendered} frames rendered");
}
