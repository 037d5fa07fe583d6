//! Server-to-client frames and the views of domain objects that clients see.

use serde::{Deserialize, Serialize};

use super::{CloseCode, ErrorCode, FrameError, MAX_POST_BYTES};
use crate::domain::{
    Attachment, AttachmentId, BusinessId, ChatbotId, ClientMsgId, DepartmentId, DisplayName,
    DocumentId, ExternalCustomerId, JoinPolicy, Language, Member, MemberRole, Message, MessageId,
    MessageKind, Reactions, Session, SessionId, SessionKind, SessionStatus, TimeZoneName,
    Timestamp, Title, UserId,
};

/// Every frame the server sends; each has `type`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ServerFrame {
    /// First welcome frame on binding to a session.
    SessionInfo {
        session: SessionView,
        user_id: UserId,
        message: String,
    },
    /// A page of messages, oldest first. `next_cursor` (null when there is no older page)
    /// is what a client sends back as `before` in a `history` frame for the page before.
    ChatHistory {
        messages: Vec<MessageView>,
        next_cursor: Option<String>,
    },
    /// The ack to the sender; `client_msg_id` is null when the send had none.
    MessageReceived {
        message_id: MessageId,
        client_msg_id: Option<ClientMsgId>,
        timestamp: Timestamp,
    },
    ChatMessage {
        message: MessageView,
    },
    MessageUpdated {
        message: MessageView,
    },
    MessageDeleted {
        message: MessageView,
    },
    ReactionUpdated {
        message: MessageView,
    },
    /// `online`: the users connected to the session now, the newcomer included.
    UserJoined {
        user_id: UserId,
        online: Vec<UserId>,
    },
    UserLeft {
        user_id: UserId,
        online: Vec<UserId>,
    },
    /// `typing`: the users typing now.
    TypingStatus {
        user_id: UserId,
        is_typing: bool,
        typing: Vec<UserId>,
    },
    /// A bot reply starts; `response_id` is the id it will be stored under.
    ResponseStart {
        response_id: MessageId,
    },
    ResponseChunk {
        response_id: MessageId,
        chunk: String,
    },
    /// The model's reasoning as it streams, where the chatbot shows it; never stored.
    ResponseReasoning {
        response_id: MessageId,
        chunk: String,
    },
    /// The stored reply; `token_count` is null when the model did not report one.
    ResponseComplete {
        response_id: MessageId,
        message: MessageView,
        token_count: Option<u32>,
    },
    /// The reply was stopped; `message` is what was stored so far.
    StoppedGeneration {
        response_id: MessageId,
        message: MessageView,
    },
    /// The session is over; the server closes the connection after this frame.
    /// `close_code` is always 4006.
    // Built with [`ServerFrame::session_ended`], which sets it.
    SessionEnded {
        session_id: SessionId,
        reason: String,
        #[cfg_attr(feature = "schema", schemars(extend("const" = 4006)))]
        close_code: CloseCode,
    },
    /// `close_code` is present only when the server closes the connection after it.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        close_code: Option<CloseCode>,
        /// With `rate_limited`: how long to wait before sending again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Pong,
}

