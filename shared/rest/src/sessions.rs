//! The `sessions` function's routes: health, sessions, members, messages, reactions,
//! history. Each handler parses, calls the service, and maps the result; authorization
//! and everything deeper live in `chat_core::service`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chat_core::domain::{Principal, SessionId};
use chat_core::ports::Posted as Stored;
use chat_core::protocol::SessionSummary;
use chat_core::service::{Opened as OpenedSession, ServiceError};

use crate::bodies::{
    AddMember, AddReaction, CreateSession, EditMessage, PatchSession, PostMessage, StartSupport,
};
use crate::error::ApiError;
use crate::extract::{
    BusinessPath, Caller, Json, MaybeCaller, MemberPath, MessagePath, Query, ReactionPath,
    SessionPath, SourceAddress,
};
use crate::reply::{
    self, Connections, FullSession, Health, Joined, Left, MemberAdded, MemberRemoved, MessageReply,
    Opened, Page, Posted, SecretIssued, SessionReply, SummaryReply, SupportStarted, session_view,
};
use crate::{State, allow};

type Result<T> = std::result::Result<T, ApiError>;
type App = With<Arc<State>>;

/// Every route but the three file routes (the `uploads` function's).
pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/health", allow("GET", get(health)))
        .route("/sessions/start", allow("POST", post(start_support)))
        .route(
            "/sessions",
            allow("GET, POST", get(list_sessions).post(create_session)),
        )
        .route(
            "/sessions/{id}",
            allow(
                "GET, PATCH, DELETE",
                get(get_session).patch(update_session).delete(end_session),
            ),
        )
        .route("/sessions/{id}/join", allow("POST", post(join)))
        .route("/sessions/{id}/leave", allow("POST", post(leave)))
        .route("/sessions/{id}/members", allow("POST", post(add_member)))
        .route(
            "/businesses/{id}/sessions",
            allow("GET", get(support_queue)),
        )
        .route(
            "/businesses/{id}/customer-secret",
            allow("POST", post(new_business_secret)),
        )
        .route(
            "/sessions/{id}/members/{user_id}",
            allow("DELETE", delete(remove_member)),
        )
        .route("/sessions/{id}/connections", allow("GET", get(connections)))
        .route("/sessions/{id}/full", allow("GET", get(full_session)))
        .route("/sessions/{id}/history", allow("GET", get(history)))
        .route(
            "/sessions/{id}/messages",
            allow("GET, POST", get(list_messages).post(post_message)),
        )
        .route(
            "/sessions/{id}/messages/{mid}",
            allow(
                "GET, PATCH, DELETE",
                get(get_message).patch(edit_message).delete(delete_message),
            ),
        )
        .route(
            "/sessions/{id}/messages/{mid}/reactions",
            allow("POST", post(add_reaction)),
        )
        .route(
            "/sessions/{id}/messages/{mid}/reactions/{emoji}",
            allow("DELETE", delete(remove_reaction)),
        )
        .merge(crate::chatbots::routes())
        .merge(crate::usage::routes())
        .merge(crate::library::routes())
        .merge(crate::seeds::routes())
}

#[utoipa::path(get, path = "/health", tag = "health", security(()),
    responses((status = 200, description = "The API is up", body = Health)))]
async fn health() -> Health {
    Health { status: "ok" }
}

#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = CreateSession,
    responses(
        (status = 201, description = "A new session, with its latest messages", body = Opened),
        (status = 200, description = "The caller's one open session of that kind, already there", body = Opened),
    ))]
pub(crate) async fn create_session(
    With(app): App,
    Caller(caller): Caller,
    Json(body): Json<CreateSession>,
) -> Result<Response> {
    let opened = app.chat.create_session(&caller, body.parse()?).await?;
    Ok(reply::With(
        reply::created_or_found(opened.created),
        opened_reply(&app, &opened).await,
    )
    .into_response())
}

