//! Schemas for what the document describes but this crate cannot derive `ToSchema` on:
//! chat-core's views and domain enums (another crate's types), the answers built as
//! `serde_json::Value`, the multipart forms and the query strings the handlers read
//! through [`crate::extract::Query`]. Each says the wire shape, as `serde` writes it.

#![allow(dead_code)] // Read by the derives only: nothing constructs these.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use chat_core::protocol::ErrorCode;

/// The API's error body.
#[derive(ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCodeName,
    /// What went wrong, for people; it names the field at fault.
    pub message: String,
}

/// A user id as the seeds write it: a whole number (seed 001's) or a string.
pub struct SeedUserId;

impl PartialSchema for SeedUserId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .into()
    }
}

impl ToSchema for SeedUserId {}

/// Every error code of the contract (`ErrorCode::ALL`), as the wire writes it.
pub struct ErrorCodeName;

impl PartialSchema for ErrorCodeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(ErrorCode::as_str)))
            .into()
    }
}

impl ToSchema for ErrorCodeName {}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SessionKind {
    Direct,
    Group,
    Bot,
    Support,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Inactive,
    Ended,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum JoinPolicy {
    Invite,
    Open,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    File,
    Image,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MemberRole {
    Owner,
    Member,
    Agent,
    Bot,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Role {
    User,
    Agent,
    Admin,
    Service,
}

/// A session's own fields, as clients see them: what session lists show.
#[derive(ToSchema)]
pub struct SessionSummary {
    id: String,
    /// Null when untitled.
    title: Option<String>,
    kind: SessionKind,
    status: SessionStatus,
    owner_id: String,
    #[schema(required = false)]
    chatbot_id: Option<String>,
    #[schema(required = false)]
    chatbot_name: Option<String>,
    #[schema(required = false)]
    business_id: Option<String>,
    #[schema(required = false)]
    document_id: Option<String>,
    #[schema(required = false)]
    department_id: Option<String>,
    #[schema(required = false)]
    external_customer_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    last_activity_at: String,
    #[schema(required = false, format = DateTime)]
    ended_at: Option<String>,
    /// Groups only.
    #[schema(required = false)]
    join_policy: Option<JoinPolicy>,
    #[schema(required = false)]
    language: Option<String>,
    #[schema(required = false)]
    timezone: Option<String>,
    /// Only present, as `true`, on a session that ends with its last connection.
    #[schema(required = false)]
    end_on_disconnect: bool,
}

/// A session as clients see it, with its members and who is online.
#[derive(ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    summary: SessionSummary,
    members: Vec<MemberView>,
    /// The users connected now, sorted, each once.
    online: Vec<String>,
}

#[derive(ToSchema)]
pub struct MemberView {
    user_id: String,
    /// Null when the member has no display name.
    name: Option<String>,
    role: MemberRole,
}

/// An attachment as clients see it. `url` and `url_expires_at` are null until a
/// short-lived download link is attached.
#[derive(ToSchema)]
pub struct AttachmentView {
    id: String,
    file_name: String,
    content_type: String,
    size: u64,
    url: Option<String>,
    #[schema(format = DateTime)]
    url_expires_at: Option<String>,
}

/// A message as clients see it.
#[derive(ToSchema)]
pub struct MessageView {
    id: String,
    session_id: String,
    /// Its place in the session (1, 2, 3, ... without gaps).
    seq: u64,
    sender_id: String,
    /// Null when the sender has no display name.
    sender_name: Option<String>,
    is_bot: bool,
    kind: MessageKind,
    /// Empty for a deleted message.
    content: String,
    #[schema(required = false)]
    attachment: Option<AttachmentView>,
    #[schema(format = DateTime)]
    created_at: String,
    edited: bool,
    #[schema(required = false, format = DateTime)]
    edited_at: Option<String>,
    deleted: bool,
    /// Emoji to the users who gave it.
    reactions: std::collections::BTreeMap<String, Vec<String>>,
    #[schema(required = false)]
    client_msg_id: Option<String>,
    #[schema(required = false)]
    token_count: Option<u32>,
    /// Set on a bot reply the model broke off.
    #[schema(required = false)]
    incomplete: bool,
    /// `max_tokens`, `content_filter`, `context_window`, `malformed_output`,
    /// `model_error` or `timeout`.
    #[schema(required = false)]
    incomplete_reason: Option<String>,
    /// Set when moderation changed the content.
    #[schema(required = false)]
    moderated: bool,
    /// A bot reply's: the files shared in the session it drew on.
    #[schema(required = false)]
    sources: Vec<Source>,
}

#[derive(ToSchema)]
pub struct Source {
    attachment_id: String,
    file_name: String,
}

/// One entry of a session's timeline.
#[derive(ToSchema)]
#[allow(clippy::large_enum_variant)] // Never built: only its schema is.
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum TimelineItem {
    Message(MessageView),
    Attachment(AttachmentView),
}

/// A user's bot replies on one day and the tokens they came to.
#[derive(ToSchema)]
pub struct Usage {
    user_id: String,
    /// `YYYY-MM-DD`, UTC.
    #[schema(format = Date)]
    day: String,
    tokens: u64,
    replies: u64,
}

/// A day's usage, user by user (admins).
#[derive(ToSchema)]
pub struct DayUsage {
    #[schema(format = Date)]
    day: String,
    items: Vec<Usage>,
    next_cursor: Option<String>,
    /// Each user's daily token budget.
    token_limit: u64,
}

/// A user's usage on one day, with what is left of the day's budget.
#[derive(ToSchema)]
pub struct UserDayUsage {
    #[serde(flatten)]
    usage: Usage,
    token_limit: u64,
    tokens_left: u64,
}

/// A chatbot: an admin sees every setting (`system_prompt`, `model`, `max_tokens`,
/// `temperature`, `show_reasoning`, `active`, `created_at`, `provider`,
/// `effective_model`); everyone else its `id`, `name`, `greeting` and `updated_at`.
#[derive(ToSchema)]
pub struct Chatbot {
    id: String,
    name: String,
    #[schema(required = false)]
    greeting: Option<String>,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(required = false)]
    system_prompt: Option<String>,
    #[schema(required = false)]
    model: Option<String>,
    #[schema(required = false)]
    max_tokens: Option<u32>,
    #[schema(required = false)]
    temperature: Option<f64>,
    #[schema(required = false)]
    show_reasoning: Option<bool>,
    #[schema(required = false)]
    active: Option<bool>,
    #[schema(required = false, format = DateTime)]
    created_at: Option<String>,
    /// The provider the deployment answers through.
    #[schema(required = false)]
    provider: Option<String>,
    /// The model it answers with: its own, or the deployment's default.
    #[schema(required = false)]
    effective_model: Option<String>,
}

#[derive(ToSchema)]
pub struct Chatbots {
    items: Vec<Chatbot>,
}

#[derive(ToSchema)]
pub struct ChatbotDeleted {
    deleted: bool,
    id: String,
}

/// A file a chatbot's index holds.
#[derive(ToSchema)]
pub struct IndexedFile {
    attachment_id: String,
    file_name: String,
    chunks: u64,
}

#[derive(ToSchema)]
pub struct IndexedFiles {
    items: Vec<IndexedFile>,
}

/// A document accepted for indexing, which goes on in the background.
#[derive(ToSchema)]
pub struct DocumentAccepted {
    document_id: String,
    file_name: String,
    content_type: String,
    size: u64,
    /// `indexing`.
    state: String,
}

/// A document of the caller's library and where its indexing stands.
#[derive(ToSchema)]
pub struct LibraryDocument {
    document_id: String,
    owner_id: String,
    file_name: String,
    content_type: String,
    size: u64,
    #[schema(format = DateTime)]
    added_at: String,
    /// `indexing`, `indexed`, `unreadable` or `failed`.
    state: String,
    /// With `indexed`: how many chunks the bot searches.
    #[schema(required = false)]
    chunks: Option<u64>,
}

#[derive(ToSchema)]
pub struct LibraryDocuments {
    items: Vec<LibraryDocument>,
}

#[derive(ToSchema)]
pub struct DocumentDeleted {
    deleted: bool,
    document_id: String,
}

/// Seed 001's `chats` document.
#[derive(ToSchema)]
pub struct ChatDocument {
    _id: String,
    /// A number when the owner's id is one, as seed 001's are.
    user_id: SeedUserId,
    document_id: Option<String>,
    /// `active` or `inactive`.
    status: String,
    title: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// Seed 001's `chat_messages` document.
#[derive(ToSchema)]
pub struct ChatMessageDocument {
    _id: String,
    chat_id: String,
    message: String,
    is_bot: bool,
    /// The reaction most users gave.
    reaction: Option<String>,
    token: Option<u32>,
    #[serde(rename = "type")]
    kind: MessageKind,
    is_edited: bool,
    #[schema(format = DateTime)]
    created_ts: String,
    #[schema(format = DateTime)]
    updated_ts: String,
    sender_id: String,
    #[schema(required = false)]
    attachment: Option<AttachmentView>,
}

/// A `multipart/form-data` body with the file in its `file` part (its filename and
/// Content-Type given).
#[derive(ToSchema)]
pub struct FileForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Seed 004's upload form: `message` (a message id or null) is read and not needed;
/// without a `session_id` the file goes to the caller's open support session.
#[derive(ToSchema)]
pub struct SeedUploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    message: Option<String>,
    uploaded_by_end_user: Option<String>,
    uploaded_by_agent: Option<String>,
    session_id: Option<String>,
}

/// A page of a cursor-paged list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items, 1 to 100 (default 50).
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// `GET /sessions`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    status: Option<SessionStatus>,
    /// How many items, 1 to 100 (default 50).
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// `GET .../messages`: newest first, unless `after` or `after_seq` catches up.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Messages after this one, oldest first.
    after: Option<String>,
    /// Messages before this one.
    before: Option<String>,
    /// `asc` or `desc`.
    order: Option<String>,
    /// Messages after this `seq`, in `seq` order; takes no `after`, `before` or `order`.
    after_seq: Option<u64>,
    /// How many items, 1 to 100 (default 50).
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Just a page size.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// How many items, 1 to 100 (default 50).
    limit: Option<usize>,
}

/// Seed 001's numbered pages.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NumberedPageQuery {
    /// From 1 (the default) to 1000.
    page: Option<usize>,
    /// How many items, 1 to 100 (default 50).
    limit: Option<usize>,
}

/// `GET /usage...`: a UTC day (`YYYY-MM-DD`, default today) and a page.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    day: Option<String>,
    /// How many items, 1 to 100 (default 50).
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// `GET /usage/{id}`: a UTC day (`YYYY-MM-DD`, default today).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    day: Option<String>,
}

/// Seed 001's reaction, in the query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReactionQuery {
    /// An emoji.
    reaction: String,
}