impl ServerFrame {
    /// An error after which the connection stays open.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            close_code: None,
            retry_after_ms: None,
        }
    }

    /// An error after which the server closes the connection with `close_code`.
    pub fn error_closing(
        code: ErrorCode,
        message: impl Into<String>,
        close_code: CloseCode,
    ) -> Self {
        Self::Error {
            code,
            message: message.into(),
            close_code: Some(close_code),
            retry_after_ms: None,
        }
    }

    /// A refusal for a rate limit, saying when to send again.
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self::Error {
            code: ErrorCode::RateLimited,
            message: message.into(),
            close_code: None,
            retry_after_ms: Some(
                u64::try_from(retry_after.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            ),
        }
    }

    /// The answer to a refused client frame; the connection stays open.
    pub fn from_frame_error(error: &FrameError) -> Self {
        Self::error(error.code(), error.to_string())
    }

    pub fn session_ended(session_id: SessionId, reason: impl Into<String>) -> Self {
        Self::SessionEnded {
            session_id,
            reason: reason.into(),
            close_code: CloseCode::SESSION_ENDED,
        }
    }

    /// `user_joined`, with `online` sorted and each user once (a user may hold several
    /// connections).
    pub fn user_joined(user_id: UserId, online: impl IntoIterator<Item = UserId>) -> Self {
        Self::UserJoined {
            user_id,
            online: distinct(online),
        }
    }

    /// `user_left`, with `online` sorted and each user once.
    pub fn user_left(user_id: UserId, online: impl IntoIterator<Item = UserId>) -> Self {
        Self::UserLeft {
            user_id,
            online: distinct(online),
        }
    }

    /// `typing_status`, with `typing` sorted and each user once.
    pub fn typing_status(
        user_id: UserId,
        is_typing: bool,
        typing: impl IntoIterator<Item = UserId>,
    ) -> Self {
        Self::TypingStatus {
            user_id,
            is_typing,
            typing: distinct(typing),
        }
    }

    /// A `chat_history` page of `messages` (oldest first) that fits in one post. When the
    /// whole page would be larger than [`MAX_POST_BYTES`], it keeps the newest messages
    /// that fit and `next_cursor` names the oldest of them, so the client's next `history`
    /// frame reads on from where the page was cut. A message too large for a frame of its
    /// own (only thousands of reactions make one) is left out the same way: REST has it.
    pub fn history_page(mut messages: Vec<MessageView>, next_cursor: Option<String>) -> Self {
        let page = |messages: Vec<MessageView>, next_cursor| Self::ChatHistory {
            messages,
            next_cursor,
        };
        let Some(newest) = messages.last() else {
            return page(messages, next_cursor);
        };
        let whole = page(Vec::new(), next_cursor.clone()).to_json().len();
        // A cut page's cursor is an id, and every id has the same length.
        let cut = page(Vec::new(), Some(newest.id.to_string()))
            .to_json()
            .len();
        let newest_first: Vec<&MessageView> = messages.iter().rev().collect();
        let kept = fitting(&newest_first, MAX_POST_BYTES, |kept| {
            if kept == messages.len() { whole } else { cut }
        });
        if kept == messages.len() {
            return page(messages, next_cursor);
        }
        let kept_messages = messages.split_off(messages.len() - kept);
        // The oldest kept, or with none kept the newest left out: older pages go on from it.
        let cursor = kept_messages
            .first()
            .or(messages.last())
            .map(|m| m.id.to_string());
        page(kept_messages, cursor)
    }

    /// The welcome's `session_info`, in one post: a session with more members than fit
    /// lists those online first, then as many others as fit, and counts the rest in
    /// `members_omitted` (`GET /sessions/{id}` has them all).
    pub fn session_info(mut session: SessionView, user_id: UserId, message: String) -> Self {
        let frame = |session: SessionView| Self::SessionInfo {
            session,
            user_id: user_id.clone(),
            message: message.clone(),
        };
        // The usual case, a session that fits, is serialized once here and not cut.
        if frame(session.clone()).to_json().len() <= MAX_POST_BYTES {
            return frame(session);
        }
        let mut members = std::mem::take(&mut session.members);
        // Stable: online members first, each group in its own order.
        members.sort_by_key(|member| !session.online.contains(&member.user_id));
        let listed: Vec<&MemberView> = members.iter().collect();
        let envelope = |omitted: usize| {
            let mut empty = session.clone();
            empty.members_omitted = omitted;
            frame(empty).to_json().len()
        };
        let kept = fitting(&listed, MAX_POST_BYTES, |kept| {
            envelope(members.len() - kept)
        });
        session.members_omitted = members.len() - kept;
        members.truncate(kept);
        session.members = members;
        frame(session)
    }

    /// The frame as sent on the wire.
    pub fn to_json(&self) -> String {
        // Nothing in these types can fail to serialize (every map key is a string); the
        // fallback only keeps this total.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"internal error"}"#.to_owned()
        })
    }
}

fn distinct(users: impl IntoIterator<Item = UserId>) -> Vec<UserId> {
    let mut users: Vec<UserId> = users.into_iter().collect();
    users.sort();
    users.dedup();
    users
}

/// A message as clients see it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessageView {
    pub id: MessageId,
    pub session_id: SessionId,
    /// Its place in the session (1, 2, 3, ... without gaps): what `resume` and `after_seq`
    /// count from.
    #[serde(default)]
    pub seq: u64,
    pub sender_id: UserId,
    /// Null when the sender has no display name.
    pub sender_name: Option<DisplayName>,
    pub is_bot: bool,
    pub kind: MessageKind,
    /// Empty for a deleted message.
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentView>,
    pub created_at: Timestamp,
    pub edited: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    /// Emoji to the users who gave it.
    pub reactions: Reactions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<ClientMsgId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_count: Option<u32>,
    /// Set on a bot reply the model broke off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "schema", schemars(extend("const" = true)))]
    pub incomplete: bool,
    /// Why it is incomplete: `max_tokens`, `content_filter`, `context_window`,
    /// `malformed_output`, `model_error` or `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<crate::domain::IncompleteReason>,
    /// Set when moderation changed the content (profanity masked).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "schema", schemars(extend("const" = true)))]
    pub moderated: bool,
    /// A bot reply's: the files shared in the session it drew on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub sources: Vec<crate::domain::Source>,
}

