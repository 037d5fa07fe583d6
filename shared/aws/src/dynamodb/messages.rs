//! Messages, their client-id claims, edits, deletions and reactions.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::attachments::made_ready;
use super::errors::sdk_failure;
use super::items::{
    BucketItem, ConnectionItem, DedupItem, FEED_PREFIX, HeadItem, Item, MemberItem, MessageItem,
    SEQ_INDEX, SessionItem, attachment_key, connection_key, dedup_key, epoch_seconds, from_item,
    from_items, head_key, member_key, membership_gsi1_sk, message_key, message_sk, n,
    reaction_entry, s, session_key, session_pk, to_value, user_bucket_key, window_key,
};
use super::limits::counted;
use super::usage::{charged, usage_key};
use super::{ABSENT, DynamoStore, IfSessionOpen, query_limit};
use chat_core::domain::{
    Bucket, Day, Message, MessageId, Order, Page, PageLimit, Reaction, SessionId, Timestamp, Usage,
    UserId,
};
use chat_core::paging::{MessageRange, message_cursor, seq_cursor, seq_start, split_page};
use chat_core::ports::{
    Append, BucketUpdate, Edit, Feed, MessageQuery, MessageStore, Posted, Sender, SenderKey,
    StoreError, StoreResult,
};

/// A seq (or a bucket's time) as DynamoDB's number.
fn seq_value(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The update of a bucket (the attribute `attribute`) to `next`, which holds only if the
/// bucket is still as it was read. `also` is the item's condition besides.
fn drawn_bucket(
    attribute: &str,
    update: &BucketUpdate<impl Sized>,
    also: Option<&str>,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    let unchanged = match update.previous {
        None => "attribute_not_exists(#bucket)",
        Some(_) => "#bucket = :previous",
    };
    let condition = match also {
        Some(also) => format!("{also} AND {unchanged}"),
        None => unchanged.to_owned(),
    };
    let builder = Update::builder()
        .condition_expression(condition)
        .expression_attribute_names("#bucket", attribute)
        .expression_attribute_values(":next", seq_value(update.next));
    match update.previous {
        Some(previous) => builder.expression_attribute_values(":previous", seq_value(previous)),
        None => builder,
    }
}

impl DynamoStore {
    /// One Query of the seq index: the messages after `after`, in seq order.
    async fn list_after_seq(
        &self,
        session: SessionId,
        after: u64,
        limit: PageLimit,
    ) -> StoreResult<Page<Message>> {
        let output = self
            .client
            .query()
            .table_name(self.table())
            .index_name(SEQ_INDEX)
            .key_condition_expression("pk = :pk AND seq > :after")
            .expression_attribute_values(":pk", s(session_pk(session)))
            .expression_attribute_values(":after", seq_value(after))
            .scan_index_forward(true)
            .limit(query_limit(limit.get() + 1))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure("Query", e))?;
        let fetched: Vec<MessageItem> = from_items(output.items)?;
        let fetched: Vec<Message> = fetched.into_iter().map(MessageItem::into_message).collect();
        let (items, next_cursor) = split_page(fetched, limit.get(), |m| seq_cursor(m.seq));
        Ok(Page { items, next_cursor })
    }

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
    /// One TransactWriteItems: the message, its client-id claim, the feed head's seq
    /// (conditioned on the seq read), the session's activity (conditioned on it being
    /// open), the sender's membership and the send buckets (each conditioned on the state
    /// read). A refusal is explained with a read or two.
    async fn put_message(&self, message: &Message, append: &Append) -> StoreResult<Posted> {
        if message.seq != append.after_seq + 1 {
            return Err(StoreError::Stale("seq"));
        }
        let mut writes = vec![self.put_write(&MessageItem::new(message), Some(ABSENT))?];
        let dedup_index = match &message.client_msg_id {
            Some(client_id) => {
                writes.push(self.put_write(&DedupItem::new(message, client_id), Some(ABSENT))?);
                Some(writes.len() - 1)
            }
            None => None,
        };
        let head = Update::builder()
            .update_expression("SET last_seq = :seq")
            .condition_expression(if append.after_seq == 0 {
                "attribute_not_exists(last_seq) OR last_seq = :after"
            } else {
                "last_seq = :after"
            })
            .expression_attribute_values(":seq", seq_value(message.seq))
            .expression_attribute_values(":after", seq_value(append.after_seq));
        writes.push(self.update_write(head_key(message.session_id), head)?);
        let head_index = writes.len() - 1;
        let activity = to_value(&message.created_at)?;
        // The idle list's sort key too: the index is written only when its stamp changes.
        let touch_session = Update::builder()
            .update_expression("SET last_activity_at = :at, gsi2sk = :idle")
            .if_session_open()?
            .expression_attribute_values(":at", activity.clone())
            .expression_attribute_values(
                ":idle",
                s(super::sweep::idle_sk(
                    message.session_id,
                    message.created_at,
                )),
            );
        writes.push(self.update_write(session_key(message.session_id), touch_session)?);
        let session_index = writes.len() - 1;
        let mut bucket_indexes = Vec::new();
        if let Some(update) = &append.user_bucket {
            let expires = epoch_seconds(Bucket::full_at(update.next)) + 60;
            let bucket = drawn_bucket("bucket", update, None)
                .expression_attribute_values(":expires", n(expires));
            let bucket = match append.repetition {
                Some(repetition) => bucket
                    .update_expression(
                        "SET #bucket = :next, expires_at = :expires, last_text = :text, \
                         repeats = :times, last_text_at = :text_at",
                    )
                    .expression_attribute_values(":text", seq_value(repetition.fingerprint))
                    .expression_attribute_values(":times", n(i64::from(repetition.times)))
                    .expression_attribute_values(":text_at", to_value(&repetition.at)?),
                None => bucket.update_expression("SET #bucket = :next, expires_at = :expires"),
            };
            writes.push(self.update_write(user_bucket_key(&update.owner), bucket)?);
            bucket_indexes.push(writes.len() - 1);
        }
        if let Some(update) = &append.connection_bucket {
            // The connection must still be there: an update would make a new item.
            let bucket = drawn_bucket("send_bucket", update, Some("attribute_exists(pk)"))
                .update_expression("SET #bucket = :next, strikes = :zero")
                .expression_attribute_values(":zero", n(0));
            writes.push(self.update_write(connection_key(&update.owner), bucket)?);
            bucket_indexes.push(writes.len() - 1);
        }
        let window_index = match &append.window {
            Some(count) => {
                writes
                    .push(self.update_write(window_key(&count.key, count.window), counted(count))?);
                Some(writes.len() - 1)
            }
            None => None,
        };
        if let Some(charge) = &append.usage {
            writes.push(self.update_write(usage_key(&charge.user, charge.day), charged(charge)?)?);
        }
        if append.sender_is_member {
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
        // The file a message shares is ready in the same write: never a sent file without
        // its message, nor a message whose file stays pending.
        let attachment_index = match &message.attachment {
            Some(file) => {
                let key = attachment_key(message.session_id, file.id);
                writes.push(self.update_write(key, made_ready()?)?);
                Some(writes.len() - 1)
            }
            None => None,
        };
        let failed = match self.transact(writes).await? {
            Ok(()) => return Ok(Posted::New(message.clone())),
            Err(failed) => failed,
        };
        // Find out why, in the order that matters: a duplicate wins over a closed session,
        // which wins over a seq or a bucket taken meanwhile.
        let failed_at = |index: usize| failed.is_empty() || failed.contains(&index);
        if let (Some(index), Some(client_id)) = (dedup_index, &message.client_msg_id)
            && failed_at(index)
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
        if failed_at(session_index) {
            self.require_open_session(message.session_id).await?;
        }
        if failed.contains(&head_index) {
            return Err(StoreError::Stale("seq"));
        }
        if bucket_indexes.iter().any(|index| failed.contains(index)) {
            return Err(StoreError::Stale("bucket"));
        }
        if window_index.is_some_and(|index| failed.contains(&index)) {
            return Err(StoreError::Full);
        }
        if attachment_index.is_some_and(|index| failed.contains(&index)) {
            return Err(StoreError::NotFound("attachment"));
        }
        if failed.contains(&0) {
            // This very message may be stored already: a write reported lost that had in
            // fact committed, then retried. Then it was stored once, and that is the answer.
            return match self.get_message(message.session_id, message.id).await? {
                Some(stored)
                    if stored.sender_id == message.sender_id
                        && stored.created_at == message.created_at =>
                {
                    Ok(Posted::New(stored))
                }
                _ => Err(StoreError::Conflict("the message id is taken")),
            };
        }
        Err(StoreError::Conflict("the sender is not a member"))
    }

    /// One BatchGetItem: the session, the membership, the user's bucket and usage today,
    /// or the connection, the user's bucket and usage today.
    async fn read_sender(&self, sender: &SenderKey, now: Timestamp) -> StoreResult<Sender> {
        let (keys, user) = match sender {
            SenderKey::Member { session, user } => (
                vec![session_key(*session), member_key(*session, user)],
                user,
            ),
            SenderKey::Connection { id, user } => (vec![connection_key(id)], user),
        };
        let bucket_key = user_bucket_key(user);
        let today_key = usage_key(user, Day::of(now));
        let mut wanted = keys.clone();
        wanted.push(bucket_key.clone());
        wanted.push(today_key.clone());
        let mut found = Sender::default();
        for item in self.batch_get(wanted).await? {
            let at =
                |key: &Item| key.get("pk") == item.get("pk") && key.get("sk") == item.get("sk");
            if at(&today_key) {
                found.tokens_today = from_item::<Usage>(item)?.tokens;
            } else if at(&bucket_key) {
                let bucket: BucketItem = from_item(item)?;
                found.repetition = bucket.repetition();
                found.user_bucket = Some(bucket.bucket);
            } else if matches!(sender, SenderKey::Connection { .. }) {
                found.connection = Some(from_item::<ConnectionItem>(item)?.into_connection())
                    .filter(|c| c.is_live(now));
            } else if at(&keys[0]) {
                found.session = Some(from_item::<SessionItem>(item)?.session);
            } else {
                found.member = Some(from_item::<MemberItem>(item)?.member);
            }
        }
        Ok(found)
    }

    /// One Query (more pages only past 1 MB of connections): the feed head and the
    /// session's connections, which sort right after it.
    async fn session_feed(&self, session: SessionId, now: Timestamp) -> StoreResult<Feed> {
        let now_seconds = i64::try_from(now.unix_millis() / 1_000).unwrap_or(i64::MAX);
        let items = self
            .query_items(
                session_pk(session),
                FEED_PREFIX,
                Some((
                    "attribute_not_exists(expires_at) OR expires_at > :now",
                    now_seconds,
                )),
            )
            .await?;
        let mut feed = Feed::default();
        for item in items {
            if item
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .map(String::as_str)
                == Some(FEED_PREFIX)
            {
                let head: HeadItem = from_item(item)?;
                feed.last_seq = head.last_seq;
                feed.wants_bot = head.bot;
            } else {
                feed.connections
                    .push(from_item::<ConnectionItem>(item)?.into_connection());
            }
        }
        Ok(feed)
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
        if let Some(after) = seq_start(query)? {
            return self.list_after_seq(session, after, query.limit).await;
        }
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
        edit: &Edit,
        now: Timestamp,
    ) -> StoreResult<Message> {
        let set_moderated = if edit.moderated {
            ", moderated = :moderated"
        } else {
            ""
        };
        let update = self
            .update_request(message_key(session, id))
            .update_expression(format!(
                "SET #content = :content, edited_at = :now{set_moderated}"
            ))
            .expression_attribute_names("#content", "content")
            .expression_attribute_values(":content", s(edit.content.as_str()))
            .expression_attribute_values(":now", to_value(&now)?);
        let update = if edit.moderated {
            update.expression_attribute_values(":moderated", AttributeValue::Bool(true))
        } else {
            update
        };
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
