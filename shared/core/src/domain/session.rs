//! Sessions and their members.

use serde::{Deserialize, Serialize};

use super::{
    BusinessId, ChatbotId, DepartmentId, DisplayName, DocumentId, ExternalCustomerId, Language,
    SessionId, TimeZoneName, Timestamp, Title, UserId, ValidationError,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Direct,
    Group,
    /// A user talking to an AI assistant: one active session per (user, chatbot).
    Bot,
    /// A visitor talking to a business's agents: one active session per (visitor, business).
    Support,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Inactive,
    /// Final: no message is accepted and no connection may bind to it.
    Ended,
}

/// Who may join a group by its id alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinPolicy {
    /// Members are added at creation or by the owner or an admin; nobody joins by id.
    #[default]
    Invite,
    /// Any user who knows the id may join.
    Open,
}

impl JoinPolicy {
    pub fn is_invite(&self) -> bool {
        *self == Self::Invite
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub title: Option<Title>,
    pub kind: SessionKind,
    pub status: SessionStatus,
    pub owner_id: UserId,
    pub chatbot_id: Option<ChatbotId>,
    /// The chatbot's name when the session started (what seed 003 shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatbot_name: Option<DisplayName>,
    pub business_id: Option<BusinessId>,
    pub document_id: Option<DocumentId>,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub external_customer_id: Option<ExternalCustomerId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the last message was posted (or the session created).
    pub last_activity_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// A bot session that is one of its owner's many conversations with the chatbot (seed
    /// 001's chats), so the one-active-per-(user, chatbot) rule does not hold it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_of_many: bool,
    /// Only groups are ever open; every other kind keeps the default.
    #[serde(default, skip_serializing_if = "JoinPolicy::is_invite")]
    pub join_policy: JoinPolicy,
    /// The language the bot replies in (a message may ask for another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// The owner's time zone, for the bot's dates and times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZoneName>,
    /// Ends when its last connection closes (seed 003's "closed on disconnect"), rather
    /// than when the sweeper finds it idle.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end_on_disconnect: bool,
}

/// What a new session is made from; `Session::open` checks that it hangs together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    pub kind: SessionKind,
    pub owner_id: UserId,
    pub title: Option<Title>,
    pub chatbot_id: Option<ChatbotId>,
    pub chatbot_name: Option<DisplayName>,
    pub business_id: Option<BusinessId>,
    pub document_id: Option<DocumentId>,
    pub department_id: Option<DepartmentId>,
    pub external_customer_id: Option<ExternalCustomerId>,
    /// See [`Session::one_of_many`].
    pub one_of_many: bool,
    pub join_policy: JoinPolicy,
    pub language: Option<Language>,
    pub timezone: Option<TimeZoneName>,
    /// See [`Session::end_on_disconnect`].
    pub end_on_disconnect: bool,
}

/// The scope within which at most one session may be active (not ended) at a time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ActiveScope {
    Bot {
        user_id: UserId,
        chatbot_id: ChatbotId,
    },
    Support {
        business_id: BusinessId,
        visitor_id: UserId,
    },
}

impl SessionSpec {
    /// A spec with only the kind and owner set.
    pub fn new(kind: SessionKind, owner_id: UserId) -> Self {
        Self {
            kind,
            owner_id,
            title: None,
            chatbot_id: None,
            chatbot_name: None,
            business_id: None,
            document_id: None,
            department_id: None,
            external_customer_id: None,
            one_of_many: false,
            join_policy: JoinPolicy::Invite,
            language: None,
            timezone: None,
            end_on_disconnect: false,
        }
    }
}

impl ActiveScope {
    /// A stable key for the scope; ids never contain `#`, so the parts cannot run together.
    pub fn key(&self) -> String {
        match self {
            Self::Bot {
                user_id,
                chatbot_id,
            } => format!("BOT#{user_id}#{chatbot_id}"),
            Self::Support {
                business_id,
                visitor_id,
            } => format!("SUPPORT#{business_id}#{visitor_id}"),
        }
    }
}

