//! The embedded in-process store: the local server's default, so the product runs on a
//! laptop with nothing else installed. One lock around plain maps makes every operation
//! atomic, which gives the same guarantees DynamoDB's conditions and transactions give.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use chat_core::domain::{
    ArrivalTime, Attachment, AttachmentId, AttachmentState, BusinessId, BusinessSecret, Chatbot,
    ChatbotId, ClientMsgId, Connection, ConnectionId, Cursor, Day, Member, Message, MessageId,
    Order, Page, PageLimit, Reaction, Session, SessionId, SessionKind, SessionStatus, Timestamp,
    Usage, UserId,
};
use chat_core::moderation::Repetition;
use chat_core::paging::{
    MessageRange, attachment_cursor, first_after, membership_position, membership_position_at,
    message_cursor, seq_cursor, seq_start, split_page,
};
use chat_core::ports::{
    Append, AttachmentStore, BusinessStore, ChatbotStore, ChatbotWrite, ConnectionStore, Created,
    DocumentChunk, DocumentScope, DocumentState, DocumentStore, Edit, Feed, IndexedDocument,
    IndexedFile, LibraryDocument, LimitStore, MessageQuery, MessageStore, Posted, Posting,
    ReplyInProgress, ReplyStore, Sender, SenderKey, SessionPatch, SessionQuery, SessionStore,
    StoreError, StoreResult, SweepStore, UsageStore, WindowCount, check_new_session,
};

#[derive(Default)]
pub struct EmbeddedStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Session>,
    members: HashMap<SessionId, BTreeMap<UserId, Member>>,
    memberships: HashMap<UserId, BTreeSet<SessionId>>,
    /// Active scope key -> the session holding it.
    active: HashMap<String, SessionId>,
    messages: HashMap<SessionId, BTreeMap<MessageId, Message>>,
    client_ids: HashMap<(SessionId, UserId, ClientMsgId), MessageId>,
    attachments: HashMap<SessionId, BTreeMap<AttachmentId, Attachment>>,
    connections: HashMap<ConnectionId, Connection>,
    session_connections: HashMap<SessionId, BTreeSet<ConnectionId>>,
    replies: HashMap<SessionId, ReplyInProgress>,
    /// Each session's last seq.
    seqs: HashMap<SessionId, u64>,
    user_buckets: HashMap<UserId, ArrivalTime>,
    repetitions: HashMap<UserId, Repetition>,
    /// Each counter's current window and count (an older window is simply replaced).
    windows: HashMap<String, (u64, u32)>,
    business_secrets: HashMap<BusinessId, BusinessSecret>,
    chatbots: BTreeMap<ChatbotId, Chatbot>,
    /// Each day's usage by user, in user order as a day's page lists it.
    usage: BTreeMap<Day, BTreeMap<UserId, Usage>>,
    documents: HashMap<DocumentScope, DocumentIndex>,
    library: HashMap<UserId, BTreeMap<AttachmentId, LibraryDocument>>,
}