/// Public: a bearer token is optional, and only a visitor token for the same business
/// resumes a session.
#[utoipa::path(post, path = "/sessions/start", tag = "sessions", request_body = StartSupport,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "A new support session", body = SupportStarted),
        (status = 200, description = "The visitor's open session, resumed", body = SupportStarted),
    ))]
async fn start_support(
    With(app): App,
    SourceAddress(source): SourceAddress,
    MaybeCaller(caller): MaybeCaller,
    Json(body): Json<StartSupport>,
) -> Result<Response> {
    let request = chat_core::service::SupportRequest {
        source_address: source,
        ..body.into()
    };
    let (status, started) = support_started(&app, caller.as_ref(), request).await?;
    Ok(reply::With(status, started).into_response())
}

/// A support session started or resumed, with the visitor's token: 201 when new.
pub(crate) async fn support_started(
    app: &State,
    caller: Option<&Principal>,
    request: chat_core::service::SupportRequest,
) -> Result<(http::StatusCode, SupportStarted)> {
    let (visitor, opened) = app.chat.start_support(caller, request).await?;
    let (visitor_token, visitor_token_expires_at) = app
        .authenticator
        .issue_visitor_token(&visitor, app.clock.now())
        .map_err(|error| ServiceError::Internal(Box::new(error)))?;
    let started = SupportStarted {
        active: !opened.details.session.is_ended(),
        resumed: !opened.created,
        opened: opened_reply(app, &opened).await,
        visitor_token,
        visitor_token_expires_at,
    };
    Ok((reply::created_or_found(opened.created), started))
}

async fn opened_reply(app: &State, opened: &OpenedSession) -> Opened {
    Opened {
        session: session_view(&opened.details),
        previous_messages: app.chat.views(&opened.previous_messages).await,
    }
}

#[utoipa::path(get, path = "/sessions", tag = "sessions", params(crate::openapi::SessionsQuery),
    responses((status = 200, description = "The caller's sessions, latest activity first", body = Page<crate::openapi::SessionSummary>)))]
async fn list_sessions(
    With(app): App,
    Caller(caller): Caller,
    query: Query,
) -> Result<Page<SessionSummary>> {
    let page = app.chat.list_sessions(&caller, &query.sessions()?).await?;
    Ok(Page {
        items: page.items.iter().map(SessionSummary::new).collect(),
        next_cursor: page.next_cursor,
    })
}

#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    responses((status = 200, description = "The session", body = SessionReply)))]
pub(crate) async fn get_session(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<SessionReply> {
    let details = app.chat.get_session(&caller, id).await?;
    Ok(SessionReply {
        session: session_view(&details),
    })
}

#[utoipa::path(patch, path = "/sessions/{id}", tag = "sessions", request_body = PatchSession,
    responses((status = 200, description = "The session changed", body = SummaryReply)))]
async fn update_session(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Json(body): Json<PatchSession>,
) -> Result<SummaryReply> {
    let session = app.chat.update_session(&caller, id, &body.parse()?).await?;
    Ok(SummaryReply {
        session: SessionSummary::new(&session),
    })
}

#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    responses((status = 200, description = "The session, ended", body = SummaryReply)))]
pub(crate) async fn end_session(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<SummaryReply> {
    let session = app
        .chat
        .end_session(&caller, id, "ended by a member")
        .await?;
    Ok(SummaryReply {
        session: SessionSummary::new(&session),
    })
}

#[utoipa::path(post, path = "/sessions/{id}/join", tag = "sessions",
    responses((status = 200, description = "The session; `joined` is false for a member already", body = Joined)))]
pub(crate) async fn join(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<Joined> {
    joined(&app, &caller, id).await
}

/// `user` joins the session.
pub(crate) async fn joined(app: &State, user: &Principal, id: SessionId) -> Result<Joined> {
    let (details, joined) = app.chat.join(user, id).await?;
    Ok(Joined {
        session: session_view(&details),
        joined,
    })
}

#[utoipa::path(post, path = "/sessions/{id}/leave", tag = "sessions",
    responses((status = 200, description = "`left` is false for someone not a member", body = Left)))]
