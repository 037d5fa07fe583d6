//! Client-to-server frames, and the one parser that maps every accepted shape onto them.
//!
//! Dispatch follows the contract: `action` first, then `type`, then `mt`, then the shape of
//! the fields. The first of `action`, `type` and `mt` that is present (and not `null`)
//! decides: a frame whose `type` is unknown is refused as an unknown action even if its
//! other fields would match a shape. Unknown extra fields are ignored. Optional fields may
//! be `null`, meaning absent.

use serde_json::{Map, Value};

use super::{FrameError, MAX_FRAME_BYTES};
use crate::domain::{
    AttachmentId, ClientMsgId, Content, Language, MessageId, MessageKind, PageLimit, Reaction,
    ReplyPreferences, SessionId, TimeZoneName, UserId, ValidationError,
};

/// What a client asks for over the WebSocket, with every field parsed into the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Bind the connection to a session (and get the welcome frames).
    Join {
        session_id: SessionId,
    },
    /// The seeds' first frame `{"user_id","session_id"}`: a join that also claims who the
    /// caller is. The service must refuse it unless `user_id` is the token's `sub`.
    JoinAs {
        user_id: UserId,
        session_id: SessionId,
    },
    Send(SendFrame),
    Typing {
        is_typing: bool,
    },
    Edit {
        message_id: MessageId,
        content: Content,
    },
    Delete {
        message_id: MessageId,
    },
    React {
        message_id: MessageId,
        reaction: Reaction,
    },
    Unreact {
        message_id: MessageId,
        reaction: Reaction,
    },
    /// A page of messages older than `before` (the newest page when `None`).
    History {
        before: Option<MessageId>,
        limit: PageLimit,
    },
    /// Bind to a session after a reconnect and get every message after `after_seq`.
    Resume {
        session_id: SessionId,
        after_seq: u64,
    },
    /// Stop the bot reply in progress.
    Stop,
    /// Unbind from the session; the connection stays open.
    Leave,
    Ping,
}

/// A message to post. Built only by [`ClientFrame::parse`], so it always holds together:
/// a text message has content and no attachment; a file or image message has an
/// attachment and, optionally, a caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFrame {
    pub content: Option<Content>,
    pub kind: MessageKind,
    /// Makes the send idempotent per user and session.
    pub client_msg_id: Option<ClientMsgId>,
    pub attachment: Option<AttachmentRef>,
    /// `language` (or seed 001's `selectedLanguage`) and `timezone`, for the bot's reply.
    pub preferences: ReplyPreferences,
}

/// The file a file or image message carries, as the client named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentRef {
    /// The `attachment_id` an upload returned.
    Id(AttachmentId),
    /// The URL an upload returned (the seeds' `{"type":"file","file":"https://..."}`).
    /// Only its shape is checked here: the service must resolve it to one of the session's
    /// own attachments and refuse anything else.
    Url(String),
}

impl AttachmentRef {
    /// Longest URL accepted.
    pub const MAX_URL_CHARS: usize = 2_048;

    /// An id-shaped value is an id; an `http(s)` URL is a URL; anything else is refused.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if let Ok(id) = AttachmentId::parse(value) {
            return Ok(Self::Id(id));
        }
        let invalid = || {
            ValidationError::new(
                "attachment",
                "must be an attachment id or the http(s) URL the upload returned",
            )
        };
        let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
        let rest = if lower.starts_with("https://") {
            &value[8..]
        } else if lower.starts_with("http://") {
            &value[7..]
        } else {
            return Err(invalid());
        };
        let host_present = !rest.is_empty() && !rest.starts_with('/');
        let clean = !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if host_present && clean && value.chars().count() <= Self::MAX_URL_CHARS {
            Ok(Self::Url(value.to_owned()))
        } else {
            Err(invalid())
        }
    }
}

