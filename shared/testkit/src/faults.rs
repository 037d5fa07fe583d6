//! A store that fails on command: it wraps a real store and, for the operations a test
//! names, answers as an unreachable or slow DynamoDB would, so suites can check what
//! clients see and what is left stored. Every other call goes to the real store.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chat_core::domain::{
    Attachment, AttachmentId, BusinessId, BusinessSecret, Chatbot, ChatbotId, Connection,
    ConnectionId, Day, Member, Message, MessageId, Page, PageLimit, Reaction, Session, SessionId,
    Timestamp, Usage, UserId,
};
use chat_core::ports::{
    Append, AttachmentStore, BusinessStore, ChatbotStore, ChatbotWrite, ConnectionStore, Created,
    DocumentChunk, DocumentScope, DocumentState, DocumentStore, Edit, Feed, IndexedDocument,
    IndexedFile, LibraryDocument, LimitStore, MessageQuery, MessageStore, Posted, Posting,
    ReplyInProgress, ReplyStore, Sender, SenderKey, SessionPatch, SessionQuery, SessionStore,
    Store, StoreError, StoreResult, SweepStore, UsageStore, WindowCount,
};

/// How a faulted operation answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// At once, without reaching the store: throttled, or the endpoint unreachable.
    Unavailable,
    /// Only after this long, and then only if it is within the deadline: past it, the call
    /// is abandoned unapplied and answers `Unavailable`, as the SDK's operation timeout does.
    Slow(Duration),
    /// The store applies the call but the answer is lost (a timeout after DynamoDB wrote):
    /// `Unavailable`, though the write is there.
    AnswerLost,
}

/// The wrapped store and the faults armed on it, by operation name (`put_message`, ...).
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    deadline: Duration,
    armed: Mutex<HashMap<&'static str, Fault>>,
    injected: AtomicUsize,
}

impl FaultyStore {
    /// `deadline` plays the adapter's operation timeout (8 s deployed; tests use less).
    pub fn new(inner: Arc<dyn Store>, deadline: Duration) -> Self {
        Self {
            inner,
            deadline,
            armed: Mutex::new(HashMap::new()),
            injected: AtomicUsize::new(0),
        }
    }

    /// The real store, for checking what a faulted call left behind.
    pub fn inner(&self) -> Arc<dyn Store> {
        self.inner.clone()
    }

    /// From now on `operation` answers with `fault`.
    pub fn arm(&self, operation: &'static str, fault: Fault) {
        self.faults().insert(operation, fault);
    }

    /// Every operation reaches the store again.
    pub fn heal(&self) {
        self.faults().clear();
    }

    /// How many calls were answered with a fault so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Fault>> {
        self.armed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `call` against the real store unless `operation` is armed.
    async fn run<T, F>(&self, operation: &'static str, call: F) -> StoreResult<T>
    where
        F: Future<Output = StoreResult<T>> + Send,
    {
        let Some(fault) = self.faults().get(operation).copied() else {
            return call.await;
        };
        self.injected.fetch_add(1, Ordering::SeqCst);
        let unavailable = || {
            Err(StoreError::Unavailable(
                format!("injected fault on {operation}: {fault:?}").into(),
            ))
        };
        match fault {
            Fault::Unavailable => unavailable(),
            Fault::Slow(delay) => {
                let late = async {
                    tokio::time::sleep(delay).await;
                    call.await
                };
                match tokio::time::timeout(self.deadline, late).await {
                    Ok(answer) => answer,
                    Err(_) => unavailable(),
                }
            }
            Fault::AnswerLost => {
                // The outcome is dropped: the caller cannot know whether it was applied.
                let _ = call.await;
                unavailable()
            }
        }
    }
}

#[async_trait]
impl SessionStore for FaultyStore {
    async fn create_session(&self, session: &Session, members: &[Member]) -> StoreResult<Created> {
        self.run(
            "create_session",
            self.inner.create_session(session, members),
        )
        .await
    }

    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.run("get_session", self.inner.get_session(id)).await
    }

