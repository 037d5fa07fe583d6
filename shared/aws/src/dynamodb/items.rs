//! The single table's keys and item shapes. Only this adapter sees them.
//!
//! | item                 | pk                   | sk                    |
//! |----------------------|----------------------|-----------------------|
//! | session              | `SESSION#<sid>`      | `META`                |
//! | member               | `SESSION#<sid>`      | `MEMBER#<uid>`        | gsi1: `USER#<uid>` / `<activity>#<sid>`
//! | message              | `SESSION#<sid>`      | `MSG#<mid>`           |
//! | dedup of a client id | `SESSION#<sid>`      | `CMSG#<uid>#<cmid>`   | TTL
//! | session's connection | `SESSION#<sid>`      | `CONN#<cid>`          | TTL
//! | connection           | `CONN#<cid>`         | `META`                | TTL
//! | active scope         | `ACTIVE#<scope key>` | `META`                |
//! | attachment           | `SESSION#<sid>`      | `ATT#<aid>`           |

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use chat_core::domain::{
    Attachment, AttachmentId, ClientMsgId, Connection, ConnectionId, DisplayName, Member, Message,
    MessageId, MessageKind, Principal, Reaction, Reactions, Session, SessionId, Timestamp, UserId,
};
use chat_core::paging::membership_position;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) const META: &str = "META";
pub(super) const MEMBER_PREFIX: &str = "MEMBER#";
pub(super) const MESSAGE_PREFIX: &str = "MSG#";
pub(super) const CONNECTION_PREFIX: &str = "CONN#";
pub(super) const ATTACHMENT_PREFIX: &str = "ATT#";

pub(super) fn attachment_sk(id: AttachmentId) -> String {
    format!("{ATTACHMENT_PREFIX}{id}")
}

pub(super) fn session_pk(id: SessionId) -> String {
    format!("SESSION#{id}")
}

pub(super) fn member_sk(user: &UserId) -> String {
    format!("{MEMBER_PREFIX}{user}")
}

pub(super) fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

pub(super) fn message_sk(id: MessageId) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

pub(super) fn dedup_sk(user: &UserId, client_msg_id: &ClientMsgId) -> String {
    format!("CMSG#{user}#{client_msg_id}")
}

pub(super) fn connection_pk(id: &ConnectionId) -> String {
    format!("{CONNECTION_PREFIX}{id}")
}

pub(super) fn session_connection_sk(id: &ConnectionId) -> String {
    format!("{CONNECTION_PREFIX}{id}")
}

pub(super) fn active_pk(scope_key: &str) -> String {
    format!("ACTIVE#{scope_key}")
}

pub(super) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ])
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// DynamoDB's TTL and our expiry filters count whole seconds since the epoch.
pub(super) fn epoch_seconds(at: Timestamp) -> i64 {
    at.unix_seconds()
}

#[derive(Serialize, Deserialize)]
pub(super) struct SessionItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub session: Session,
}