impl MessageView {
    /// The view of `message`, its attachment without a download URL (see
    /// [`MessageView::with_download`]). A deleted message is a tombstone: its content,
    /// attachment and reactions are not shown, whatever the store still holds.
    pub fn new(message: &Message) -> Self {
        let deleted = message.is_deleted();
        let attachment = message
            .attachment
            .as_ref()
            .filter(|_| !deleted)
            .map(AttachmentView::new);
        Self {
            id: message.id,
            session_id: message.session_id,
            seq: message.seq,
            sender_id: message.sender_id.clone(),
            sender_name: message.sender_name.clone(),
            is_bot: message.is_bot,
            kind: message.kind,
            content: if deleted {
                String::new()
            } else {
                message.content.clone()
            },
            attachment,
            created_at: message.created_at,
            edited: message.is_edited(),
            edited_at: message.edited_at,
            deleted,
            reactions: if deleted {
                Reactions::default()
            } else {
                message.reactions.clone()
            },
            client_msg_id: message.client_msg_id.clone(),
            token_count: message.token_count,
            incomplete: message.incomplete,
            incomplete_reason: message.incomplete_reason,
            // A tombstone shows no content, so nothing of it was moderated.
            moderated: message.moderated && !deleted,
            sources: if deleted {
                Vec::new()
            } else {
                message.sources.clone()
            },
        }
    }

    /// The same view with a download URL on its attachment (if it shows one).
    pub fn with_download(self, url: impl Into<String>, expires_at: Timestamp) -> Self {
        Self {
            attachment: self.attachment.map(|a| a.with_url(url, expires_at)),
            ..self
        }
    }
}

/// One entry of a session's timeline (`GET /sessions/{id}/history`):
/// `{"type":"message","data":{...}}` or `{"type":"attachment","data":{...}}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
// A page holds a few of these, serialized at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum TimelineItem {
    Message(MessageView),
    Attachment(AttachmentView),
}

/// An attachment as clients see it: never its storage key. `url` and `url_expires_at` are
/// null until a short-lived download URL is issued.
// The URL comes with [`AttachmentView::with_url`]; the doc above is the schema's too.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AttachmentView {
    pub id: AttachmentId,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub url: Option<String>,
    pub url_expires_at: Option<Timestamp>,
}

impl AttachmentView {
    pub fn new(attachment: &Attachment) -> Self {
        Self {
            id: attachment.id,
            file_name: attachment.file_name.clone(),
            content_type: attachment.content_type.clone(),
            size: attachment.size,
            url: None,
            url_expires_at: None,
        }
    }

    pub fn with_url(self, url: impl Into<String>, expires_at: Timestamp) -> Self {
        Self {
            url: Some(url.into()),
            url_expires_at: Some(expires_at),
            ..self
        }
    }
}

impl From<&Attachment> for AttachmentView {
    fn from(attachment: &Attachment) -> Self {
        Self::new(attachment)
    }
}