    async fn update_session(
        &self,
        id: SessionId,
        patch: &SessionPatch,
        now: Timestamp,
    ) -> StoreResult<Session> {
        self.run("update_session", self.inner.update_session(id, patch, now))
            .await
    }

    async fn end_session(&self, id: SessionId, now: Timestamp) -> StoreResult<Session> {
        self.run("end_session", self.inner.end_session(id, now))
            .await
    }

    async fn add_member(&self, member: &Member) -> StoreResult<bool> {
        self.run("add_member", self.inner.add_member(member)).await
    }

    async fn remove_member(&self, session: SessionId, user: &UserId) -> StoreResult<bool> {
        self.run("remove_member", self.inner.remove_member(session, user))
            .await
    }

    async fn get_member(&self, session: SessionId, user: &UserId) -> StoreResult<Option<Member>> {
        self.run("get_member", self.inner.get_member(session, user))
            .await
    }

    async fn list_members(&self, session: SessionId) -> StoreResult<Vec<Member>> {
        self.run("list_members", self.inner.list_members(session))
            .await
    }

    async fn list_user_sessions(
        &self,
        user: &UserId,
        query: &SessionQuery,
    ) -> StoreResult<Page<Session>> {
        self.run(
            "list_user_sessions",
            self.inner.list_user_sessions(user, query),
        )
        .await
    }

    async fn open_support_sessions(
        &self,
        business: &BusinessId,
        limit: usize,
    ) -> StoreResult<Vec<Session>> {
        self.run(
            "open_support_sessions",
            self.inner.open_support_sessions(business, limit),
        )
        .await
    }
}

#[async_trait]
impl MessageStore for FaultyStore {
    async fn put_message(&self, message: &Message, append: &Append) -> StoreResult<Posted> {
        self.run("put_message", self.inner.put_message(message, append))
            .await
    }

    async fn read_sender(&self, sender: &SenderKey, now: Timestamp) -> StoreResult<Sender> {
        self.run("read_sender", self.inner.read_sender(sender, now))
            .await
    }

    async fn session_feed(&self, session: SessionId, now: Timestamp) -> StoreResult<Feed> {
        self.run("session_feed", self.inner.session_feed(session, now))
            .await
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> StoreResult<Option<Message>> {
        self.run("get_message", self.inner.get_message(session, id))
            .await
    }

    async fn list_messages(
        &self,
        session: SessionId,
        query: &MessageQuery,
    ) -> StoreResult<Page<Message>> {
        self.run("list_messages", self.inner.list_messages(session, query))
            .await
    }

    async fn edit_message(
        &self,
        session: SessionId,
        id: MessageId,
        edit: &Edit,
        now: Timestamp,
    ) -> StoreResult<Message> {
        self.run(
            "edit_message",
            self.inner.edit_message(session, id, edit, now),
        )
        .await
    }

    async fn delete_message(
        &self,
        session: SessionId,
        id: MessageId,
        now: Timestamp,
    ) -> StoreResult<Message> {
        self.run(
            "delete_message",
            self.inner.delete_message(session, id, now),
        )
        .await
    }

    async fn set_reaction(
        &self,
        session: SessionId,
        id: MessageId,
        reaction: &Reaction,
        user: &UserId,
        present: bool,
    ) -> StoreResult<Message> {
        self.run(
            "set_reaction",
            self.inner
                .set_reaction(session, id, reaction, user, present),
        )
        .await
    }
}

#[async_trait]
impl AttachmentStore for FaultyStore {
    async fn put_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        self.run("put_attachment", self.inner.put_attachment(attachment))
            .await
    }