impl SessionItem {
    pub fn new(session: &Session) -> Self {
        Self {
            pk: session_pk(session.id),
            sk: META.to_owned(),
            session: session.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct MemberItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    #[serde(flatten)]
    pub member: Member,
}

impl MemberItem {
    pub fn new(member: &Member) -> Self {
        Self {
            pk: session_pk(member.session_id),
            sk: member_sk(&member.user_id),
            gsi1pk: user_pk(&member.user_id),
            gsi1sk: membership_position(member),
            member: member.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct AttachmentItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub attachment: Attachment,
}

impl AttachmentItem {
    pub fn new(attachment: &Attachment) -> Self {
        Self {
            pk: session_pk(attachment.session_id),
            sk: attachment_sk(attachment.id),
            attachment: attachment.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct ActiveItem {
    pub pk: String,
    pub sk: String,
    pub session_id: SessionId,
}

#[derive(Serialize, Deserialize)]
pub(super) struct DedupItem {
    pub pk: String,
    pub sk: String,
    pub message_id: MessageId,
    pub expires_at: i64,
}

/// A message; reactions live in the string set `rx` as `<user id>#<emoji>`, so one
/// user's reaction is added or removed atomically with ADD/DELETE (user ids have no `#`).
#[derive(Serialize, Deserialize)]
pub(super) struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub id: MessageId,
    pub session_id: SessionId,
    pub sender_id: UserId,
    pub sender_name: Option<DisplayName>,
    pub is_bot: bool,
    pub kind: MessageKind,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    pub client_msg_id: Option<ClientMsgId>,
    pub token_count: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    #[serde(
        with = "serde_dynamo::string_set",
        default,
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub rx: BTreeSet<String>,
}

pub(super) fn reaction_entry(user: &UserId, reaction: &Reaction) -> String {
    format!("{user}#{reaction}")
}

impl MessageItem {
    pub fn new(message: &Message) -> Self {
        let rx = message
            .reactions
            .iter()
            .flat_map(|(reaction, users)| users.iter().map(move |u| reaction_entry(u, reaction)))
            .collect();
        Self {
            pk: session_pk(message.session_id),
            sk: message_sk(message.id),
            id: message.id,
            session_id: message.session_id,
            sender_id: message.sender_id.clone(),
            sender_name: message.sender_name.clone(),
            is_bot: message.is_bot,
            kind: message.kind,
            content: message.content.clone(),
            attachment: message.attachment.clone(),
            client_msg_id: message.client_msg_id.clone(),
            token_count: message.token_count,
            incomplete: message.incomplete,
            created_at: message.created_at,
            edited_at: message.edited_at,
            deleted_at: message.deleted_at,
            rx,
        }
    }

    pub fn into_message(self) -> Message {
        let reactions: Reactions = self
            .rx
            .iter()
            .filter_map(|entry| {
                let (user, reaction) = entry.split_once('#')?;
                Some((Reaction::parse(reaction).ok()?, UserId::parse(user).ok()?))
            })
            .collect();
        Message {
            id: self.id,
            session_id: self.session_id,
            sender_id: self.sender_id,
            sender_name: self.sender_name,
            is_bot: self.is_bot,
            kind: self.kind,
            content: self.content,
            attachment: self.attachment,
            client_msg_id: self.client_msg_id,
            token_count: self.token_count,
            incomplete: self.incomplete,
            created_at: self.created_at,
            edited_at: self.edited_at,
            deleted_at: self.deleted_at,
            reactions,
        }
    }
}

/// A connection, stored twice: under its own key for routing, and under its session for
/// fan-out, so a broadcast is one Query whatever the session's size.
#[derive(Serialize, Deserialize)]
pub(super) struct ConnectionItem {
    pub pk: String,
    pub sk: String,
    pub connection_id: ConnectionId,
    pub principal: Principal,
    pub session_id: Option<SessionId>,
    pub connected_at: Timestamp,
    /// Whole seconds since the epoch: the table's TTL attribute.
    pub expires_at: i64,
    /// Kept on the session's copy only, which is what broadcasts read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_until: Option<Timestamp>,
}

impl ConnectionItem {
    pub fn routing(connection: &Connection) -> Self {
        Self::with_key(connection, connection_pk(&connection.id), META.to_owned())
    }

    /// The copy under the session, if the connection is bound to one.
    pub fn fan_out(connection: &Connection) -> Option<Self> {
        let session = connection.session_id?;
        Some(Self::with_key(
            connection,
            session_pk(session),
            session_connection_sk(&connection.id),
        ))
    }

    fn with_key(connection: &Connection, pk: String, sk: String) -> Self {
        Self {
            pk,
            sk,
            connection_id: connection.id.clone(),
            principal: connection.principal.clone(),
            session_id: connection.session_id,
            connected_at: connection.connected_at,
            expires_at: epoch_seconds(connection.expires_at),
            typing_until: connection.typing_until,
        }
    }

    pub fn into_connection(self) -> Connection {
        let expires_millis = u64::try_from(self.expires_at)
            .unwrap_or(0)
            .saturating_mul(1_000);
        Connection {
            id: self.connection_id,
            principal: self.principal,
            session_id: self.session_id,
            connected_at: self.connected_at,
            expires_at: Timestamp::from_unix_millis(expires_millis),
            typing_until: self.typing_until,
        }
    }
}
