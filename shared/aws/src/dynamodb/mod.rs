//! The DynamoDB single-table store. Every request has an operation timeout; no Scan
//! anywhere; a chat message costs the same requests whatever the session's size.

mod items;
mod metrics;

pub use metrics::RequestCounter;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::items::*;
use super::{backoff, sdk_timeouts};
use chat_core::domain::{
    Attachment, AttachmentId, AttachmentState, Connection, ConnectionId, Content, Cursor, Member,
    Message, MessageId, Order, Page, PageLimit, Reaction, Session, SessionId, SessionStatus,
    Timestamp, UserId,
};
use chat_core::paging::{
    MessageRange, activity_position, attachment_cursor, first_after, membership_position_at,
    message_cursor, split_page,
};
use chat_core::ports::{
    AttachmentStore, ConnectionStore, Created, MessageQuery, MessageStore, Posted, ReplyInProgress,
    ReplyStore, SessionPatch, SessionQuery, SessionStore, StoreError, StoreResult,
    check_new_session,
};

/// The name of the one global secondary index: a user's memberships by their activity.
pub const GSI1: &str = "gsi1";
/// How long a client message id is remembered for idempotent sends.
pub const DEDUP_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Retries of a transaction that lost a race with another one touching the same items.
const TRANSACTION_ATTEMPTS: u32 = 4;
/// Rounds of GSI pages read to fill one page of a filtered session list.
const SESSION_LIST_ROUNDS: usize = 5;

/// A client for a DynamoDB-compatible endpoint on this machine (moto, DynamoDB Local),
/// which wants some credentials and a region but checks neither.
pub fn local_client(endpoint_url: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .endpoint_url(endpoint_url)
        .timeout_config(sdk_timeouts())
        .build();
    Client::from_conf(config)
}