impl ClientFrame {
    /// The canonical action name, for logs and metrics.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Join { .. } | Self::JoinAs { .. } => "join",
            Self::Send(_) => "send",
            Self::Typing { .. } => "typing",
            Self::Edit { .. } => "edit",
            Self::Delete { .. } => "delete",
            Self::React { .. } => "react",
            Self::Unreact { .. } => "unreact",
            Self::History { .. } => "history",
            Self::Resume { .. } => "resume",
            Self::Stop => "stop",
            Self::Leave => "leave",
            Self::Ping => "ping",
        }
    }

    /// Parses one WebSocket text frame. This is the one place where every accepted frame
    /// shape, canonical or from the seeds' clients, is mapped onto an action.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge);
        }
        let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
        let Value::Object(object) = value else {
            return Err(FrameError::NotAnObject);
        };
        let fields = Fields(&object);

        if let Some(action) = fields.opt_str("action")? {
            // `action` takes the canonical names only.
            return canonical(action, fields)?.ok_or_else(|| FrameError::unknown_action(action));
        }
        if let Some(kind) = fields.opt_str("type")? {
            // The seeds' `type` values, and (our choice) every canonical action name too, so
            // `{"type":"ping"}` is a ping: a `type` naming an action can only mean that one.
            return match kind {
                "chat_message" | "text" => send_canonical(fields),
                "file" => send_file(fields),
                "typing_indicator" => typing(fields),
                other => canonical(other, fields)?.ok_or_else(|| FrameError::unknown_action(other)),
            };
        }
        if let Some(mt) = fields.opt_str("mt")? {
            // Only the seeds' two `mt` values; canonical names are not taken under `mt`.
            return match mt {
                "message_upload" => send_message_shaped(fields),
                "stop" => Ok(Self::Stop),
                other => Err(FrameError::unknown_action(other)),
            };
        }
        // No name at all: the field shapes. A chat message wins over a join, because the
        // seeds' clients may repeat `user_id` and `session_id` in every message.
        if fields.has("message") {
            send_message_shaped(fields)
        } else if fields.has("content") {
            send_canonical(fields)
        } else if fields.has("user_id") && fields.has("session_id") {
            Ok(Self::JoinAs {
                user_id: fields.req("user_id", UserId::parse)?,
                session_id: fields.req("session_id", SessionId::parse)?,
            })
        } else {
            Err(FrameError::NoAction)
        }
    }
}

/// The frame for a canonical action name, `None` for any other name.
fn canonical(name: &str, fields: Fields<'_>) -> Result<Option<ClientFrame>, FrameError> {
    let frame = match name {
        // A `user_id` here is ignored: identity comes from the token, and only the seeds'
        // bare `{"user_id","session_id"}` frame is a claim the service must check.
        "join" => ClientFrame::Join {
            session_id: fields.req("session_id", SessionId::parse)?,
        },
        "send" => send_canonical(fields)?,
        "typing" => typing(fields)?,
        "edit" => ClientFrame::Edit {
            message_id: fields.req("message_id", MessageId::parse)?,
            content: fields.req("content", Content::parse)?,
        },
        "delete" => ClientFrame::Delete {
            message_id: fields.req("message_id", MessageId::parse)?,
        },
        "react" => ClientFrame::React {
            message_id: fields.req("message_id", MessageId::parse)?,
            reaction: fields.req("reaction", Reaction::parse)?,
        },
        "unreact" => ClientFrame::Unreact {
            message_id: fields.req("message_id", MessageId::parse)?,
            reaction: fields.req("reaction", Reaction::parse)?,
        },
        "history" => ClientFrame::History {
            before: fields.opt("before", MessageId::parse)?,
            limit: fields.limit("limit")?.unwrap_or_default(),
        },
        "resume" => ClientFrame::Resume {
            session_id: fields.req("session_id", SessionId::parse)?,
            after_seq: fields.req_seq("after_seq")?,
        },
        "stop" => ClientFrame::Stop,
        "leave" => ClientFrame::Leave,
        "ping" => ClientFrame::Ping,
        _ => return Ok(None),
    };
    Ok(Some(frame))
}

fn typing(fields: Fields<'_>) -> Result<ClientFrame, FrameError> {
    Ok(ClientFrame::Typing {
        is_typing: fields.req_bool("is_typing")?,
    })
}

/// `{"action":"send","content","kind","client_msg_id","attachment_id"}`, and the seeds'
/// `{"type":"chat_message"|"text","content"}` and bare `{"content"}`.
fn send_canonical(fields: Fields<'_>) -> Result<ClientFrame, FrameError> {
    let kind = fields.opt("kind", parse_kind)?.unwrap_or_default();
    let attachment = fields
        .opt("attachment_id", AttachmentId::parse)?
        .map(AttachmentRef::Id);
    let send = SendFrame {
        content: fields.opt("content", Content::parse)?,
        kind,
        client_msg_id: fields.opt("client_msg_id", ClientMsgId::parse)?,
        attachment,
        preferences: preferences(fields)?,
    };
    send.checked("content", "attachment_id")
}