    async fn get_attachment(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Option<Attachment>> {
        self.run("get_attachment", self.inner.get_attachment(session, id))
            .await
    }

    async fn mark_attachment_ready(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Attachment> {
        self.run(
            "mark_attachment_ready",
            self.inner.mark_attachment_ready(session, id),
        )
        .await
    }

    async fn list_attachments(
        &self,
        session: SessionId,
        after: Option<AttachmentId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Attachment>> {
        self.run(
            "list_attachments",
            self.inner.list_attachments(session, after, limit),
        )
        .await
    }
}

#[async_trait]
impl ConnectionStore for FaultyStore {
    async fn put_connection(&self, connection: &Connection) -> StoreResult<()> {
        self.run("put_connection", self.inner.put_connection(connection))
            .await
    }

    async fn get_connection(
        &self,
        id: &ConnectionId,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>> {
        self.run("get_connection", self.inner.get_connection(id, now))
            .await
    }

    async fn bind_connection(
        &self,
        id: &ConnectionId,
        session: Option<SessionId>,
    ) -> StoreResult<Connection> {
        self.run("bind_connection", self.inner.bind_connection(id, session))
            .await
    }

    async fn delete_connection(&self, id: &ConnectionId) -> StoreResult<Option<Connection>> {
        self.run("delete_connection", self.inner.delete_connection(id))
            .await
    }

    async fn set_typing(
        &self,
        id: &ConnectionId,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>> {
        self.run("set_typing", self.inner.set_typing(id, until, now))
            .await
    }

    async fn typing_peers(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>> {
        self.run("typing_peers", self.inner.typing_peers(session, now))
            .await
    }

    async fn list_session_connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>> {
        self.run(
            "list_session_connections",
            self.inner.list_session_connections(session, now),
        )
        .await
    }
}

#[async_trait]
impl LimitStore for FaultyStore {
    async fn count_in_window(&self, count: &WindowCount) -> StoreResult<bool> {
        self.run("count_in_window", self.inner.count_in_window(count))
            .await
    }

    async fn set_strikes(&self, id: &ConnectionId, strikes: u32) -> StoreResult<()> {
        self.run("set_strikes", self.inner.set_strikes(id, strikes))
            .await
    }
}

#[async_trait]
impl BusinessStore for FaultyStore {
    async fn put_business_secret(&self, secret: &BusinessSecret) -> StoreResult<()> {
        self.run(
            "put_business_secret",
            self.inner.put_business_secret(secret),
        )
        .await
    }

    async fn get_business_secret(
        &self,
        business: &BusinessId,
    ) -> StoreResult<Option<BusinessSecret>> {
        self.run(
            "get_business_secret",
            self.inner.get_business_secret(business),
        )
        .await
    }
}

#[async_trait]
impl ChatbotStore for FaultyStore {
    async fn put_chatbot(&self, chatbot: &Chatbot, write: ChatbotWrite) -> StoreResult<bool> {
        self.run("put_chatbot", self.inner.put_chatbot(chatbot, write))
            .await
    }

    async fn get_chatbot(&self, id: &ChatbotId) -> StoreResult<Option<Chatbot>> {
        self.run("get_chatbot", self.inner.get_chatbot(id)).await
    }

    async fn list_chatbots(&self) -> StoreResult<Vec<Chatbot>> {
        self.run("list_chatbots", self.inner.list_chatbots()).await
    }

    async fn delete_chatbot(&self, id: &ChatbotId) -> StoreResult<bool> {
        self.run("delete_chatbot", self.inner.delete_chatbot(id))
            .await
    }
}

#[async_trait]
impl DocumentStore for FaultyStore {
    async fn index_document(
        &self,
        scope: &DocumentScope,
        document: &IndexedDocument,
    ) -> StoreResult<bool> {
        self.run("index_document", self.inner.index_document(scope, document))
            .await
    }

    async fn indexed_chunks(&self, scope: &DocumentScope) -> StoreResult<u64> {
        self.run("indexed_chunks", self.inner.indexed_chunks(scope))
            .await
    }

    async fn postings(
        &self,
        scope: &DocumentScope,
        term: &str,
        limit: usize,
    ) -> StoreResult<Vec<Posting>> {
        self.run("postings", self.inner.postings(scope, term, limit))
            .await
    }

    async fn get_chunks(
        &self,
        scope: &DocumentScope,
        places: &[(AttachmentId, u32)],
    ) -> StoreResult<Vec<DocumentChunk>> {
        self.run("get_chunks", self.inner.get_chunks(scope, places))
            .await
    }

    async fn list_documents(&self, scope: &DocumentScope) -> StoreResult<Vec<IndexedFile>> {
        self.run("list_documents", self.inner.list_documents(scope))
            .await
    }

    async fn remove_document(
        &self,
        scope: &DocumentScope,
        attachment: AttachmentId,
    ) -> StoreResult<bool> {
        self.run(
            "remove_document",
            self.inner.remove_document(scope, attachment),
        )
        .await
    }

    async fn add_library_document(&self, document: &LibraryDocument) -> StoreResult<()> {
        self.run(
            "add_library_document",
            self.inner.add_library_document(document),
        )
        .await
    }

    async fn library(&self, owner: &UserId) -> StoreResult<Vec<LibraryDocument>> {
        self.run("library", self.inner.library(owner)).await
    }

    async fn library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<Option<LibraryDocument>> {
        self.run(
            "library_document",
            self.inner.library_document(owner, document),
        )
        .await
    }

    async fn set_library_state(
        &self,
        owner: &UserId,
        document: AttachmentId,
        state: DocumentState,
    ) -> StoreResult<bool> {
        self.run(
            "set_library_state",
            self.inner.set_library_state(owner, document, state),
        )
        .await
    }

    async fn remove_library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<bool> {
        self.run(
            "remove_library_document",
            self.inner.remove_library_document(owner, document),
        )
        .await
    }
}

#[async_trait]
impl UsageStore for FaultyStore {
    async fn get_usage(&self, user: &UserId, day: Day) -> StoreResult<Option<Usage>> {
        self.run("get_usage", self.inner.get_usage(user, day)).await
    }

    async fn list_usage(
        &self,
        day: Day,
        after: Option<&UserId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Usage>> {
        self.run("list_usage", self.inner.list_usage(day, after, limit))
            .await
    }
}

#[async_trait]
impl ReplyStore for FaultyStore {
    async fn start_reply(
        &self,
        session: SessionId,
        response_id: MessageId,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> StoreResult<bool> {
        self.run(
            "start_reply",
            self.inner
                .start_reply(session, response_id, now, stale_before),
        )
        .await
    }

    async fn get_reply(&self, session: SessionId) -> StoreResult<Option<ReplyInProgress>> {
        self.run("get_reply", self.inner.get_reply(session)).await
    }

    async fn request_stop(&self, session: SessionId) -> StoreResult<Option<MessageId>> {
        self.run("request_stop", self.inner.request_stop(session))
            .await
    }

    async fn join_reply(&self, session: SessionId, connection: &ConnectionId) -> StoreResult<bool> {
        self.run("join_reply", self.inner.join_reply(session, connection))
            .await
    }

    async fn finish_reply(&self, session: SessionId, response_id: MessageId) -> StoreResult<()> {
        self.run(
            "finish_reply",
            self.inner.finish_reply(session, response_id),
        )
        .await
    }
}

#[async_trait]
impl SweepStore for FaultyStore {
    async fn idle_sessions(&self, before: Timestamp, limit: usize) -> StoreResult<Vec<SessionId>> {
        self.run("idle_sessions", self.inner.idle_sessions(before, limit))
            .await
    }

    async fn end_idle_session(
        &self,
        id: SessionId,
        before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        self.run(
            "end_idle_session",
            self.inner.end_idle_session(id, before, now),
        )
        .await
    }

    async fn stale_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<(SessionId, AttachmentId)>> {
        self.run("stale_uploads", self.inner.stale_uploads(before, limit))
            .await
    }

    async fn remove_stale_upload(&self, session: SessionId, id: AttachmentId) -> StoreResult<bool> {
        self.run(
            "remove_stale_upload",
            self.inner.remove_stale_upload(session, id),
        )
        .await
    }

    async fn expired_connections(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<ConnectionId>> {
        self.run(
            "expired_connections",
            self.inner.expired_connections(before, limit),
        )
        .await
    }
}
