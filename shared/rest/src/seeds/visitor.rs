//! Seed 004 (visitor support): `POST /chat/start-session/`, `GET /chat/history/{id}/` and
//! `POST /chat/upload-file/`, each answering `{"message", "data"}`. "Public access for
//! visitors" is read safely: starting is public and answers a visitor token (an extra field
//! of `data`), and history and uploads take that token.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chat_core::domain::{
    BusinessId, Cursor, DepartmentId, ExternalCustomerId, Principal, SessionId, SessionKind,
    SessionStatus, Timestamp, UserId,
};
use chat_core::ports::SessionQuery;
use chat_core::protocol::TimelineItem;
use chat_core::service::{ServiceError, SupportRequest, acting_as};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{Caller, Json, MaybeCaller, Query, SessionPath, SourceAddress};
use crate::reply;
use crate::sessions::support_started;
use crate::uploads::{Form, multipart_limit};
use crate::{State, allow};

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/chat/start-session", allow("POST", post(start_session)))
        .route("/chat/history/{id}", allow("GET", get(history)))
}

pub fn upload_routes() -> Router<Arc<State>> {
    Router::new().route(
        "/chat/upload-file",
        allow("POST", post(upload_file)).layer(multipart_limit()),
    )
}

/// The seed's envelope.
#[derive(Serialize, utoipa::ToSchema)]
struct Enveloped<T> {
    message: &'static str,
    data: T,
}

fn enveloped<T: Serialize>(status: StatusCode, message: &'static str, data: T) -> Response {
    reply::With(status, Enveloped { message, data }).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StartSession {
    #[schema(value_type = String)]
    business: BusinessId,
    #[schema(value_type = Option<String>)]
    department: Option<DepartmentId>,
    #[schema(value_type = Option<String>)]
    external_customer_id: Option<ExternalCustomerId>,
    /// Not in the seed: the business backend's proof of the customer id (README,
    /// "Verified customers").
    customer_proof: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Started {
    #[schema(value_type = String)]
    session_id: SessionId,
    active: bool,
    /// Not in the seed: who the visitor is (the `sender_id` of their messages), and what
    /// their socket, history and uploads authenticate with.
    #[schema(value_type = String)]
    visitor_id: UserId,
    visitor_token: String,
    #[schema(value_type = String, format = DateTime)]
    visitor_token_expires_at: Timestamp,
    resumed: bool,
}

#[utoipa::path(post, path = "/chat/start-session", tag = "seed 004", request_body = StartSession,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "A new support session and the visitor's token", body = Enveloped<Started>),
        (status = 200, description = "The visitor's open session, resumed", body = Enveloped<Started>),
    ))]
async fn start_session(
    With(app): With<Arc<State>>,
    source: SourceAddress,
    MaybeCaller(caller): MaybeCaller,
    Json(body): Json<StartSession>,
) -> Result<Response, ApiError> {
    let request = SupportRequest {
        business_id: body.business,
        department_id: body.department,
        external_customer_id: body.external_customer_id,
        source_address: source.0,
        customer_proof: body.customer_proof,
    };
    let (status, started) = support_started(&app, caller.as_ref(), request).await?;
    let data = Started {
        session_id: started.opened.session.summary.id,
        active: started.active,
        visitor_id: started.opened.session.summary.owner_id.clone(),
        visitor_token: started.visitor_token,
        visitor_token_expires_at: started.visitor_token_expires_at,
        resumed: started.resumed,
    };
    Ok(enveloped(status, "Chat session started successfully", data))
}

/// The timeline, oldest first; `?cursor=` (its `next_cursor`) continues to older entries.
#[derive(Serialize, utoipa::ToSchema)]
struct History {
    #[serde(flatten)]
    #[schema(value_type = Enveloped<Vec<crate::openapi::TimelineItem>>)]
    envelope: Enveloped<Vec<TimelineItem>>,
    #[schema(value_type = Option<String>)]
    next_cursor: Option<Cursor>,
}

#[utoipa::path(get, path = "/chat/history/{id}", tag = "seed 004", operation_id = "seed_004_history", params(crate::openapi::PageQuery),
    responses((status = 200, description = "The timeline, oldest first", body = History)))]
async fn history(
    With(app): With<Arc<State>>,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let (cursor, limit) = (query.cursor()?, query.limit()?);
    let timeline = app
        .chat
        .timeline(&caller, id, cursor.as_ref(), limit)
        .await?;
    let history = History {
        envelope: Enveloped {
            message: "Chat timeline fetched successfully",
            data: timeline.items,
        },
        next_cursor: timeline.next_cursor,
    };
    Ok(reply::With(StatusCode::OK, history).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct UploadedFile {
    /// The download link, which a `{"type":"file","file"}` frame sends back as it is.
    file: Option<String>,
    file_name: String,
    /// Not in the seed: the same file by id.
    #[schema(value_type = String)]
    attachment_id: chat_core::domain::AttachmentId,
    #[schema(value_type = String)]
    session_id: SessionId,
}

/// The seed's form: `file`, `message` (a message id or null: the file is tied to its
/// message when a `file` frame sends it, so this is read and not needed),
/// `uploaded_by_end_user`, `uploaded_by_agent`, and (ours) an optional `session_id`; without
/// one, the file goes to the caller's open support session.
#[utoipa::path(post, path = "/chat/upload-file", tag = "seed 004",
    request_body(content = crate::openapi::SeedUploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "The file, stored", body = Enveloped<UploadedFile>)))]
async fn upload_file(
    With(app): With<Arc<State>>,
    Caller(caller): Caller,
    form: Form,
) -> Result<Response, ApiError> {
    let named = |field: &'static str| {
        form.field(field)
            .map(|value| UserId::parse(value).map_err(|e| e.for_field(field)))
            .transpose()
    };
    // The uploader the form names is the caller: an agent names itself in
    // `uploaded_by_agent`, a visitor in `uploaded_by_end_user`.
    let uploader = named("uploaded_by_agent")?.or(named("uploaded_by_end_user")?);
    if let Some(uploader) = &uploader {
        acting_as(&caller, uploader)?;
    }
    let session = match form.field("session_id") {
        Some(id) => SessionId::parse(id).map_err(|e| e.for_field("session_id"))?,
        None => open_support_session(&app, &caller).await?,
    };
    let upload = form.file;
    let file_name = upload.file_name.clone();
    let view = app.chat.upload(&caller, session, upload).await?;
    let linked = app.chat.attachment(&caller, session, view.id).await?;
    let data = UploadedFile {
        file: linked.url,
        file_name,
        attachment_id: view.id,
        session_id: session,
    };
    Ok(enveloped(
        StatusCode::CREATED,
        "File uploaded successfully",
        data,
    ))
}

/// The caller's most recently active open support session.
async fn open_support_session(app: &State, caller: &Principal) -> Result<SessionId, ApiError> {
    let query = SessionQuery {
        status: Some(SessionStatus::Active),
        ..SessionQuery::default()
    };
    let sessions = app.chat.list_sessions(caller, &query).await?;
    sessions
        .items
        .iter()
        .find(|session| session.kind == SessionKind::Support)
        .map(|session| session.id)
        .ok_or_else(|| {
            ServiceError::Invalid(chat_core::domain::ValidationError::new(
                "session_id",
                "is required: you have no open support session",
            ))
            .into()
        })
}
