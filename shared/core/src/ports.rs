//! The narrow interfaces the services are written against, held as `Arc<dyn ...>`.
//!
//! Adapters implement them: DynamoDB, S3 and API Gateway in production; an embedded
//! in-process store and a local folder on a laptop. Nothing here names an AWS type.

use std::time::Duration;

use async_trait::async_trait;

use crate::moderation::Repetition;

use crate::domain::{
    ArrivalTime, Attachment, AttachmentId, BusinessId, BusinessSecret, Chatbot, ChatbotId,
    Connection, ConnectionId, Content, Cursor, Day, JoinPolicy, Language, Member, Message,
    MessageId, ModelName, Order, Page, PageLimit, Reaction, Session, SessionId, SessionStatus,
    Temperature, TimeZoneName, Timestamp, Title, Usage, UserId, ValidationError,
};

/// What a store can answer besides success. Adapters map their own errors onto these,
/// keeping the details (SDK errors, attribute maps) as the `source`, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What was not found: `session`, `message`, `connection`, `attachment`.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the session has ended")]
    SessionEnded,
    /// A condition the write depended on no longer holds (e.g. the message was deleted).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A rate-limit window the write counts against is full.
    #[error("the limit's window is full")]
    Full,
    /// What the write was computed from changed since it was read (another message took
    /// the seq, another send drew on the bucket): read again and retry.
    #[error("stale: {0} changed since it was read")]
    Stale(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Timeouts, throttling, an unreachable endpoint: worth retrying later.
    #[error("the store is unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else; the cause is for logs, never for clients.
    #[error("store failure")]
    Internal(#[source] Cause),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The result of creating a session subject to a one-active-session rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    New(Session),
    /// Another active session already holds the scope; it is returned instead.
    Existing(Session),
}

impl Created {
    pub fn session(&self) -> &Session {
        match self {
            Self::New(session) | Self::Existing(session) => session,
        }
    }
}

/// Changes to a session; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionPatch {
    /// `Some(None)` clears the title.
    pub title: Option<Option<Title>>,
    /// Only `Active` or `Inactive`; ending goes through `end_session`.
    pub status: Option<SessionStatus>,
    /// Groups only (the service checks the kind).
    pub join_policy: Option<JoinPolicy>,
    /// What the bot replies in; `Some(None)` clears it.
    pub language: Option<Option<Language>>,
    /// `Some(None)` clears it.
    pub timezone: Option<Option<TimeZoneName>>,
}

impl SessionPatch {
    /// Ending is its own operation: it also frees the session's active scope.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.status == Some(SessionStatus::Ended) {
            return Err(ValidationError::new("status", "must be active or inactive"));
        }
        Ok(())
    }
}

/// The most members a session can be created with in one go; more join afterwards.
pub const MAX_INITIAL_MEMBERS: usize = 50;

/// What every adapter checks before creating a session.
pub fn check_new_session(session: &Session, members: &[Member]) -> Result<(), ValidationError> {
    if members.len() > MAX_INITIAL_MEMBERS {
        return Err(ValidationError::new(
            "members",
            format!("must be at most {MAX_INITIAL_MEMBERS}"),
        ));
    }
    if members.iter().any(|m| m.session_id != session.id) {
        return Err(ValidationError::new(
            "members",
            "must belong to the new session",
        ));
    }
    if session.is_ended() {
        return Err(ValidationError::new(
            "status",
            "a new session cannot be ended",
        ));
    }
    Ok(())
}

