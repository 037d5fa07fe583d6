//! WebSocket connections: a routing item per connection and, while it is bound to a
//! session, a copy in the session's partition for fan-out.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::Delete;

use aws_sdk_dynamodb::types::ReturnValue;

use super::errors::{ConditionFailed, sdk_failure};
use super::items::{
    CONNECTION_PREFIX, ConnectionItem, connection_key, feed_gsi1_pk, from_item, n, s, session_pk,
    to_value,
};
use super::{DynamoStore, GSI1};
use chat_core::domain::{Connection, ConnectionId, SessionId, Timestamp};
use chat_core::ports::{ConnectionStore, StoreError, StoreResult};

#[async_trait]
impl ConnectionStore for DynamoStore {
    /// One TransactWriteItems: the routing item and, when bound, the session's copy.
    async fn put_connection(&self, connection: &Connection) -> StoreResult<()> {
        let mut writes = vec![self.put_write(&ConnectionItem::routing(connection), None)?];
        if let Some(fan_out) = ConnectionItem::fan_out(connection) {
            writes.push(self.put_write(&fan_out, None)?);
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
        let item = self.get::<ConnectionItem>(connection_key(id)).await?;
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
            .get::<ConnectionItem>(connection_key(id))
            .await?
            .ok_or(StoreError::NotFound("connection"))?
            .into_connection();
        let bound = Connection {
            session_id: session,
            ..previous.clone()
        };
        let mut writes = vec![self.put_write(
            &ConnectionItem::routing(&bound),
            Some("attribute_exists(pk)"),
        )?];
        if let Some(old) =
            ConnectionItem::fan_out(&previous).filter(|_| previous.session_id != session)
        {
            writes.push(self.delete_write(old.into_key(), Delete::builder())?);
        }
        if let Some(fan_out) = ConnectionItem::fan_out(&bound) {
            writes.push(self.put_write(&fan_out, None)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(bound),
            Err(_) => Err(StoreError::NotFound("connection")),
        }
    }

    /// A DeleteItem of the routing item and, when bound, one of the session's copy.
    async fn delete_connection(&self, id: &ConnectionId) -> StoreResult<Option<Connection>> {
        let Some(item) = self.delete_returning(connection_key(id)).await? else {
            return Ok(None);
        };
        let connection = from_item::<ConnectionItem>(item)?.into_connection();
        if let Some(fan_out) = ConnectionItem::fan_out(&connection) {
            self.delete_request(fan_out.into_key())
                .send()
                .await
                .map_err(|e| sdk_failure("DeleteItem", e))?;
        }
        Ok(Some(connection))
    }

    /// One UpdateItem of the routing item, which returns it: who the connection is and
    /// where it is bound come with the write.
    async fn set_typing(
        &self,
        id: &ConnectionId,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>> {
        let request = self
            .update_request(connection_key(id))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        let request = match until {
            Some(until) => request
                .update_expression("SET typing_until = :until")
                .expression_attribute_values(":until", to_value(&until)?),
            None => request.update_expression("REMOVE typing_until"),
        };
        match self.conditional_update(request).await? {
            Ok(Some(item)) => Ok(Some(from_item::<ConnectionItem>(item)?.into_connection())
                .filter(|c| c.is_live(now))),
            Ok(None) | Err(ConditionFailed) => Ok(None),
        }
    }

    /// One Query of the index (more pages only past 1 MB), where a bound connection's
    /// routing item is listed under its session: eventually consistent, as indexes are.
    async fn typing_peers(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>> {
        let now_seconds = i64::try_from(now.unix_millis() / 1_000).unwrap_or(i64::MAX);
        let mut pages = self
            .client
            .query()
            .table_name(self.table())
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :feed")
            .filter_expression("expires_at > :now")
            .expression_attribute_values(":feed", s(feed_gsi1_pk(session)))
            .expression_attribute_values(":now", n(now_seconds))
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| sdk_failure("Query", e))?;
            found.push(from_item::<ConnectionItem>(item)?.into_connection());
        }
        Ok(found)
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
