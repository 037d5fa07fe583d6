//! The server's frames as each dialect's clients expect them. The contract's own
//! (`canonical`) is the frames' serde form; a seed system's dialect renders the frames its
//! client knows in that system's shapes and leaves out the events it has no frame for.
//! One event may be several frames in a seed's dialect (001 ends a reply with
//! `stop_typing_indicator` before the stored reply), so a render is a list, often of one.

use serde_json::{Value, json};

use super::{ErrorCode, MessageView, ServerFrame};
use crate::domain::{Dialect, MessageKind, Reactions, Timestamp};

/// `frame` as a `dialect` client receives it: its frames in the order they are sent, none
/// when that client has no such frame. `now` stamps the frames whose dialect carries a
/// time the frame itself does not.
pub fn render(frame: &ServerFrame, dialect: Dialect, now: Timestamp) -> Vec<String> {
    match dialect {
        Dialect::Canonical => canonical(frame),
        Dialect::Live => live(frame),
        Dialect::Chat => chat(frame),
        Dialect::Ai => ai(frame, now),
        Dialect::Chatbot => chatbot(frame),
        Dialect::Visitor => visitor(frame, now),
    }
}

/// The frame as the contract has it: byte for byte what a canonical client gets.
fn canonical(frame: &ServerFrame) -> Vec<String> {
    vec![frame.to_json()]
}

fn one(frame: Value) -> Vec<String> {
    vec![frame.to_string()]
}

/// The line the seeds that only know errors get for `session_ended`.
fn ended(reason: &str) -> String {
    format!("the session has ended: {reason}")
}

/// 003's and 004's `{"type":"error","message"}`.
fn error_message(message: &str) -> Vec<String> {
    one(json!({"type": "error", "message": message}))
}

/// Seed 000 names its frames but not their fields, so those it names go as the contract
/// has them. It shows the bot's replies as messages (it has no streaming), so a finished or
/// stopped reply is a `chat_message` of the stored reply. `error` and `pong` answer the
/// client's own frames.
fn live(frame: &ServerFrame) -> Vec<String> {
    match frame {
        ServerFrame::ChatHistory { .. }
        | ServerFrame::ChatMessage { .. }
        | ServerFrame::UserJoined { .. }
        | ServerFrame::UserLeft { .. }
        | ServerFrame::TypingStatus { .. }
        | ServerFrame::SessionEnded { .. }
        | ServerFrame::Error { .. }
        | ServerFrame::Pong => canonical(frame),
        ServerFrame::ResponseComplete { message, .. }
        | ServerFrame::StoppedGeneration { message, .. } => canonical(&ServerFrame::ChatMessage {
            message: message.clone(),
        }),
        ServerFrame::SessionInfo { .. }
        | ServerFrame::MessageReceived { .. }
        | ServerFrame::MessageUpdated { .. }
        | ServerFrame::MessageDeleted { .. }
        | ServerFrame::ReactionUpdated { .. }
        | ServerFrame::ResponseStart { .. }
        | ServerFrame::ResponseChunk { .. }
        | ServerFrame::ResponseReasoning { .. } => vec![],
    }
}