/// A scope's indexed files.
#[derive(Default)]
struct DocumentIndex {
    chunks: BTreeMap<(AttachmentId, u32), DocumentChunk>,
    /// Each term's postings, weightiest first.
    postings: HashMap<String, BTreeSet<(std::cmp::Reverse<u32>, AttachmentId, u32)>>,
    files: BTreeMap<AttachmentId, IndexedFile>,
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change behind (every
        // operation checks before it writes), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Marks the session ended and frees its active scope.
    fn end_session(&mut self, id: SessionId, now: Timestamp) -> StoreResult<Session> {
        let session = self.open_session(id)?;
        session.status = SessionStatus::Ended;
        session.ended_at = Some(now);
        session.updated_at = now;
        let ended = session.clone();
        if let Some(scope) = ended.active_scope() {
            self.active.remove(&scope.key());
        }
        Ok(ended)
    }

    fn open_session(&mut self, id: SessionId) -> StoreResult<&mut Session> {
        match self.sessions.get_mut(&id) {
            None => Err(StoreError::NotFound("session")),
            Some(session) if session.is_ended() => Err(StoreError::SessionEnded),
            Some(session) => Ok(session),
        }
    }

    fn message_mut(&mut self, session: SessionId, id: MessageId) -> StoreResult<&mut Message> {
        self.messages
            .get_mut(&session)
            .and_then(|m| m.get_mut(&id))
            .ok_or(StoreError::NotFound("message"))
    }

    fn attachment_mut(
        &mut self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<&mut Attachment> {
        self.attachments
            .get_mut(&session)
            .and_then(|a| a.get_mut(&id))
            .ok_or(StoreError::NotFound("attachment"))
    }

    fn live_message_mut(&mut self, session: SessionId, id: MessageId) -> StoreResult<&mut Message> {
        let message = self.message_mut(session, id)?;
        if message.is_deleted() {
            return Err(StoreError::Conflict("the message was deleted"));
        }
        Ok(message)
    }

    fn insert_member(&mut self, member: &Member) {
        self.members
            .entry(member.session_id)
            .or_default()
            .insert(member.user_id.clone(), member.clone());
        self.memberships
            .entry(member.user_id.clone())
            .or_default()
            .insert(member.session_id);
    }

    fn unlink_connection(&mut self, connection: &Connection) {
        if let Some(ids) = connection
            .session_id
            .and_then(|session| self.session_connections.get_mut(&session))
        {
            ids.remove(&connection.id);
        }
    }

    /// One more event in the window, unless it is full.
    fn count(&mut self, count: &WindowCount) -> bool {
        let entry = self
            .windows
            .entry(count.key.clone())
            .or_insert((count.window, 0));
        if entry.0 != count.window {
            *entry = (count.window, 0);
        }
        if entry.1 >= count.limit {
            return false;
        }
        entry.1 += 1;
        true
    }

    fn live_connections(&self, session: SessionId, now: Timestamp) -> Vec<Connection> {
        self.session_connections
            .get(&session)
            .into_iter()
            .flatten()
            .filter_map(|id| self.connections.get(id))
            .filter(|c| c.is_live(now))
            .cloned()
            .collect()
    }

    fn link_connection(&mut self, connection: &Connection) {
        if let Some(session) = connection.session_id {
            self.session_connections
                .entry(session)
                .or_default()
                .insert(connection.id.clone());
        }
    }
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn create_session(&self, session: &Session, members: &[Member]) -> StoreResult<Created> {
        check_new_session(session, members)?;
        let mut state = self.state();
        if state.sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict("the session id is taken"));
        }
        let scope = session.active_scope().map(|scope| scope.key());
        if let Some(existing) = scope.as_ref().and_then(|key| state.active.get(key)) {
            let existing = state
                .sessions
                .get(existing)
                .cloned()
                .ok_or(StoreError::NotFound("session"))?;
            return Ok(Created::Existing(existing));
        }
        if let Some(key) = scope {
            state.active.insert(key, session.id);
        }
        state.sessions.insert(session.id, session.clone());
        for member in members {
            state.insert_member(member);
        }
        Ok(Created::New(session.clone()))
    }

    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self.state().sessions.get(&id).cloned())
    }

    async fn update_session(
        &self,
        id: SessionId,
        patch: &SessionPatch,
        now: Timestamp,
    ) -> StoreResult<Session> {
        patch.check()?;
        let mut state = self.state();
        let session = state.open_session(id)?;
        if let Some(title) = &patch.title {
            session.title.clone_from(title);
        }
        if let Some(status) = patch.status {
            session.status = status;
        }
        if let Some(policy) = patch.join_policy {
            session.join_policy = policy;
        }
        if let Some(language) = &patch.language {
            session.language.clone_from(language);
        }
        if let Some(timezone) = &patch.timezone {
            session.timezone.clone_from(timezone);
        }
        session.updated_at = now;
        Ok(session.clone())
    }

    async fn end_session(&self, id: SessionId, now: Timestamp) -> StoreResult<Session> {
        self.state().end_session(id, now)
    }

    async fn add_member(&self, member: &Member) -> StoreResult<bool> {
        let mut state = self.state();
        state.open_session(member.session_id)?;
        let known = state
            .members
            .get(&member.session_id)
            .is_some_and(|m| m.contains_key(&member.user_id));
        if !known {
            state.insert_member(member);
        }
        Ok(!known)
    }

    async fn remove_member(&self, session: SessionId, user: &UserId) -> StoreResult<bool> {
        let mut state = self.state();
        let removed = state
            .members
            .get_mut(&session)
            .and_then(|m| m.remove(user))
            .is_some();
        if let Some(sessions) = state.memberships.get_mut(user) {
            sessions.remove(&session);
        }
        Ok(removed)
    }

    async fn get_member(&self, session: SessionId, user: &UserId) -> StoreResult<Option<Member>> {
        Ok(self
            .state()
            .members
            .get(&session)
            .and_then(|m| m.get(user))
            .cloned())
    }

    async fn list_members(&self, session: SessionId) -> StoreResult<Vec<Member>> {
        Ok(self
            .state()
            .members
            .get(&session)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn open_support_sessions(
        &self,
        business: &BusinessId,
        limit: usize,
    ) -> StoreResult<Vec<Session>> {
        let state = self.state();
        let mut open: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| {
                s.kind == SessionKind::Support
                    && !s.is_ended()
                    && s.business_id.as_ref() == Some(business)
            })
            .cloned()
            .collect();
        open.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        open.truncate(limit);
        Ok(open)
    }

    async fn list_user_sessions(
        &self,
        user: &UserId,
        query: &SessionQuery,
    ) -> StoreResult<Page<Session>> {
        let below = query
            .cursor
            .as_ref()
            .map(membership_position_at)
            .transpose()?;
        let state = self.state();
        let mut positioned: Vec<(String, &Session)> = state
            .memberships
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| {
                let member = state.members.get(id)?.get(user)?;
                let session = state.sessions.get(id)?;
                Some((membership_position(member), session))
            })
            .filter(|(position, session)| {
                below.as_ref().is_none_or(|below| position < below)
                    && query.status.is_none_or(|status| session.status == status)
            })
            .collect();
        positioned.sort_by(|a, b| b.0.cmp(&a.0));
        positioned.truncate(query.limit.get() + 1);
        let (page, next_cursor) = split_page(positioned, query.limit.get(), |(position, _)| {
            Cursor::encode(position)
        });
        Ok(Page {
            items: page.into_iter().map(|(_, s)| s.clone()).collect(),
            next_cursor,
        })
    }
}