/// Which of a user's sessions to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionQuery {
    pub status: Option<SessionStatus>,
    pub limit: PageLimit,
    pub cursor: Option<Cursor>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session and its first members together. When the session has an
    /// `active_scope`, at most one session per scope is active: a concurrent or earlier
    /// creation wins and comes back as `Created::Existing`.
    async fn create_session(&self, session: &Session, members: &[Member]) -> StoreResult<Created>;

    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>>;

    /// Refuses with `SessionEnded` once the session has ended.
    async fn update_session(
        &self,
        id: SessionId,
        patch: &SessionPatch,
        now: Timestamp,
    ) -> StoreResult<Session>;

    /// Marks the session ended and frees its active scope; ending twice is `SessionEnded`.
    async fn end_session(&self, id: SessionId, now: Timestamp) -> StoreResult<Session>;

    /// Adds the member; false when they already were one. Refuses ended sessions.
    async fn add_member(&self, member: &Member) -> StoreResult<bool>;

    /// Removes the member; false when they were not one.
    async fn remove_member(&self, session: SessionId, user: &UserId) -> StoreResult<bool>;

    async fn get_member(&self, session: SessionId, user: &UserId) -> StoreResult<Option<Member>>;

    async fn list_members(&self, session: SessionId) -> StoreResult<Vec<Member>>;

    /// The user's sessions, most recent activity of theirs first.
    async fn list_user_sessions(
        &self,
        user: &UserId,
        query: &SessionQuery,
    ) -> StoreResult<Page<Session>>;

    /// The business's open support sessions, newest first, at most `limit`: its agents'
    /// queue. One Query.
    async fn open_support_sessions(
        &self,
        business: &BusinessId,
        limit: usize,
    ) -> StoreResult<Vec<Session>>;
}

/// Which messages of a session to page through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageQuery {
    pub order: Order,
    pub limit: PageLimit,
    pub cursor: Option<Cursor>,
    /// Only messages newer than this one, oldest first (catching up after a reconnect).
    pub after: Option<MessageId>,
    /// Only messages older than this one.
    pub before: Option<MessageId>,
    /// Only messages after this seq, in seq order, oldest first (a client catching up).
    pub after_seq: Option<u64>,
}

/// A message's new content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub content: Content,
    /// Moderation changed it.
    pub moderated: bool,
}

/// Who sends a message, as the message path reads it: in one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderKey {
    /// A REST post: the session and the sender's membership of it.
    Member { session: SessionId, user: UserId },
    /// A WebSocket send: the sender's connection, which names the session.
    Connection { id: ConnectionId, user: UserId },
}

/// What [`MessageStore::read_sender`] finds; each part absent when there is none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sender {
    pub session: Option<Session>,
    pub member: Option<Member>,
    /// Unless it is gone or expired.
    pub connection: Option<Connection>,
    /// The user's send bucket, shared by all their connections and REST.
    pub user_bucket: Option<ArrivalTime>,
    /// What the user sent last, kept beside the bucket.
    pub repetition: Option<Repetition>,
    /// The tokens the user's bot replies came to today (the day of the `now` read at).
    pub tokens_today: u64,
}

/// What the message path reads of a session in one request: the last seq given, and the
/// connections a new message goes to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Feed {
    pub last_seq: u64,
    /// Whether its messages get bot replies; `None` for a session stored without it
    /// (then the session itself says).
    pub wants_bot: Option<bool>,
    /// Those not expired at the time given.
    pub connections: Vec<Connection>,
}

/// A bucket after a send, and what it was when read: the write holds only if it still is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketUpdate<K> {
    pub owner: K,
    pub previous: Option<ArrivalTime>,
    pub next: ArrivalTime,
}

/// How a message joins its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    /// The session's last seq as read: the message is stored with `message.seq` =
    /// `after_seq + 1`, or refused with `Stale` if another message took that seq first.
    pub after_seq: u64,
    /// Records the activity on the sender's membership, and refuses a sender who is not
    /// (or no longer) a member.
    pub sender_is_member: bool,
    /// The buckets the send draws on, written in the same request.
    pub user_bucket: Option<BucketUpdate<UserId>>,
    /// Written with the user's bucket.
    pub repetition: Option<Repetition>,
    /// Also resets the connection's strikes.
    pub connection_bucket: Option<BucketUpdate<ConnectionId>>,
    /// A window the send counts against, in the same write (the sender's bot replies
    /// today, in a session with a bot): refused with `Full` when it is full.
    pub window: Option<WindowCount>,
    /// A bot reply's tokens, added to the usage of who asked, in the same write.
    pub usage: Option<UsageCharge>,
}

/// A bot reply's cost, charged to the user whose message it answers, on the day it is
/// stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageCharge {
    pub user: UserId,
    pub day: Day,
    pub tokens: u64,
}