impl Session {
    pub fn open(id: SessionId, spec: SessionSpec, now: Timestamp) -> Result<Self, ValidationError> {
        match spec.kind {
            SessionKind::Bot if spec.chatbot_id.is_none() => {
                return Err(ValidationError::new(
                    "chatbot_id",
                    "is required for a bot session",
                ));
            }
            SessionKind::Support if spec.business_id.is_none() => {
                return Err(ValidationError::new(
                    "business_id",
                    "is required for a support session",
                ));
            }
            _ => {}
        }
        if spec.join_policy == JoinPolicy::Open && spec.kind != SessionKind::Group {
            return Err(ValidationError::new(
                "join_policy",
                "only a group may be open",
            ));
        }
        Ok(Self {
            id,
            title: spec.title,
            kind: spec.kind,
            status: SessionStatus::Active,
            owner_id: spec.owner_id,
            chatbot_id: spec.chatbot_id,
            chatbot_name: spec.chatbot_name,
            business_id: spec.business_id,
            document_id: spec.document_id,
            department_id: spec.department_id,
            external_customer_id: spec.external_customer_id,
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            ended_at: None,
            one_of_many: spec.one_of_many,
            join_policy: spec.join_policy,
            language: spec.language,
            timezone: spec.timezone,
            end_on_disconnect: spec.end_on_disconnect,
        })
    }

    pub fn is_ended(&self) -> bool {
        self.status == SessionStatus::Ended
    }

    /// Whether the sweeper ends it once idle: a conversation with a bot or a support
    /// visit has a natural end; a direct or group chat lasts.
    pub fn idles_out(&self) -> bool {
        matches!(self.kind, SessionKind::Bot | SessionKind::Support) && !self.is_ended()
    }

    /// Whether its messages get a bot reply.
    pub fn wants_bot(&self) -> bool {
        self.kind == SessionKind::Bot || self.chatbot_id.is_some()
    }

    /// The uniqueness rule this session is subject to, if any.
    pub fn active_scope(&self) -> Option<ActiveScope> {
        if self.one_of_many {
            return None;
        }
        match (self.kind, &self.chatbot_id, &self.business_id) {
            (SessionKind::Bot, Some(chatbot_id), _) => Some(ActiveScope::Bot {
                user_id: self.owner_id.clone(),
                chatbot_id: chatbot_id.clone(),
            }),
            (SessionKind::Support, _, Some(business_id)) => Some(ActiveScope::Support {
                business_id: business_id.clone(),
                visitor_id: self.owner_id.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Owner,
    Member,
    /// A business's agent who joined a support session.
    Agent,
    Bot,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub role: MemberRole,
    pub name: Option<DisplayName>,
    pub joined_at: Timestamp,
    /// The member's own last activity in the session (joined, sent); orders their session list.
    pub last_activity_at: Timestamp,
}

impl Member {
    pub fn new(
        session_id: SessionId,
        user_id: UserId,
        role: MemberRole,
        name: Option<DisplayName>,
        now: Timestamp,
    ) -> Self {
        Self {
            session_id,
            user_id,
            role,
            name,
            joined_at: now,
            last_activity_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: SessionKind) -> SessionSpec {
        SessionSpec::new(kind, UserId::parse("u1").expect("valid"))
    }

    #[test]
    fn bot_and_support_sessions_need_their_counterpart() {
        let now = Timestamp::from_unix_millis(0);
        let id = SessionId::new(now);
        assert_eq!(
            Session::open(id, spec(SessionKind::Bot), now)
                .expect_err("refused")
                .field,
            "chatbot_id"
        );
        assert_eq!(
            Session::open(id, spec(SessionKind::Support), now)
                .expect_err("refused")
                .field,
            "business_id"
        );
        let group = Session::open(id, spec(SessionKind::Group), now).expect("valid");
        assert_eq!(group.active_scope(), None);
        assert_eq!(group.status, SessionStatus::Active);
    }

    #[test]
    fn a_bot_session_is_unique_per_user_and_chatbot() {
        let now = Timestamp::from_unix_millis(0);
        let mut s = spec(SessionKind::Bot);
        s.chatbot_id = Some(ChatbotId::parse("helper").expect("valid"));
        let session = Session::open(SessionId::new(now), s.clone(), now).expect("valid");
        assert_eq!(
            session.active_scope().map(|s| s.key()),
            Some("BOT#u1#helper".to_owned())
        );
        let one_of_many = Session::open(
            SessionId::new(now),
            SessionSpec {
                one_of_many: true,
                ..s
            },
            now,
        )
        .expect("valid");
        assert_eq!(one_of_many.active_scope(), None);
    }
}