pub(crate) async fn leave(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<Left> {
    left(&app, &caller, id).await
}

/// `user` leaves the session.
pub(crate) async fn left(app: &State, user: &Principal, id: SessionId) -> Result<Left> {
    Ok(Left {
        left: app.chat.leave(user, id).await?,
    })
}

#[utoipa::path(post, path = "/sessions/{id}/members", tag = "sessions", request_body = AddMember,
    responses(
        (status = 201, description = "The group with its new member", body = MemberAdded),
        (status = 200, description = "The group; they were a member already", body = MemberAdded),
    ))]
async fn add_member(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Json(body): Json<AddMember>,
) -> Result<MemberAdded> {
    let (details, added) = app.chat.add_member(&caller, id, body.user_id).await?;
    Ok(MemberAdded {
        session: session_view(&details),
        added,
    })
}

/// `GET /businesses/{id}/sessions`: the business's open support sessions, for its agents.
#[utoipa::path(get, path = "/businesses/{id}/sessions", tag = "sessions",
    responses((status = 200, description = "The business's open support sessions", body = Page<crate::openapi::SessionSummary>)))]
async fn support_queue(
    With(app): App,
    BusinessPath(business): BusinessPath,
    Caller(caller): Caller,
) -> Result<Page<SessionSummary>> {
    let sessions = app.chat.support_queue(&caller, &business).await?;
    Ok(Page {
        items: sessions.iter().map(SessionSummary::new).collect(),
        next_cursor: None,
    })
}

#[utoipa::path(post, path = "/businesses/{id}/customer-secret", tag = "sessions",
    responses((status = 201, description = "The new secret, shown this once", body = SecretIssued)))]
async fn new_business_secret(
    With(app): App,
    BusinessPath(business): BusinessPath,
    Caller(caller): Caller,
) -> Result<SecretIssued> {
    let issued = app.chat.new_business_secret(&caller, business).await?;
    Ok(SecretIssued {
        business_id: issued.business_id,
        customer_secret: issued.secret.as_str().to_owned(),
        created_at: issued.created_at,
    })
}

#[utoipa::path(delete, path = "/sessions/{id}/members/{user_id}", tag = "sessions",
    responses((status = 200, description = "`removed` is false for someone not a member", body = MemberRemoved)))]
async fn remove_member(
    With(app): App,
    MemberPath(id, user): MemberPath,
    Caller(caller): Caller,
) -> Result<MemberRemoved> {
    Ok(MemberRemoved {
        removed: app.chat.remove_member(&caller, id, &user).await?,
    })
}

#[utoipa::path(get, path = "/sessions/{id}/connections", tag = "sessions",
    responses((status = 200, description = "Who is connected now", body = Connections)))]
async fn connections(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
) -> Result<Connections> {
    let connections = app.chat.connections(&caller, id).await?;
    Ok(Connections {
        items: connections.iter().map(Into::into).collect(),
        online: chat_core::service::online_users(&connections),
    })
}

#[utoipa::path(get, path = "/sessions/{id}/full", tag = "sessions", params(crate::openapi::LimitQuery),
    responses((status = 200, description = "The session and its latest messages, oldest first", body = FullSession)))]
async fn full_session(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<FullSession> {
    let (details, page) = app.chat.full_session(&caller, id, query.limit()?).await?;
    Ok(FullSession {
        session: session_view(&details),
        messages: app.chat.views(&page.items).await,
        next_cursor: page.next_cursor,
    })
}

#[utoipa::path(get, path = "/sessions/{id}/history", tag = "messages", params(crate::openapi::PageQuery),
    responses((status = 200, description = "The timeline: messages and attachments", body = Page<crate::openapi::TimelineItem>)))]