impl Append {
    /// An append with no limits and no membership to record (a bot's reply).
    pub fn after(after_seq: u64) -> Self {
        Self {
            after_seq,
            sender_is_member: false,
            user_bucket: None,
            repetition: None,
            connection_bucket: None,
            window: None,
            usage: None,
        }
    }
}

/// A fixed-window counter: who or what is counted, in which window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowCount {
    /// e.g. `connect#<user>`, `start-ip#<address>`; never containing `#` beyond the scope's.
    pub key: String,
    pub window: u64,
    pub limit: u32,
    /// When the window ends, so its counter may expire.
    pub ends_at: Timestamp,
}

/// The outcome of an idempotent send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Posted {
    New(Message),
    /// The same `client_msg_id` was already used by this sender in this session.
    Duplicate(Message),
}

impl Posted {
    pub fn message(&self) -> &Message {
        match self {
            Self::New(message) | Self::Duplicate(message) => message,
        }
    }
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores the message as the session's `append.after_seq + 1`th unless its sender
    /// already used its `client_msg_id` in the session (then the original comes back),
    /// refusing with `SessionEnded` or `NotFound` when the session is not open, `Stale`
    /// when the seq or a bucket moved since it was read, and `Conflict` when the sender
    /// must be a member and is not. Records the activity on the session and the
    /// membership, and the buckets, in the same write: its cost does not depend on the
    /// number of members.
    async fn put_message(&self, message: &Message, append: &Append) -> StoreResult<Posted>;

    /// The sender's session, membership or connection, and bucket: one read.
    async fn read_sender(&self, sender: &SenderKey, now: Timestamp) -> StoreResult<Sender>;

    /// The session's last seq and its connections unexpired at `now`: one read.
    async fn session_feed(&self, session: SessionId, now: Timestamp) -> StoreResult<Feed>;

    async fn get_message(&self, session: SessionId, id: MessageId) -> StoreResult<Option<Message>>;

    async fn list_messages(
        &self,
        session: SessionId,
        query: &MessageQuery,
    ) -> StoreResult<Page<Message>>;

    /// Replaces the content and marks the message edited (and `moderated`, when moderation
    /// changed this content; a flag once set stays); `Conflict` if it was deleted.
    async fn edit_message(
        &self,
        session: SessionId,
        id: MessageId,
        edit: &Edit,
        now: Timestamp,
    ) -> StoreResult<Message>;

    /// Soft delete: the message stays in place, its content and reactions are cleared.
    async fn delete_message(
        &self,
        session: SessionId,
        id: MessageId,
        now: Timestamp,
    ) -> StoreResult<Message>;