/// The seeds' `{"type":"file","file": <attachment id or upload URL>}`, with an optional
/// caption in `content`.
fn send_file(fields: Fields<'_>) -> Result<ClientFrame, FrameError> {
    let send = SendFrame {
        content: fields.opt("content", Content::parse)?,
        kind: MessageKind::File,
        client_msg_id: fields.opt("client_msg_id", ClientMsgId::parse)?,
        attachment: fields.opt("file", AttachmentRef::parse)?,
        preferences: preferences(fields)?,
    };
    send.checked("content", "file")
}

/// The seeds' `{"message","message_type"}` and `{"mt":"message_upload","message"}`.
/// `message_type` is `text` (the default), `file` or `image`. For a file or image, the
/// attachment is in `file` with `message` as its caption, or, without `file`, `message`
/// itself is the attachment id or upload URL.
fn send_message_shaped(fields: Fields<'_>) -> Result<ClientFrame, FrameError> {
    let kind = fields.opt("message_type", parse_kind)?.unwrap_or_default();
    let client_msg_id = fields.opt("client_msg_id", ClientMsgId::parse)?;
    let preferences = preferences(fields)?;
    let send = match kind {
        MessageKind::Text => SendFrame {
            content: Some(fields.req("message", Content::parse)?),
            kind,
            client_msg_id,
            attachment: None,
            preferences,
        },
        MessageKind::File | MessageKind::Image if fields.has("file") => SendFrame {
            content: fields.opt("message", Content::parse)?,
            kind,
            client_msg_id,
            attachment: fields.opt("file", AttachmentRef::parse)?,
            preferences,
        },
        MessageKind::File | MessageKind::Image => SendFrame {
            content: None,
            kind,
            client_msg_id,
            attachment: Some(fields.req("message", AttachmentRef::parse)?),
            preferences,
        },
    };
    send.checked("message", "file")
}

/// `language` or seed 001's `selectedLanguage`, and `timezone`; a blank one is absent.
fn preferences(fields: Fields<'_>) -> Result<ReplyPreferences, FrameError> {
    let given = |name: &'static str| -> Result<bool, FrameError> {
        Ok(fields.opt_str(name)?.is_some_and(|v| !v.trim().is_empty()))
    };
    let language_field = if given("language")? {
        "language"
    } else {
        "selectedLanguage"
    };
    Ok(ReplyPreferences {
        language: match given(language_field)? {
            true => fields.opt(language_field, Language::parse)?,
            false => None,
        },
        timezone: match given("timezone")? {
            true => fields.opt("timezone", TimeZoneName::parse)?,
            false => None,
        },
    })
}

fn parse_kind(value: &str) -> Result<MessageKind, ValidationError> {
    match value {
        "text" => Ok(MessageKind::Text),
        "file" => Ok(MessageKind::File),
        "image" => Ok(MessageKind::Image),
        _ => Err(ValidationError::new(
            "kind",
            "must be one of text, file, image",
        )),
    }
}

impl SendFrame {
    /// Text needs content and carries no attachment; file and image need an attachment.
    /// The field names are those of the frame shape, so the error points at the right one.
    fn checked(
        self,
        content_field: &'static str,
        attachment_field: &'static str,
    ) -> Result<ClientFrame, FrameError> {
        match (self.kind, &self.content, &self.attachment) {
            (MessageKind::Text, None, _) => Err(FrameError::MissingField(content_field)),
            (MessageKind::Text, Some(_), Some(_)) => Err(FrameError::invalid(
                attachment_field,
                "only a file or image message carries an attachment",
            )),
            (MessageKind::File | MessageKind::Image, _, None) => {
                Err(FrameError::MissingField(attachment_field))
            }
            _ => Ok(ClientFrame::Send(self)),
        }
    }
}

