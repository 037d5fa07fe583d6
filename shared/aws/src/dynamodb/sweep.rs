//! What the sweeper finds, through `gsi2`: a sparse, keys-only index that holds only what
//! may become due, sorted by when it does, so a sweep reads only what it removes (and, when
//! nothing is due, one empty Query per shard and list).
//!
//! - An open bot or support session: `IDLE#<shard>` / `<activity stamp>#<sid>`. The stamp is
//!   the last activity cut to 10 minutes: each message sets it, and DynamoDB writes the
//!   index only when it changes, so at most once per 10 minutes a session. Ending the
//!   session takes it out.
//! - A pending upload: `UPLOAD#<shard>` / `<announced at>#<aid>`, out once it is ready.
//! - A connection: `EXPIRY#<shard>` / `<expires at>#<cid>`, out when it is deleted.
//!
//! Each list spreads over [`SHARDS`] partitions (by a hash of the id), so no one index
//! partition takes every session's writes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Update};

use super::errors::{conditional, sdk_failure};
use super::items::{Item, attachment_key, s, session_key, to_value};
use super::{DynamoStore, IfSessionOpen, query_limit};
use chat_core::domain::{AttachmentId, ConnectionId, Session, SessionId, Timestamp};
use chat_core::ports::{StoreResult, SweepStore};

/// The sweeper's index.
pub const GSI2: &str = "gsi2";
/// Partitions per list.
pub const SHARDS: u32 = 4;
/// How finely the idle index orders sessions: a session ends up to this late.
pub const ACTIVITY_STAMP: Duration = Duration::from_secs(600);

const IDLE: &str = "IDLE";
const UPLOAD: &str = "UPLOAD";
const EXPIRY: &str = "EXPIRY";

/// Which of a list's partitions an id goes to: FNV-1a of it, so the same id always lands
/// in the same one.
fn shard(id: &str) -> u32 {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % SHARDS
}

/// A time as the index sorts it.
fn position(millis: u64) -> String {
    format!("{millis:015}")
}

fn activity_stamp(at: Timestamp) -> u64 {
    let step = ACTIVITY_STAMP.as_millis() as u64;
    at.unix_millis() / step * step
}

/// The keys of an entry in one of the lists: `(gsi2pk, gsi2sk)`.
fn entry(list: &str, id: &str, at_millis: u64) -> (String, String) {
    (
        format!("{list}#{}", shard(id)),
        format!("{}#{id}", position(at_millis)),
    )
}

/// A session's place in the idle list (its sort key is kept by every session, so a
/// message can set it without knowing whether the session is listed; only the
/// partition key, which a session that idles out has, puts it in the index).
pub(super) fn idle_entry(session: &Session) -> (Option<String>, String) {
    let (pk, sk) = idle_keys(session.id, session.last_activity_at);
    (session.idles_out().then_some(pk), sk)
}

fn idle_keys(id: SessionId, last_activity_at: Timestamp) -> (String, String) {
    entry(IDLE, &id.to_string(), activity_stamp(last_activity_at))
}

/// The idle list's sort key after activity at `at`.
pub(super) fn idle_sk(id: SessionId, at: Timestamp) -> String {
    idle_keys(id, at).1
}

pub(super) fn upload_entry(id: AttachmentId, announced_at: Timestamp) -> (String, String) {
    entry(UPLOAD, &id.to_string(), announced_at.unix_millis())
}

pub(super) fn expiry_entry(id: &ConnectionId, expires_at_seconds: i64) -> (String, String) {
    let millis = u64::try_from(expires_at_seconds).unwrap_or(0) * 1_000;
    entry(EXPIRY, id.as_str(), millis)
}

/// The part of a `PREFIX#<id>` key after the prefix.
fn after_prefix<'a>(item: &'a Item, attribute: &str, prefix: &str) -> Option<&'a str> {
    match item.get(attribute) {
        Some(AttributeValue::S(value)) => value.strip_prefix(prefix),
        _ => None,
    }
}

