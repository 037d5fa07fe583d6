//! WebSocket connections, as the store records them for routing and fan-out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConnectionId, Principal, SessionId, Timestamp};

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
        }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    pub fn is_typing(&self, now: Timestamp) -> bool {
        self.typing_until.is_some_and(|until| until > now)
    }
}