/// Seed 001: the frame's name is in `mt`, as in the client's own frames (`type` is a field
/// of its message document). A stored message, the sender's own included, is its
/// `chat_messages` document in a `message_upload_confirm`; that confirm is the sender's
/// acknowledgement too, so `message_received` has no frame (and a repeated
/// `client_msg_id`, which stores and broadcasts nothing, gets none). A bot reply is
/// `typing_indicator`, `chat_message_bot_partial`s, `stop_typing_indicator` and the
/// stored reply.
fn chat(frame: &ServerFrame) -> Vec<String> {
    match frame {
        ServerFrame::ChatMessage { message } => vec![chat_document(
            "message_upload_confirm",
            message,
            message.token_count,
        )],
        ServerFrame::ResponseStart { response_id } => {
            one(json!({"mt": "typing_indicator", "_id": response_id}))
        }
        ServerFrame::ResponseChunk { response_id, chunk } => one(json!({
            "mt": "chat_message_bot_partial",
            "_id": response_id,
            "message": chunk,
        })),
        ServerFrame::ResponseComplete {
            message,
            token_count,
            ..
        } => vec![
            stop_typing_indicator(),
            chat_document(
                "message_upload_confirm",
                message,
                message.token_count.or(*token_count),
            ),
        ],
        ServerFrame::StoppedGeneration { message, .. } => vec![
            stop_typing_indicator(),
            chat_document("stopped_generation", message, message.token_count),
        ],
        ServerFrame::TypingStatus {
            user_id, is_typing, ..
        } => {
            let mt = if *is_typing {
                "typing_indicator"
            } else {
                "stop_typing_indicator"
            };
            one(json!({"mt": mt, "user_id": user_id}))
        }
        ServerFrame::Error { code, message, .. } => {
            one(json!({"mt": "error", "code": code, "message": message}))
        }
        ServerFrame::SessionEnded { reason, .. } => one(json!({
            "mt": "error",
            "code": ErrorCode::SessionEnded,
            "message": ended(reason),
        })),
        ServerFrame::Pong => canonical(frame),
        ServerFrame::SessionInfo { .. }
        | ServerFrame::ChatHistory { .. }
        | ServerFrame::MessageReceived { .. }
        | ServerFrame::UserJoined { .. }
        | ServerFrame::UserLeft { .. }
        | ServerFrame::MessageUpdated { .. }
        | ServerFrame::MessageDeleted { .. }
        | ServerFrame::ReactionUpdated { .. }
        | ServerFrame::ResponseReasoning { .. } => vec![],
    }
}

fn stop_typing_indicator() -> String {
    json!({"mt": "stop_typing_indicator"}).to_string()
}

/// `message` as 001's `chat_messages` document, flattened into a frame named `mt`.
fn chat_document(mt: &str, message: &MessageView, token: Option<u32>) -> String {
    let mut document = chat_message_document(message, token);
    if let Some(fields) = document.as_object_mut() {
        fields.insert("mt".into(), mt.into());
    }
    document.to_string()
}

/// `message` as seed 001's `chat_messages` document (its socket's frames and its REST
/// routes alike), with who sent it and its attachment: 001's document has neither, its
/// clients need both. `token` is the reply's token count.
pub fn chat_message_document(message: &MessageView, token: Option<u32>) -> Value {
    let mut document = json!({
        "_id": message.id,
        "chat_id": message.session_id,
        "message": message.content,
        "is_bot": message.is_bot,
        "reaction": top_reaction(&message.reactions),
        "token": token,
        "type": message.kind,
        "is_edited": message.edited,
        "created_ts": message.created_at,
        "updated_ts": message.edited_at.unwrap_or(message.created_at),
        "sender_id": message.sender_id,
    });
    if let (Some(attachment), Some(fields)) = (&message.attachment, document.as_object_mut()) {
        fields.insert("attachment".into(), json!(attachment));
    }
    document
}

/// 001 keeps one reaction per message: here the one most users gave, the first in emoji
/// order on a tie.
fn top_reaction(reactions: &Reactions) -> Option<&str> {
    reactions
        .iter()
        .fold(None, |best, (reaction, users)| match best {
            Some((_, most)) if most >= users.len() => best,
            _ => Some((reaction.as_str(), users.len())),
        })
        .map(|(reaction, _)| reaction)
}