    /// Adds (`present`) or removes one user's reaction; doing it twice changes nothing.
    async fn set_reaction(
        &self,
        session: SessionId,
        id: MessageId,
        reaction: &Reaction,
        user: &UserId,
        present: bool,
    ) -> StoreResult<Message>;
}

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Records an attachment (pending until its object is checked); refuses a session
    /// that ended (`SessionEnded`) or does not exist (`NotFound`).
    async fn put_attachment(&self, attachment: &Attachment) -> StoreResult<()>;

    async fn get_attachment(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Option<Attachment>>;

    /// Marks the attachment ready; doing it twice changes nothing. `NotFound` if absent.
    async fn mark_attachment_ready(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Attachment>;

    /// The session's attachments oldest first, after `after` when given, a page at a time.
    async fn list_attachments(
        &self,
        session: SessionId,
        after: Option<AttachmentId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Attachment>>;
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records the connection (and, when bound, its entry under the session).
    async fn put_connection(&self, connection: &Connection) -> StoreResult<()>;

    /// The connection, unless it is gone or expired at `now`.
    async fn get_connection(
        &self,
        id: &ConnectionId,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>>;

    /// Moves the connection to another session (or none); `NotFound` if it is gone.
    async fn bind_connection(
        &self,
        id: &ConnectionId,
        session: Option<SessionId>,
    ) -> StoreResult<Connection>;

    /// Removes the connection, returning what it was.
    async fn delete_connection(&self, id: &ConnectionId) -> StoreResult<Option<Connection>>;

    /// Marks the connection as typing until `until` (`None`: stopped), and returns it as
    /// it now is (`None` when it is gone or expired): one write.
    async fn set_typing(
        &self,
        id: &ConnectionId,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Option<Connection>>;

    /// The connections bound to the session with their typing state, unexpired at `now`:
    /// one read. It may miss a binding of the last moment, which a typing indicator can
    /// afford (a message never reads it).
    async fn typing_peers(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>>;

    /// The session's connections that have not expired at `now`, in one read.
    async fn list_session_connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<Connection>>;
}

/// Rate-limit counters that are not part of another write.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one more event in the window: false (and nothing counted) when it is full.
    /// One write.
    async fn count_in_window(&self, count: &WindowCount) -> StoreResult<bool>;

    /// Records how many sends of the connection were refused in a row.
    async fn set_strikes(&self, id: &ConnectionId, strikes: u32) -> StoreResult<()>;
}

/// Each business's customer-verification secret.
#[async_trait]
pub trait BusinessStore: Send + Sync {
    /// Sets the business's secret, replacing any before it. One write.
    async fn put_business_secret(&self, secret: &BusinessSecret) -> StoreResult<()>;

    /// The business's secret, if it has one. One read.
    async fn get_business_secret(
        &self,
        business: &BusinessId,
    ) -> StoreResult<Option<BusinessSecret>>;
}

/// How a chatbot record is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatbotWrite {
    /// Only if no chatbot has the id.
    Create,
    /// Only if the stored record is still the one last updated at this time (an edit made
    /// meanwhile is not overwritten).
    Replace { updated_at: Timestamp },
}

/// The deployment's chatbots. Few (tens): all in one partition, listed with one Query.
#[async_trait]
pub trait ChatbotStore: Send + Sync {
    /// Writes the record as `write` says; false when its condition does not hold. One write.
    async fn put_chatbot(&self, chatbot: &Chatbot, write: ChatbotWrite) -> StoreResult<bool>;

    /// One read.
    async fn get_chatbot(&self, id: &ChatbotId) -> StoreResult<Option<Chatbot>>;

    /// Every chatbot, by id.
    async fn list_chatbots(&self) -> StoreResult<Vec<Chatbot>>;

    /// False when there was none. One write.
    async fn delete_chatbot(&self, id: &ChatbotId) -> StoreResult<bool>;
}

/// What the bot's replies cost, per user and day (written with each reply, see
/// [`Append::usage`]).
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// One read; `None` when the user had no bot reply that day.
    async fn get_usage(&self, user: &UserId, day: Day) -> StoreResult<Option<Usage>>;

    /// The day's usage by user id, after `after`, a page at a time: one Query.
    async fn list_usage(
        &self,
        day: Day,
        after: Option<&UserId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Usage>>;
}

/// A piece of a file shared in a session, as the index keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocumentChunk {
    pub attachment_id: AttachmentId,
    pub file_name: String,
    /// Its place in the file, from 0.
    pub n: u32,
    pub text: String,
    /// Its vector, when an embeddings model was configured as it was indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<crate::documents::Embedding>,
}

/// A chunk a term occurs in, and how much the term weighs there (BM25's term-frequency
/// part, in thousandths: see `documents::impact`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Posting {
    pub attachment_id: AttachmentId,
    pub n: u32,
    pub impact: u32,
}

/// A file to index: its chunks, in order, each with its terms' impacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedDocument {
    pub attachment_id: AttachmentId,
    pub file_name: String,
    pub chunks: Vec<(String, std::collections::BTreeMap<String, u32>)>,
    /// The chunks' vectors, in the same order, with an embeddings model; else empty.
    pub embeddings: Vec<crate::documents::Embedding>,
}

