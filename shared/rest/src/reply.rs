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

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
}

pub fn session_view(details: &SessionDetails) -> SessionView {
    SessionView::new(&details.session, &details.members, details.online.clone())
}

/// A session with its members and who is online.
#[derive(Serialize)]
pub struct SessionReply {
    pub session: SessionView,
}

/// A session's own fields (after a change).
#[derive(Serialize)]
pub struct SummaryReply {
    pub session: SessionSummary,
}

#[derive(Serialize)]
pub struct Joined {
    pub session: SessionView,
    pub joined: bool,
}

#[derive(Serialize)]
pub struct Left {
    pub left: bool,
}

/// 201 with the group when the member is new, 200 when they already were one.
#[derive(Serialize)]
pub struct MemberAdded {
    pub session: SessionView,
    pub added: bool,
}

impl IntoResponse for MemberAdded {
    fn into_response(self) -> Response {
        json_response(created_or_found(self.added), &self)
    }
}

/// A business's new customer secret, shown this once (201).
#[derive(Serialize)]
pub struct SecretIssued {
    pub business_id: BusinessId,
    pub customer_secret: String,
    pub created_at: Timestamp,
}

impl IntoResponse for SecretIssued {
    fn into_response(self) -> Response {
        json_response(StatusCode::CREATED, &self)
    }
}

#[derive(Serialize)]
pub struct MemberRemoved {
    pub removed: bool,
}

/// One page of a list, and the cursor to the next (null at the end).
#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

/// Who is connected to a session now.
#[derive(Serialize)]
pub struct Connections {
    pub items: Vec<ConnectionItem>,
    pub online: Vec<UserId>,
}

#[derive(Serialize)]
pub struct ConnectionItem {
    pub user_id: UserId,
    pub name: Option<DisplayName>,
    pub role: Role,
    pub connected_at: Timestamp,
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
#[derive(Serialize)]
pub struct FullSession {
    pub session: SessionView,
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<Cursor>,
}

#[derive(Serialize)]
pub struct MessageReply {
    pub message: MessageView,
}

/// A posted message: 201 when new, 200 with the original for a repeated `client_msg_id`.
#[derive(Serialize)]
pub struct Posted {
    pub message: MessageView,
    pub duplicate: bool,
}

/// A session opened or found already open, with its latest messages (oldest first).
#[derive(Serialize)]
pub struct Opened {
    pub session: SessionView,
    pub previous_messages: Vec<MessageView>,
}

/// A visitor's support session, with the token that resumes it.
#[derive(Serialize)]
pub struct SupportStarted {
    #[serde(flatten)]
    pub opened: Opened,
    pub visitor_token: String,
    pub visitor_token_expires_at: Timestamp,
    pub active: bool,
    pub resumed: bool,
}

/// A pending attachment and the request that uploads its bytes.
#[derive(Serialize)]
pub struct UploadStarted {
    pub attachment_id: AttachmentId,
    pub url: String,
    pub method: &'static str,
    /// The headers to send exactly as given (the signature covers them).
    pub headers: BTreeMap<String, String>,
    pub expires_at: Timestamp,
    pub attachment: AttachmentView,
}

/// A file received through the API.
#[derive(Serialize)]
pub struct Uploaded {
    pub attachment_id: AttachmentId,
    pub attachment: AttachmentView,
}

#[derive(Serialize)]
pub struct AttachmentReply {
    pub attachment: AttachmentView,
}