impl DynamoStore {
    /// The keys of the list's entries due before `before`, oldest first: a Query of each
    /// shard (at most `limit` each), merged.
    async fn due(&self, list: &str, before: Timestamp, limit: usize) -> StoreResult<Vec<Item>> {
        let bound = position(before.unix_millis());
        let shards = (0..SHARDS).map(|shard| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("gsi2pk = :pk AND gsi2sk < :before")
                .expression_attribute_values(":pk", s(format!("{list}#{shard}")))
                .expression_attribute_values(":before", s(bound.clone()))
                .limit(query_limit(limit))
                .send()
        });
        let mut found: Vec<(String, Item)> = Vec::new();
        for output in futures::future::join_all(shards).await {
            let output = output.map_err(|e| sdk_failure("Query", e))?;
            for item in output.items.unwrap_or_default() {
                if let Some(AttributeValue::S(sk)) = item.get("gsi2sk") {
                    found.push((sk.clone(), item));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, item)| item).collect())
    }
}

#[async_trait]
impl SweepStore for DynamoStore {
    /// A Query per shard.
    async fn idle_sessions(&self, before: Timestamp, limit: usize) -> StoreResult<Vec<SessionId>> {
        // Entries stamped before `before`'s stamp were last active before it.
        let bound = Timestamp::from_unix_millis(activity_stamp(before));
        Ok(self
            .due(IDLE, bound, limit)
            .await?
            .iter()
            .filter_map(|item| after_prefix(item, "pk", "SESSION#"))
            .filter_map(|id| SessionId::parse(id).ok())
            .collect())
    }

    /// A GetItem, then one TransactWriteItems (as `end_session`) conditioned on the
    /// activity too.
    async fn end_idle_session(
        &self,
        id: SessionId,
        before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        self.end_session_if(id, now, Some(before)).await
    }

    /// A Query per shard.
    async fn stale_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<(SessionId, AttachmentId)>> {
        Ok(self
            .due(UPLOAD, before, limit)
            .await?
            .iter()
            .filter_map(|item| {
                let session = SessionId::parse(after_prefix(item, "pk", "SESSION#")?).ok()?;
                let id = AttachmentId::parse(after_prefix(item, "sk", "ATT#")?).ok()?;
                Some((session, id))
            })
            .collect())
    }

    /// One DeleteItem, conditioned on the upload still pending.
    async fn remove_stale_upload(&self, session: SessionId, id: AttachmentId) -> StoreResult<bool> {
        let request = self
            .delete_request(attachment_key(session, id))
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(
                ":pending",
                to_value(&chat_core::domain::AttachmentState::Pending)?,
            );
        Ok(conditional("DeleteItem", request.send().await)?.is_ok())
    }

    /// A Query per shard.
    async fn expired_connections(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<ConnectionId>> {
        Ok(self
            .due(EXPIRY, before, limit)
            .await?
            .iter()
            .filter_map(|item| after_prefix(item, "pk", "CONN#"))
            .filter_map(|id| ConnectionId::parse(id).ok())
            .collect())
    }
}

impl DynamoStore {
    /// Ends the session (status, end time, the release of its active scope and its places
    /// in the idle list and its business's queue, in one transaction), only while it is open and, with
    /// `idle_before`, only if it was last active before then: `None` when a condition did
    /// not hold.
    pub(super) async fn end_session_if(
        &self,
        id: SessionId,
        now: Timestamp,
        idle_before: Option<Timestamp>,
    ) -> StoreResult<Option<Session>> {
        let Some(mut session) = chat_core::ports::SessionStore::get_session(self, id).await? else {
            return Ok(None);
        };
        if session.is_ended()
            || idle_before.is_some_and(|before| session.last_activity_at >= before)
        {
            return Ok(None);
        }
        session.status = chat_core::domain::SessionStatus::Ended;
        session.ended_at = Some(now);
        session.updated_at = now;
        let mut end = Update::builder()
            .update_expression(
                "SET #status = :ended, ended_at = :now, updated_at = :now REMOVE gsi1pk, gsi2pk",
            )
            .if_session_open()?
            .expression_attribute_values(":now", to_value(&now)?);
        if let Some(before) = idle_before {
            end = end
                .condition_expression(
                    "attribute_exists(pk) AND #status <> :ended AND last_activity_at < :before",
                )
                .expression_attribute_values(":before", to_value(&before)?);
        }
        let mut writes = vec![self.update_write(session_key(id), end)?];
        if let Some(scope) = session.active_scope() {
            let release = Delete::builder()
                .condition_expression("attribute_not_exists(pk) OR session_id = :sid")
                .expression_attribute_values(":sid", s(id.to_string()));
            writes.push(self.delete_write(super::items::active_key(&scope.key()), release)?);
        }
        Ok(self.transact(writes).await?.ok().map(|()| session))
    }
}