impl IndexedDocument {
    /// Each chunk as the index keeps it, with its terms' impacts.
    pub fn stored_chunks(
        &self,
    ) -> impl Iterator<Item = (DocumentChunk, &std::collections::BTreeMap<String, u32>)> {
        (0u32..).zip(&self.chunks).map(|(n, (text, impacts))| {
            let chunk = DocumentChunk {
                attachment_id: self.attachment_id,
                file_name: self.file_name.clone(),
                n,
                text: text.clone(),
                embedding: self.embeddings.get(n as usize).cloned(),
            };
            (chunk, impacts)
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the embeddings model failed")]
pub struct EmbedError(#[source] pub Cause);

/// Turns texts into vectors that lie close when the texts mean alike (an embeddings
/// model): optional, to order a reply's keyword matches by meaning.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name, kept with each vector.
    fn model(&self) -> &str;

    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Reads the text of a file the bot indexes: plain text, Markdown, CSV and HTML in the
/// core ([`crate::documents::PlainText`]); the bot adds PDF.
#[async_trait]
pub trait TextExtractor: Send + Sync {
    /// Whether it reads files of this media type.
    fn reads(&self, content_type: &str) -> bool;

    /// The file's text; `None` when it cannot be read (another type, damaged bytes).
    async fn extract(&self, content_type: &str, bytes: Vec<u8>) -> Option<String>;
}

/// Whose files an index holds: a session's (shared in it, for its replies only), a
/// chatbot's (an admin's, for all its sessions), or one document of a user's library (for
/// the sessions its owner binds to it with `document_id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DocumentScope {
    Session(SessionId),
    Chatbot(ChatbotId),
    Library {
        owner: UserId,
        document: AttachmentId,
    },
}

/// A document of a user's library, whatever became of its indexing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LibraryDocument {
    pub document_id: AttachmentId,
    pub owner_id: UserId,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub added_at: Timestamp,
    #[serde(flatten)]
    pub state: DocumentState,
}

/// Where a library document's indexing stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DocumentState {
    /// Uploaded; the bot has not indexed it yet, so no reply draws on it.
    Indexing,
    Indexed {
        chunks: u64,
    },
    /// It holds no text the bot can read (a scanned PDF, damaged bytes).
    Unreadable,
    /// The bot could not index it (the store or the model failed): remove it and add it
    /// again.
    Failed,
}

/// A file an index holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexedFile {
    pub attachment_id: AttachmentId,
    pub file_name: String,
    pub chunks: u64,
}

/// The index of the files of each session and chatbot, which bot replies draw on.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Stores the document's chunks and a posting for each of their terms in the scope,
    /// and counts its chunks in the scope's total, once: false (and nothing counted
    /// twice) when the file was indexed before.
    async fn index_document(
        &self,
        scope: &DocumentScope,
        document: &IndexedDocument,
    ) -> StoreResult<bool>;

    /// How many chunks the scope's files have. One read.
    async fn indexed_chunks(&self, scope: &DocumentScope) -> StoreResult<u64>;

    /// The term's `limit` weightiest postings in the scope, weightiest first. One Query.
    async fn postings(
        &self,
        scope: &DocumentScope,
        term: &str,
        limit: usize,
    ) -> StoreResult<Vec<Posting>>;

    /// The chunks at these places, in no particular order. One read (up to 100).
    async fn get_chunks(
        &self,
        scope: &DocumentScope,
        places: &[(AttachmentId, u32)],
    ) -> StoreResult<Vec<DocumentChunk>>;

    /// The files indexed in the scope, by id. One Query.
    async fn list_documents(&self, scope: &DocumentScope) -> StoreResult<Vec<IndexedFile>>;

    /// Takes the file out of the scope's index: its chunks, its postings, its count; false
    /// when it was not indexed.
    async fn remove_document(
        &self,
        scope: &DocumentScope,
        attachment: AttachmentId,
    ) -> StoreResult<bool>;

    /// Adds a document to its owner's library (its id is new). One write.
    async fn add_library_document(&self, document: &LibraryDocument) -> StoreResult<()>;

    /// The owner's library, by id. One Query.
    async fn library(&self, owner: &UserId) -> StoreResult<Vec<LibraryDocument>>;

    /// The document of the owner's library with this id. One read.
    async fn library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<Option<LibraryDocument>>;

    /// Records how the document's indexing ended; false (nothing written) when it has
    /// left the library meanwhile. One conditional write.
    async fn set_library_state(
        &self,
        owner: &UserId,
        document: AttachmentId,
        state: DocumentState,
    ) -> StoreResult<bool>;

    /// Takes the document out of its owner's library (not its index): false when it was
    /// not there. One conditional delete.
    async fn remove_library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<bool>;
}