#[async_trait]
impl MessageStore for EmbeddedStore {
    async fn put_message(&self, message: &Message, append: &Append) -> StoreResult<Posted> {
        let mut state = self.state();
        state.open_session(message.session_id)?;
        let dedup_key = message
            .client_msg_id
            .clone()
            .map(|client_id| (message.session_id, message.sender_id.clone(), client_id));
        if let Some(&original) = dedup_key.as_ref().and_then(|key| state.client_ids.get(key)) {
            let original = state.message_mut(message.session_id, original)?.clone();
            return Ok(Posted::Duplicate(original));
        }
        // The order DynamoDB's explanation of a refused write follows.
        let last_seq = state.seqs.get(&message.session_id).copied().unwrap_or(0);
        if last_seq != append.after_seq || message.seq != last_seq + 1 {
            return Err(StoreError::Stale("seq"));
        }
        if let Some(update) = &append.user_bucket
            && state.user_buckets.get(&update.owner).copied() != update.previous
        {
            return Err(StoreError::Stale("bucket"));
        }
        if let Some(update) = &append.connection_bucket {
            match state.connections.get(&update.owner) {
                Some(connection) if connection.send_bucket == update.previous => {}
                Some(_) => return Err(StoreError::Stale("bucket")),
                None => return Err(StoreError::NotFound("connection")),
            }
        }
        if let Some(count) = &append.window
            && state
                .windows
                .get(&count.key)
                .is_some_and(|&(window, hits)| window == count.window && hits >= count.limit)
        {
            return Err(StoreError::Full);
        }
        let is_member = state
            .members
            .get(&message.session_id)
            .is_some_and(|m| m.contains_key(&message.sender_id));
        if append.sender_is_member && !is_member {
            return Err(StoreError::Conflict("the sender is not a member"));
        }
        if let Some(sent) = &message.attachment {
            state.attachment_mut(message.session_id, sent.id)?;
        }
        let messages = state.messages.entry(message.session_id).or_default();
        if messages.contains_key(&message.id) {
            return Err(StoreError::Conflict("the message id is taken"));
        }
        messages.insert(message.id, message.clone());
        state.seqs.insert(message.session_id, message.seq);
        if let Some(sent) = &message.attachment {
            state.attachment_mut(message.session_id, sent.id)?.state = AttachmentState::Ready;
        }
        if let Some(count) = &append.window {
            state.count(count);
        }
        if let Some(key) = dedup_key {
            state.client_ids.insert(key, message.id);
        }
        if let Some(charge) = &append.usage {
            let usage = state
                .usage
                .entry(charge.day)
                .or_default()
                .entry(charge.user.clone())
                .or_insert_with(|| Usage::none(charge.user.clone(), charge.day));
            usage.tokens += charge.tokens;
            usage.replies += 1;
        }
        if let Some(update) = &append.user_bucket {
            state.user_buckets.insert(update.owner.clone(), update.next);
            if let Some(repetition) = append.repetition {
                state.repetitions.insert(update.owner.clone(), repetition);
            }
        }
        if let Some(update) = &append.connection_bucket
            && let Some(connection) = state.connections.get_mut(&update.owner)
        {
            connection.send_bucket = Some(update.next);
            connection.strikes = 0;
        }
        let session = state.open_session(message.session_id)?;
        session.last_activity_at = message.created_at;
        if let Some(member) = state
            .members
            .get_mut(&message.session_id)
            .and_then(|m| m.get_mut(&message.sender_id))
            .filter(|_| append.sender_is_member)
        {
            member.last_activity_at = message.created_at;
        }
        Ok(Posted::New(message.clone()))
    }

