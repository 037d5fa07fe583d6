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
//! | reply slot           | `SESSION#<sid>`      | `REPLY`               | TTL
//! | feed head            | `SESSION#<sid>`      | `CONN`                | the last seq; sorts just before the connections, so one Query reads both
//! | a user's send bucket | `RATE#USER#<uid>`    | `META`                | TTL
//! | a window's counter   | `RATE#<key>#<n>`     | `META`                | TTL
//!
//! Messages carry `seq`, the sort key of the local index `lsi1` (lists in seq order). A
//! bound connection's routing item is also in `gsi1`, as `FEED#<sid>` / `CONN#<cid>`.
//! Every key is built here and nowhere else; the rest of the adapter asks for one by name.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::errors::internal;
use chat_core::domain::{
    Attachment, AttachmentId, AttachmentState, BusinessId, ChatbotId, ClientMsgId, Connection,
    ConnectionId, Dialect, DisplayName, IncompleteReason, Language, Member, Message, MessageId,
    MessageKind, Principal, Reaction, Reactions, Session, SessionId, SessionKind, Source,
    TimeZoneName, Timestamp, UserId,
};
use chat_core::paging::activity_position;
use chat_core::ports::StoreResult;

pub(super) type Item = HashMap<String, AttributeValue>;

/// How long a client message id is remembered for idempotent sends.
pub const DEDUP_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

const SESSION_PREFIX: &str = "SESSION#";
const USER_PREFIX: &str = "USER#";
const ACTIVE_PREFIX: &str = "ACTIVE#";
const DEDUP_PREFIX: &str = "CMSG#";
pub(super) const MEMBER_PREFIX: &str = "MEMBER#";
const MESSAGE_PREFIX: &str = "MSG#";
pub(super) const CONNECTION_PREFIX: &str = "CONN#";
/// The feed head's sort key, and the prefix of it and every connection's.
pub(super) const FEED_PREFIX: &str = "CONN";
const RATE_PREFIX: &str = "RATE#";
/// The local index of messages by seq.
pub const SEQ_INDEX: &str = "lsi1";
const ATTACHMENT_PREFIX: &str = "ATT#";
/// The sort key of an item that is the only one of its kind in its partition.
const META: &str = "META";
const REPLY: &str = "REPLY";

pub(super) fn session_pk(id: SessionId) -> String {
    format!("{SESSION_PREFIX}{id}")
}

fn member_sk(user: &UserId) -> String {
    format!("{MEMBER_PREFIX}{user}")
}

pub(super) fn message_sk(id: MessageId) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

fn dedup_sk(user: &UserId, client_msg_id: &ClientMsgId) -> String {
    format!("{DEDUP_PREFIX}{user}#{client_msg_id}")
}

pub(super) fn attachment_sk(id: AttachmentId) -> String {
    format!("{ATTACHMENT_PREFIX}{id}")
}

fn connection_pk(id: &ConnectionId) -> String {
    format!("{CONNECTION_PREFIX}{id}")
}

fn session_connection_sk(id: &ConnectionId) -> String {
    format!("{CONNECTION_PREFIX}{id}")
}

fn active_pk(scope_key: &str) -> String {
    format!("{ACTIVE_PREFIX}{scope_key}")
}

/// gsi1's partition: a user's memberships.
pub(super) fn user_gsi1_pk(user: &UserId) -> String {
    format!("{USER_PREFIX}{user}")
}

/// gsi1's sort key: where a membership sorts in its user's session list, moved on by each
/// message the member sends.
pub(super) fn membership_gsi1_sk(last_activity_at: Timestamp, session: SessionId) -> String {
    activity_position(last_activity_at, session)
}

pub(super) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ])
}

pub(super) fn session_key(id: SessionId) -> Item {
    key(session_pk(id), META)
}

pub(super) fn member_key(session: SessionId, user: &UserId) -> Item {
    key(session_pk(session), member_sk(user))
}

pub(super) fn message_key(session: SessionId, id: MessageId) -> Item {
    key(session_pk(session), message_sk(id))
}

pub(super) fn dedup_key(session: SessionId, user: &UserId, client_msg_id: &ClientMsgId) -> Item {
    key(session_pk(session), dedup_sk(user, client_msg_id))
}

pub(super) fn attachment_key(session: SessionId, id: AttachmentId) -> Item {
    key(session_pk(session), attachment_sk(id))
}

pub(super) fn connection_key(id: &ConnectionId) -> Item {
    key(connection_pk(id), META)
}

