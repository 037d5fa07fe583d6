//! The chat domain: what a session, a member, a message and a connection are, and the rules
//! that hold whatever the store or transport. No AWS or Lambda types here.

mod attachment;
mod characters;
mod chatbot;
mod connection;
mod customers;
mod ids;
mod limits;
mod message;
mod principal;
mod session;
mod text;
mod time;
mod usage;

pub use attachment::{
    Attachment, AttachmentState, MAX_FILE_NAME_CHARS, SizeRefusal, UploadPolicy,
    parse_content_type, parse_file_name, storage_key,
};
pub use characters::{
    CharacterProblem, TextShape, character_problem, check_characters, strip_unsafe_characters,
};
pub use chatbot::{Chatbot, ModelCatalog, ReplyPreferences, Temperature};
pub use connection::{Connection, Dialect};
pub use customers::{BusinessSecret, CustomerSecret, verified_customer_id};
pub use ids::{
    AttachmentId, BusinessId, ChatbotId, ClientMsgId, ConnectionId, DepartmentId, DocumentId,
    ExternalCustomerId, MessageId, SessionId, UserId,
};
pub use limits::{ArrivalTime, Bucket, Limited, Window};
pub use message::{IncompleteReason, Message, MessageKind, Reactions, Source};
pub use principal::{Principal, Role};
pub use session::{
    ActiveScope, JoinPolicy, Member, MemberRole, Session, SessionKind, SessionSpec, SessionStatus,
};
pub use text::{
    Content, DisplayName, Greeting, Language, ModelName, Reaction, SystemPrompt, TimeZoneName,
    Title,
};
pub use time::Timestamp;
pub use usage::{Day, Usage};

/// Input that does not fit the domain, naming the field so a client can fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// The same refusal, said of `field` (a value parsed under another name).
    pub fn for_field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }
}

/// A page of results with an opaque cursor for the next one (`None` when there is no more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// No items, and nothing after them.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// An opaque position in a list. Clients get it as a string and hand it back unchanged;
/// its content (a URL-safe base64 of the last item's sort position) is ours to change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    pub fn encode(position: &str) -> Self {
        use base64::Engine as _;
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position))
    }

    /// The position inside, or a validation error for anything we did not make.
    pub fn decode(&self) -> Result<String, ValidationError> {
        use base64::Engine as _;
        let invalid = || ValidationError::new("cursor", "is not a cursor this API returned");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| invalid())?;
        String::from_utf8(bytes).map_err(|_| invalid())
    }

    pub fn from_client(value: &str) -> Result<Self, ValidationError> {
        let cursor = Self(value.to_owned());
        cursor.decode().map(|_| cursor)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Newest first (the default for clients scrolling back) or oldest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Desc,
    Asc,
}

/// How many items a page holds, 1..=100 (default 50).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit(usize);

impl PageLimit {
    pub const MAX: usize = 100;
    pub const DEFAULT: Self = Self(50);

    pub fn new(limit: usize) -> Result<Self, ValidationError> {
        if (1..=Self::MAX).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(ValidationError::new(
                "limit",
                format!("must be between 1 and {}", Self::MAX),
            ))
        }
    }

    pub fn get(&self) -> usize {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}