/// Typed access to a frame's fields; `null` counts as absent.
#[derive(Clone, Copy)]
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn opt_str(&self, name: &'static str) -> Result<Option<&'a str>, FrameError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(FrameError::invalid(name, "must be a string")),
        }
    }

    fn opt<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<Option<T>, FrameError> {
        self.opt_str(name)?
            .map(|value| parse(value).map_err(|error| FrameError::from_validation(name, error)))
            .transpose()
    }

    fn req<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<T, FrameError> {
        self.opt(name, parse)?.ok_or(FrameError::MissingField(name))
    }

    fn req_bool(&self, name: &'static str) -> Result<bool, FrameError> {
        match self.get(name) {
            None => Err(FrameError::MissingField(name)),
            Some(Value::Bool(value)) => Ok(*value),
            Some(_) => Err(FrameError::invalid(name, "must be true or false")),
        }
    }

    /// A seq: a whole number, 0 meaning "from the start".
    fn req_seq(&self, name: &'static str) -> Result<u64, FrameError> {
        match self.get(name) {
            None => Err(FrameError::MissingField(name)),
            Some(Value::Number(number)) => number
                .as_u64()
                .ok_or_else(|| FrameError::invalid(name, "must be a whole number")),
            Some(_) => Err(FrameError::invalid(name, "must be a whole number")),
        }
    }

    fn limit(&self, name: &'static str) -> Result<Option<PageLimit>, FrameError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let not_integer = || {
            FrameError::invalid(
                name,
                format!("must be an integer from 1 to {}", PageLimit::MAX),
            )
        };
        let number = value.as_u64().ok_or_else(not_integer)?;
        let number = usize::try_from(number).map_err(|_| not_integer())?;
        PageLimit::new(number)
            .map(Some)
            .map_err(|error| FrameError::from_validation(name, error))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::ErrorCode;

    const SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const MESSAGE: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
    const ATTACHMENT: &str = "01HZY6Q6E8J5G7XGZK3M2N4P5R";
    const UPLOAD_URL: &str = "https://bucket.s3.amazonaws.com/sessions/a/b?X-Amz-Signature=1";

    fn session() -> SessionId {
        SessionId::parse(SESSION).expect("valid id")
    }
    fn message() -> MessageId {
        MessageId::parse(MESSAGE).expect("valid id")
    }
    fn attachment() -> AttachmentRef {
        AttachmentRef::Id(AttachmentId::parse(ATTACHMENT).expect("valid id"))
    }
    fn content(text: &str) -> Content {
        Content::parse(text).expect("valid content")
    }
    fn reaction(emoji: &str) -> Reaction {
        Reaction::parse(emoji).expect("valid reaction")
    }
    fn user(id: &str) -> UserId {
        UserId::parse(id).expect("valid id")
    }
    fn send(
        kind: MessageKind,
        text: Option<&str>,
        attachment: Option<AttachmentRef>,
    ) -> ClientFrame {
        ClientFrame::Send(SendFrame {
            content: text.map(content),
            kind,
            client_msg_id: None,
            attachment,
            preferences: ReplyPreferences::default(),
        })
    }
    fn text(body: &str) -> ClientFrame {
        send(MessageKind::Text, Some(body), None)
    }
    fn limit(n: usize) -> PageLimit {
        PageLimit::new(n).expect("valid limit")
    }

    #[test]
    fn every_canonical_action_and_every_seed_alias_parses_to_its_frame() {
        let with_client_id = ClientFrame::Send(SendFrame {
            content: Some(content("hi")),
            kind: MessageKind::Text,
            client_msg_id: Some(ClientMsgId::parse("c-1").expect("valid id")),
            attachment: None,
            preferences: ReplyPreferences::default(),
        });
        let rows: Vec<(&str, Value, ClientFrame)> = vec![
            // Canonical actions.
            (
                "join",
                json!({"action": "join", "session_id": SESSION}),
                ClientFrame::Join {
                    session_id: session(),
                },
            ),
            (
                "join ignores a user_id",
                json!({"action": "join", "session_id": SESSION, "user_id": "u1"}),
                ClientFrame::Join {
                    session_id: session(),
                },
            ),
            (
                "send text, trimmed, with a client id",
                json!({"action": "send", "content": "  hi \n", "client_msg_id": "c-1"}),
                with_client_id.clone(),
            ),
            (
                "send file with caption",
                json!({"action": "send", "kind": "file", "attachment_id": ATTACHMENT, "content": "the report"}),
                send(MessageKind::File, Some("the report"), Some(attachment())),
            ),
            (
                "send image without caption",
                json!({"action": "send", "kind": "image", "attachment_id": ATTACHMENT, "content": null}),
                send(MessageKind::Image, None, Some(attachment())),
            ),
            (
                "typing",
                json!({"action": "typing", "is_typing": true}),
                ClientFrame::Typing { is_typing: true },
            ),
            (
                "edit",
                json!({"action": "edit", "message_id": MESSAGE, "content": "fixed"}),
                ClientFrame::Edit {
                    message_id: message(),
                    content: content("fixed"),
                },
            ),
            (
                "delete",
                json!({"action": "delete", "message_id": MESSAGE}),
                ClientFrame::Delete {
                    message_id: message(),
                },
            ),
            (
                "react",
                json!({"action": "react", "message_id": MESSAGE, "reaction": "👍🏽"}),
                ClientFrame::React {
                    message_id: message(),
                    reaction: reaction("👍🏽"),
                },
            ),
            (
                "unreact",
                json!({"action": "unreact", "message_id": MESSAGE, "reaction": "❤️"}),
                ClientFrame::Unreact {
                    message_id: message(),
                    reaction: reaction("❤️"),
                },
            ),
            (
                "history with defaults",
                json!({"action": "history"}),
                ClientFrame::History {
                    before: None,
                    limit: limit(50),
                },
            ),
            (
                "history with before and limit",
                json!({"action": "history", "before": MESSAGE, "limit": 100}),
                ClientFrame::History {
                    before: Some(message()),
                    limit: limit(100),
                },
            ),
            ("stop", json!({"action": "stop"}), ClientFrame::Stop),
            ("leave", json!({"action": "leave"}), ClientFrame::Leave),
            ("ping", json!({"action": "ping"}), ClientFrame::Ping),
            (
                "unknown extra fields are ignored",
                json!({"action": "ping", "requestId": 7, "type": "bogus", "mt": "bogus"}),
                ClientFrame::Ping,
            ),
            // A `type` naming a canonical action is that action.
            ("type ping", json!({"type": "ping"}), ClientFrame::Ping),
            (
                "type send",
                json!({"type": "send", "content": "hi"}),
                text("hi"),
            ),
            (
                "a null action falls through to type",
                json!({"action": null, "type": "leave"}),
                ClientFrame::Leave,
            ),
            // The seeds' shapes.
            (
                "type chat_message",
                json!({"type": "chat_message", "content": "hi"}),
                text("hi"),
            ),
            (
                "type chat_message keeps its client id",
                json!({"type": "chat_message", "content": "hi", "client_msg_id": "c-1"}),
                with_client_id,
            ),
            (
                "type text",
                json!({"type": "text", "content": "hi"}),
                text("hi"),
            ),
            ("bare content", json!({"content": "hi"}), text("hi")),
            (
                "bare content wins over user_id and session_id",
                json!({"content": "hi", "user_id": "u1", "session_id": SESSION}),
                text("hi"),
            ),
            (
                "message without message_type",
                json!({"message": "hi"}),
                text("hi"),
            ),
            (
                "message with message_type text",
                json!({"message": "hi", "message_type": "text"}),
                text("hi"),
            ),
            (
                "message with message_type image is the upload URL",
                json!({"message": UPLOAD_URL, "message_type": "image"}),
                send(
                    MessageKind::Image,
                    None,
                    Some(AttachmentRef::Url(UPLOAD_URL.into())),
                ),
            ),
            (
                "message with message_type file and a file is a caption",
                json!({"message": "see this", "message_type": "file", "file": ATTACHMENT}),
                send(MessageKind::File, Some("see this"), Some(attachment())),
            ),
            (
                "mt message_upload",
                json!({"mt": "message_upload", "message": "hi"}),
                text("hi"),
            ),
            (
                "type file with an attachment id",
                json!({"type": "file", "file": ATTACHMENT}),
                send(MessageKind::File, None, Some(attachment())),
            ),
            (
                "type file with the upload URL and a caption",
                json!({"type": "file", "file": UPLOAD_URL, "content": "cap"}),
                send(
                    MessageKind::File,
                    Some("cap"),
                    Some(AttachmentRef::Url(UPLOAD_URL.into())),
                ),
            ),
            (
                "type typing_indicator",
                json!({"type": "typing_indicator", "is_typing": false}),
                ClientFrame::Typing { is_typing: false },
            ),
            ("mt stop", json!({"mt": "stop"}), ClientFrame::Stop),
            ("type stop", json!({"type": "stop"}), ClientFrame::Stop),
            (
                "user_id and session_id",
                json!({"user_id": "auth0|u1", "session_id": SESSION}),
                ClientFrame::JoinAs {
                    user_id: user("auth0|u1"),
                    session_id: session(),
                },
            ),
        ];
        for (name, frame, expected) in rows {
            assert_eq!(
                ClientFrame::parse(&frame.to_string()),
                Ok(expected),
                "{name}"
            );
        }
    }

    #[test]
    fn refused_frames_get_the_error_and_code_that_name_the_fault() {
        use FrameError::{
            InvalidField, MissingField, NoAction, NotAnObject, NotJson, UnknownAction,
        };
        let invalid = |field: &'static str, reason: &str| InvalidField {
            field,
            reason: reason.into(),
        };
        let bad_id = "must be a 26-character id";
        let one_emoji = "must be exactly one emoji";
        let bad_limit = "must be an integer from 1 to 100";
        let long = "x".repeat(Content::MAX_CHARS + 1);
        let rows: Vec<(&str, String, FrameError, ErrorCode)> = vec![
            ("not JSON", "hello".into(), NotJson, ErrorCode::InvalidFrame),
            (
                "truncated JSON",
                r#"{"action":"#.into(),
                NotJson,
                ErrorCode::InvalidFrame,
            ),
            (
                "a JSON array",
                r#"[{"action":"ping"}]"#.into(),
                NotAnObject,
                ErrorCode::InvalidFrame,
            ),
            (
                "a JSON string",
                r#""ping""#.into(),
                NotAnObject,
                ErrorCode::InvalidFrame,
            ),
            (
                "action not a string",
                json!({"action": 42}).to_string(),
                invalid("action", "must be a string"),
                ErrorCode::InvalidFrame,
            ),
            (
                "type not a string",
                json!({"type": ["ping"]}).to_string(),
                invalid("type", "must be a string"),
                ErrorCode::InvalidFrame,
            ),
            (
                "unknown action",
                json!({"action": "dance"}).to_string(),
                UnknownAction("dance".into()),
                ErrorCode::UnknownAction,
            ),
            (
                "a seed alias is not an action name",
                json!({"action": "chat_message", "content": "hi"}).to_string(),
                UnknownAction("chat_message".into()),
                ErrorCode::UnknownAction,
            ),
            (
                "unknown type, even with content",
                json!({"type": "shout", "content": "hi"}).to_string(),
                UnknownAction("shout".into()),
                ErrorCode::UnknownAction,
            ),
            (
                "unknown mt",
                json!({"mt": "upload"}).to_string(),
                UnknownAction("upload".into()),
                ErrorCode::UnknownAction,
            ),
            (
                "empty object",
                "{}".into(),
                NoAction,
                ErrorCode::InvalidFrame,
            ),
            (
                "no recognised shape",
                json!({"session_id": SESSION, "is_typing": true}).to_string(),
                NoAction,
                ErrorCode::InvalidFrame,
            ),
            (
                "send without content",
                json!({"action": "send"}).to_string(),
                MissingField("content"),
                ErrorCode::InvalidFrame,
            ),
            (
                "send with null content",
                json!({"action": "send", "content": null}).to_string(),
                MissingField("content"),
                ErrorCode::InvalidFrame,
            ),
            (
                "chat_message without content",
                json!({"type": "chat_message"}).to_string(),
                MissingField("content"),
                ErrorCode::InvalidFrame,
            ),
            (
                "blank content",
                json!({"content": " \n\t"}).to_string(),
                invalid("content", "must not be empty"),
                ErrorCode::InvalidFrame,
            ),
            (
                "content over 4,000 characters",
                json!({"action": "send", "content": long}).to_string(),
                invalid("content", "must be at most 4000 characters"),
                ErrorCode::InvalidFrame,
            ),
            (
                "content not a string",
                json!({"content": 5}).to_string(),
                invalid("content", "must be a string"),
                ErrorCode::InvalidFrame,
            ),
            (
                "blank message",
                json!({"message": "  ", "message_type": "text"}).to_string(),
                invalid("message", "must not be empty"),
                ErrorCode::InvalidFrame,
            ),
            (
                "unknown message_type",
                json!({"message": "hi", "message_type": "video"}).to_string(),
                invalid("message_type", "must be one of text, file, image"),
                ErrorCode::InvalidFrame,
            ),
            (
                "unknown kind",
                json!({"action": "send", "kind": "video", "content": "hi"}).to_string(),
                invalid("kind", "must be one of text, file, image"),
                ErrorCode::InvalidFrame,
            ),
            (
                "a file send without attachment",
                json!({"action": "send", "kind": "file", "content": "cap"}).to_string(),
                MissingField("attachment_id"),
                ErrorCode::InvalidFrame,
            ),
            (
                "a type file without file",
                json!({"type": "file", "content": "cap"}).to_string(),
                MissingField("file"),
                ErrorCode::InvalidFrame,
            ),
            (
                "a text send with an attachment",
                json!({"action": "send", "content": "hi", "attachment_id": ATTACHMENT}).to_string(),
                invalid(
                    "attachment_id",
                    "only a file or image message carries an attachment",
                ),
                ErrorCode::InvalidFrame,
            ),
            (
                "an attachment id that is a URL on the canonical send",
                json!({"action": "send", "kind": "file", "attachment_id": UPLOAD_URL}).to_string(),
                invalid("attachment_id", bad_id),
                ErrorCode::InvalidFrame,
            ),
            (
                "a file that is neither an id nor an http URL",
                json!({"type": "file", "file": "ftp://host/x"}).to_string(),
                invalid(
                    "file",
                    "must be an attachment id or the http(s) URL the upload returned",
                ),
                ErrorCode::InvalidFrame,
            ),
            (
                "an image message that is not an upload",
                json!({"message": "look at this", "message_type": "image"}).to_string(),
                invalid(
                    "message",
                    "must be an attachment id or the http(s) URL the upload returned",
                ),
                ErrorCode::InvalidFrame,
            ),
            (
                "a bad client_msg_id",
                json!({"content": "hi", "client_msg_id": "a b"}).to_string(),
                invalid(
                    "client_msg_id",
                    "must not contain whitespace, control characters or '#'",
                ),
                ErrorCode::InvalidFrame,
            ),
            (
                "is_typing as a string",
                json!({"action": "typing", "is_typing": "true"}).to_string(),
                invalid("is_typing", "must be true or false"),
                ErrorCode::InvalidFrame,
            ),
            (
                "typing without is_typing",
                json!({"action": "typing"}).to_string(),
                MissingField("is_typing"),
                ErrorCode::InvalidFrame,
            ),
            (
                "limit as a string",
                json!({"action": "history", "limit": "20"}).to_string(),
                invalid("limit", bad_limit),
                ErrorCode::InvalidFrame,
            ),
            (
                "limit 0",
                json!({"action": "history", "limit": 0}).to_string(),
                invalid("limit", "must be between 1 and 100"),
                ErrorCode::InvalidFrame,
            ),
            (
                "limit 101",
                json!({"action": "history", "limit": 101}).to_string(),
                invalid("limit", "must be between 1 and 100"),
                ErrorCode::InvalidFrame,
            ),
            (
                "limit negative",
                json!({"action": "history", "limit": -1}).to_string(),
                invalid("limit", bad_limit),
                ErrorCode::InvalidFrame,
            ),
            (
                "limit fractional",
                json!({"action": "history", "limit": 2.5}).to_string(),
                invalid("limit", bad_limit),
                ErrorCode::InvalidFrame,
            ),
            (
                "a bad before",
                json!({"action": "history", "before": "yesterday"}).to_string(),
                invalid("before", bad_id),
                ErrorCode::InvalidFrame,
            ),
            (
                "join without session_id",
                json!({"action": "join"}).to_string(),
                MissingField("session_id"),
                ErrorCode::InvalidFrame,
            ),
            (
                "join with a bad session_id",
                json!({"action": "join", "session_id": "s1"}).to_string(),
                invalid("session_id", bad_id),
                ErrorCode::InvalidFrame,
            ),
            (
                "edit with a bad message_id",
                json!({"action": "edit", "message_id": 7, "content": "x"}).to_string(),
                invalid("message_id", "must be a string"),
                ErrorCode::InvalidFrame,
            ),
            (
                "edit without content",
                json!({"action": "edit", "message_id": MESSAGE}).to_string(),
                MissingField("content"),
                ErrorCode::InvalidFrame,
            ),
            (
                "delete with a bad message_id",
                json!({"action": "delete", "message_id": "m-1"}).to_string(),
                invalid("message_id", bad_id),
                ErrorCode::InvalidFrame,
            ),
            (
                "react with a word",
                json!({"action": "react", "message_id": MESSAGE, "reaction": "ok"}).to_string(),
                invalid("reaction", one_emoji),
                ErrorCode::InvalidFrame,
            ),
            (
                "react with two emoji",
                json!({"action": "react", "message_id": MESSAGE, "reaction": "👍👍"}).to_string(),
                invalid("reaction", one_emoji),
                ErrorCode::InvalidFrame,
            ),
            (
                "unreact without reaction",
                json!({"action": "unreact", "message_id": MESSAGE}).to_string(),
                MissingField("reaction"),
                ErrorCode::InvalidFrame,
            ),
            (
                "a JoinAs with a malformed user_id",
                json!({"user_id": "a#b", "session_id": SESSION}).to_string(),
                invalid(
                    "user_id",
                    "must not contain whitespace, control characters or '#'",
                ),
                ErrorCode::InvalidFrame,
            ),
            (
                "a JoinAs with a bad session_id",
                json!({"user_id": "u1", "session_id": "nope"}).to_string(),
                invalid("session_id", bad_id),
                ErrorCode::InvalidFrame,
            ),
            (
                "a frame over 24 KiB, even a valid one",
                json!({"action": "ping", "pad": "x".repeat(MAX_FRAME_BYTES)}).to_string(),
                FrameError::TooLarge,
                ErrorCode::TooLarge,
            ),
            (
                "a frame over 24 KiB that is not JSON",
                "x".repeat(MAX_FRAME_BYTES + 1),
                FrameError::TooLarge,
                ErrorCode::TooLarge,
            ),
        ];
        for (name, frame, expected, code) in rows {
            let error = ClientFrame::parse(&frame).expect_err(name);
            assert_eq!(error, expected, "{name}");
            assert_eq!(error.code(), code, "{name}");
        }
    }

    #[test]
    fn a_frame_of_exactly_the_limit_is_still_parsed() {
        let head = r#"{"action":"ping","pad":""#;
        let pad = "x".repeat(MAX_FRAME_BYTES - head.len() - 2);
        let frame = format!("{head}{pad}\"}}");
        assert_eq!(frame.len(), MAX_FRAME_BYTES);
        assert_eq!(ClientFrame::parse(&frame), Ok(ClientFrame::Ping));
        assert_eq!(
            ClientFrame::parse(&format!("{frame} ")),
            Err(FrameError::TooLarge)
        );
    }

    #[test]
    fn a_long_unknown_action_is_cut_short_in_the_error() {
        let name = "y".repeat(10_000);
        let error = ClientFrame::parse(&json!({"action": name}).to_string()).expect_err("unknown");
        assert_eq!(
            error,
            FrameError::UnknownAction("y".repeat(FrameError::MAX_NAME_CHARS))
        );
        assert!(error.to_string().len() < 64);
    }

    #[test]
    fn an_invalid_field_message_names_the_field_but_not_the_input() {
        let secret = "a b c secret";
        let error =
            ClientFrame::parse(&json!({"user_id": secret, "session_id": SESSION}).to_string())
                .expect_err("invalid");
        let message = error.to_string();
        assert!(message.starts_with("user_id: "), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn attachment_refs_are_ids_or_http_urls_only() {
        assert_eq!(AttachmentRef::parse(ATTACHMENT), Ok(attachment()));
        for url in [
            "http://localhost:3000/files/1",
            "HTTPS://example.com/a",
            UPLOAD_URL,
        ] {
            assert_eq!(
                AttachmentRef::parse(url),
                Ok(AttachmentRef::Url(url.into())),
                "{url}"
            );
        }
        let too_long = format!(
            "https://example.com/{}",
            "a".repeat(AttachmentRef::MAX_URL_CHARS)
        );
        for bad in [
            "",
            "file",
            "https://",
            "https:///path",
            "javascript:alert(1)",
            "https://a b",
            "héllo",
            too_long.as_str(),
        ] {
            assert!(
                AttachmentRef::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn every_frame_names_its_canonical_action() {
        let rows = [
            (json!({"user_id": "u1", "session_id": SESSION}), "join"),
            (json!({"type": "file", "file": ATTACHMENT}), "send"),
            (
                json!({"type": "typing_indicator", "is_typing": true}),
                "typing",
            ),
            (json!({"mt": "stop"}), "stop"),
            (json!({"action": "history"}), "history"),
        ];
        for (frame, action) in rows {
            let parsed = ClientFrame::parse(&frame.to_string()).expect("valid frame");
            assert_eq!(parsed.action(), action, "{frame}");
        }
    }
}