/// What the sweeper finds and removes. Each list is read from an index made for it (never a
/// Scan), oldest first, at most `limit`; an index may lag a write, so each removal checks
/// again and a list may name what is no longer due.
#[async_trait]
pub trait SweepStore: Send + Sync {
    /// Open sessions that idle out ([`Session::idles_out`]) last active before `before`.
    async fn idle_sessions(&self, before: Timestamp, limit: usize) -> StoreResult<Vec<SessionId>>;

    /// Ends the session as [`SessionStore::end_session`] does, only if it is open and was
    /// last active before `before`: `None` (nothing written) otherwise.
    async fn end_idle_session(
        &self,
        id: SessionId,
        before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<Session>>;

    /// Uploads announced before `before` and never sent: still pending.
    async fn stale_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<(SessionId, AttachmentId)>>;

    /// Removes the attachment's record if it is still pending: true when this call did.
    async fn remove_stale_upload(&self, session: SessionId, id: AttachmentId) -> StoreResult<bool>;

    /// Connections whose expiry passed before `before` (their sockets died without a
    /// `$disconnect`); [`ConnectionStore::delete_connection`] removes them.
    async fn expired_connections(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<ConnectionId>>;
}

/// Everything a store adapter provides, so one value can be handed to every service.
pub trait Store:
    SessionStore
    + MessageStore
    + ConnectionStore
    + AttachmentStore
    + ReplyStore
    + LimitStore
    + BusinessStore
    + ChatbotStore
    + UsageStore
    + DocumentStore
    + SweepStore
{
}
impl<
    T: SessionStore
        + MessageStore
        + ConnectionStore
        + AttachmentStore
        + ReplyStore
        + LimitStore
        + BusinessStore
        + ChatbotStore
        + UsageStore
        + DocumentStore
        + SweepStore,
> Store for T
{
}

/// The bot reply in progress in a session (at most one at a time).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplyInProgress {
    /// The id the reply will be stored under.
    pub response_id: MessageId,
    pub started_at: Timestamp,
    /// A member asked it to stop; the bot stops at its next check.
    pub stop_requested: bool,
    /// Connections that came to the session while the reply streamed: at its next check
    /// the bot sends each the reply so far, then the rest with everyone.
    #[serde(default)]
    pub joiners: std::collections::BTreeSet<ConnectionId>,
}

/// Where the bot and the `stop` frame (different functions) meet.
#[async_trait]
pub trait ReplyStore: Send + Sync {
    /// Claims the session's reply slot for `response_id`; false when another reply holds
    /// it. A reply started before `stale_before` counts as abandoned and is replaced.
    async fn start_reply(
        &self,
        session: SessionId,
        response_id: MessageId,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> StoreResult<bool>;

    async fn get_reply(&self, session: SessionId) -> StoreResult<Option<ReplyInProgress>>;

    /// Asks the reply in progress to stop: its id, or `None` when there is none.
    async fn request_stop(&self, session: SessionId) -> StoreResult<Option<MessageId>>;

    /// Puts the connection on the reply's list of joiners: false (and nothing written)
    /// when no reply is in progress. One write.
    async fn join_reply(&self, session: SessionId, connection: &ConnectionId) -> StoreResult<bool>;

    /// Frees the slot if `response_id` still holds it.
    async fn finish_reply(&self, session: SessionId, response_id: MessageId) -> StoreResult<()>;
}

/// Work done after the current invocation has answered, as Lambda's asynchronous
/// invocation does it (locally: a background task).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Greet a connection that `$connect` bound to a session, once the socket is open:
    /// API Gateway refuses posts while `$connect` runs.
    Welcome {
        connection_id: ConnectionId,
        /// The management API to post through: the one `$connect` came through.
        endpoint: String,
    },
    /// Answer `message_id` in a bot session with a streamed model reply (the `bot`
    /// function; it posts through its configured WebSocket endpoint).
    BotReply {
        session_id: SessionId,
        message_id: MessageId,
    },
    /// Index a document an admin added to a chatbot (the `bot` function, which reads
    /// PDF).
    IndexDocument {
        chatbot_id: ChatbotId,
        attachment_id: AttachmentId,
        file_name: String,
        content_type: String,
    },
    /// Index a document a user added to their library (the `bot` function too).
    IndexLibraryDocument {
        owner_id: UserId,
        document_id: AttachmentId,
        file_name: String,
        content_type: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the background job")]
pub struct InvokeError(#[source] pub Cause);

/// Starts a `Job` without waiting for it.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, job: &Job) -> Result<(), InvokeError>;
}

/// Where time comes from, so tests can hold it still.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// What went wrong pushing a frame to a connection.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection no longer exists (API Gateway's 410): forget it.
    #[error("the connection is gone")]
    Gone,
    #[error("push failed")]
    Failed(#[source] Cause),
}

/// Sends frames to WebSocket connections (API Gateway's Management API, or the local server).
#[async_trait]
pub trait Pusher: Send + Sync {
    async fn post(&self, connection: &ConnectionId, frame: &[u8]) -> Result<(), PushError>;
    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError>;
}

/// A request a client makes straight to the blob store (a presigned URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedRequest {
    pub url: String,
    pub method: &'static str,
    /// Headers the client must send exactly as given (the signature covers them).
    pub headers: Vec<(String, String)>,
    pub expires_at: Timestamp,
}

/// What the blob store knows of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the blob store is unavailable")]
    Unavailable(#[source] Cause),
    #[error("blob store failure")]
    Internal(#[source] Cause),
}

/// Where attachments' bytes live (S3 in production, a local folder on a laptop). Keys are
/// always server-made (`Attachment::storage_key`).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// A PUT the client can make directly, pinned to this content type and length.
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError>;

    /// A short-lived GET of the object.
    async fn presign_download(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError>;

    /// The object's size and type, or `None` if nothing was uploaded under the key.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, BlobError>;

    /// Stores bytes received through the API (the small-file path).
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError>;

    /// The object's bytes, or `None` if nothing was uploaded under the key (what the bot
    /// reads to index a shared file).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;

    /// Removes the object; one that is not there is no error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
}

/// Who said a turn of a conversation sent to a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

/// One turn of the conversation a model continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// What a model is asked: a system prompt, then the conversation, oldest first, ending with
/// the user's turn to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub system: String,
    pub turns: Vec<Turn>,
    /// The most tokens the reply may have.
    pub max_tokens: u32,
    /// The model to answer with, when not the adapter's configured one.
    pub model: Option<ModelName>,
    pub temperature: Option<Temperature>,
}

impl Prompt {
    /// The turns as the strictest chat templates take them (Bedrock, and Mistral's or
    /// Gemma's on vLLM and llama.cpp): blank turns dropped, then any assistant turns before
    /// the first user turn (the conversation must start with the user), and consecutive
    /// turns of one speaker merged, their texts a blank line apart (roles must alternate).
    pub fn alternating_turns(&self) -> Vec<Turn> {
        let mut merged: Vec<Turn> = Vec::new();
        let spoken = self
            .turns
            .iter()
            .filter(|turn| !turn.text.trim().is_empty())
            .skip_while(|turn| turn.speaker != Speaker::User);
        for turn in spoken {
            match merged.last_mut() {
                Some(last) if last.speaker == turn.speaker => {
                    last.text.push_str("\n\n");
                    last.text.push_str(&turn.text);
                }
                _ => merged.push(turn.clone()),
            }
        }
        merged
    }