    async fn read_sender(&self, sender: &SenderKey, now: Timestamp) -> StoreResult<Sender> {
        let state = self.state();
        let (session, member, connection, user) = match sender {
            SenderKey::Member { session, user } => (
                state.sessions.get(session).cloned(),
                state
                    .members
                    .get(session)
                    .and_then(|m| m.get(user))
                    .cloned(),
                None,
                user,
            ),
            SenderKey::Connection { id, user } => (
                None,
                None,
                state
                    .connections
                    .get(id)
                    .filter(|c| c.is_live(now))
                    .cloned(),
                user,
            ),
        };
        Ok(Sender {
            session,
            member,
            connection,
            user_bucket: state.user_buckets.get(user).copied(),
            repetition: state.repetitions.get(user).copied(),
            tokens_today: state
                .usage
                .get(&Day::of(now))
                .and_then(|day| day.get(user))
                .map_or(0, |usage| usage.tokens),
        })
    }

    async fn session_feed(&self, session: SessionId, now: Timestamp) -> StoreResult<Feed> {
        let state = self.state();
        Ok(Feed {
            last_seq: state.seqs.get(&session).copied().unwrap_or(0),
            wants_bot: state.sessions.get(&session).map(Session::wants_bot),
            connections: state.live_connections(session, now),
        })
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> StoreResult<Option<Message>> {
        Ok(self
            .state()
            .messages
            .get(&session)
            .and_then(|m| m.get(&id))
            .cloned())
    }

    async fn list_messages(
        &self,
        session: SessionId,
        query: &MessageQuery,
    ) -> StoreResult<Page<Message>> {
        if let Some(after) = seq_start(query)? {
            let state = self.state();
            let mut after_seq: Vec<Message> = state
                .messages
                .get(&session)
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|m| m.seq > after)
                .cloned()
                .collect();
            after_seq.sort_by_key(|m| m.seq);
            after_seq.truncate(query.limit.get() + 1);
            let (items, next_cursor) =
                split_page(after_seq, query.limit.get(), |m| seq_cursor(m.seq));
            return Ok(Page { items, next_cursor });
        }
        let Some(range) = MessageRange::of(query)? else {
            return Ok(Page::empty());
        };
        let state = self.state();
        let Some(messages) = state.messages.get(&session) else {
            return Ok(Page::empty());
        };
        let in_range = messages.range(range.first..=range.last).map(|(_, m)| m);
        let wanted = query.limit.get() + 1;
        let fetched: Vec<Message> = match range.order {
            Order::Asc => in_range.take(wanted).cloned().collect(),
            Order::Desc => in_range.rev().take(wanted).cloned().collect(),
        };
        let (items, next_cursor) = split_page(fetched, query.limit.get(), |m| message_cursor(m.id));
        Ok(Page { items, next_cursor })
    }

