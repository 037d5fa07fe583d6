//! Seed 001 (chats and messages): `/chat/...`, its documents (`chats`, `chat_messages`) and
//! its numbered pages (`?page=&limit=`). A chat is a bot session with the deployment's
//! default chatbot, one of its owner's many (`Session::one_of_many`). Deleting a chat ends
//! the session: its history is kept, as every ended session's is, and the chat routes
//! answer 404 for it from then on, as the seed's would.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chat_core::domain::{
    Content, DocumentId, Message, MessageId, MessageKind, Order, PageLimit, Principal, Reaction,
    Session, SessionId, SessionKind, SessionStatus, Title, UserId,
};
use chat_core::ports::{MessageQuery, SessionPatch, SessionQuery};
use chat_core::protocol::{MessageView, chat_message_document};
use chat_core::service::{NewMessage, NewSession, ServiceError, acting_as, online_users};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{NumberedPage, numbered, seed_user_id};
use crate::error::ApiError;
use crate::extract::{Caller, Json, MessagePath, Query, SessionPath, UserPath};
use crate::reply;
use crate::{State, allow};

type Result<T> = std::result::Result<T, ApiError>;
type App = With<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/chat", allow("POST", post(create_chat)))
        .route("/chat/user/{id}", allow("GET", get(user_chats)))
        .route(
            "/chat/{id}",
            allow(
                "GET, PUT, DELETE",
                get(get_chat).put(update_chat).delete(delete_chat),
            ),
        )
        .route("/chat/{id}/full", allow("GET", get(full_chat)))
        .route(
            "/chat/{id}/messages",
            allow("GET, POST", get(chat_messages).post(post_chat_message)),
        )
        .route(
            "/chat/{id}/messages/{mid}",
            allow(
                "GET, PUT, DELETE",
                get(get_chat_message)
                    .put(update_chat_message)
                    .delete(delete_chat_message),
            ),
        )
        .route(
            "/chat/{id}/messages/{mid}/reaction",
            allow("POST, DELETE", post(add_reaction).delete(remove_reaction)),
        )
        .route("/chat/ws/{id}/status", allow("GET", get(socket_status)))
}

/// A `chats` document. `user_id` is a number when the owner's id is one, as 001's are.
fn chat_document(session: &Session) -> Value {
    let owner = session.owner_id.as_str();
    let user_id = owner
        .parse::<i64>()
        .map_or_else(|_| Value::from(owner), Value::from);
    let status = match session.status {
        SessionStatus::Active => "active",
        SessionStatus::Inactive | SessionStatus::Ended => "inactive",
    };
    json!({
        "_id": session.id,
        "user_id": user_id,
        "document_id": session.document_id,
        "status": status,
        "title": session.title,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    })
}

/// A `chat_messages` document, as 001's socket sends it too.
fn message_document(message: &MessageView) -> Value {
    chat_message_document(message, message.token_count)
}

fn document(status: StatusCode, value: Value) -> Response {
    reply::With(status, value).into_response()
}

/// On the chat routes an ended (deleted) chat is gone.
fn gone_is_not_found(error: ServiceError) -> ServiceError {
    match error {
        ServiceError::SessionEnded => ServiceError::NotFound("chat"),
        other => other,
    }
}

/// The chat, unless it is deleted.
async fn live_chat(app: &State, caller: &Principal, id: SessionId) -> Result<Session> {
    let details = app.chat.get_session(caller, id).await?;
    if details.session.is_ended() {
        return Err(ServiceError::NotFound("chat").into());
    }
    Ok(details.session)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CreateChat {
    /// The caller's own id, unless the caller is an admin.
    #[serde(deserialize_with = "seed_user_id")]
    #[schema(value_type = crate::openapi::SeedUserId)]
    user_id: UserId,
    #[schema(value_type = Option<String>)]
    document_id: Option<DocumentId>,
    title: Option<String>,
    status: Option<ChatStatus>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum ChatStatus {
    Active,
    Inactive,
}

impl From<ChatStatus> for SessionStatus {
    fn from(status: ChatStatus) -> Self {
        match status {
            ChatStatus::Active => Self::Active,
            ChatStatus::Inactive => Self::Inactive,
        }
    }
}

fn title(title: Option<&str>) -> std::result::Result<Option<Title>, ApiError> {
    Ok(title.map(Title::parse).transpose()?.flatten())
}

#[utoipa::path(post, path = "/chat", tag = "seed 001", request_body = CreateChat,
    responses((status = 201, description = "The new chat", body = crate::openapi::ChatDocument)))]