    /// [`Prompt::alternating_turns`] with the system text put at the head of the first
    /// user turn, for models that take no system prompt (on Bedrock: Titan Text, Mistral 7B
    /// and Mixtral Instruct, Cohere Command).
    pub fn turns_with_system_first(&self) -> Vec<Turn> {
        let mut turns = self.alternating_turns();
        if let Some(first) = turns.first_mut().filter(|_| !self.system.trim().is_empty()) {
            first.text = format!("{}\n\n{}", self.system.trim(), first.text);
        }
        turns
    }
}

/// A piece of a reply as it streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyEvent {
    /// More text, in order.
    Text(String),
    /// The model's reasoning before (or between) its text: progress, not the answer. Shown
    /// only where the chatbot's record asks; never stored.
    Reasoning(String),
    /// How many tokens the reply used, when the provider says (usually at the end).
    Usage { output_tokens: u32 },
    /// The model stopped before the natural end of its answer, and said why.
    Cut(crate::domain::IncompleteReason),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The provider could not be reached, failed, or broke off mid-stream.
    #[error("the model provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (bad key, unknown model, prompt too long).
    #[error("the model provider refused the request: {0}")]
    Refused(String),
    /// Nothing arrived for too long.
    #[error("the model provider timed out")]
    Timeout,
}

/// A reply streaming in. Ends after the last event; an `Err` item ends it early.
pub type ReplyStream = futures::stream::BoxStream<'static, Result<ReplyEvent, ModelError>>;

/// A chat model that streams its replies (OpenAI-compatible servers, Amazon Bedrock, the
/// local echo model). Dropping the stream abandons the reply.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// A short name for logs and the echo model's self-description, e.g. `openai:gpt-4o-mini`.
    fn name(&self) -> String;