pub(crate) async fn history(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Page<chat_core::protocol::TimelineItem>> {
    let (cursor, limit) = (query.cursor()?, query.limit()?);
    let timeline = app
        .chat
        .timeline(&caller, id, cursor.as_ref(), limit)
        .await?;
    Ok(Page {
        items: timeline.items,
        next_cursor: timeline.next_cursor,
    })
}

#[utoipa::path(get, path = "/sessions/{id}/messages", tag = "messages", params(crate::openapi::MessagesQuery),
    responses((status = 200, description = "A page of messages", body = Page<crate::openapi::MessageView>)))]
pub(crate) async fn list_messages(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Page<chat_core::protocol::MessageView>> {
    let page = app
        .chat
        .list_messages(&caller, id, &query.messages()?)
        .await?;
    Ok(Page {
        items: app.chat.views(&page.items).await,
        next_cursor: page.next_cursor,
    })
}

#[utoipa::path(post, path = "/sessions/{id}/messages", tag = "messages", request_body = PostMessage,
    responses(
        (status = 201, description = "The message, posted and broadcast", body = Posted),
        (status = 200, description = "The original of a repeated `client_msg_id`", body = Posted),
    ))]
pub(crate) async fn post_message(
    With(app): App,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Json(body): Json<PostMessage>,
) -> Result<Response> {
    let posted = app.chat.post_message(&caller, id, body.into()).await?;
    let duplicate = matches!(posted, Stored::Duplicate(_));
    let message = app.chat.view(posted.message()).await;
    Ok(reply::With(
        reply::created_or_found(!duplicate),
        Posted { message, duplicate },
    )
    .into_response())
}

#[utoipa::path(get, path = "/sessions/{id}/messages/{mid}", tag = "messages",
    responses((status = 200, description = "The message", body = MessageReply)))]
async fn get_message(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
) -> Result<MessageReply> {
    let found = app.chat.get_message(&caller, id, message).await?;
    Ok(message_reply(&app, &found).await)
}

#[utoipa::path(patch, path = "/sessions/{id}/messages/{mid}", tag = "messages", request_body = EditMessage,
    responses((status = 200, description = "The message, edited", body = MessageReply)))]
async fn edit_message(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
    Json(body): Json<EditMessage>,
) -> Result<MessageReply> {
    let edited = app
        .chat
        .edit_message(&caller, id, message, &body.content)
        .await?;
    Ok(message_reply(&app, &edited).await)
}

#[utoipa::path(delete, path = "/sessions/{id}/messages/{mid}", tag = "messages",
    responses((status = 200, description = "The message, now a tombstone", body = MessageReply)))]
async fn delete_message(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
) -> Result<MessageReply> {
    let deleted = app.chat.delete_message(&caller, id, message).await?;
    Ok(message_reply(&app, &deleted).await)
}

#[utoipa::path(post, path = "/sessions/{id}/messages/{mid}/reactions", tag = "messages", request_body = AddReaction,
    responses((status = 200, description = "The message with the caller's reaction", body = MessageReply)))]
async fn add_reaction(
    With(app): App,
    MessagePath(id, message): MessagePath,
    Caller(caller): Caller,
    Json(body): Json<AddReaction>,
) -> Result<MessageReply> {
    let updated = app
        .chat
        .react(&caller, id, message, &body.reaction, true)
        .await?;
    Ok(message_reply(&app, &updated).await)
}

#[utoipa::path(delete, path = "/sessions/{id}/messages/{mid}/reactions/{emoji}", tag = "messages",
    responses((status = 200, description = "The message without the caller's reaction", body = MessageReply)))]
async fn remove_reaction(
    With(app): App,
    ReactionPath(id, message, reaction): ReactionPath,
    Caller(caller): Caller,
) -> Result<MessageReply> {
    let updated = app
        .chat
        .react(&caller, id, message, &reaction, false)
        .await?;
    Ok(message_reply(&app, &updated).await)
}

async fn message_reply(app: &State, message: &chat_core::domain::Message) -> MessageReply {
    MessageReply {
        message: app.chat.view(message).await,
    }
}