async fn create_chat(
    With(app): App,
    Caller(caller): Caller,
    Json(body): Json<CreateChat>,
) -> Result<Response> {
    let owner = acting_as(&caller, &body.user_id)?;
    let chatbot = app.chat.default_chatbot().clone();
    let request = NewSession {
        kind: Some(SessionKind::Bot),
        title: title(body.title.as_deref())?,
        document_id: body.document_id,
        chatbot_id: Some(chatbot),
        one_of_many: true,
        ..NewSession::default()
    };
    let mut session = app
        .chat
        .create_session(&owner, request)
        .await?
        .details
        .session;
    if body.status == Some(ChatStatus::Inactive) {
        let patch = SessionPatch {
            status: Some(SessionStatus::Inactive),
            ..SessionPatch::default()
        };
        session = app.chat.update_session(&owner, session.id, &patch).await?;
    }
    Ok(document(StatusCode::CREATED, chat_document(&session)))
}

/// The user's chats (every session they are in, but deleted ones), newest activity first.
#[utoipa::path(get, path = "/chat/user/{id}", tag = "seed 001", params(crate::openapi::NumberedPageQuery),
    responses((status = 200, description = "The user's chats, newest activity first", body = NumberedPage<crate::openapi::ChatDocument>)))]
async fn user_chats(
    With(app): App,
    UserPath(user): UserPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Response> {
    let user = acting_as(&caller, &user)?;
    let wanted = query.page()?;
    let (sessions, has_more) = numbered(
        wanted,
        |session: &Session| !session.is_ended(),
        |cursor| {
            let (app, user) = (&app, &user);
            async move {
                let query = SessionQuery {
                    status: None,
                    limit: PageLimit::new(PageLimit::MAX)?,
                    cursor,
                };
                app.chat.list_sessions(user, &query).await
            }
        },
    )
    .await?;
    let items = sessions.iter().map(chat_document).collect();
    Ok(reply::With(StatusCode::OK, NumberedPage::new(items, wanted, has_more)).into_response())
}

#[utoipa::path(get, path = "/chat/{id}", tag = "seed 001",
    responses((status = 200, description = "The chat", body = crate::openapi::ChatDocument)))]
async fn get_chat(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<Response> {
    let session = live_chat(&app, &caller, id).await?;
    Ok(document(StatusCode::OK, chat_document(&session)))
}

/// One of the two at least.
#[derive(Deserialize, utoipa::ToSchema)]
struct UpdateChat {
    title: Option<String>,
    status: Option<ChatStatus>,
}

#[utoipa::path(put, path = "/chat/{id}", tag = "seed 001", request_body = UpdateChat,
    responses((status = 200, description = "The chat changed", body = crate::openapi::ChatDocument)))]
async fn update_chat(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Json(body): Json<UpdateChat>,
) -> Result<Response> {
    let patch = SessionPatch {
        title: body.title.as_deref().map(|t| title(Some(t))).transpose()?,
        status: body.status.map(Into::into),
        ..SessionPatch::default()
    };
    if patch == SessionPatch::default() {
        return Err(
            chat_core::domain::ValidationError::new("title", "or status must be given").into(),
        );
    }
    let session = app
        .chat
        .update_session(&caller, id, &patch)
        .await
        .map_err(gone_is_not_found)?;
    Ok(document(StatusCode::OK, chat_document(&session)))
}

#[utoipa::path(delete, path = "/chat/{id}", tag = "seed 001",
    responses((status = 200, description = "The chat, deleted (its session ended)", body = crate::openapi::ChatDocument)))]