/// A conditional write whose condition did not hold.
struct ConditionFailed;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// Wraps a client, replacing its timeouts with ours.
    pub fn new(client: &Client, table: impl Into<String>) -> Self {
        Self::with_config(client, table, |config| config)
    }

    /// The store a Lambda uses: the region and credentials of its environment, and the
    /// configured table (and endpoint, when one is set).
    pub fn from_sdk_config(
        sdk_config: &aws_config::SdkConfig,
        config: &chat_core::config::StoreConfig,
    ) -> Self {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk_config);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self::new(
            &Client::from_conf(builder.build()),
            config.table_name.clone(),
        )
    }

    /// Like `new`, counting every request the store sends.
    pub fn counted(client: &Client, table: impl Into<String>, counter: RequestCounter) -> Self {
        Self::with_config(client, table, |config| config.interceptor(counter))
    }

    fn with_config(
        client: &Client,
        table: impl Into<String>,
        adjust: impl FnOnce(aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder,
    ) -> Self {
        let config = adjust(client.config().to_builder().timeout_config(sdk_timeouts())).build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with its index and TTL unless it exists: for the local server and
    /// tests. Deployed stacks get the table from the template.
    pub async fn create_table_if_absent(&self) -> StoreResult<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(internal)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(internal)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(internal)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .attribute_definitions(attribute("gsi1pk")?)
            .attribute_definitions(attribute("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(err) => return Err(sdk_failure("CreateTable", err)),
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(internal)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| sdk_failure("UpdateTimeToLive", e))?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> StoreResult<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure("GetItem", e))?;
        output.item.map(from_item).transpose()
    }

    fn put(
        &self,
        item: &impl Serialize,
        condition: Option<&str>,
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs a transaction, retrying when it lost a race; a cancellation for a failed
    /// condition comes back as the index of each item whose condition failed.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Result<(), Vec<usize>>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            else {
                let conflict = err.code() == Some("TransactionConflictException");
                if conflict && attempt < TRANSACTION_ATTEMPTS {
                    backoff(attempt).await;
                    continue;
                }
                return Err(sdk_failure("TransactWriteItems", err));
            };
            let codes: Vec<Option<&str>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            let failed: Vec<usize> = codes
                .iter()
                .enumerate()
                .filter(|(_, code)| *code == &Some("ConditionalCheckFailed"))
                .map(|(index, _)| index)
                .collect();
            if !failed.is_empty() {
                return Ok(Err(failed));
            }
            let raced = codes.contains(&Some("TransactionConflict"));
            if raced && attempt < TRANSACTION_ATTEMPTS {
                backoff(attempt).await;
                continue;
            }
            if codes.is_empty() {
                // Some emulators leave the reasons out; the caller re-reads to find out why.
                return Ok(Err(Vec::new()));
            }
            return Err(sdk_failure("TransactWriteItems", err));
        }
    }

    /// Up to `limit` items of a partition with sort keys in `first..=last`, in one Query.
    async fn query_range<T: DeserializeOwned>(
        &self,
        pk: String,
        (first, last): (String, String),
        ascending: bool,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":first", s(first))
            .expression_attribute_values(":last", s(last))
            .scan_index_forward(ascending)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Every item of a partition whose sort key starts with `prefix`, across result pages.
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        filter: Option<(&str, i64)>,
    ) -> StoreResult<Vec<T>> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        if let Some((expression, now)) = filter {
            request = request
                .filter_expression(expression)
                .expression_attribute_values(":now", n(now));
        }
        let mut pages = request.into_paginator().items().send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            found.push(from_item(item.map_err(|e| sdk_failure("Query", e))?)?);
        }
        Ok(found)
    }

    /// Sessions by id, in one BatchGetItem per 100, retrying what DynamoDB left unprocessed.
    async fn batch_get_sessions(&self, ids: &[SessionId]) -> StoreResult<Vec<Session>> {
        let mut sessions = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let keys = chunk.iter().map(|id| key(session_pk(*id), META)).collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(internal)?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                attempt += 1;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_failure("BatchGetItem", e))?;
                for item in output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    sessions.push(from_item::<SessionItem>(item)?.session);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table));
                if pending.is_some() {
                    if attempt >= TRANSACTION_ATTEMPTS {
                        return Err(StoreError::Unavailable(
                            "BatchGetItem left keys unprocessed".into(),
                        ));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(sessions)
    }

    /// A transaction item that holds only while the session exists and has not ended.
    fn open_session_check(&self, session: SessionId) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), META)))
            .condition_expression("attribute_exists(pk) AND #status <> :ended")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ended", to_value(&SessionStatus::Ended)?)
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Sends a conditional UpdateItem: the item it returns (with `ReturnValues`), or
    /// `Err(ConditionFailed)` when its condition did not hold.
    async fn conditional_update(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> StoreResult<Result<Option<Item>, ConditionFailed>> {
        match request.send().await {
            Ok(output) => Ok(Ok(output.attributes)),
            Err(err) if condition_failed(&err) => Ok(Err(ConditionFailed)),
            Err(err) => Err(sdk_failure("UpdateItem", err)),
        }
    }

    /// A conditional UpdateItem returning the whole updated item, or `None` when its
    /// condition did not hold.
    async fn updated<T: DeserializeOwned>(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> StoreResult<Option<T>> {
        match self
            .conditional_update(request.return_values(ReturnValue::AllNew))
            .await?
        {
            Ok(item) => {
                from_item(item.ok_or_else(|| internal("UpdateItem returned nothing"))?).map(Some)
            }
            Err(ConditionFailed) => Ok(None),
        }
    }

    /// Why a write conditioned on an open session failed.
    async fn closed_session_error(&self, id: SessionId) -> StoreError {
        match self.get::<SessionItem>(session_pk(id), META).await {
            Ok(Some(item)) if item.session.is_ended() => StoreError::SessionEnded,
            Ok(Some(_)) => StoreError::Conflict("the session changed concurrently"),
            Ok(None) => StoreError::NotFound,
            Err(err) => err,
        }
    }

    async fn update_message(
        &self,
        session: SessionId,
        id: MessageId,
        update: UpdateItemFluentBuilder,
        require_live: bool,
    ) -> StoreResult<Message> {
        let condition = if require_live {
            "attribute_exists(pk) AND attribute_not_exists(deleted_at)"
        } else {
            "attribute_exists(pk)"
        };
        let request = update
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), message_sk(id))))
            .condition_expression(condition);
        match self.updated::<MessageItem>(request).await? {
            Some(item) => Ok(item.into_message()),
            None => match self.get_message(session, id).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::Conflict("the message was deleted")),
            },
        }
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    /// One TransactWriteItems: the active-scope claim, the session and its members. On a
    /// lost claim, two GetItems fetch the winner.
    async fn create_session(&self, session: &Session, members: &[Member]) -> StoreResult<Created> {
        check_new_session(session, members)?;
        let scope = session.active_scope().map(|scope| scope.key());
        let absent = Some("attribute_not_exists(pk)");
        let mut writes = Vec::with_capacity(members.len() + 2);
        if let Some(scope) = &scope {
            let claim = ActiveItem {
                pk: active_pk(scope),
                sk: META.to_owned(),
                session_id: session.id,
            };
            writes.push(self.put(&claim, absent)?);
        }
        writes.push(self.put(&SessionItem::new(session), absent)?);
        for member in members {
            writes.push(self.put(&MemberItem::new(member), absent)?);
        }
        if self.transact(writes).await?.is_ok() {
            return Ok(Created::New(session.clone()));
        }
        let Some(scope) = scope else {
            return Err(StoreError::Conflict("the session id is taken"));
        };
        let claim = self
            .get::<ActiveItem>(active_pk(&scope), META)
            .await?
            .ok_or(StoreError::Conflict("the session id is taken"))?;
        let existing = self
            .get_session(claim.session_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(Created::Existing(existing))
    }

    /// One GetItem.
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self
            .get::<SessionItem>(session_pk(id), META)
            .await?
            .map(|item| item.session))
    }

    /// One UpdateItem (plus a GetItem to explain a refusal).
    async fn update_session(
        &self,
        id: SessionId,
        patch: &SessionPatch,
        now: Timestamp,
    ) -> StoreResult<Session> {
        patch.check()?;
        let mut set = vec!["updated_at = :now"];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(id), META)))
            .condition_expression("attribute_exists(pk) AND #status <> :ended")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ended", to_value(&SessionStatus::Ended)?)
            .expression_attribute_values(":now", to_value(&now)?)
            .return_values(ReturnValue::AllNew);
        match &patch.title {
            Some(Some(title)) => {
                set.push("#title = :title");
                request = request.expression_attribute_names("#title", "title");
                request = request.expression_attribute_values(":title", to_value(title)?);
            }
            Some(None) => {
                remove.push("#title");
                request = request.expression_attribute_names("#title", "title");
            }
            None => {}
        }
        if let Some(status) = patch.status {
            set.push("#status = :status");
            request = request.expression_attribute_values(":status", to_value(&status)?);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match self
            .updated::<SessionItem>(request.update_expression(expression))
            .await?
        {
            Some(item) => Ok(item.session),
            None => Err(self.closed_session_error(id).await),
        }
    }

    /// A GetItem, then one TransactWriteItems: the status and the release of the scope.
    async fn end_session(&self, id: SessionId, now: Timestamp) -> StoreResult<Session> {
        let mut session = self.get_session(id).await?.ok_or(StoreError::NotFound)?;
        if session.is_ended() {
            return Err(StoreError::SessionEnded);
        }
        session.status = SessionStatus::Ended;
        session.ended_at = Some(now);
        session.updated_at = now;
        let end = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(id), META)))
            .update_expression("SET #status = :ended, ended_at = :now, updated_at = :now")
            .condition_expression("attribute_exists(pk) AND #status <> :ended")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ended", to_value(&SessionStatus::Ended)?)
            .expression_attribute_values(":now", to_value(&now)?)
            .build()
            .map_err(internal)?;
        let mut writes = vec![TransactWriteItem::builder().update(end).build()];
        if let Some(scope) = session.active_scope() {
            let release = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(active_pk(&scope.key()), META)))
                .condition_expression("attribute_not_exists(pk) OR session_id = :sid")
                .expression_attribute_values(":sid", s(id.to_string()))
                .build()
                .map_err(internal)?;
            writes.push(TransactWriteItem::builder().delete(release).build());
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(session),
            Err(_) => Err(self.closed_session_error(id).await),
        }
    }

    /// One TransactWriteItems: the session is open, and the member is new.
    async fn add_member(&self, member: &Member) -> StoreResult<bool> {
        let open = self.open_session_check(member.session_id)?;
        let writes = vec![
            open,
            self.put(&MemberItem::new(member), Some("attribute_not_exists(pk)"))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(true),
            Err(failed) if failed == [1] => Ok(false),
            Err(_) => match self.closed_session_error(member.session_id).await {
                StoreError::Conflict(_) => Ok(false),
                err => Err(err),
            },
        }
    }

    /// One DeleteItem.
    async fn remove_member(&self, session: SessionId, user: &UserId) -> StoreResult<bool> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), member_sk(user))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_failure("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// One GetItem.
    async fn get_member(&self, session: SessionId, user: &UserId) -> StoreResult<Option<Member>> {
        Ok(self
            .get::<MemberItem>(session_pk(session), &member_sk(user))
            .await?
            .map(|i| i.member))
    }

    /// One Query (more for sessions past 1 MB of members).
    async fn list_members(&self, session: SessionId) -> StoreResult<Vec<Member>> {
        let items: Vec<MemberItem> = self
            .query_prefix(session_pk(session), MEMBER_PREFIX, None)
            .await?;
        Ok(items.into_iter().map(|i| i.member).collect())
    }

    /// A Query of the index and a BatchGetItem of the sessions; with a status filter,
    /// repeated (at most a few rounds) until the page is full.
    async fn list_user_sessions(
        &self,
        user: &UserId,
        query: &SessionQuery,
    ) -> StoreResult<Page<Session>> {
        let limit = query.limit.get();
        let mut below = query
            .cursor
            .as_ref()
            .map(membership_position_at)
            .transpose()?;
        let mut found: Vec<(String, Session)> = Vec::new();
        let mut exhausted = false;
        for _ in 0..SESSION_LIST_ROUNDS {
            let want = limit + 1 - found.len();
            let fetch = if query.status.is_some() {
                want.max(25)
            } else {
                want
            };
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .scan_index_forward(false)
                .limit(i32::try_from(fetch).unwrap_or(i32::MAX))
                .expression_attribute_values(":user", s(user_pk(user)));
            request = match &below {
                Some(position) => request
                    .key_condition_expression("gsi1pk = :user AND gsi1sk < :below")
                    .expression_attribute_values(":below", s(position.as_str())),
                None => request.key_condition_expression("gsi1pk = :user"),
            };
            let output = request.send().await.map_err(|e| sdk_failure("Query", e))?;
            let memberships: Vec<MemberItem> = output
                .items
                .unwrap_or_default()
                .into_iter()
                .map(from_item)
                .collect::<StoreResult<_>>()?;
            exhausted = memberships.len() < fetch || output.last_evaluated_key.is_none();
            let ids: Vec<SessionId> = memberships.iter().map(|m| m.member.session_id).collect();
            let mut sessions = self.batch_get_sessions(&ids).await?;
            for membership in memberships {
                below = Some(membership.gsi1sk.clone());
                let Some(at) = sessions
                    .iter()
                    .position(|s| s.id == membership.member.session_id)
                else {
                    continue;
                };
                let session = sessions.swap_remove(at);
                if query.status.is_none_or(|status| session.status == status) {
                    found.push((membership.gsi1sk, session));
                }
            }
            if found.len() > limit || exhausted {
                break;
            }
        }
        let (page, mut next_cursor) =
            split_page(found, limit, |(position, _)| Cursor::encode(position));
        if next_cursor.is_none() && !exhausted {
            // The rounds ran out before the list did: carry on from the last one examined.
            next_cursor = below.as_deref().map(Cursor::encode);
        }
        Ok(Page {
            items: page.into_iter().map(|(_, session)| session).collect(),
            next_cursor,
        })
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    /// One TransactWriteItems of three or four writes: the message, its client-id claim,
    /// the session's activity (conditioned on it being open) and the sender's membership.
    async fn put_message(&self, message: &Message, sender_is_member: bool) -> StoreResult<Posted> {
        let absent = Some("attribute_not_exists(pk)");
        let mut writes = vec![self.put(&MessageItem::new(message), absent)?];
        let dedup_index = match &message.client_msg_id {
            Some(client_id) => {
                let claim = DedupItem {
                    pk: session_pk(message.session_id),
                    sk: dedup_sk(&message.sender_id, client_id),
                    message_id: message.id,
                    expires_at: epoch_seconds(message.created_at.plus(DEDUP_TTL)),
                };
                writes.push(self.put(&claim, absent)?);
                Some(writes.len() - 1)
            }
            None => None,
        };
        let activity = to_value(&message.created_at)?;
        let touch_session = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(message.session_id), META)))
            .update_expression("SET last_activity_at = :at")
            .condition_expression("attribute_exists(pk) AND #status <> :ended")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ended", to_value(&SessionStatus::Ended)?)
            .expression_attribute_values(":at", activity.clone())
            .build()
            .map_err(internal)?;
        writes.push(TransactWriteItem::builder().update(touch_session).build());
        let session_index = writes.len() - 1;
        if sender_is_member {
            let touch_member = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    session_pk(message.session_id),
                    member_sk(&message.sender_id),
                )))
                .update_expression("SET last_activity_at = :at, gsi1sk = :position")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":at", activity)
                .expression_attribute_values(
                    ":position",
                    s(activity_position(message.created_at, message.session_id)),
                )
                .build()
                .map_err(internal)?;
            writes.push(TransactWriteItem::builder().update(touch_member).build());
        }
        let failed = match self.transact(writes).await? {
            Ok(()) => return Ok(Posted::New(message.clone())),
            Err(failed) => failed,
        };
        // Find out why, in the order that matters: a duplicate wins over a closed session.
        if let (Some(index), Some(client_id)) = (dedup_index, &message.client_msg_id)
            && (failed.is_empty() || failed.contains(&index))
        {
            let claim = self
                .get::<DedupItem>(
                    session_pk(message.session_id),
                    &dedup_sk(&message.sender_id, client_id),
                )
                .await?;
            if let Some(claim) = claim {
                let original = self
                    .get_message(message.session_id, claim.message_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                return Ok(Posted::Duplicate(original));
            }
        }
        if failed.is_empty() || failed.contains(&session_index) {
            match self.closed_session_error(message.session_id).await {
                StoreError::Conflict(_) => {}
                err => return Err(err),
            }
        }
        if failed.contains(&0) {
            return Err(StoreError::Conflict("the message id is taken"));
        }
        Err(StoreError::Conflict("the sender is not a member"))
    }

    /// One GetItem.
    async fn get_message(&self, session: SessionId, id: MessageId) -> StoreResult<Option<Message>> {
        Ok(self
            .get::<MessageItem>(session_pk(session), &message_sk(id))
            .await?
            .map(MessageItem::into_message))
    }

    /// One Query of `limit + 1` items between the bounds.
    async fn list_messages(
        &self,
        session: SessionId,
        query: &MessageQuery,
    ) -> StoreResult<Page<Message>> {
        let Some(range) = MessageRange::of(query)? else {
            return Ok(Page::empty());
        };
        let fetched: Vec<MessageItem> = self
            .query_range(
                session_pk(session),
                (message_sk(range.first), message_sk(range.last)),
                range.order == Order::Asc,
                query.limit.get() + 1,
            )
            .await?;
        let fetched: Vec<Message> = fetched.into_iter().map(MessageItem::into_message).collect();
        let (items, next_cursor) = split_page(fetched, query.limit.get(), |m| message_cursor(m.id));
        Ok(Page { items, next_cursor })
    }

    /// One UpdateItem.
    async fn edit_message(
        &self,
        session: SessionId,
        id: MessageId,
        content: &Content,
        now: Timestamp,
    ) -> StoreResult<Message> {
        let update = self
            .client
            .update_item()
            .update_expression("SET #content = :content, edited_at = :now")
            .expression_attribute_names("#content", "content")
            .expression_attribute_values(":content", s(content.as_str()))
            .expression_attribute_values(":now", to_value(&now)?);
        self.update_message(session, id, update, true).await
    }

    /// One UpdateItem; deleting again keeps the first deletion's time.
    async fn delete_message(
        &self,
        session: SessionId,
        id: MessageId,
        now: Timestamp,
    ) -> StoreResult<Message> {
        let update = self
            .client
            .update_item()
            .update_expression(
                "SET deleted_at = if_not_exists(deleted_at, :now), #content = :empty REMOVE rx",
            )
            .expression_attribute_names("#content", "content")
            .expression_attribute_values(":empty", s(""))
            .expression_attribute_values(":now", to_value(&now)?);
        self.update_message(session, id, update, false).await
    }

    /// One UpdateItem: ADD or DELETE of one element of the reaction set.
    async fn set_reaction(
        &self,
        session: SessionId,
        id: MessageId,
        reaction: &Reaction,
        user: &UserId,
        present: bool,
    ) -> StoreResult<Message> {
        let verb = if present { "ADD" } else { "DELETE" };
        let update = self
            .client
            .update_item()
            .update_expression(format!("{verb} rx :entry"))
            .expression_attribute_values(
                ":entry",
                aws_sdk_dynamodb::types::AttributeValue::Ss(vec![reaction_entry(user, reaction)]),
            );
        self.update_message(session, id, update, true).await
    }
}