/// Seed 002: a welcome (`system`), each bot reply whole (`ai_response`), and errors, each
/// `{type, message, timestamp}` with Python's naive ISO time. The user's own messages, the
/// streamed chunks, presence and typing have no frame there. `pong` answers the client's
/// own `ping`, so it goes as it is.
fn ai(frame: &ServerFrame, now: Timestamp) -> Vec<String> {
    let (kind, message, at) = match frame {
        ServerFrame::SessionInfo {
            session, user_id, ..
        } => {
            let name = session
                .members
                .iter()
                .find(|member| member.user_id == *user_id)
                .and_then(|member| member.name.as_ref())
                .map_or(user_id.as_str(), |name| name.as_str());
            (
                "system",
                format!("Welcome to AI Chat, {name}! How can I assist you today?"),
                now,
            )
        }
        ServerFrame::ResponseComplete { message, .. }
        | ServerFrame::StoppedGeneration { message, .. } => {
            ("ai_response", message.content.clone(), message.created_at)
        }
        ServerFrame::Error { message, .. } => ("error", message.clone(), now),
        ServerFrame::SessionEnded { reason, .. } => ("error", ended(reason), now),
        ServerFrame::Pong => return canonical(frame),
        _ => return vec![],
    };
    one(json!({
        "type": kind,
        "message": message,
        "timestamp": at.naive_iso(),
    }))
}

/// Seed 003, exactly its documented frames: the welcome names the chatbot, a message is
/// acknowledged, a reply streams and ends with the whole text. A stopped reply ends the
/// same way (003 has no frame for stopping), with what was stored.
fn chatbot(frame: &ServerFrame) -> Vec<String> {
    match frame {
        ServerFrame::SessionInfo { session, .. } => {
            let name = session.chatbot_name();
            one(json!({
                "type": "session_info",
                "session_id": session.summary.id,
                "chatbot_name": name,
                "message": format!("Connected to {name}. You can start chatting!"),
            }))
        }
        ServerFrame::MessageReceived {
            message_id,
            timestamp,
            ..
        } => one(json!({
            "type": "message_received",
            "message_id": message_id,
            "timestamp": timestamp,
        })),
        ServerFrame::ResponseStart { .. } => one(json!({
            "type": "response_start",
            "message": "Assistant is thinking...",
        })),
        ServerFrame::ResponseChunk { chunk, .. } => {
            one(json!({"type": "response_chunk", "chunk": chunk}))
        }
        ServerFrame::ResponseComplete { message, .. }
        | ServerFrame::StoppedGeneration { message, .. } => one(json!({
            "type": "response_complete",
            "message_id": message.id,
            "timestamp": message.created_at,
            "full_response": message.content,
        })),
        ServerFrame::Error { message, .. } => error_message(message),
        ServerFrame::SessionEnded { reason, .. } => error_message(&ended(reason)),
        ServerFrame::Pong => canonical(frame),
        ServerFrame::ChatHistory { .. }
        | ServerFrame::ChatMessage { .. }
        | ServerFrame::MessageUpdated { .. }
        | ServerFrame::MessageDeleted { .. }
        | ServerFrame::ReactionUpdated { .. }
        | ServerFrame::UserJoined { .. }
        | ServerFrame::UserLeft { .. }
        | ServerFrame::TypingStatus { .. }
        | ServerFrame::ResponseReasoning { .. } => vec![],
    }
}

/// Seed 004, exactly its documented frames: the welcome, `text` and `file` messages (a
/// bot's reply is a `text` from the bot), the end of the session and errors. 004 sends no
/// history over the socket ("fetch via HTTP").
fn visitor(frame: &ServerFrame, now: Timestamp) -> Vec<String> {
    match frame {
        ServerFrame::SessionInfo { session, .. } => one(json!({
            "type": "connection_established",
            "session_id": session.summary.id,
        })),
        // A bot's reply, whole or stopped, is a `text` from the bot.
        ServerFrame::ChatMessage { message }
        | ServerFrame::ResponseComplete { message, .. }
        | ServerFrame::StoppedGeneration { message, .. } => one(visitor_message(message)),
        ServerFrame::SessionEnded { .. } => one(json!({
            "type": "session_ended",
            "message": "The session has ended.",
            "timestamp": now,
        })),
        ServerFrame::Error { message, .. } => error_message(message),
        ServerFrame::Pong => canonical(frame),
        ServerFrame::ChatHistory { .. }
        | ServerFrame::MessageReceived { .. }
        | ServerFrame::MessageUpdated { .. }
        | ServerFrame::MessageDeleted { .. }
        | ServerFrame::ReactionUpdated { .. }
        | ServerFrame::UserJoined { .. }
        | ServerFrame::UserLeft { .. }
        | ServerFrame::TypingStatus { .. }
        | ServerFrame::ResponseStart { .. }
        | ServerFrame::ResponseChunk { .. }
        | ServerFrame::ResponseReasoning { .. } => vec![],
    }
}

