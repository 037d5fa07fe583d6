//! Messages, their client-id claims, edits, deletions and reactions.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::items::{
    DedupItem, MessageItem, dedup_key, member_key, membership_gsi1_sk, message_key, message_sk,
    reaction_entry, s, session_key, session_pk, to_value,
};
use super::{ABSENT, DynamoStore, IfSessionOpen};
use chat_core::domain::{
    Content, Message, MessageId, Order, Page, Reaction, SessionId, Timestamp, UserId,
};
use chat_core::paging::{MessageRange, message_cursor};
use chat_core::ports::{MessageQuery, MessageStore, Posted, StoreError, StoreResult};

impl DynamoStore {
    /// Sends `update` of an existing message (a live one, with `require_live`) and returns
    /// the message it left; a refusal is explained with one GetItem.
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
        match self
            .updated::<MessageItem>(update.condition_expression(condition))
            .await?
        {
            Some(item) => Ok(item.into_message()),
            None => match self.get_message(session, id).await? {
                None => Err(StoreError::NotFound("message")),
                Some(_) => Err(StoreError::Conflict("the message was deleted")),
            },
        }
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    /// One TransactWriteItems of three or four writes: the message, its client-id claim,
    /// the session's activity (conditioned on it being open) and the sender's membership.
    async fn put_message(&self, message: &Message, sender_is_member: bool) -> StoreResult<Posted> {
        let mut writes = vec![self.put_write(&MessageItem::new(message), Some(ABSENT))?];
        let dedup_index = match &message.client_msg_id {
            Some(client_id) => {
                writes.push(self.put_write(&DedupItem::new(message, client_id), Some(ABSENT))?);
                Some(writes.len() - 1)
            }
            None => None,
        };
        let activity = to_value(&message.created_at)?;
        let touch_session = Update::builder()
            .update_expression("SET last_activity_at = :at")
            .if_session_open()?
            .expression_attribute_values(":at", activity.clone());
        writes.push(self.update_write(session_key(message.session_id), touch_session)?);
        let session_index = writes.len() - 1;
        if sender_is_member {
            let touch_member = Update::builder()
                .update_expression("SET last_activity_at = :at, gsi1sk = :position")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":at", activity)
                .expression_attribute_values(
                    ":position",
                    s(membership_gsi1_sk(message.created_at, message.session_id)),
                );
            writes.push(self.update_write(
                member_key(message.session_id, &message.sender_id),
                touch_member,
            )?);
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
                .get::<DedupItem>(dedup_key(message.session_id, &message.sender_id, client_id))
                .await?;
            if let Some(claim) = claim {
                let original = self
                    .get_message(message.session_id, claim.message_id)
                    .await?
                    .ok_or(StoreError::NotFound("message"))?;
                return Ok(Posted::Duplicate(original));
            }
        }
        if failed.is_empty() || failed.contains(&session_index) {
            self.require_open_session(message.session_id).await?;
        }
        if failed.contains(&0) {
            return Err(StoreError::Conflict("the message id is taken"));
        }
        Err(StoreError::Conflict("the sender is not a member"))
    }

    /// One GetItem.
    async fn get_message(&self, session: SessionId, id: MessageId) -> StoreResult<Option<Message>> {
        Ok(self
            .get::<MessageItem>(message_key(session, id))
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
        self.query_page(
            session_pk(session),
            (message_sk(range.first), message_sk(range.last)),
            range.order == Order::Asc,
            query.limit,
            MessageItem::into_message,
            |m: &Message| message_cursor(m.id),
        )
        .await
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
            .update_request(message_key(session, id))
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
            .update_request(message_key(session, id))
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
            .update_request(message_key(session, id))
            .update_expression(format!("{verb} rx :entry"))
            .expression_attribute_values(
                ":entry",
                AttributeValue::Ss(vec![reaction_entry(user, reaction)]),
            );
        self.update_message(session, id, update, true).await
    }
}
