//! The DynamoDB single-table store. Every request has an operation timeout; no Scan
//! anywhere; a chat message costs the same requests whatever the session's size.
//!
//! Keys and item shapes are in `items`, error mapping in `errors`, the table's definition
//! in `table`, and each port's implementation in a file of its own; what they share is
//! here.

mod attachments;
mod businesses;
mod chatbots;
mod connections;
mod documents;
mod errors;
mod items;
mod limits;
mod messages;
mod metrics;
mod replies;
mod sessions;
mod sweep;
mod table;
mod usage;

pub use items::DEDUP_TTL;
pub use metrics::RequestCounter;
pub use sweep::GSI2;
pub use table::GSI1;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::{ConditionCheckBuilder, DeleteBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::{
    ConditionCheck, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::errors::{
    ConditionFailed, TransactionFailure, conditional, internal, sdk_failure, transaction_failure,
};
use self::items::{Item, SessionItem, from_item, from_items, n, s, session_key, to_item, to_value};
use crate::{backoff, sdk_timeouts};
use chat_core::domain::{Cursor, Page, PageLimit, SessionId, SessionStatus};
use chat_core::paging::split_page;
use chat_core::ports::{StoreError, StoreResult};

/// Retries of a transaction that lost a race with another one touching the same items.
const TRANSACTION_ATTEMPTS: u32 = 4;
/// The condition of a put that must not overwrite anything.
const ABSENT: &str = "attribute_not_exists(pk)";

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

    /// Like `new`, counting every request the store sends. It waits for a slow endpoint
    /// rather than timing an attempt out and retrying it: a count measures the design,
    /// not how loaded the emulator under it was.
    pub fn counted(client: &Client, table: impl Into<String>, counter: RequestCounter) -> Self {
        let patient = aws_smithy_types::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .operation_attempt_timeout(std::time::Duration::from_secs(60))
            .operation_timeout(std::time::Duration::from_secs(60))
            .build();
        Self::with_config(client, table, |config| {
            config.interceptor(counter).timeout_config(patient)
        })
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

    async fn get<T: DeserializeOwned>(&self, key: Item) -> StoreResult<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure("GetItem", e))?;
        output.item.map(from_item).transpose()
    }

    /// An UpdateItem of the item at `key`, for the caller to say how.
    fn update_request(&self, key: Item) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// A DeleteItem of the item at `key`, for the caller to send.
    fn delete_request(&self, key: Item) -> DeleteItemFluentBuilder {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// One unconditional DeleteItem: what the item held, or `None` if there was none.
    async fn delete_returning(&self, key: Item) -> StoreResult<Option<Item>> {
        let output = self
            .delete_request(key)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_failure("DeleteItem", e))?;
        Ok(output.attributes.filter(|a| !a.is_empty()))
    }

    /// A transaction's put of `item`, which must meet `condition` if there is one.
    fn put_write(
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

    /// A transaction's update of the item at `key`, as `update` says.
    fn update_write(&self, key: Item, update: UpdateBuilder) -> StoreResult<TransactWriteItem> {
        let update = update
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The UpdateItem of a transaction's `update` at `key`, for a write that needs no
    /// transaction: the same expressions, one request.
    fn update_alone(
        &self,
        key: Item,
        update: UpdateBuilder,
    ) -> StoreResult<UpdateItemFluentBuilder> {
        let update = update
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(internal)?;
        Ok(self
            .update_request(update.key)
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values))
    }

    /// A transaction's delete of the item at `key`, under `delete`'s condition if any.
    fn delete_write(&self, key: Item, delete: DeleteBuilder) -> StoreResult<TransactWriteItem> {
        let delete = delete
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A transaction item that holds only while the session exists and has not ended.
    fn open_session_check(&self, session: SessionId) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(session_key(session)))
            .if_session_open()?
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Runs a transaction, retrying when it lost a race; a cancellation for a failed
    /// condition comes back as the index of each item whose condition failed.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Result<(), Vec<usize>>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The SDK retries an attempt that timed out, which DynamoDB may have applied
            // all the same: the token makes that retry a no-op. Ours after a conflict is a
            // new attempt, with a new token.
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(request_token())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            match transaction_failure(&err) {
                TransactionFailure::ConditionsFailed(failed) => return Ok(Err(failed)),
                TransactionFailure::Raced if attempt < TRANSACTION_ATTEMPTS => {
                    backoff(attempt).await;
                }
                _ => return Err(sdk_failure("TransactWriteItems", err)),
            }
        }
    }

    /// One page of a partition's items with sort keys in `first..=last`, in one Query of
    /// `limit + 1`: the extra item, when there is one, says there are more.
    async fn query_page<I: DeserializeOwned, T>(
        &self,
        pk: String,
        (first, last): (String, String),
        ascending: bool,
        limit: PageLimit,
        into: impl Fn(I) -> T,
        cursor: impl Fn(&T) -> Cursor,
    ) -> StoreResult<Page<T>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":first", s(first))
            .expression_attribute_values(":last", s(last))
            .scan_index_forward(ascending)
            .limit(query_limit(limit.get() + 1))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure("Query", e))?;
        let fetched: Vec<I> = from_items(output.items)?;
        let fetched: Vec<T> = fetched.into_iter().map(into).collect();
        let (items, next_cursor) = split_page(fetched, limit.get(), cursor);
        Ok(Page { items, next_cursor })
    }

    /// Items by key, in one BatchGetItem per 100 keys, retrying what DynamoDB left
    /// unprocessed (only throttling leaves any).
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
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
                found.extend(
                    output
                        .responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
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
        Ok(found)
    }

    /// Items written, in one BatchWriteItem per 25, retrying what DynamoDB left
    /// unprocessed (only throttling leaves any).
    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(internal)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    /// Items deleted by key, as [`DynamoStore::batch_put`] writes.
    async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        let requests = keys
            .into_iter()
            .map(|key| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map_err(internal)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> StoreResult<()> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_failure("BatchWriteItem", e))?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt >= TRANSACTION_ATTEMPTS {
                        return Err(StoreError::Unavailable(
                            "BatchWriteItem left items unprocessed".into(),
                        ));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }

    /// Every item of a partition whose sort key starts with `prefix`, across result pages.
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        filter: Option<(&str, i64)>,
    ) -> StoreResult<Vec<T>> {
        self.query_items(pk, prefix, filter)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// [`DynamoStore::query_prefix`]'s items as they are.
    async fn query_items(
        &self,
        pk: String,
        prefix: &str,
        filter: Option<(&str, i64)>,
    ) -> StoreResult<Vec<Item>> {
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
            found.push(item.map_err(|e| sdk_failure("Query", e))?);
        }
        Ok(found)
    }

    /// Sends a conditional UpdateItem: the item it returns (with `ReturnValues`), or
    /// `Err(ConditionFailed)` when its condition did not hold.
    async fn conditional_update(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> StoreResult<Result<Option<Item>, ConditionFailed>> {
        Ok(conditional("UpdateItem", request.send().await)?.map(|output| output.attributes))
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
        match self.get::<SessionItem>(session_key(id)).await {
            Ok(Some(item)) if item.session.is_ended() => StoreError::SessionEnded,
            Ok(Some(_)) => StoreError::Conflict("the session changed concurrently"),
            Ok(None) => StoreError::NotFound("session"),
            Err(err) => err,
        }
    }

    /// After a write conditioned on an open session failed: `Ok` when the session is open
    /// after all, so that the write failed for a reason of its own.
    async fn require_open_session(&self, id: SessionId) -> StoreResult<()> {
        match self.closed_session_error(id).await {
            StoreError::Conflict(_) => Ok(()),
            err => Err(err),
        }
    }
}

/// The condition of a write that must find its session open: the session's item exists
/// and has not ended.
trait IfSessionOpen: Sized {
    fn if_session_open(self) -> StoreResult<Self>;
}

/// The SDK's request builders spell a condition alike but share no trait to say it once.
macro_rules! impl_if_session_open {
    ($($builder:ty),+) => {$(
        impl IfSessionOpen for $builder {
            fn if_session_open(self) -> StoreResult<Self> {
                Ok(self
                    .condition_expression("attribute_exists(pk) AND #status <> :ended")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":ended", to_value(&SessionStatus::Ended)?))
            }
        }
    )+};
}

impl_if_session_open!(
    ConditionCheckBuilder,
    UpdateBuilder,
    UpdateItemFluentBuilder
);

/// A Query's `Limit`, which DynamoDB takes as an `i32`.
fn query_limit(items: usize) -> i32 {
    i32::try_from(items).unwrap_or(i32::MAX)
}

/// A TransactWriteItems idempotency token: 32 random hex digits (DynamoDB takes up to 36).
fn request_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