async fn delete_chat(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<Response> {
    let session = app
        .chat
        .end_session(&caller, id, "the chat was deleted")
        .await
        .map_err(gone_is_not_found)?;
    Ok(document(StatusCode::OK, chat_document(&session)))
}

/// The chat's messages, oldest first, deleted ones left out.
async fn messages_page(
    app: &State,
    caller: &Principal,
    id: SessionId,
    query: &Query,
) -> Result<NumberedPage<Value>> {
    let wanted = query.page()?;
    let (messages, has_more) = numbered(
        wanted,
        |message: &Message| !message.is_deleted(),
        |cursor| async move {
            let query = MessageQuery {
                order: Order::Asc,
                limit: PageLimit::new(PageLimit::MAX)?,
                cursor,
                ..MessageQuery::default()
            };
            app.chat.list_messages(caller, id, &query).await
        },
    )
    .await?;
    let views = app.chat.views(&messages).await;
    let items = views.iter().map(message_document).collect();
    Ok(NumberedPage::new(items, wanted, has_more))
}

#[utoipa::path(get, path = "/chat/{id}/messages", tag = "seed 001", params(crate::openapi::NumberedPageQuery),
    responses((status = 200, description = "The chat's messages, oldest first", body = NumberedPage<crate::openapi::ChatMessageDocument>)))]
async fn chat_messages(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Response> {
    live_chat(&app, &caller, id).await?;
    let page = messages_page(&app, &caller, id, &query).await?;
    Ok(reply::With(StatusCode::OK, page).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct FullChat {
    #[schema(value_type = crate::openapi::ChatDocument)]
    chat: Value,
    #[schema(value_type = NumberedPage<crate::openapi::ChatMessageDocument>)]
    messages: NumberedPage<Value>,
}

#[utoipa::path(get, path = "/chat/{id}/full", tag = "seed 001", params(crate::openapi::NumberedPageQuery),
    responses((status = 200, description = "The chat and a page of its messages", body = FullChat)))]
async fn full_chat(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Response> {
    let session = live_chat(&app, &caller, id).await?;
    let full = FullChat {
        chat: chat_document(&session),
        messages: messages_page(&app, &caller, id, &query).await?,
    };
    Ok(reply::With(StatusCode::OK, full).into_response())
}

/// Text only: files go over the WebSocket after an upload.
#[derive(Deserialize, utoipa::ToSchema)]
struct CreateChatMessage {
    #[schema(value_type = String)]
    message: Content,
    #[serde(default)]
    is_bot: bool,
    #[serde(rename = "type", default)]
    #[schema(value_type = crate::openapi::MessageKind)]
    kind: MessageKind,
    /// The reply's token count; like `is_bot`, only a service token may set it.
    token: Option<u32>,
}

#[utoipa::path(post, path = "/chat/{id}/messages", tag = "seed 001", request_body = CreateChatMessage,
    responses((status = 201, description = "The message, posted", body = crate::openapi::ChatMessageDocument)))]
async fn post_chat_message(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Json(body): Json<CreateChatMessage>,
) -> Result<Response> {
    if body.kind != MessageKind::Text {
        return Err(chat_core::domain::ValidationError::new(
            "type",
            "only text is posted here: files are sent over the WebSocket after an upload",
        )
        .into());
    }
    let request = NewMessage {
        is_bot: body.is_bot,
        token_count: body.token,
        ..NewMessage::text(body.message)
    };
    let posted = app
        .chat
        .post_message(&caller, id, request)
        .await
        .map_err(gone_is_not_found)?;
    let view = app.chat.view(posted.message()).await;
    Ok(document(StatusCode::CREATED, message_document(&view)))
}

/// The message, unless it is deleted.
async fn live_message(
    app: &State,
    caller: &Principal,
    id: SessionId,
    message: MessageId,
) -> Result<Message> {
    let found = app.chat.get_message(caller, id, message).await?;
    if found.is_deleted() {
        return Err(ServiceError::NotFound("message").into());
    }
    Ok(found)
}

async fn message_reply(app: &State, message: &Message) -> Response {
    document(
        StatusCode::OK,
        message_document(&app.chat.view(message).await),
    )
}

#[utoipa::path(get, path = "/chat/{id}/messages/{mid}", tag = "seed 001",
    responses((status = 200, description = "The message", body = crate::openapi::ChatMessageDocument)))]
async fn get_chat_message(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
) -> Result<Response> {
    let found = live_message(&app, &caller, id, message).await?;
    Ok(message_reply(&app, &found).await)
}

/// One of the two at least; `reaction` replaces the caller's one reaction.
#[derive(Deserialize, utoipa::ToSchema)]
struct UpdateChatMessage {
    #[schema(value_type = Option<String>)]
    message: Option<Content>,
    #[schema(value_type = Option<String>)]
    reaction: Option<Reaction>,
}

