//! The file routes of the REST API: a presigned upload, a small upload through the API
//! (multipart), and a file's metadata with a download link. The plumbing (caller, errors,
//! responses) is the `sessions` function's, so both answer alike.

use std::sync::Arc;

use bytes::Bytes;
use chat_shared::domain::{AttachmentId, SessionId};
use chat_shared::protocol::AttachmentView;
use chat_shared::service::{DirectUpload, MAX_DIRECT_UPLOAD_BYTES, ServiceError, UploadRequest};
use futures::future::BoxFuture;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sessions::rest::{Reply, answer, ok, only, parse_id, reply, segments};
use sessions::{ApiError, App, body};

/// The HTTP API routes this function serves (the template's route keys); `sessions`
/// serves the rest. `ANY`, so a wrong method gets this function's 405, not a 404.
pub const ROUTES: [&str; 3] = [
    "ANY /sessions/{id}/uploads",
    "ANY /sessions/{id}/attachments",
    "ANY /sessions/{id}/attachments/{aid}",
];

/// Room for the multipart envelope around the largest file accepted.
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;

/// The Lambda handler; errors become error bodies, as in `sessions`.
pub fn handle(
    app: Arc<App>,
    request: Request,
) -> BoxFuture<'static, Result<Response<Body>, Error>> {
    Box::pin(async move { answer(route(&app, &request)).await })
}

async fn route(app: &App, request: &Request) -> Reply {
    let segments = segments(request.uri().path())?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method();
    let ["sessions", id, rest @ ..] = segments.as_slice() else {
        return Err(ApiError::NoRoute);
    };
    let id = parse_id(id, "session_id", SessionId::parse)?;
    match rest {
        ["uploads"] => {
            only(method, &Method::POST, "POST")?;
            presigned_upload(app, request, id).await
        }
        ["attachments"] => {
            only(method, &Method::POST, "POST")?;
            direct_upload(app, request, id).await
        }
        ["attachments", attachment] => {
            only(method, &Method::GET, "GET")?;
            let attachment = parse_id(attachment, "attachment_id", AttachmentId::parse)?;
            let caller = app.caller(request).await?;
            let view = app.service.attachment(&caller, id, attachment).await?;
            Ok(ok(json!({ "attachment": view })))
        }
        _ => Err(ApiError::NoRoute),
    }
}

#[derive(Deserialize)]
struct AnnouncedUpload {
    file_name: String,
    content_type: String,
    size: u64,
}

/// `POST /sessions/{id}/uploads`: a pending attachment and the PUT that uploads it.
async fn presigned_upload(app: &App, request: &Request, id: SessionId) -> Reply {
    let caller = app.caller(request).await?;
    let announced = body::json::<AnnouncedUpload>(request)?;
    let (attachment, upload) = app
        .service
        .request_upload(
            &caller,
            id,
            UploadRequest {
                file_name: announced.file_name,
                content_type: announced.content_type,
                size: announced.size,
            },
        )
        .await?;
    let headers: serde_json::Map<String, serde_json::Value> = upload
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    Ok(reply(
        StatusCode::CREATED,
        json!({
            "attachment_id": attachment.id,
            "url": upload.url,
            "method": upload.method,
            "headers": headers,
            "expires_at": upload.expires_at,
            "attachment": AttachmentView::new(&attachment),
        }),
    ))
}

/// `POST /sessions/{id}/attachments`: a small file in the `file` part of a multipart body.
async fn direct_upload(app: &App, request: &Request, id: SessionId) -> Reply {
    let caller = app.caller(request).await?;
    let upload = multipart_file(request).await?;
    let view = app.service.upload(&caller, id, upload).await?;
    Ok(reply(
        StatusCode::CREATED,
        json!({ "attachment_id": view.id, "attachment": view }),
    ))
}

/// The `file` part of a `multipart/form-data` body, with its file name and type.
async fn multipart_file(request: &Request) -> Result<DirectUpload, ApiError> {
    let bad = |message: &str| ApiError::BadRequest(message.to_owned());
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| bad("the body must be multipart/form-data with a boundary"))?;
    let bytes: Bytes = match request.body() {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::copy_from_slice(text.as_bytes()),
        Body::Binary(bytes) => Bytes::copy_from_slice(bytes),
        _ => Bytes::new(),
    };
    let largest = usize::try_from(MAX_DIRECT_UPLOAD_BYTES).unwrap_or(usize::MAX);
    if bytes.len() > largest + MULTIPART_OVERHEAD_BYTES {
        return Err(ApiError::Service(ServiceError::TooLarge(format!(
            "files over {MAX_DIRECT_UPLOAD_BYTES} bytes go through POST /sessions/{{id}}/uploads"
        ))));
    }
    let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let unreadable = |error: multer::Error| {
        tracing::info!(%error, "unreadable multipart body");
        bad("the multipart body cannot be read")
    };
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some("file") {
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
        return Ok(DirectUpload {
            file_name,
            content_type,
            bytes: bytes.to_vec(),
        });
    }
    Err(bad("file: is required (a multipart part named file)"))
}
