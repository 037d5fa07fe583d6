//! The `uploads` function's routes: a presigned upload, a small upload through the API
//! (multipart), and a file's metadata with a download link.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State as With};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chat_core::service::{DirectUpload, MAX_DIRECT_UPLOAD_BYTES, ServiceError};
use http::{StatusCode, header};

use crate::bodies::AnnouncedUpload;
use crate::error::ApiError;
use crate::extract::{AttachmentPath, Caller, Json, SessionPath, unreadable};
use crate::reply::{self, AttachmentReply, UploadStarted, Uploaded};
use crate::{State, allow};

/// The HTTP API routes the `uploads` function serves (the template's route keys); the
/// `sessions` function serves the rest. `ANY`, so a wrong method gets this function's
/// 405, not a 404.
pub const ROUTES: [&str; 4] = [
    "ANY /sessions/{id}/uploads",
    "ANY /sessions/{id}/attachments",
    "ANY /sessions/{id}/attachments/{aid}",
    // Seed 004's small upload (`crate::seeds`).
    "ANY /chat/upload-file",
];

/// Room for the multipart envelope around the largest file accepted.
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;

/// The body limit of a small upload through the API.
pub(crate) fn multipart_limit() -> DefaultBodyLimit {
    let largest = usize::try_from(MAX_DIRECT_UPLOAD_BYTES).unwrap_or(usize::MAX);
    DefaultBodyLimit::max(largest + MULTIPART_OVERHEAD_BYTES)
}

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/sessions/{id}/uploads",
            allow("POST", post(presigned_upload)),
        )
        .route(
            "/sessions/{id}/attachments",
            allow("POST", post(direct_upload)).layer(multipart_limit()),
        )
        .route(
            "/sessions/{id}/attachments/{aid}",
            allow("GET", get(attachment)),
        )
        .merge(crate::seeds::upload_routes())
}

/// `POST /sessions/{id}/uploads`: a pending attachment and the PUT that uploads it.
#[utoipa::path(post, path = "/sessions/{id}/uploads", tag = "uploads", request_body = AnnouncedUpload,
    responses((status = 201, description = "A pending attachment and the request that uploads its bytes", body = UploadStarted)))]
async fn presigned_upload(
    With(app): With<Arc<State>>,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Json(announced): Json<AnnouncedUpload>,
) -> Result<Response, ApiError> {
    let (attachment, upload) = app
        .chat
        .request_upload(&caller, id, announced.into())
        .await?;
    let started = UploadStarted {
        attachment_id: attachment.id,
        url: upload.url,
        method: upload.method,
        headers: upload.headers.into_iter().collect(),
        expires_at: upload.expires_at,
        attachment: (&attachment).into(),
    };
    Ok(reply::With(StatusCode::CREATED, started).into_response())
}

/// `POST /sessions/{id}/attachments`: a small file in the `file` part of a multipart body.
#[utoipa::path(post, path = "/sessions/{id}/attachments", tag = "uploads",
    request_body(content = crate::openapi::FileForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "The file, stored", body = Uploaded)))]
async fn direct_upload(
    With(app): With<Arc<State>>,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    Multipart(upload): Multipart,
) -> Result<Response, ApiError> {
    let view = app.chat.upload(&caller, id, upload).await?;
    let uploaded = Uploaded {
        attachment_id: view.id,
        attachment: view,
    };
    Ok(reply::With(StatusCode::CREATED, uploaded).into_response())
}

/// `GET /sessions/{id}/attachments/{aid}`: the file's metadata and a fresh download link.
#[utoipa::path(get, path = "/sessions/{id}/attachments/{aid}", tag = "uploads",
    responses((status = 200, description = "The file's metadata and a fresh download link", body = AttachmentReply)))]
async fn attachment(
    With(app): With<Arc<State>>,
    AttachmentPath(id, attachment): AttachmentPath,
    Caller(caller): Caller,
) -> Result<AttachmentReply, ApiError> {
    let attachment = app.chat.attachment(&caller, id, attachment).await?;
    Ok(AttachmentReply { attachment })
}

/// The `file` part of a `multipart/form-data` body, with its file name and type.
struct Multipart(DirectUpload);

impl<S: Send + Sync> FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(Form::from_request(request, state).await?.file))
    }
}

/// A `multipart/form-data` body: its `file` part, and its other parts as text.
pub(crate) struct Form {
    pub file: DirectUpload,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The first part named `name`; absent, empty or `null` is `None`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty() && *value != "null")
    }
}

/// Text parts are names and ids; a longer one is not a form this API reads.
const MAX_FIELD_BYTES: usize = 1_024;

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bad = |message: &str| ApiError::BadRequest(message.to_owned());
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let boundary = multer::parse_boundary(content_type)
            .map_err(|_| bad("the body must be multipart/form-data with a boundary"))?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match unreadable(rejection) {
                ApiError::TooLarge => ApiError::Service(ServiceError::TooLarge(format!(
                    "files over {MAX_DIRECT_UPLOAD_BYTES} bytes go through POST /sessions/{{id}}/uploads"
                ))),
                other => other,
            })?;
        let stream =
            futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(bytes) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let unreadable = |error: multer::Error| {
            tracing::info!(%error, "unreadable multipart body");
            bad("the multipart body cannot be read")
        };
        let (mut file, mut fields) = (None, Vec::new());
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name != "file" {
                let text = field.text().await.map_err(unreadable)?;
                if text.len() > MAX_FIELD_BYTES {
                    return Err(ApiError::BadRequest(format!("{name}: is too long")));
                }
                fields.push((name, text));
                continue;
            }
            if file.is_some() {
                continue;
            }
            let file_name = field
                .file_name()
                .ok_or_else(|| bad("file: the part needs a filename"))?
                .to_owned();
            let content_type = field
                .content_type()
                .map(ToString::to_string)
                .ok_or_else(|| bad("file: the part needs a Content-Type"))?;
            let bytes = field.bytes().await.map_err(unreadable)?;
            file = Some(DirectUpload {
                file_name,
                content_type,
                bytes: bytes.to_vec(),
            });
        }
        let file = file.ok_or_else(|| bad("file: is required (a multipart part named file)"))?;
        Ok(Self { file, fields })
    }
}