pub(super) fn active_key(scope_key: &str) -> Item {
    key(active_pk(scope_key), META)
}

/// The index partition of a session's bound connections (their routing items).
pub(super) fn feed_gsi1_pk(session: SessionId) -> String {
    format!("FEED#{session}")
}

pub(super) fn head_key(session: SessionId) -> Item {
    key(session_pk(session), FEED_PREFIX.to_owned())
}

pub(super) fn user_bucket_key(user: &UserId) -> Item {
    key(format!("{RATE_PREFIX}USER#{user}"), META.to_owned())
}

pub(super) fn window_key(counter: &str, window: u64) -> Item {
    key(format!("{RATE_PREFIX}{counter}#{window}"), META.to_owned())
}

pub(super) fn business_secret_key(business: &BusinessId) -> Item {
    key(business_pk(business), BUSINESS_SECRET)
}

pub(super) fn business_pk(business: &BusinessId) -> String {
    format!("BUSINESS#{business}")
}

pub(super) const BUSINESS_SECRET: &str = "SECRET";

pub(super) const CHATBOTS_PK: &str = "CHATBOTS";
pub(super) const CHATBOT_PREFIX: &str = "CHATBOT#";

pub(super) fn chatbot_sk(id: &ChatbotId) -> String {
    format!("{CHATBOT_PREFIX}{id}")
}

pub(super) fn chatbot_key(id: &ChatbotId) -> Item {
    key(CHATBOTS_PK.to_owned(), chatbot_sk(id))
}

pub(super) fn reply_key(session: SessionId) -> Item {
    key(session_pk(session), REPLY)
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

pub(super) fn to_item(value: &impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(internal)
}

pub(super) fn to_value(value: &impl Serialize) -> StoreResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(internal)
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| internal(format!("an item does not parse: {e}")))
}

/// The items of a response, which leaves the list out when there are none.
pub(super) fn from_items<T: DeserializeOwned>(items: Option<Vec<Item>>) -> StoreResult<Vec<T>> {
    items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect()
}

#[derive(Serialize, Deserialize)]
pub(super) struct SessionItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub session: Session,
    /// An open support session: in its business's queue, newest first (gsi1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    /// In the sweeper's idle list while it may idle out (see `sweep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
}

impl SessionItem {
    pub fn new(session: &Session) -> Self {
        let (gsi2pk, gsi2sk) = super::sweep::idle_entry(session);
        let queue = session
            .business_id
            .as_ref()
            .filter(|_| session.kind == SessionKind::Support && !session.is_ended());
        Self {
            pk: session_pk(session.id),
            sk: META.to_owned(),
            session: session.clone(),
            gsi1pk: queue.map(support_queue_pk),
            gsi1sk: queue
                .map(|_| format!("{:015}#{}", session.created_at.unix_millis(), session.id)),
            gsi2pk,
            gsi2sk: Some(gsi2sk),
        }
    }
}

/// gsi1's partition of a business's open support sessions.
pub(super) fn support_queue_pk(business: &BusinessId) -> String {
    format!("SUPPORT#{business}")
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
            gsi1pk: user_gsi1_pk(&member.user_id),
            gsi1sk: membership_gsi1_sk(member.last_activity_at, member.session_id),
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
    /// In the sweeper's list of uploads while it is pending (see `sweep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
}