#[utoipa::path(put, path = "/chat/{id}/messages/{mid}", tag = "seed 001", request_body = UpdateChatMessage,
    responses((status = 200, description = "The message changed", body = crate::openapi::ChatMessageDocument)))]
async fn update_chat_message(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
    Json(body): Json<UpdateChatMessage>,
) -> Result<Response> {
    let mut updated = match (&body.message, &body.reaction) {
        (None, None) => {
            return Err(chat_core::domain::ValidationError::new(
                "message",
                "or reaction must be given",
            )
            .into());
        }
        (Some(content), _) => app.chat.edit_message(&caller, id, message, content).await?,
        (None, Some(_)) => live_message(&app, &caller, id, message).await?,
    };
    if let Some(reaction) = &body.reaction {
        updated = react_only_with(&app, &caller, &updated, Some(reaction)).await?;
    }
    Ok(message_reply(&app, &updated).await)
}

#[utoipa::path(delete, path = "/chat/{id}/messages/{mid}", tag = "seed 001",
    responses((status = 200, description = "The message, deleted", body = crate::openapi::ChatMessageDocument)))]
async fn delete_chat_message(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
) -> Result<Response> {
    let deleted = app.chat.delete_message(&caller, id, message).await?;
    Ok(message_reply(&app, &deleted).await)
}

/// The caller's one reaction to the message becomes `reaction` (none for `None`): 001
/// keeps one per message, so a new one replaces the caller's others.
async fn react_only_with(
    app: &State,
    caller: &Principal,
    message: &Message,
    reaction: Option<&Reaction>,
) -> Result<Message> {
    let (id, message_id) = (message.session_id, message.id);
    let mut updated = message.clone();
    let given: Vec<Reaction> = message
        .reactions
        .iter()
        .filter(|(emoji, users)| users.contains(&caller.user_id) && Some(*emoji) != reaction)
        .map(|(emoji, _)| emoji.clone())
        .collect();
    for emoji in &given {
        updated = app.chat.react(caller, id, message_id, emoji, false).await?;
    }
    if let Some(reaction) = reaction {
        updated = app
            .chat
            .react(caller, id, message_id, reaction, true)
            .await?;
    }
    Ok(updated)
}

#[utoipa::path(post, path = "/chat/{id}/messages/{mid}/reaction", tag = "seed 001", operation_id = "seed_001_add_reaction",
    params(crate::openapi::ReactionQuery),
    responses((status = 200, description = "The message with the caller's one reaction", body = crate::openapi::ChatMessageDocument)))]
async fn add_reaction(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Response> {
    let reaction = query
        .param("reaction", Reaction::parse)?
        .ok_or_else(|| chat_core::domain::ValidationError::new("reaction", "is required"))?;
    let found = live_message(&app, &caller, id, message).await?;
    let updated = react_only_with(&app, &caller, &found, Some(&reaction)).await?;
    Ok(message_reply(&app, &updated).await)
}

#[utoipa::path(delete, path = "/chat/{id}/messages/{mid}/reaction", tag = "seed 001", operation_id = "seed_001_remove_reaction",
    responses((status = 200, description = "The message without the caller's reaction", body = crate::openapi::ChatMessageDocument)))]
async fn remove_reaction(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
) -> Result<Response> {
    let found = live_message(&app, &caller, id, message).await?;
    let updated = react_only_with(&app, &caller, &found, None).await?;
    Ok(message_reply(&app, &updated).await)
}

/// Who is connected to the chat's WebSocket now.
#[derive(Serialize, utoipa::ToSchema)]
struct SocketStatus {
    #[schema(value_type = String)]
    chat_id: SessionId,
    active_connections: usize,
    #[schema(value_type = Vec<String>)]
    online: Vec<UserId>,
}

#[utoipa::path(get, path = "/chat/ws/{id}/status", tag = "seed 001",
    responses((status = 200, description = "Who is connected to the chat now", body = SocketStatus)))]
async fn socket_status(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<Response> {
    let connections = app.chat.connections(&caller, id).await?;
    let status = SocketStatus {
        chat_id: id,
        active_connections: connections.len(),
        online: online_users(&connections),
    };
    Ok(reply::With(StatusCode::OK, status).into_response())
}