    async fn edit_message(
        &self,
        session: SessionId,
        id: MessageId,
        edit: &Edit,
        now: Timestamp,
    ) -> StoreResult<Message> {
        let mut state = self.state();
        let message = state.live_message_mut(session, id)?;
        message.content = edit.content.as_str().to_owned();
        message.moderated |= edit.moderated;
        message.edited_at = Some(now);
        Ok(message.clone())
    }

    async fn delete_message(
        &self,
        session: SessionId,
        id: MessageId,
        now: Timestamp,
    ) -> StoreResult<Message> {
        let mut state = self.state();
        let message = state.message_mut(session, id)?;
        if !message.is_deleted() {
            message.deleted_at = Some(now);
            message.content.clear();
            message.reactions = Default::default();
        }
        Ok(message.clone())
    }

    async fn set_reaction(
        &self,
        session: SessionId,
        id: MessageId,
        reaction: &Reaction,
        user: &UserId,
        present: bool,
    ) -> StoreResult<Message> {
        let mut state = self.state();
        let message = state.live_message_mut(session, id)?;
        if present {
            message.reactions.add(reaction.clone(), user.clone());
        } else {
            message.reactions.remove(reaction, user);
        }
        Ok(message.clone())
    }
}

#[async_trait]
impl AttachmentStore for EmbeddedStore {
    async fn put_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let mut state = self.state();
        state.open_session(attachment.session_id)?;
        let attachments = state.attachments.entry(attachment.session_id).or_default();
        if attachments.contains_key(&attachment.id) {
            return Err(StoreError::Conflict("the attachment id is taken"));
        }
        attachments.insert(attachment.id, attachment.clone());
        Ok(())
    }

    async fn get_attachment(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Option<Attachment>> {
        Ok(self
            .state()
            .attachments
            .get(&session)
            .and_then(|a| a.get(&id))
            .cloned())
    }

    async fn mark_attachment_ready(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Attachment> {
        let mut state = self.state();
        let attachment = state.attachment_mut(session, id)?;
        attachment.state = AttachmentState::Ready;
        Ok(attachment.clone())
    }

    async fn list_attachments(
        &self,
        session: SessionId,
        after: Option<AttachmentId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Attachment>> {
        let Some(first) = first_after(after) else {
            return Ok(Page::empty());
        };
        let state = self.state();
        let fetched: Vec<Attachment> = state
            .attachments
            .get(&session)
            .into_iter()
            .flat_map(|a| a.range(first..).map(|(_, attachment)| attachment.clone()))
            .take(limit.get() + 1)
            .collect();
        let (items, next_cursor) = split_page(fetched, limit.get(), |a| attachment_cursor(a.id));
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl ConnectionStore for EmbeddedStore {
    async fn put_connection(&self, connection: &Connection) -> StoreResult<()> {
        let mut state = self.state();
        if let Some(previous) = state
            .connections
            .insert(connection.id.clone(), connection.clone())
        {
            state.unlink_connection(&previous);
        }
        state.link_connection(connection);
        Ok(())
    }

    async fn get_connection(
        &self,
        id: &ConnectionId,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>> {
        Ok(self
            .state()
            .connections
            .get(id)
            .filter(|c| c.is_live(now))
            .cloned())
    }

    async fn bind_connection(
        &self,
        id: &ConnectionId,
        session: Option<SessionId>,
    ) -> StoreResult<Connection> {
        let mut state = self.state();
        let previous = state
            .connections
            .get(id)
            .cloned()
            .ok_or(StoreError::NotFound("connection"))?;
        state.unlink_connection(&previous);
        let bound = Connection {
            session_id: session,
            ..previous
        };
        state.link_connection(&bound);
        state.connections.insert(id.clone(), bound.clone());
        Ok(bound)
    }

    async fn delete_connection(&self, id: &ConnectionId) -> StoreResult<Option<Connection>> {
        let mut state = self.state();
        let removed = state.connections.remove(id);
        if let Some(connection) = &removed {
            state.unlink_connection(connection);
        }
        Ok(removed)
    }

    async fn set_typing(
        &self,
        id: &ConnectionId,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>> {
        let mut state = self.state();
        Ok(state
            .connections
            .get_mut(id)
            .filter(|c| c.is_live(now))
            .map(|connection| {
                connection.typing_until = until;
                connection.clone()
            }))
    }

    async fn typing_peers(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>> {
        Ok(self.state().live_connections(session, now))
    }

    async fn list_session_connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>> {
        Ok(self.state().live_connections(session, now))
    }
}

#[async_trait]
impl LimitStore for EmbeddedStore {
    async fn count_in_window(&self, count: &WindowCount) -> StoreResult<bool> {
        Ok(self.state().count(count))
    }

    async fn set_strikes(&self, id: &ConnectionId, strikes: u32) -> StoreResult<()> {
        match self.state().connections.get_mut(id) {
            Some(connection) => {
                connection.strikes = strikes;
                Ok(())
            }
            None => Err(StoreError::NotFound("connection")),
        }
    }
}

#[async_trait]
impl BusinessStore for EmbeddedStore {
    async fn put_business_secret(&self, secret: &BusinessSecret) -> StoreResult<()> {
        self.state()
            .business_secrets
            .insert(secret.business_id.clone(), secret.clone());
        Ok(())
    }

    async fn get_business_secret(
        &self,
        business: &BusinessId,
    ) -> StoreResult<Option<BusinessSecret>> {
        Ok(self.state().business_secrets.get(business).cloned())
    }
}

#[async_trait]
impl ChatbotStore for EmbeddedStore {
    async fn put_chatbot(&self, chatbot: &Chatbot, write: ChatbotWrite) -> StoreResult<bool> {
        let mut state = self.state();
        let stored = state.chatbots.get(&chatbot.id);
        let allowed = match write {
            ChatbotWrite::Create => stored.is_none(),
            ChatbotWrite::Replace { updated_at } => {
                stored.is_some_and(|stored| stored.updated_at == updated_at)
            }
        };
        if allowed {
            state.chatbots.insert(chatbot.id.clone(), chatbot.clone());
        }
        Ok(allowed)
    }

    async fn get_chatbot(&self, id: &ChatbotId) -> StoreResult<Option<Chatbot>> {
        Ok(self.state().chatbots.get(id).cloned())
    }

    async fn list_chatbots(&self) -> StoreResult<Vec<Chatbot>> {
        Ok(self.state().chatbots.values().cloned().collect())
    }

    async fn delete_chatbot(&self, id: &ChatbotId) -> StoreResult<bool> {
        Ok(self.state().chatbots.remove(id).is_some())
    }
}

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn index_document(
        &self,
        scope: &DocumentScope,
        document: &IndexedDocument,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let index = state.documents.entry(scope.clone()).or_default();
        if index.files.contains_key(&document.attachment_id) {
            return Ok(false);
        }
        let file = IndexedFile {
            attachment_id: document.attachment_id,
            file_name: document.file_name.clone(),
            chunks: document.chunks.len() as u64,
        };
        index.files.insert(document.attachment_id, file);
        for (chunk, impacts) in document.stored_chunks() {
            let n = chunk.n;
            index.chunks.insert((document.attachment_id, n), chunk);
            for (term, impact) in impacts {
                index.postings.entry(term.clone()).or_default().insert((
                    std::cmp::Reverse(*impact),
                    document.attachment_id,
                    n,
                ));
            }
        }
        Ok(true)
    }

    async fn indexed_chunks(&self, scope: &DocumentScope) -> StoreResult<u64> {
        Ok(self
            .state()
            .documents
            .get(scope)
            .map_or(0, |index| index.chunks.len() as u64))
    }

    async fn postings(
        &self,
        scope: &DocumentScope,
        term: &str,
        limit: usize,
    ) -> StoreResult<Vec<Posting>> {
        let state = self.state();
        let postings = state
            .documents
            .get(scope)
            .and_then(|index| index.postings.get(term));
        Ok(postings
            .into_iter()
            .flatten()
            .take(limit)
            .map(|&(impact, attachment_id, n)| Posting {
                attachment_id,
                n,
                impact: impact.0,
            })
            .collect())
    }

    async fn get_chunks(
        &self,
        scope: &DocumentScope,
        places: &[(AttachmentId, u32)],
    ) -> StoreResult<Vec<DocumentChunk>> {
        let state = self.state();
        let Some(index) = state.documents.get(scope) else {
            return Ok(Vec::new());
        };
        Ok(places
            .iter()
            .filter_map(|place| index.chunks.get(place).cloned())
            .collect())
    }

    async fn remove_document(
        &self,
        scope: &DocumentScope,
        attachment: AttachmentId,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(index) = state.documents.get_mut(scope) else {
            return Ok(false);
        };
        if index.files.remove(&attachment).is_none() {
            return Ok(false);
        }
        index.chunks.retain(|(of, _), _| *of != attachment);
        for postings in index.postings.values_mut() {
            postings.retain(|(_, of, _)| *of != attachment);
        }
        index.postings.retain(|_, postings| !postings.is_empty());
        Ok(true)
    }

    async fn list_documents(&self, scope: &DocumentScope) -> StoreResult<Vec<IndexedFile>> {
        Ok(self
            .state()
            .documents
            .get(scope)
            .map(|index| index.files.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn add_library_document(&self, document: &LibraryDocument) -> StoreResult<()> {
        let mut state = self.state();
        let library = state.library.entry(document.owner_id.clone()).or_default();
        if library.contains_key(&document.document_id) {
            return Err(StoreError::Conflict("the document id is taken"));
        }
        library.insert(document.document_id, document.clone());
        Ok(())
    }

    async fn library(&self, owner: &UserId) -> StoreResult<Vec<LibraryDocument>> {
        Ok(self
            .state()
            .library
            .get(owner)
            .map(|library| library.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<Option<LibraryDocument>> {
        Ok(self
            .state()
            .library
            .get(owner)
            .and_then(|library| library.get(&document))
            .cloned())
    }

    async fn set_library_state(
        &self,
        owner: &UserId,
        document: AttachmentId,
        state: DocumentState,
    ) -> StoreResult<bool> {
        let mut store = self.state();
        let Some(entry) = store
            .library
            .get_mut(owner)
            .and_then(|library| library.get_mut(&document))
        else {
            return Ok(false);
        };
        entry.state = state;
        Ok(true)
    }

    async fn remove_library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<bool> {
        Ok(self
            .state()
            .library
            .get_mut(owner)
            .is_some_and(|library| library.remove(&document).is_some()))
    }
}

#[async_trait]
impl UsageStore for EmbeddedStore {
    async fn get_usage(&self, user: &UserId, day: Day) -> StoreResult<Option<Usage>> {
        Ok(self
            .state()
            .usage
            .get(&day)
            .and_then(|users| users.get(user))
            .cloned())
    }

    async fn list_usage(
        &self,
        day: Day,
        after: Option<&UserId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Usage>> {
        let state = self.state();
        let Some(users) = state.usage.get(&day) else {
            return Ok(Page::empty());
        };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let fetched: Vec<Usage> = users
            .range::<UserId, _>((start, Bound::Unbounded))
            .take(limit.get() + 1)
            .map(|(_, usage)| usage.clone())
            .collect();
        let (items, next_cursor) = split_page(fetched, limit.get(), Usage::cursor);
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl ReplyStore for EmbeddedStore {
    async fn start_reply(
        &self,
        session: SessionId,
        response_id: MessageId,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        if state
            .replies
            .get(&session)
            .is_some_and(|r| r.started_at >= stale_before)
        {
            return Ok(false);
        }
        let reply = ReplyInProgress {
            response_id,
            started_at: now,
            stop_requested: false,
            joiners: Default::default(),
        };
        state.replies.insert(session, reply);
        Ok(true)
    }

    async fn get_reply(&self, session: SessionId) -> StoreResult<Option<ReplyInProgress>> {
        Ok(self.state().replies.get(&session).cloned())
    }

    async fn request_stop(&self, session: SessionId) -> StoreResult<Option<MessageId>> {
        Ok(self.state().replies.get_mut(&session).map(|reply| {
            reply.stop_requested = true;
            reply.response_id
        }))
    }

    async fn join_reply(&self, session: SessionId, connection: &ConnectionId) -> StoreResult<bool> {
        Ok(self
            .state()
            .replies
            .get_mut(&session)
            .map(|reply| reply.joiners.insert(connection.clone()))
            .is_some())
    }

    async fn finish_reply(&self, session: SessionId, response_id: MessageId) -> StoreResult<()> {
        let mut state = self.state();
        if state
            .replies
            .get(&session)
            .is_some_and(|r| r.response_id == response_id)
        {
            state.replies.remove(&session);
        }
        Ok(())
    }
}

#[async_trait]
impl SweepStore for EmbeddedStore {
    async fn idle_sessions(&self, before: Timestamp, limit: usize) -> StoreResult<Vec<SessionId>> {
        let state = self.state();
        let mut idle: Vec<(Timestamp, SessionId)> = state
            .sessions
            .values()
            .filter(|s| s.idles_out() && s.last_activity_at < before)
            .map(|s| (s.last_activity_at, s.id))
            .collect();
        idle.sort();
        Ok(idle.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn end_idle_session(
        &self,
        id: SessionId,
        before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        let mut state = self.state();
        let due = state
            .sessions
            .get(&id)
            .is_some_and(|s| !s.is_ended() && s.last_activity_at < before);
        if !due {
            return Ok(None);
        }
        state.end_session(id, now).map(Some)
    }

    async fn stale_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<(SessionId, AttachmentId)>> {
        let state = self.state();
        let mut stale: Vec<(Timestamp, SessionId, AttachmentId)> = state
            .attachments
            .values()
            .flat_map(BTreeMap::values)
            .filter(|a| a.state == AttachmentState::Pending && a.created_at < before)
            .map(|a| (a.created_at, a.session_id, a.id))
            .collect();
        stale.sort();
        Ok(stale
            .into_iter()
            .take(limit)
            .map(|(_, session, id)| (session, id))
            .collect())
    }

    async fn remove_stale_upload(&self, session: SessionId, id: AttachmentId) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(attachments) = state.attachments.get_mut(&session) else {
            return Ok(false);
        };
        if attachments
            .get(&id)
            .is_none_or(|a| a.state != AttachmentState::Pending)
        {
            return Ok(false);
        }
        attachments.remove(&id);
        Ok(true)
    }

    async fn expired_connections(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<ConnectionId>> {
        let state = self.state();
        let mut expired: Vec<(Timestamp, ConnectionId)> = state
            .connections
            .values()
            .filter(|c| c.expires_at < before)
            .map(|c| (c.expires_at, c.id.clone()))
            .collect();
        expired.sort();
        Ok(expired.into_iter().take(limit).map(|(_, id)| id).collect())
    }
}
