//! Sessions, their members and a user's session list (gsi1).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::errors::sdk_failure;
use super::items::{
    ActiveItem, HeadItem, Item, MEMBER_PREFIX, MemberItem, SessionItem, active_key, from_items,
    member_key, s, session_key, session_pk, support_queue_pk, to_value, user_gsi1_pk,
};
use super::{ABSENT, DynamoStore, GSI1, IfSessionOpen, query_limit};
use chat_core::domain::{BusinessId, Cursor, Member, Page, Session, SessionId, Timestamp, UserId};
use chat_core::paging::{membership_position_at, split_page};
use chat_core::ports::{
    Created, SessionPatch, SessionQuery, SessionStore, StoreError, StoreResult, check_new_session,
};

/// Rounds of GSI pages read to fill one page of a filtered session list.
const SESSION_LIST_ROUNDS: usize = 5;

impl DynamoStore {
    /// Sessions by id, in one BatchGetItem per 100.
    async fn batch_get_sessions(&self, ids: &[SessionId]) -> StoreResult<Vec<Session>> {
        let keys: Vec<Item> = ids.iter().map(|id| session_key(*id)).collect();
        let found: Vec<SessionItem> = from_items(Some(self.batch_get(keys).await?))?;
        Ok(found.into_iter().map(|item| item.session).collect())
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    /// One TransactWriteItems: the active-scope claim, the session and its members. On a
    /// lost claim, two GetItems fetch the winner.
    async fn create_session(&self, session: &Session, members: &[Member]) -> StoreResult<Created> {
        check_new_session(session, members)?;
        let scope = session.active_scope().map(|scope| scope.key());
        let mut writes = Vec::with_capacity(members.len() + 2);
        if let Some(scope) = &scope {
            writes.push(self.put_write(&ActiveItem::new(scope, session.id), Some(ABSENT))?);
        }
        writes.push(self.put_write(&SessionItem::new(session), Some(ABSENT))?);
        writes.push(self.put_write(&HeadItem::new(session), Some(ABSENT))?);
        for member in members {
            writes.push(self.put_write(&MemberItem::new(member), Some(ABSENT))?);
        }
        if self.transact(writes).await?.is_ok() {
            return Ok(Created::New(session.clone()));
        }
        let Some(scope) = scope else {
            return Err(StoreError::Conflict("the session id is taken"));
        };
        let claim = self
            .get::<ActiveItem>(active_key(&scope))
            .await?
            .ok_or(StoreError::Conflict("the session id is taken"))?;
        let existing = self
            .get_session(claim.session_id)
            .await?
            .ok_or(StoreError::NotFound("session"))?;
        Ok(Created::Existing(existing))
    }

    /// One GetItem.
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self
            .get::<SessionItem>(session_key(id))
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
        let mut set = vec!["updated_at = :now".to_owned()];
        let mut remove: Vec<String> = Vec::new();
        let mut request = self
            .update_request(session_key(id))
            .if_session_open()?
            .expression_attribute_values(":now", to_value(&now)?)
            .return_values(ReturnValue::AllNew);
        // Each optional field: set to its new value, or removed when cleared.
        let optional = [
            (
                "title",
                patch.title.as_ref().map(|t| t.as_ref().map(to_value)),
            ),
            (
                "language",
                patch.language.as_ref().map(|l| l.as_ref().map(to_value)),
            ),
            (
                "timezone",
                patch.timezone.as_ref().map(|z| z.as_ref().map(to_value)),
            ),
        ];
        for (attribute, change) in optional {
            let Some(change) = change else { continue };
            request = request.expression_attribute_names(format!("#{attribute}"), attribute);
            match change {
                Some(value) => {
                    set.push(format!("#{attribute} = :{attribute}"));
                    request = request.expression_attribute_values(format!(":{attribute}"), value?);
                }
                None => remove.push(format!("#{attribute}")),
            }
        }
        if let Some(status) = patch.status {
            // `#status` is bound by the open-session condition.
            set.push("#status = :status".to_owned());
            request = request.expression_attribute_values(":status", to_value(&status)?);
        }
        if let Some(policy) = patch.join_policy {
            set.push("join_policy = :policy".to_owned());
            request = request.expression_attribute_values(":policy", to_value(&policy)?);
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

    /// A GetItem, then one TransactWriteItems: the status, the release of the scope and
    /// of the session's place in the idle list.
    async fn end_session(&self, id: SessionId, now: Timestamp) -> StoreResult<Session> {
        match self.end_session_if(id, now, None).await? {
            Some(session) => Ok(session),
            None => Err(self.closed_session_error(id).await),
        }
    }

    /// One TransactWriteItems: the session is open, and the member is new.
    async fn add_member(&self, member: &Member) -> StoreResult<bool> {
        let open = self.open_session_check(member.session_id)?;
        let writes = vec![
            open,
            self.put_write(&MemberItem::new(member), Some(ABSENT))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(true),
            Err(failed) if failed == [1] => Ok(false),
            Err(_) => {
                self.require_open_session(member.session_id).await?;
                Ok(false)
            }
        }
    }

    /// One DeleteItem.
    async fn remove_member(&self, session: SessionId, user: &UserId) -> StoreResult<bool> {
        Ok(self
            .delete_returning(member_key(session, user))
            .await?
            .is_some())
    }

    /// One GetItem.
    async fn get_member(&self, session: SessionId, user: &UserId) -> StoreResult<Option<Member>> {
        Ok(self
            .get::<MemberItem>(member_key(session, user))
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
                .limit(query_limit(fetch))
                .expression_attribute_values(":user", s(user_gsi1_pk(user)));
            request = match &below {
                Some(position) => request
                    .key_condition_expression("gsi1pk = :user AND gsi1sk < :below")
                    .expression_attribute_values(":below", s(position.as_str())),
                None => request.key_condition_expression("gsi1pk = :user"),
            };
            let output = request.send().await.map_err(|e| sdk_failure("Query", e))?;
            let memberships: Vec<MemberItem> = from_items(output.items)?;
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

    /// One Query of gsi1, newest first.
    async fn open_support_sessions(
        &self,
        business: &BusinessId,
        limit: usize,
    ) -> StoreResult<Vec<Session>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .scan_index_forward(false)
            .limit(query_limit(limit))
            .key_condition_expression("gsi1pk = :queue")
            .expression_attribute_values(":queue", s(support_queue_pk(business)))
            .send()
            .await
            .map_err(|e| sdk_failure("Query", e))?;
        let items: Vec<SessionItem> = from_items(output.items)?;
        Ok(items.into_iter().map(|item| item.session).collect())
    }
}