    /// Starts a reply; fails at once if the provider refuses or cannot be reached.
    async fn reply(&self, prompt: &Prompt) -> Result<ReplyStream, ModelError>;
}

/// A failure's underlying error, kept as the `source` of the port's error for the logs
/// (never shown to clients).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error and its chain of sources on one line (`a: b: c`), for a log entry.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Wrappers often repeat their source's message; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
#[error("cannot fetch the key set")]
pub struct FetchError(#[source] pub Cause);

impl FetchError {
    pub fn new(cause: impl Into<Cause>) -> Self {
        Self(cause.into())
    }
}

/// Fetches the JSON document an identity provider publishes its signing keys in (a JWKS),
/// over HTTPS in production; tests serve one locally.
#[async_trait]
pub trait KeySetFetcher: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<serde_json::Value, FetchError>;
}

/// For verifiers that need no key set (HS256 only, as the local server and tests): any
/// fetch fails, so a JWKS configured by mistake refuses tokens as a server fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKeySets;

#[async_trait]
impl KeySetFetcher for NoKeySets {
    async fn fetch(&self, _url: &str) -> Result<serde_json::Value, FetchError> {
        Err(FetchError::new("no key set fetcher is configured"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: Speaker, text: &str) -> Turn {
        Turn {
            speaker,
            text: text.to_owned(),
        }
    }

    fn prompt(system: &str, turns: Vec<Turn>) -> Prompt {
        Prompt {
            system: system.to_owned(),
            turns,
            max_tokens: 1,
            model: None,
            temperature: None,
        }
    }

    #[test]
    fn a_conversation_is_sent_starting_with_the_user_in_alternating_turns() {
        let asked = prompt(
            "",
            vec![
                turn(Speaker::Assistant, "Welcome!"),
                turn(Speaker::Assistant, "Ask me anything."),
                turn(Speaker::User, "one"),
                turn(Speaker::User, "two"),
                turn(Speaker::Assistant, "answer"),
                turn(Speaker::Assistant, ""),
                turn(Speaker::User, "  "),
                turn(Speaker::Assistant, "more"),
                turn(Speaker::User, "three"),
            ],
        );
        assert_eq!(
            asked.alternating_turns(),
            [
                turn(Speaker::User, "one\n\ntwo"),
                turn(Speaker::Assistant, "answer\n\nmore"),
                turn(Speaker::User, "three"),
            ]
        );
        assert!(
            prompt("", vec![turn(Speaker::Assistant, "only")])
                .alternating_turns()
                .is_empty()
        );
        assert!(prompt("", vec![]).alternating_turns().is_empty());
    }

    #[test]
    fn a_model_without_system_prompts_gets_it_at_the_head_of_the_first_user_turn() {
        let asked = prompt(
            " Be brief. ",
            vec![
                turn(Speaker::User, "hi"),
                turn(Speaker::Assistant, "hello"),
                turn(Speaker::User, "bye"),
            ],
        );
        assert_eq!(
            asked.turns_with_system_first(),
            [
                turn(Speaker::User, "Be brief.\n\nhi"),
                turn(Speaker::Assistant, "hello"),
                turn(Speaker::User, "bye"),
            ]
        );
        let no_system = prompt("  ", vec![turn(Speaker::User, "hi")]);
        assert_eq!(
            no_system.turns_with_system_first(),
            [turn(Speaker::User, "hi")]
        );
    }
}
