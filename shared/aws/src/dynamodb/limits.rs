//! Rate-limit counters outside the message path's write: fixed windows, and a
//! connection's strikes.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::Update;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;

use super::DynamoStore;
use super::items::{connection_key, epoch_seconds, n, window_key};
use chat_core::domain::ConnectionId;
use chat_core::ports::{LimitStore, StoreError, StoreResult, WindowCount};

/// The count of one more event in the window, conditioned on it not being full; the
/// counter expires with its window. An UpdateItem's or a transaction's.
pub(super) fn counted(count: &WindowCount) -> UpdateBuilder {
    Update::builder()
        .update_expression("ADD hits :one SET expires_at = :expires")
        .condition_expression("attribute_not_exists(hits) OR hits < :limit")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":limit", n(i64::from(count.limit)))
        .expression_attribute_values(":expires", n(epoch_seconds(count.ends_at) + 60))
}

#[async_trait]
impl LimitStore for DynamoStore {
    /// One conditional UpdateItem: the write the message path puts in its transaction, on
    /// its own.
    async fn count_in_window(&self, count: &WindowCount) -> StoreResult<bool> {
        let request = self.update_alone(window_key(&count.key, count.window), counted(count))?;
        Ok(self.conditional_update(request).await?.is_ok())
    }

    /// One UpdateItem of the routing item, if the connection is still there.
    async fn set_strikes(&self, id: &ConnectionId, strikes: u32) -> StoreResult<()> {
        let request = self
            .update_request(connection_key(id))
            .update_expression("SET strikes = :strikes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":strikes", n(i64::from(strikes)));
        match self.conditional_update(request).await? {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::NotFound("connection")),
        }
    }
}