/// A message as 004 broadcasts it: `text`, or `file` with the download link (null when
/// none was issued) and a caption, if any, as `content`.
fn visitor_message(message: &MessageView) -> Value {
    let (sender_id, timestamp) = (&message.sender_id, message.created_at);
    if message.kind == MessageKind::Text {
        return json!({
            "type": "text",
            "content": message.content,
            "sender_id": sender_id,
            "timestamp": timestamp,
        });
    }
    let attachment = message.attachment.as_ref();
    let mut frame = json!({
        "type": "file",
        "file": attachment.and_then(|a| a.url.as_deref()),
        "file_name": attachment.map(|a| a.file_name.as_str()),
        "is_audio": attachment.is_some_and(|a| a.content_type.starts_with("audio/")),
        "sender_id": sender_id,
        "timestamp": timestamp,
    });
    if let (false, Some(fields)) = (message.content.is_empty(), frame.as_object_mut()) {
        fields.insert("content".into(), json!(message.content));
    }
    frame
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::domain::{
        AttachmentId, ChatbotId, ClientMsgId, DisplayName, Member, MemberRole, MessageId, Reaction,
        Session, SessionId, SessionKind, SessionSpec, UserId,
    };
    use crate::protocol::{AttachmentView, CloseCode, SessionView};

    const SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const MESSAGE: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
    const REPLY: &str = "01BX5ZZKBKACTAV9WEVGEMMVS0";
    const ATTACHMENT: &str = "01HZY6Q6E8J5G7XGZK3M2N4P5R";
    /// `now`, when the frames are rendered.
    const NOW: &str = "2025-10-01T20:00:00.000Z";
    /// When the messages were stored, and edited.
    const SENT: &str = "2025-10-01T20:00:01.000Z";
    const EDITED: &str = "2025-10-01T20:00:05.000Z";

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_unix_millis(millis)
    }
    fn now() -> Timestamp {
        at(1_759_348_800_000)
    }
    fn time(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("a time")
    }
    fn user(id: &str) -> UserId {
        UserId::parse(id).expect("an id")
    }
    fn name(text: &str) -> Option<DisplayName> {
        DisplayName::parse(text).expect("a name")
    }
    fn session_id() -> SessionId {
        SessionId::parse(SESSION).expect("an id")
    }
    fn message_id() -> MessageId {
        MessageId::parse(MESSAGE).expect("an id")
    }
    fn reply_id() -> MessageId {
        MessageId::parse(REPLY).expect("an id")
    }
    fn emoji(text: &str) -> Reaction {
        Reaction::parse(text).expect("an emoji")
    }

    /// Ann's bot session with the chatbot `assistant`, whose member is named `bot_name`
    /// (no bot member without one).
    fn bot_session(bot_name: Option<&str>) -> SessionView {
        let spec = SessionSpec {
            chatbot_id: Some(ChatbotId::parse("assistant").expect("an id")),
            ..SessionSpec::new(SessionKind::Bot, user("ann"))
        };
        let session = Session::open(session_id(), spec, now()).expect("a session");
        let mut members = vec![Member::new(
            session.id,
            user("ann"),
            MemberRole::Owner,
            name("Ann"),
            now(),
        )];
        if let Some(bot_name) = bot_name {
            members.push(Member::new(
                session.id,
                user("assistant"),
                MemberRole::Bot,
                name(bot_name),
                now(),
            ));
        }
        SessionView::new(&session, &members, vec![user("ann")])
    }

    fn info(session: SessionView) -> ServerFrame {
        ServerFrame::SessionInfo {
            session,
            user_id: user("ann"),
            message: "Welcome to the session".into(),
        }
    }

    /// Ann's "Hello", stored at `SENT`, nothing optional set.
    fn hello() -> MessageView {
        MessageView {
            id: message_id(),
            session_id: session_id(),
            seq: 1,
            sender_id: user("ann"),
            sender_name: name("Ann"),
            is_bot: false,
            kind: MessageKind::Text,
            content: "Hello".into(),
            attachment: None,
            created_at: time(SENT),
            edited: false,
            edited_at: None,
            deleted: false,
            reactions: Reactions::default(),
            client_msg_id: None,
            token_count: None,
            incomplete: false,
            incomplete_reason: None,
            moderated: false,
            sources: Vec::new(),
        }
    }

    /// The bot's stored reply.
    fn answer() -> MessageView {
        MessageView {
            id: reply_id(),
            sender_id: user("assistant"),
            sender_name: None,
            is_bot: true,
            content: "Hi there!".into(),
            token_count: Some(7),
            ..hello()
        }
    }

    /// Ann's voice note, with a download link and a caption.
    fn voice_note() -> MessageView {
        MessageView {
            kind: MessageKind::File,
            content: "listen".into(),
            attachment: Some(
                AttachmentView {
                    id: AttachmentId::parse(ATTACHMENT).expect("an id"),
                    file_name: "note.ogg".into(),
                    content_type: "audio/ogg".into(),
                    size: 2_048,
                    url: None,
                    url_expires_at: None,
                }
                .with_url("https://files/note.ogg", time(EDITED)),
            ),
            ..hello()
        }
    }

    fn attachment_json() -> Value {
        json!({
            "id": ATTACHMENT,
            "file_name": "note.ogg",
            "content_type": "audio/ogg",
            "size": 2048,
            "url": "https://files/note.ogg",
            "url_expires_at": EDITED,
        })
    }

    fn history() -> ServerFrame {
        ServerFrame::ChatHistory {
            messages: vec![hello()],
            next_cursor: None,
        }
    }
    fn received() -> ServerFrame {
        ServerFrame::MessageReceived {
            message_id: message_id(),
            client_msg_id: Some(ClientMsgId::parse("c-1").expect("an id")),
            timestamp: time(SENT),
        }
    }
    fn chat_message(message: MessageView) -> ServerFrame {
        ServerFrame::ChatMessage { message }
    }
    fn typing(is_typing: bool) -> ServerFrame {
        ServerFrame::typing_status(user("bob"), is_typing, [user("bob")])
    }
    fn start() -> ServerFrame {
        ServerFrame::ResponseStart {
            response_id: reply_id(),
        }
    }
    fn chunk() -> ServerFrame {
        ServerFrame::ResponseChunk {
            response_id: reply_id(),
            chunk: "Hi ".into(),
        }
    }
    fn complete() -> ServerFrame {
        ServerFrame::ResponseComplete {
            response_id: reply_id(),
            message: answer(),
            token_count: Some(7),
        }
    }
    fn stopped() -> ServerFrame {
        ServerFrame::StoppedGeneration {
            response_id: reply_id(),
            message: MessageView {
                content: "Hi".into(),
                token_count: None,
                ..answer()
            },
        }
    }
    fn session_ended() -> ServerFrame {
        ServerFrame::session_ended(session_id(), "ended by the owner")
    }
    fn error() -> ServerFrame {
        ServerFrame::error(ErrorCode::InvalidFrame, "content: is required")
    }

    /// One of every kind of frame the server sends.
    fn every_frame() -> Vec<ServerFrame> {
        vec![
            info(bot_session(Some("Helper"))),
            history(),
            received(),
            chat_message(hello()),
            ServerFrame::MessageUpdated { message: hello() },
            ServerFrame::MessageDeleted { message: hello() },
            ServerFrame::ReactionUpdated { message: hello() },
            ServerFrame::user_joined(user("bob"), [user("ann"), user("bob")]),
            ServerFrame::user_left(user("bob"), [user("ann")]),
            typing(true),
            start(),
            chunk(),
            complete(),
            stopped(),
            session_ended(),
            error(),
            ServerFrame::Pong,
        ]
    }

    fn rendered(frame: &ServerFrame, dialect: Dialect) -> Vec<Value> {
        render(frame, dialect, now())
            .iter()
            .map(|text| serde_json::from_str(text).expect("frames are JSON"))
            .collect()
    }

    fn canonical_json(frame: &ServerFrame) -> Vec<Value> {
        rendered(frame, Dialect::Canonical)
    }

    /// `dialect` renders each of `expected` exactly so, and nothing for every other frame.
    fn assert_renders(dialect: Dialect, expected: &[(ServerFrame, Vec<Value>)]) {
        for (frame, frames) in expected {
            assert_eq!(&rendered(frame, dialect), frames, "{dialect:?}: {frame:?}");
        }
        for frame in every_frame() {
            if !expected.iter().any(|(listed, _)| *listed == frame) {
                assert_eq!(
                    rendered(&frame, dialect),
                    Vec::<Value>::new(),
                    "{dialect:?} has no frame for {frame:?}"
                );
            }
        }
    }

    #[test]
    fn the_canonical_dialect_is_every_frame_itself() {
        for frame in every_frame() {
            assert_eq!(
                render(&frame, Dialect::Canonical, now()),
                vec![frame.to_json()]
            );
        }
    }

    #[test]
    fn the_ai_dialect_welcomes_answers_and_errs_as_seed_002_documents() {
        let system = |message: &str, at: &str| json!({"type": "system", "message": message, "timestamp": at});
        let mut no_name = bot_session(None);
        no_name.members.clear();
        assert_renders(
            Dialect::Ai,
            &[
                (
                    info(bot_session(Some("Helper"))),
                    vec![system(
                        "Welcome to AI Chat, Ann! How can I assist you today?",
                        "2025-10-01T20:00:00.000000",
                    )],
                ),
                (
                    info(no_name),
                    vec![system(
                        "Welcome to AI Chat, ann! How can I assist you today?",
                        "2025-10-01T20:00:00.000000",
                    )],
                ),
                (
                    complete(),
                    vec![
                        json!({"type": "ai_response", "message": "Hi there!", "timestamp": "2025-10-01T20:00:01.000000"}),
                    ],
                ),
                (
                    stopped(),
                    vec![
                        json!({"type": "ai_response", "message": "Hi", "timestamp": "2025-10-01T20:00:01.000000"}),
                    ],
                ),
                (
                    error(),
                    vec![
                        json!({"type": "error", "message": "content: is required", "timestamp": "2025-10-01T20:00:00.000000"}),
                    ],
                ),
                (
                    session_ended(),
                    vec![
                        json!({"type": "error", "message": "the session has ended: ended by the owner", "timestamp": "2025-10-01T20:00:00.000000"}),
                    ],
                ),
                (ServerFrame::Pong, vec![json!({"type": "pong"})]),
            ],
        );
    }

    #[test]
    fn the_live_dialect_sends_the_frames_seed_000_names_and_bot_replies_as_messages() {
        let passed: Vec<(ServerFrame, Vec<Value>)> = [
            history(),
            chat_message(hello()),
            ServerFrame::user_joined(user("bob"), [user("ann"), user("bob")]),
            ServerFrame::user_left(user("bob"), [user("ann")]),
            typing(true),
            session_ended(),
            error(),
            ServerFrame::Pong,
        ]
        .into_iter()
        .map(|frame| {
            let same = canonical_json(&frame);
            (frame, same)
        })
        .collect();
        let as_message = |message: MessageView| canonical_json(&chat_message(message));
        let mut expected = passed;
        expected.push((complete(), as_message(answer())));
        expected.push((
            stopped(),
            as_message(MessageView {
                content: "Hi".into(),
                token_count: None,
                ..answer()
            }),
        ));
        assert_renders(Dialect::Live, &expected);
        // Byte for byte the contract's frame, not merely the same JSON.
        assert_eq!(
            render(&typing(true), Dialect::Live, now()),
            vec![typing(true).to_json()]
        );
    }

    /// 001's `chat_messages` document of `hello()`, in a frame named `mt`.
    fn hello_document(mt: &str) -> Value {
        json!({
            "mt": mt,
            "_id": MESSAGE,
            "chat_id": SESSION,
            "message": "Hello",
            "is_bot": false,
            "reaction": null,
            "token": null,
            "type": "text",
            "is_edited": false,
            "created_ts": SENT,
            "updated_ts": SENT,
            "sender_id": "ann",
        })
    }

    #[test]
    fn the_chat_dialect_names_frames_in_mt_and_sends_messages_as_seed_001s_documents() {
        let answer_document = json!({
            "mt": "message_upload_confirm",
            "_id": REPLY,
            "chat_id": SESSION,
            "message": "Hi there!",
            "is_bot": true,
            "reaction": null,
            "token": 7,
            "type": "text",
            "is_edited": false,
            "created_ts": SENT,
            "updated_ts": SENT,
            "sender_id": "assistant",
        });
        let mut stopped_document = answer_document.clone();
        stopped_document["mt"] = json!("stopped_generation");
        stopped_document["message"] = json!("Hi");
        stopped_document["token"] = json!(null);
        let stop_typing = json!({"mt": "stop_typing_indicator"});
        assert_renders(
            Dialect::Chat,
            &[
                (
                    chat_message(hello()),
                    vec![hello_document("message_upload_confirm")],
                ),
                (
                    start(),
                    vec![json!({"mt": "typing_indicator", "_id": REPLY})],
                ),
                (
                    chunk(),
                    vec![json!({"mt": "chat_message_bot_partial", "_id": REPLY, "message": "Hi "})],
                ),
                (complete(), vec![stop_typing.clone(), answer_document]),
                (stopped(), vec![stop_typing, stopped_document]),
                (
                    typing(true),
                    vec![json!({"mt": "typing_indicator", "user_id": "bob"})],
                ),
                (
                    typing(false),
                    vec![json!({"mt": "stop_typing_indicator", "user_id": "bob"})],
                ),
                (
                    error(),
                    vec![
                        json!({"mt": "error", "code": "invalid_frame", "message": "content: is required"}),
                    ],
                ),
                (
                    session_ended(),
                    vec![
                        json!({"mt": "error", "code": "session_ended", "message": "the session has ended: ended by the owner"}),
                    ],
                ),
                (ServerFrame::Pong, vec![json!({"type": "pong"})]),
            ],
        );
    }

    #[test]
    fn a_chat_document_shows_its_edit_its_top_reaction_and_its_attachment() {
        let mut edited = MessageView {
            edited: true,
            edited_at: Some(time(EDITED)),
            ..voice_note()
        };
        for (reaction, who) in [("👍", "bob"), ("👍", "cy"), ("❤️", "zed")] {
            edited.reactions.add(emoji(reaction), user(who));
        }
        let mut expected = hello_document("message_upload_confirm");
        expected["message"] = json!("listen");
        expected["type"] = json!("file");
        expected["is_edited"] = json!(true);
        expected["updated_ts"] = json!(EDITED);
        expected["reaction"] = json!("👍");
        expected["attachment"] = attachment_json();
        assert_eq!(
            rendered(&chat_message(edited.clone()), Dialect::Chat),
            vec![expected]
        );

        // A tie goes to the first in emoji order; "❤️" sorts before "👍".
        edited.reactions.add(emoji("❤️"), user("ann"));
        assert_eq!(top_reaction(&edited.reactions), Some("❤️"));
        assert_eq!(top_reaction(&Reactions::default()), None);
    }

    #[test]
    fn the_chatbot_dialect_sends_exactly_seed_003s_frames() {
        let welcome = |session: SessionView, chatbot_name: &str| {
            (
                info(session),
                vec![json!({
                    "type": "session_info",
                    "session_id": SESSION,
                    "chatbot_name": chatbot_name,
                    "message": format!("Connected to {chatbot_name}. You can start chatting!"),
                })],
            )
        };
        let mut group = bot_session(None);
        group.summary.kind = SessionKind::Group;
        group.summary.chatbot_id = None;
        let complete_json = |full_response: &str| {
            vec![json!({
                "type": "response_complete",
                "message_id": REPLY,
                "timestamp": SENT,
                "full_response": full_response,
            })]
        };
        assert_renders(
            Dialect::Chatbot,
            &[
                welcome(bot_session(Some("Helper")), "Helper"),
                welcome(bot_session(None), "assistant"),
                welcome(group, "Assistant"),
                (
                    received(),
                    vec![
                        json!({"type": "message_received", "message_id": MESSAGE, "timestamp": SENT}),
                    ],
                ),
                (
                    start(),
                    vec![json!({"type": "response_start", "message": "Assistant is thinking..."})],
                ),
                (
                    chunk(),
                    vec![json!({"type": "response_chunk", "chunk": "Hi "})],
                ),
                (complete(), complete_json("Hi there!")),
                (stopped(), complete_json("Hi")),
                (
                    error(),
                    vec![json!({"type": "error", "message": "content: is required"})],
                ),
                (
                    session_ended(),
                    vec![
                        json!({"type": "error", "message": "the session has ended: ended by the owner"}),
                    ],
                ),
                (ServerFrame::Pong, vec![json!({"type": "pong"})]),
            ],
        );
    }

    #[test]
    fn the_visitor_dialect_sends_exactly_seed_004s_frames() {
        let text = |content: &str, sender: &str| {
            vec![
                json!({"type": "text", "content": content, "sender_id": sender, "timestamp": SENT}),
            ]
        };
        assert_renders(
            Dialect::Visitor,
            &[
                (
                    info(bot_session(Some("Helper"))),
                    vec![json!({"type": "connection_established", "session_id": SESSION})],
                ),
                (chat_message(hello()), text("Hello", "ann")),
                (complete(), text("Hi there!", "assistant")),
                (stopped(), text("Hi", "assistant")),
                (
                    chat_message(voice_note()),
                    vec![json!({
                        "type": "file",
                        "file": "https://files/note.ogg",
                        "file_name": "note.ogg",
                        "is_audio": true,
                        "sender_id": "ann",
                        "timestamp": SENT,
                        "content": "listen",
                    })],
                ),
                (
                    session_ended(),
                    vec![
                        json!({"type": "session_ended", "message": "The session has ended.", "timestamp": NOW}),
                    ],
                ),
                (
                    error(),
                    vec![json!({"type": "error", "message": "content: is required"})],
                ),
                (ServerFrame::Pong, vec![json!({"type": "pong"})]),
            ],
        );
    }

    #[test]
    fn a_visitor_file_without_a_link_or_caption_is_still_a_file_frame() {
        let mut image = voice_note();
        image.kind = MessageKind::Image;
        image.content.clear();
        image.attachment = image.attachment.map(|a| AttachmentView {
            content_type: "image/png".into(),
            file_name: "pixel.png".into(),
            url: None,
            url_expires_at: None,
            ..a
        });
        assert_eq!(
            rendered(&chat_message(image), Dialect::Visitor),
            vec![json!({
                "type": "file",
                "file": null,
                "file_name": "pixel.png",
                "is_audio": false,
                "sender_id": "ann",
                "timestamp": SENT,
            })]
        );
    }

    #[test]
    fn an_error_that_closes_the_socket_reads_the_same_in_each_dialect() {
        let closing = ServerFrame::error_closing(
            ErrorCode::NotFound,
            "no such session",
            CloseCode::INVALID_SESSION_ID,
        );
        assert_eq!(
            rendered(&closing, Dialect::Chatbot),
            vec![json!({"type": "error", "message": "no such session"})]
        );
        assert_eq!(
            rendered(&closing, Dialect::Chat),
            vec![json!({"mt": "error", "code": "not_found", "message": "no such session"})]
        );
    }
}