impl AttachmentItem {
    pub fn new(attachment: &Attachment) -> Self {
        let (gsi2pk, gsi2sk) = match attachment.state {
            AttachmentState::Pending => {
                let (pk, sk) = super::sweep::upload_entry(attachment.id, attachment.created_at);
                (Some(pk), Some(sk))
            }
            AttachmentState::Ready => (None, None),
        };
        Self {
            pk: session_pk(attachment.session_id),
            sk: attachment_sk(attachment.id),
            attachment: attachment.clone(),
            gsi2pk,
            gsi2sk,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct ActiveItem {
    pub pk: String,
    pub sk: String,
    pub session_id: SessionId,
}

impl ActiveItem {
    /// The claim of an active scope (`Session::active_scope`'s key) by one session.
    pub fn new(scope_key: &str, session_id: SessionId) -> Self {
        Self {
            pk: active_pk(scope_key),
            sk: META.to_owned(),
            session_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct DedupItem {
    pub pk: String,
    pub sk: String,
    pub message_id: MessageId,
    pub expires_at: i64,
}

impl DedupItem {
    /// The claim of the message's client id, which lasts `DEDUP_TTL`.
    pub fn new(message: &Message, client_msg_id: &ClientMsgId) -> Self {
        Self {
            pk: session_pk(message.session_id),
            sk: dedup_sk(&message.sender_id, client_msg_id),
            message_id: message.id,
            expires_at: epoch_seconds(message.created_at.plus(DEDUP_TTL)),
        }
    }
}

/// A message; reactions live in the string set `rx` as `<user id>#<emoji>`, so one
/// user's reaction is added or removed atomically with ADD/DELETE (user ids have no `#`).
#[derive(Serialize, Deserialize)]
pub(super) struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub id: MessageId,
    pub session_id: SessionId,
    #[serde(default)]
    pub seq: u64,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<IncompleteReason>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub moderated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZoneName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
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
            seq: message.seq,
            sender_id: message.sender_id.clone(),
            sender_name: message.sender_name.clone(),
            is_bot: message.is_bot,
            kind: message.kind,
            content: message.content.clone(),
            attachment: message.attachment.clone(),
            client_msg_id: message.client_msg_id.clone(),
            token_count: message.token_count,
            incomplete: message.incomplete,
            incomplete_reason: message.incomplete_reason,
            moderated: message.moderated,
            language: message.language.clone(),
            timezone: message.timezone.clone(),
            sources: message.sources.clone(),
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
            seq: self.seq,
            sender_id: self.sender_id,
            sender_name: self.sender_name,
            is_bot: self.is_bot,
            kind: self.kind,
            content: self.content,
            attachment: self.attachment,
            client_msg_id: self.client_msg_id,
            token_count: self.token_count,
            incomplete: self.incomplete,
            incomplete_reason: self.incomplete_reason,
            moderated: self.moderated,
            language: self.language,
            timezone: self.timezone,
            sources: self.sources,
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
    /// Kept on the routing item, which a typing frame writes and the index lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_until: Option<Timestamp>,
    /// On both copies: a broadcast renders each dialect its Query finds.
    #[serde(default, skip_serializing_if = "Dialect::is_canonical")]
    pub dialect: Dialect,
    /// On the routing item only, which the message path reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_bucket: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strikes: u32,
    /// On a bound connection's routing item: listed in the index under its session, for
    /// typing (see `typing_peers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    /// On the routing item: in the sweeper's list of expiries (see `sweep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// The feed head: the session's last seq, and whether its messages get bot replies.
#[derive(Serialize, Deserialize)]
pub(super) struct HeadItem {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub last_seq: u64,
    #[serde(default)]
    pub bot: Option<bool>,
}

impl HeadItem {
    pub fn new(session: &Session) -> Self {
        Self {
            pk: session_pk(session.id),
            sk: FEED_PREFIX.to_owned(),
            last_seq: 0,
            bot: Some(session.wants_bot()),
        }
    }
}

/// A user's send bucket, and what they sent last (a fingerprint, never the text).
#[derive(Serialize, Deserialize)]
pub(super) struct BucketItem {
    pub bucket: u64,
    #[serde(default)]
    pub last_text: Option<u64>,
    #[serde(default)]
    pub repeats: u32,
    #[serde(default)]
    pub last_text_at: Option<Timestamp>,
}

impl BucketItem {
    pub fn repetition(&self) -> Option<chat_core::moderation::Repetition> {
        Some(chat_core::moderation::Repetition {
            fingerprint: self.last_text?,
            times: self.repeats,
            at: self.last_text_at?,
        })
    }
}

impl ConnectionItem {
    pub fn routing(connection: &Connection) -> Self {
        let mut item = Self::with_key(connection, connection_pk(&connection.id), META.to_owned());
        if let Some(session) = connection.session_id {
            item.gsi1pk = Some(feed_gsi1_pk(session));
            item.gsi1sk = Some(connection_pk(&connection.id));
        }
        let (pk, sk) = super::sweep::expiry_entry(&connection.id, item.expires_at);
        item.gsi2pk = Some(pk);
        item.gsi2sk = Some(sk);
        item
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

    pub fn into_key(self) -> Item {
        key(self.pk, self.sk)
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
            dialect: connection.dialect,
            send_bucket: connection.send_bucket,
            strikes: connection.strikes,
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
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
            dialect: self.dialect,
            send_bucket: self.send_bucket,
            strikes: self.strikes,
        }
    }
}
