//! The reply slot: at most one bot reply in progress per session, and a way to stop it.

use std::time::Duration;

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::conditional;
use super::items::{reply_key, to_value};
use aws_sdk_dynamodb::types::AttributeValue;
use chat_core::domain::{ConnectionId, MessageId, SessionId, Timestamp};
use chat_core::ports::{ReplyInProgress, ReplyStore, StoreResult};

/// How long a slot outlives a bot that died mid-reply, until TTL removes it.
const REPLY_TTL: Duration = Duration::from_secs(24 * 3600);

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
            .update_request(reply_key(session))
            .update_expression(
                "SET response_id = :rid, started_at = :now, stop_requested = :no, expires_at = :ttl \
                 REMOVE joiners",
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
        self.get::<ReplyInProgress>(reply_key(session)).await
    }

    /// One UpdateItem, conditioned on a reply being in progress.
    async fn request_stop(&self, session: SessionId) -> StoreResult<Option<MessageId>> {
        let request = self
            .update_request(reply_key(session))
            .update_expression("SET stop_requested = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", to_value(&true)?);
        let reply = self.updated::<ReplyInProgress>(request).await?;
        Ok(reply.map(|r| r.response_id))
    }

    /// One UpdateItem adding to a string set, conditioned on a reply being in progress.
    async fn join_reply(&self, session: SessionId, connection: &ConnectionId) -> StoreResult<bool> {
        let request = self
            .update_request(reply_key(session))
            .update_expression("ADD joiners :joiner")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(
                ":joiner",
                AttributeValue::Ss(vec![connection.as_str().to_owned()]),
            );
        Ok(self.conditional_update(request).await?.is_ok())
    }

    /// One DeleteItem, conditioned on the slot still being this reply's.
    async fn finish_reply(&self, session: SessionId, response_id: MessageId) -> StoreResult<()> {
        let result = self
            .delete_request(reply_key(session))
            .condition_expression("response_id = :rid")
            .expression_attribute_values(":rid", to_value(&response_id)?)
            .send()
            .await;
        // A slot another reply has taken over is left to that reply.
        conditional("DeleteItem", result).map(|_| ())
    }
}
