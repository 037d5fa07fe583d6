//! WebSocket connections, as the store records them for routing and fan-out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConnectionId, Principal, SessionId, Timestamp, ValidationError};

/// The frames a connection's client speaks: the contract's own, or a seed system's, so that
/// system's client works unchanged (`?dialect=` at `$connect`, or the deployment's
/// `WS_DIALECT`). What a client sends is understood in every dialect; what it receives is
/// rendered in its own.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// The contract (`docs/protocol.md`).
    #[default]
    Canonical,
    /// Seed 000's Live Chatting Manager: the contract's frames it names, bot replies as
    /// `chat_message`.
    Live,
    /// Seed 001's chat: frames named by `mt`, messages as its `chat_messages` documents.
    Chat,
    /// Seed 002's AI chat: `system`, `ai_response` and `error` frames.
    Ai,
    /// Seed 003's chatbot sessions: `session_info`, `message_received`, streamed replies.
    Chatbot,
    /// Seed 004's visitor support chat: `connection_established`, `text`, `file`,
    /// `session_ended`.
    Visitor,
}

impl Dialect {
    /// Every dialect, as `?dialect=` names them, the contract's first, then the seeds' in
    /// their order.
    pub const ALL: [Self; 6] = [
        Self::Canonical,
        Self::Live,
        Self::Chat,
        Self::Ai,
        Self::Chatbot,
        Self::Visitor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canonical => "canonical",
            Self::Live => "live",
            Self::Chat => "chat",
            Self::Ai => "ai",
            Self::Chatbot => "chatbot",
            Self::Visitor => "visitor",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|dialect| dialect.as_str() == value.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.into_iter().map(Self::as_str).collect();
                ValidationError::new("dialect", format!("must be one of {}", names.join(", ")))
            })
    }

    pub fn is_canonical(&self) -> bool {
        *self == Self::Canonical
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    /// The authorizer's context, kept so later frames need no lookup of the user.
    pub principal: Principal,
    pub session_id: Option<SessionId>,
    pub connected_at: Timestamp,
    /// After this the connection is treated as gone, whatever the store still holds:
    /// `$disconnect` is best-effort and TTL deletion lags. Whole seconds, as TTL keeps them.
    pub expires_at: Timestamp,
    /// Until when the user counts as typing in the bound session (`typing_status`).
    #[serde(default)]
    pub typing_until: Option<Timestamp>,
    /// The frames its client understands.
    #[serde(default)]
    pub dialect: Dialect,
    /// Its own send bucket's state (see [`crate::domain::Bucket`]); none: full.
    #[serde(default)]
    pub send_bucket: Option<crate::domain::ArrivalTime>,
    /// Sends refused for its rate in a row: past the limit the connection is closed.
    #[serde(default)]
    pub strikes: u32,
}

impl Connection {
    /// API Gateway closes every WebSocket after two hours.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);
    /// Slack past the two hours, so clock skew never hides a live connection.
    pub const EXPIRY_SLACK: Duration = Duration::from_secs(5 * 60);

    pub fn new(
        id: ConnectionId,
        principal: Principal,
        session_id: Option<SessionId>,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            principal,
            session_id,
            connected_at: now,
            expires_at: now
                .plus(Self::MAX_LIFETIME + Self::EXPIRY_SLACK)
                .ceil_to_second(),
            typing_until: None,
            dialect: Dialect::Canonical,
            send_bucket: None,
            strikes: 0,
        }
    }

    /// The same connection, speaking `dialect`.
    pub fn with_dialect(self, dialect: Dialect) -> Self {
        Self { dialect, ..self }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    pub fn is_typing(&self, now: Timestamp) -> bool {
        self.typing_until.is_some_and(|until| until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_is_parsed_from_and_stored_as_its_name() {
        for dialect in Dialect::ALL {
            assert_eq!(Dialect::parse(dialect.as_str()), Ok(dialect));
            // The stores persist a connection's dialect through serde: the same name.
            assert_eq!(
                serde_json::to_value(dialect).ok(),
                Some(serde_json::Value::from(dialect.as_str()))
            );
        }
        assert_eq!(
            Dialect::parse("klingon").map_err(|e| e.reason),
            Err("must be one of canonical, live, chat, ai, chatbot, visitor".to_owned())
        );
    }
}