#[async_trait]
impl AttachmentStore for DynamoStore {
    /// One TransactWriteItems: the session is open, and the id is new.
    async fn put_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let open = self.open_session_check(attachment.session_id)?;
        let writes = vec![
            open,
            self.put(
                &AttachmentItem::new(attachment),
                Some("attribute_not_exists(pk)"),
            )?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => match self.closed_session_error(attachment.session_id).await {
                StoreError::Conflict(_) => Err(StoreError::Conflict("the attachment id is taken")),
                error => Err(error),
            },
        }
    }

    /// One GetItem.
    async fn get_attachment(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Option<Attachment>> {
        Ok(self
            .get::<AttachmentItem>(session_pk(session), &attachment_sk(id))
            .await?
            .map(|i| i.attachment))
    }

    /// One UpdateItem.
    async fn mark_attachment_ready(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Attachment> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), attachment_sk(id))))
            .update_expression("SET #state = :ready")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":ready", to_value(&AttachmentState::Ready)?);
        let item = self.updated::<AttachmentItem>(request).await?;
        item.map(|i| i.attachment).ok_or(StoreError::NotFound)
    }

    /// One Query of `limit + 1` attachments after `after`.
    async fn list_attachments(
        &self,
        session: SessionId,
        after: Option<AttachmentId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Attachment>> {
        let Some(first) = first_after(after) else {
            return Ok(Page::empty());
        };
        let fetched: Vec<AttachmentItem> = self
            .query_range(
                session_pk(session),
                (attachment_sk(first), attachment_sk(AttachmentId::MAX)),
                true,
                limit.get() + 1,
            )
            .await?;
        let fetched: Vec<Attachment> = fetched.into_iter().map(|i| i.attachment).collect();
        let (items, next_cursor) = split_page(fetched, limit.get(), |a| attachment_cursor(a.id));
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    /// One TransactWriteItems: the routing item and, when bound, the session's copy.
    async fn put_connection(&self, connection: &Connection) -> StoreResult<()> {
        let mut writes = vec![self.put(&ConnectionItem::routing(connection), None)?];
        if let Some(fan_out) = ConnectionItem::fan_out(connection) {
            writes.push(self.put(&fan_out, None)?);
        }
        self.transact(writes)
            .await?
            .map_err(|_| StoreError::Conflict("the connection changed concurrently"))
    }

    /// One GetItem.
    async fn get_connection(
        &self,
        id: &ConnectionId,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>> {
        let item = self.get::<ConnectionItem>(connection_pk(id), META).await?;
        Ok(item
            .map(ConnectionItem::into_connection)
            .filter(|c| c.is_live(now)))
    }

    /// A GetItem, then one TransactWriteItems moving the session's copy.
    async fn bind_connection(
        &self,
        id: &ConnectionId,
        session: Option<SessionId>,
    ) -> StoreResult<Connection> {
        let previous = self
            .get::<ConnectionItem>(connection_pk(id), META)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_connection();
        let bound = Connection {
            session_id: session,
            ..previous.clone()
        };
        let mut writes = vec![self.put(
            &ConnectionItem::routing(&bound),
            Some("attribute_exists(pk)"),
        )?];
        if let Some(old) =
            ConnectionItem::fan_out(&previous).filter(|_| previous.session_id != session)
        {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(old.pk, old.sk)))
                .build()
                .map_err(internal)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        if let Some(fan_out) = ConnectionItem::fan_out(&bound) {
            writes.push(self.put(&fan_out, None)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(bound),
            Err(_) => Err(StoreError::NotFound),
        }
    }

    /// A DeleteItem of the routing item and, when bound, one of the session's copy.
    async fn delete_connection(&self, id: &ConnectionId) -> StoreResult<Option<Connection>> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(connection_pk(id), META)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_failure("DeleteItem", e))?;
        let Some(item) = output.attributes.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let connection = from_item::<ConnectionItem>(item)?.into_connection();
        if let Some(fan_out) = ConnectionItem::fan_out(&connection) {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(fan_out.pk, fan_out.sk)))
                .send()
                .await
                .map_err(|e| sdk_failure("DeleteItem", e))?;
        }
        Ok(Some(connection))
    }

    /// One UpdateItem of the session's copy of the connection.
    async fn set_typing(
        &self,
        id: &ConnectionId,
        session: SessionId,
        until: Option<Timestamp>,
    ) -> StoreResult<()> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), session_connection_sk(id))))
            .condition_expression("attribute_exists(pk)");
        let request = match until {
            Some(until) => request
                .update_expression("SET typing_until = :until")
                .expression_attribute_values(":until", to_value(&until)?),
            None => request.update_expression("REMOVE typing_until"),
        };
        match self.conditional_update(request).await? {
            Ok(_) => Ok(()),
            Err(ConditionFailed) => Err(StoreError::NotFound),
        }
    }

    /// One Query of the session's partition, expired connections filtered out.
    async fn list_session_connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>> {
        // A connection is live while expires_at (whole seconds) * 1000 > now in millis.
        let now_seconds = i64::try_from(now.unix_millis() / 1_000).unwrap_or(i64::MAX);
        let items: Vec<ConnectionItem> = self
            .query_prefix(
                session_pk(session),
                CONNECTION_PREFIX,
                Some(("expires_at > :now", now_seconds)),
            )
            .await?;
        Ok(items
            .into_iter()
            .map(ConnectionItem::into_connection)
            .collect())
    }
}