/// A session's own fields, as clients see them: what session lists show.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionSummary {
    pub id: SessionId,
    /// Null when untitled.
    pub title: Option<Title>,
    pub kind: SessionKind,
    pub status: SessionStatus,
    pub owner_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatbot_id: Option<ChatbotId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatbot_name: Option<DisplayName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_id: Option<BusinessId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<DocumentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<DepartmentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_customer_id: Option<ExternalCustomerId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_activity_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Groups only: `invite` or `open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_policy: Option<JoinPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZoneName>,
    /// Only present, as `true`, on a session that ends with its last connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "schema", schemars(extend("const" = true)))]
    pub end_on_disconnect: bool,
}

impl SessionSummary {
    pub fn new(session: &Session) -> Self {
        Self {
            id: session.id,
            title: session.title.clone(),
            kind: session.kind,
            status: session.status,
            owner_id: session.owner_id.clone(),
            chatbot_id: session.chatbot_id.clone(),
            chatbot_name: session.chatbot_name.clone(),
            business_id: session.business_id.clone(),
            document_id: session.document_id.clone(),
            department_id: session.department_id.clone(),
            external_customer_id: session.external_customer_id.clone(),
            created_at: session.created_at,
            updated_at: session.updated_at,
            last_activity_at: session.last_activity_at,
            ended_at: session.ended_at,
            join_policy: (session.kind == SessionKind::Group).then_some(session.join_policy),
            language: session.language.clone(),
            end_on_disconnect: session.end_on_disconnect,
            timezone: session.timezone.clone(),
        }
    }
}

/// A session as clients see it, with its members and who is online.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionView {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub members: Vec<MemberView>,
    /// Members left out of a `session_info` too large for one post; 0 (absent) elsewhere.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub members_omitted: usize,
    /// The users connected now, sorted, each once.
    pub online: Vec<UserId>,
}

impl SessionView {
    /// The view of `session` with those of `members` that belong to it, in the given
    /// order, and `online` sorted and deduplicated.
    pub fn new(session: &Session, members: &[Member], online: Vec<UserId>) -> Self {
        Self {
            summary: SessionSummary::new(session),
            members: members
                .iter()
                .filter(|member| member.session_id == session.id)
                .map(MemberView::new)
                .collect(),
            members_omitted: 0,
            online: distinct(online),
        }
    }

    /// What seed 003 calls the chatbot: its record's name when the session started, else
    /// the bot member's name, else the chatbot's id.
    pub fn chatbot_name(&self) -> String {
        let bot_member = || {
            self.members
                .iter()
                .filter(|member| member.role == MemberRole::Bot)
                .find_map(|member| member.name.as_ref().map(|name| name.as_str().to_owned()))
        };
        self.summary
            .chatbot_name
            .as_ref()
            .map(|name| name.as_str().to_owned())
            .or_else(bot_member)
            .or_else(|| {
                self.summary
                    .chatbot_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
            })
            .unwrap_or_else(|| "Assistant".to_owned())
    }
}

/// A member as clients see it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemberView {
    pub user_id: UserId,
    /// Null when the member has no display name.
    pub name: Option<DisplayName>,
    pub role: MemberRole,
}

impl MemberView {
    pub fn new(member: &Member) -> Self {
        Self {
            user_id: member.user_id.clone(),
            name: member.name.clone(),
            role: member.role,
        }
    }
}

/// How many of `items`, taken in order, fit in a frame of at most `limit` bytes, when the
/// frame without them is `envelope(kept)` bytes (it may name what was cut) and they sit in
/// one JSON list, a comma between two.
fn fitting<T: Serialize>(items: &[T], limit: usize, envelope: impl Fn(usize) -> usize) -> usize {
    let mut listed = 0usize;
    let mut fit = 0;
    for (index, item) in items.iter().enumerate() {
        let size = serde_json::to_string(item).map_or(usize::MAX, |json| json.len());
        listed = listed
            .saturating_add(size)
            .saturating_add(usize::from(index > 0));
        if listed.saturating_add(envelope(index + 1)) > limit {
            break;
        }
        fit = index + 1;
    }
    fit
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::{AttachmentState, Content, Reaction, SessionSpec};

    const SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const MESSAGE: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
    const ATTACHMENT: &str = "01HZY6Q6E8J5G7XGZK3M2N4P5R";
    const T0: &str = "2025-11-22T03:15:53.007Z";
    const T1: &str = "2025-11-22T03:16:00.000Z";

    fn t0() -> Timestamp {
        Timestamp::parse(T0).expect("valid time")
    }
    fn t1() -> Timestamp {
        Timestamp::parse(T1).expect("valid time")
    }
    fn session_id() -> SessionId {
        SessionId::parse(SESSION).expect("valid id")
    }
    fn message_id() -> MessageId {
        MessageId::parse(MESSAGE).expect("valid id")
    }
    fn attachment_id() -> AttachmentId {
        AttachmentId::parse(ATTACHMENT).expect("valid id")
    }
    fn user(id: &str) -> UserId {
        UserId::parse(id).expect("valid id")
    }
    fn name(text: &str) -> Option<DisplayName> {
        DisplayName::parse(text).expect("valid name")
    }

    /// A plain text message from ann, no name, nothing optional set.
    fn message() -> Message {
        let mut message = Message::text(
            session_id(),
            user("ann"),
            None,
            Content::parse("hello").expect("valid content"),
            t0(),
        );
        message.id = message_id();
        message
    }

    fn view() -> MessageView {
        MessageView::new(&message())
    }

    /// The JSON of `view()`.
    fn view_json() -> Value {
        json!({
            "id": MESSAGE,
            "session_id": SESSION,
            "seq": 0,
            "sender_id": "ann",
            "sender_name": null,
            "is_bot": false,
            "kind": "text",
            "content": "hello",
            "created_at": T0,
            "edited": false,
            "deleted": false,
            "reactions": {},
        })
    }

    /// `count` messages of `chars` characters each (the last `last_extra` longer), ids in
    /// ascending order, oldest first.
    fn long_page(count: usize, chars: usize, last_extra: usize) -> Vec<MessageView> {
        (0..count)
            .map(|i| {
                let mut view = view();
                view.id = MessageId::new(t0());
                view.seq = i as u64 + 1;
                view.content = "x".repeat(chars + if i + 1 == count { last_extra } else { 0 });
                view
            })
            .collect()
    }

    fn page_of(frame: &ServerFrame) -> (&[MessageView], Option<&str>) {
        match frame {
            ServerFrame::ChatHistory {
                messages,
                next_cursor,
            } => (messages, next_cursor.as_deref()),
            other => panic!("a page: {other:?}"),
        }
    }

    /// The page of `long_page(count, chars, 0)` sized so that its frame is exactly
    /// MAX_POST_BYTES long, the last message taking up the difference.
    fn page_at_the_limit(count: usize, chars: usize) -> Vec<MessageView> {
        let short = ServerFrame::ChatHistory {
            messages: long_page(count, chars, 0),
            next_cursor: None,
        };
        let missing = MAX_POST_BYTES - short.to_json().len();
        long_page(count, chars, missing)
    }

    #[test]
    fn a_history_page_exactly_at_the_post_limit_is_sent_whole() {
        let messages = page_at_the_limit(40, 3_000);
        let frame = ServerFrame::history_page(messages.clone(), None);
        assert_eq!(frame.to_json().len(), MAX_POST_BYTES);
        assert_eq!(page_of(&frame), (messages.as_slice(), None));
    }

    #[test]
    fn a_history_page_one_byte_over_the_limit_keeps_its_newest_messages_and_a_cursor_to_the_rest() {
        let mut messages = page_at_the_limit(40, 3_000);
        messages.last_mut().expect("a message").content.push('x');
        let frame = ServerFrame::history_page(messages.clone(), None);
        let json = frame.to_json();
        assert!(json.len() <= MAX_POST_BYTES, "{} bytes", json.len());
        let (kept, cursor) = page_of(&frame);
        assert_eq!(kept, &messages[1..], "only the oldest is cut");
        assert_eq!(cursor, Some(messages[1].id.to_string().as_str()));
    }

    #[test]
    fn a_long_history_is_cut_to_the_newest_messages_that_fit_and_its_json_stays_under_the_limit() {
        // 50 replies of 4,000 emoji: 800 KB of text, and each message escaped or not.
        let mut messages = long_page(50, 0, 0);
        for message in &mut messages {
            message.content = "\u{1F600}\"".repeat(2_000);
        }
        let frame = ServerFrame::history_page(messages.clone(), Some("older".into()));
        let json = frame.to_json();
        let (kept, cursor) = page_of(&frame);
        assert!(json.len() <= MAX_POST_BYTES, "{} bytes", json.len());
        assert!(!kept.is_empty() && kept.len() < 50, "{} kept", kept.len());
        assert_eq!(kept, &messages[50 - kept.len()..], "the newest, in order");
        let one_more = ServerFrame::ChatHistory {
            messages: messages[50 - kept.len() - 1..].to_vec(),
            next_cursor: Some(messages[50 - kept.len() - 1].id.to_string()),
        };
        assert!(one_more.to_json().len() > MAX_POST_BYTES, "as many as fit");
        assert_eq!(cursor, Some(kept[0].id.to_string().as_str()));
    }

    #[test]
    fn a_page_that_fits_keeps_its_own_cursor_and_an_oversize_newest_message_is_skipped_by_the_cursor()
     {
        let small = long_page(3, 10, 0);
        let frame = ServerFrame::history_page(small.clone(), Some("older".into()));
        assert_eq!(page_of(&frame), (small.as_slice(), Some("older")));
        let huge = long_page(3, 10, MAX_POST_BYTES);
        let frame = ServerFrame::history_page(huge.clone(), None);
        assert_eq!(
            page_of(&frame),
            (&[][..], Some(huge[2].id.to_string().as_str()))
        );
    }

    fn attachment() -> Attachment {
        Attachment {
            id: attachment_id(),
            session_id: session_id(),
            uploader_id: user("ann"),
            file_name: "report.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1_234,
            state: AttachmentState::Ready,
            created_at: t0(),
        }
    }

    fn session(kind: SessionKind) -> Session {
        let spec = SessionSpec {
            chatbot_id: (kind == SessionKind::Bot).then(|| ChatbotId::parse("helper").expect("id")),
            ..SessionSpec::new(kind, user("ann"))
        };
        Session::open(session_id(), spec, t0()).expect("valid session")
    }

    fn json_of(frame: &ServerFrame) -> Value {
        serde_json::from_str(&frame.to_json()).expect("frames are JSON")
    }

    #[test]
    fn every_server_frame_has_exactly_the_contracts_json() {
        let bob = Member::new(
            session_id(),
            user("bob"),
            MemberRole::Member,
            name("Bob"),
            t0(),
        );
        let owner = Member::new(session_id(), user("ann"), MemberRole::Owner, None, t0());
        let session_view = SessionView::new(
            &session(SessionKind::Group),
            &[owner, bob],
            vec![user("bob")],
        );
        let session_json = json!({
            "id": SESSION,
            "title": null,
            "kind": "group",
            "join_policy": "invite",
            "status": "active",
            "owner_id": "ann",
            "members": [
                {"user_id": "ann", "name": null, "role": "owner"},
                {"user_id": "bob", "name": "Bob", "role": "member"},
            ],
            "online": ["bob"],
            "created_at": T0,
            "updated_at": T0,
            "last_activity_at": T0,
        });
        let rows: Vec<(ServerFrame, Value)> = vec![
            (
                ServerFrame::SessionInfo {
                    session: session_view,
                    user_id: user("bob"),
                    message: "Welcome".into(),
                },
                json!({"type": "session_info", "session": session_json, "user_id": "bob", "message": "Welcome"}),
            ),
            (
                ServerFrame::ChatHistory {
                    messages: vec![view()],
                    next_cursor: None,
                },
                json!({"type": "chat_history", "messages": [view_json()], "next_cursor": null}),
            ),
            (
                ServerFrame::ChatHistory {
                    messages: vec![],
                    next_cursor: Some(MESSAGE.into()),
                },
                json!({"type": "chat_history", "messages": [], "next_cursor": MESSAGE}),
            ),
            (
                ServerFrame::MessageReceived {
                    message_id: message_id(),
                    client_msg_id: None,
                    timestamp: t0(),
                },
                json!({"type": "message_received", "message_id": MESSAGE, "client_msg_id": null, "timestamp": T0}),
            ),
            (
                ServerFrame::MessageReceived {
                    message_id: message_id(),
                    client_msg_id: Some(ClientMsgId::parse("c-1").expect("id")),
                    timestamp: t0(),
                },
                json!({"type": "message_received", "message_id": MESSAGE, "client_msg_id": "c-1", "timestamp": T0}),
            ),
            (
                ServerFrame::ChatMessage { message: view() },
                json!({"type": "chat_message", "message": view_json()}),
            ),
            (
                ServerFrame::MessageUpdated { message: view() },
                json!({"type": "message_updated", "message": view_json()}),
            ),
            (
                ServerFrame::MessageDeleted { message: view() },
                json!({"type": "message_deleted", "message": view_json()}),
            ),
            (
                ServerFrame::ReactionUpdated { message: view() },
                json!({"type": "reaction_updated", "message": view_json()}),
            ),
            (
                ServerFrame::user_joined(user("bob"), [user("bob"), user("ann"), user("bob")]),
                json!({"type": "user_joined", "user_id": "bob", "online": ["ann", "bob"]}),
            ),
            (
                ServerFrame::user_left(user("bob"), [user("ann")]),
                json!({"type": "user_left", "user_id": "bob", "online": ["ann"]}),
            ),
            (
                ServerFrame::typing_status(user("bob"), true, [user("bob")]),
                json!({"type": "typing_status", "user_id": "bob", "is_typing": true, "typing": ["bob"]}),
            ),
            (
                ServerFrame::ResponseStart {
                    response_id: message_id(),
                },
                json!({"type": "response_start", "response_id": MESSAGE}),
            ),
            (
                ServerFrame::ResponseChunk {
                    response_id: message_id(),
                    chunk: "Hel".into(),
                },
                json!({"type": "response_chunk", "response_id": MESSAGE, "chunk": "Hel"}),
            ),
            (
                ServerFrame::ResponseComplete {
                    response_id: message_id(),
                    message: view(),
                    token_count: Some(12),
                },
                json!({"type": "response_complete", "response_id": MESSAGE, "message": view_json(), "token_count": 12}),
            ),
            (
                ServerFrame::ResponseComplete {
                    response_id: message_id(),
                    message: view(),
                    token_count: None,
                },
                json!({"type": "response_complete", "response_id": MESSAGE, "message": view_json(), "token_count": null}),
            ),
            (
                ServerFrame::StoppedGeneration {
                    response_id: message_id(),
                    message: view(),
                },
                json!({"type": "stopped_generation", "response_id": MESSAGE, "message": view_json()}),
            ),
            (
                ServerFrame::session_ended(session_id(), "ended by the owner"),
                json!({"type": "session_ended", "session_id": SESSION, "reason": "ended by the owner", "close_code": 4006}),
            ),
            (
                ServerFrame::error(ErrorCode::Forbidden, "not a member"),
                json!({"type": "error", "code": "forbidden", "message": "not a member"}),
            ),
            (
                ServerFrame::error_closing(
                    ErrorCode::RateLimited,
                    "slow down",
                    CloseCode::POLICY_VIOLATION,
                ),
                json!({"type": "error", "code": "rate_limited", "message": "slow down", "close_code": 1008}),
            ),
            (ServerFrame::Pong, json!({"type": "pong"})),
        ];
        for (frame, expected) in rows {
            assert_eq!(json_of(&frame), expected, "{frame:?}");
            let back: ServerFrame = serde_json::from_value(expected).expect("frames read back");
            assert_eq!(back, frame);
        }
    }

    #[test]
    fn a_frame_error_becomes_an_error_frame_that_keeps_the_connection_open() {
        let frame = ServerFrame::from_frame_error(&FrameError::MissingField("content"));
        assert_eq!(
            json_of(&frame),
            json!({"type": "error", "code": "invalid_frame", "message": "content: is required"})
        );
        let frame = ServerFrame::from_frame_error(&FrameError::TooLarge);
        assert_eq!(
            json_of(&frame),
            json!({"type": "error", "code": "too_large", "message": "frame is larger than 24576 bytes"})
        );
    }

    #[test]
    fn a_message_view_shows_every_optional_field_when_set() {
        let mut message = message();
        message.sender_name = name("Ann");
        message.is_bot = true;
        message.kind = MessageKind::File;
        message.content = "the report".into();
        message.attachment = Some(attachment());
        message.client_msg_id = Some(ClientMsgId::parse("c-1").expect("id"));
        message.token_count = Some(42);
        message.edited_at = Some(t1());
        message
            .reactions
            .add(Reaction::parse("👍").expect("emoji"), user("bob"));
        message
            .reactions
            .add(Reaction::parse("👍").expect("emoji"), user("ann"));
        let view = MessageView::new(&message).with_download("https://files/x", t1());
        assert_eq!(
            serde_json::to_value(view).expect("json"),
            json!({
                "id": MESSAGE,
                "session_id": SESSION,
                "seq": 0,
                "sender_id": "ann",
                "sender_name": "Ann",
                "is_bot": true,
                "kind": "file",
                "content": "the report",
                "attachment": {
                    "id": ATTACHMENT,
                    "file_name": "report.pdf",
                    "content_type": "application/pdf",
                    "size": 1234,
                    "url": "https://files/x",
                    "url_expires_at": T1,
                },
                "created_at": T0,
                "edited": true,
                "edited_at": T1,
                "deleted": false,
                "reactions": {"👍": ["ann", "bob"]},
                "client_msg_id": "c-1",
                "token_count": 42,
            })
        );
    }

    #[test]
    fn an_attachment_view_has_null_url_until_one_is_issued() {
        assert_eq!(
            serde_json::to_value(AttachmentView::from(&attachment())).expect("json"),
            json!({
                "id": ATTACHMENT,
                "file_name": "report.pdf",
                "content_type": "application/pdf",
                "size": 1234,
                "url": null,
                "url_expires_at": null,
            })
        );
    }

    #[test]
    fn timeline_items_are_tagged_with_their_type_and_carry_their_view_as_data() {
        let items = [
            TimelineItem::Attachment(AttachmentView::new(&attachment())),
            TimelineItem::Message(view()),
        ];
        assert_eq!(
            serde_json::to_value(items).expect("json"),
            json!([
                {"type": "attachment", "data": serde_json::to_value(AttachmentView::new(&attachment())).expect("json")},
                {"type": "message", "data": view_json()},
            ])
        );
    }

    #[test]
    fn a_download_url_is_added_only_to_a_message_with_an_attachment() {
        let view = MessageView::new(&message()).with_download("https://files/x", t1());
        assert_eq!(view.attachment, None);
    }

    #[test]
    fn a_deleted_message_is_a_tombstone_without_content_attachment_or_reactions() {
        let mut message = message();
        message.kind = MessageKind::Image;
        message.attachment = Some(attachment());
        message
            .reactions
            .add(Reaction::parse("👍").expect("emoji"), user("bob"));
        message.deleted_at = Some(t1());
        let view = MessageView::new(&message).with_download("https://files/x", t1());
        let mut expected = view_json();
        expected["kind"] = json!("image");
        expected["content"] = json!("");
        expected["deleted"] = json!(true);
        assert_eq!(serde_json::to_value(view).expect("json"), expected);
    }

    #[test]
    fn a_session_view_shows_its_counterparts_only_when_set_and_only_its_own_members() {
        let mut session = session(SessionKind::Bot);
        session.title = Title::parse("Ask the bot").expect("valid title");
        session.document_id = Some(DocumentId::parse("doc-9").expect("id"));
        session.last_activity_at = t1();
        let stranger = Member::new(
            SessionId::new(t0()),
            user("eve"),
            MemberRole::Member,
            None,
            t0(),
        );
        let bot = Member::new(
            session_id(),
            user("helper"),
            MemberRole::Bot,
            name("Helper"),
            t0(),
        );
        let view = SessionView::new(&session, &[stranger, bot], vec![]);
        assert_eq!(
            serde_json::to_value(view).expect("json"),
            json!({
                "id": SESSION,
                "title": "Ask the bot",
                "kind": "bot",
                "status": "active",
                "owner_id": "ann",
                "members": [{"user_id": "helper", "name": "Helper", "role": "bot"}],
                "online": [],
                "chatbot_id": "helper",
                "document_id": "doc-9",
                "created_at": T0,
                "updated_at": T0,
                "last_activity_at": T1,
            })
        );
    }

    #[test]
    fn a_session_view_lists_each_online_user_once_in_order() {
        let view = SessionView::new(
            &session(SessionKind::Group),
            &[],
            vec![user("zed"), user("ann"), user("zed")],
        );
        assert_eq!(view.online, vec![user("ann"), user("zed")]);
    }

    #[test]
    fn a_welcome_with_more_members_than_fit_lists_the_online_ones_first_and_counts_the_rest() {
        let members: Vec<Member> = (0..3_000)
            .map(|i| {
                let id = format!("member-{i:04}-{}", "x".repeat(40));
                Member::new(
                    session_id(),
                    user(&id),
                    MemberRole::Member,
                    name("Someone"),
                    t0(),
                )
            })
            .collect();
        let online = vec![
            members[2_999].user_id.clone(),
            members[1_500].user_id.clone(),
        ];
        let view = SessionView::new(&session(SessionKind::Group), &members, online.clone());
        let frame = ServerFrame::session_info(view, user("ann"), "Welcome".into());
        let json = frame.to_json();
        assert!(json.len() <= MAX_POST_BYTES, "{} bytes", json.len());
        let ServerFrame::SessionInfo { session: info, .. } = &frame else {
            panic!("a session_info");
        };
        let listed: Vec<&UserId> = info.members.iter().map(|m| &m.user_id).collect();
        assert_eq!(
            listed[..2],
            [&members[1_500].user_id, &members[2_999].user_id]
        );
        assert_eq!(listed[2], &members[0].user_id, "then the others in order");
        assert_eq!(info.members.len() + info.members_omitted, 3_000);
        assert!(info.members_omitted > 0);
        assert_eq!(
            json_of(&frame)["session"]["members_omitted"],
            info.members_omitted
        );

        let small = SessionView::new(&session(SessionKind::Group), &members[..3], vec![]);
        let frame = ServerFrame::session_info(small.clone(), user("ann"), "Welcome".into());
        let ServerFrame::SessionInfo { session: info, .. } = &frame else {
            panic!("a session_info");
        };
        assert_eq!(info, &small, "a session that fits is listed whole");
        assert!(json_of(&frame)["session"].get("members_omitted").is_none());
    }
}
