//! The REST API's answers, one type each, as clients see them.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use chat_core::domain::{
    AttachmentId, BusinessId, Connection, Cursor, DisplayName, Role, Timestamp, UserId,
};
use chat_core::protocol::{AttachmentView, MessageView, SessionSummary, SessionView};
use chat_core::service::SessionDetails;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

/// `value` as a JSON response with `status`.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialize a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// An answer with a status other than 200.
pub struct With<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for With<T> {
    fn into_response(self) -> Response {
        json_response(self.0, &self.1)
    }
}

/// 201 for something new, 200 for what already was.
pub fn created_or_found(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

macro_rules! json_replies {
    ($($name:ident),* $(,)?) => {
        $(impl IntoResponse for $name {
            fn into_response(self) -> Response {
                json_response(StatusCode::OK, &self)
            }
        })*
    };
}

json_replies![
    Health,
    SessionReply,
    SummaryReply,
    Joined,
    Left,
    MemberRemoved,
    Connections,
    FullSession,
    MessageReply,
    AttachmentReply,
];

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self)
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(value_type = String)]
    pub status: &'static str,
}

pub fn session_view(details: &SessionDetails) -> SessionView {
    SessionView::new(&details.session, &details.members, details.online.clone())
}

/// A session with its members and who is online.
#[derive(Serialize, ToSchema)]
pub struct SessionReply {
    #[schema(value_type = crate::openapi::SessionView)]
    pub session: SessionView,
}

/// A session's own fields (after a change).
#[derive(Serialize, ToSchema)]
pub struct SummaryReply {
    #[schema(value_type = crate::openapi::SessionSummary)]
    pub session: SessionSummary,
}

#[derive(Serialize, ToSchema)]
pub struct Joined {
    #[schema(value_type = crate::openapi::SessionView)]
    pub session: SessionView,
    pub joined: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Left {
    pub left: bool,
}

/// 201 with the group when the member is new, 200 when they already were one.
#[derive(Serialize, ToSchema)]
pub struct MemberAdded {
    #[schema(value_type = crate::openapi::SessionView)]
    pub session: SessionView,
    pub added: bool,
}

impl IntoResponse for MemberAdded {
    fn into_response(self) -> Response {
        json_response(created_or_found(self.added), &self)
    }
}

/// A business's new customer secret, shown this once (201).
#[derive(Serialize, ToSchema)]
pub struct SecretIssued {
    #[schema(value_type = String)]
    pub business_id: BusinessId,
    pub customer_secret: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl IntoResponse for SecretIssued {
    fn into_response(self) -> Response {
        json_response(StatusCode::CREATED, &self)
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberRemoved {
    pub removed: bool,
}

/// One page of a list, and the cursor to the next (null at the end).
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Cursor>,
}

/// Who is connected to a session now.
#[derive(Serialize, ToSchema)]
pub struct Connections {
    pub items: Vec<ConnectionItem>,
    #[schema(value_type = Vec<String>)]
    pub online: Vec<UserId>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionItem {
    #[schema(value_type = String)]
    pub user_id: UserId,
    #[schema(value_type = Option<String>)]
    pub name: Option<DisplayName>,
    #[schema(value_type = crate::openapi::Role)]
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub connected_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

impl From<&Connection> for ConnectionItem {
    fn from(connection: &Connection) -> Self {
        Self {
            user_id: connection.principal.user_id.clone(),
            name: connection.principal.name.clone(),
            role: connection.principal.role,
            connected_at: connection.connected_at,
            expires_at: connection.expires_at,
        }
    }
}

/// A session with its latest page of messages, oldest first.
#[derive(Serialize, ToSchema)]
pub struct FullSession {
    #[schema(value_type = crate::openapi::SessionView)]
    pub session: SessionView,
    #[schema(value_type = Vec<crate::openapi::MessageView>)]
    pub messages: Vec<MessageView>,
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Cursor>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageReply {
    #[schema(value_type = crate::openapi::MessageView)]
    pub message: MessageView,
}

/// A posted message: 201 when new, 200 with the original for a repeated `client_msg_id`.
#[derive(Serialize, ToSchema)]
pub struct Posted {
    #[schema(value_type = crate::openapi::MessageView)]
    pub message: MessageView,
    pub duplicate: bool,
}

/// A session opened or found already open, with its latest messages (oldest first).
#[derive(Serialize, ToSchema)]
pub struct Opened {
    #[schema(value_type = crate::openapi::SessionView)]
    pub session: SessionView,
    #[schema(value_type = Vec<crate::openapi::MessageView>)]
    pub previous_messages: Vec<MessageView>,
}

/// A visitor's support session, with the token that resumes it.
#[derive(Serialize, ToSchema)]
pub struct SupportStarted {
    #[serde(flatten)]
    pub opened: Opened,
    pub visitor_token: String,
    #[schema(value_type = String, format = DateTime)]
    pub visitor_token_expires_at: Timestamp,
    pub active: bool,
    pub resumed: bool,
}

/// A pending attachment and the request that uploads its bytes.
#[derive(Serialize, ToSchema)]
pub struct UploadStarted {
    #[schema(value_type = String)]
    pub attachment_id: AttachmentId,
    pub url: String,
    /// `PUT`.
    #[schema(value_type = String)]
    pub method: &'static str,
    /// The headers to send exactly as given (the signature covers them).
    pub headers: BTreeMap<String, String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[schema(value_type = crate::openapi::AttachmentView)]
    pub attachment: AttachmentView,
}

/// A file received through the API.
#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    #[schema(value_type = String)]
    pub attachment_id: AttachmentId,
    #[schema(value_type = crate::openapi::AttachmentView)]
    pub attachment: AttachmentView,
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentReply {
    #[schema(value_type = crate::openapi::AttachmentView)]
    pub attachment: AttachmentView,
}