fn to_item(value: &impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(internal)
}

fn to_value(value: &impl Serialize) -> StoreResult<aws_sdk_dynamodb::types::AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(internal)
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| internal(format!("an item does not parse: {e}")))
}

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(err.to_string())
}

/// Whether a conditional write was refused because its condition did not hold.
fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// Maps an SDK failure onto the port's errors, keeping the detail for the logs.
fn sdk_failure<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    ) || matches!(
        err.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
        )
    );
    let detail = format!("{operation}: {}", DisplayErrorContext(&err));
    tracing::warn!(operation, retryable, error = %detail, "DynamoDB request failed");
    if retryable {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

/// The reply slot: one item per session, `SESSION#<sid>` / `REPLY`, gone when the reply ends
/// (and after a day by TTL, should a bot die mid-reply).
const REPLY: &str = "REPLY";
const REPLY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

#[async_trait]
impl ReplyStore for DynamoStore {
    /// One UpdateItem, conditioned on the slot being free or stale.
    async fn start_reply(
        &self,
        session: SessionId,
        response_id: MessageId,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> StoreResult<bool> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), REPLY)))
            .update_expression(
                "SET response_id = :rid, started_at = :now, stop_requested = :no, expires_at = :ttl",
            )
            .condition_expression("attribute_not_exists(pk) OR started_at < :stale")
            .expression_attribute_values(":rid", to_value(&response_id)?)
            .expression_attribute_values(":now", to_value(&now)?)
            .expression_attribute_values(":no", to_value(&false)?)
            .expression_attribute_values(":ttl", to_value(&now.plus(REPLY_TTL).unix_seconds())?)
            .expression_attribute_values(":stale", to_value(&stale_before)?);
        Ok(self.conditional_update(request).await?.is_ok())
    }

    /// One GetItem.
    async fn get_reply(&self, session: SessionId) -> StoreResult<Option<ReplyInProgress>> {
        self.get::<ReplyInProgress>(session_pk(session), REPLY)
            .await
    }

    /// One UpdateItem, conditioned on a reply being in progress.
    async fn request_stop(&self, session: SessionId) -> StoreResult<Option<MessageId>> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), REPLY)))
            .update_expression("SET stop_requested = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", to_value(&true)?);
        let reply = self.updated::<ReplyInProgress>(request).await?;
        Ok(reply.map(|r| r.response_id))
    }

    /// One DeleteItem, conditioned on the slot still being this reply's.
    async fn finish_reply(&self, session: SessionId, response_id: MessageId) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(session), REPLY)))
            .condition_expression("response_id = :rid")
            .expression_attribute_values(":rid", to_value(&response_id)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(sdk_failure("DeleteItem", err)),
        }
    }
}
