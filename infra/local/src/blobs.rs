//! The local server's stand-in for S3: the signed URLs of `LocalBlobStore` land here, on
//! the HTTP port, where uploads are checked against their grant before a byte is kept.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use chat_core::domain::Timestamp;
use chat_embedded::local_blobs::{BLOB_PATH, Grant, GrantError, LocalBlobStore};

/// Serves `PUT` and `GET` of signed blob URLs; bodies up to `max_bytes`.
pub fn router(store: Arc<LocalBlobStore>, max_bytes: usize) -> Router {
    Router::new()
        .route(
            &format!("{BLOB_PATH}{{*key}}"),
            put(upload).get(download).options(preflight),
        )
        .layer(DefaultBodyLimit::max(max_bytes))
        .layer(axum::middleware::map_response(allow_any_origin))
        .with_state(store)
}

/// Browsers upload and download across origins, as the deployed bucket's CORS rules allow.
async fn allow_any_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    // Files are shown as what they were declared to be, never sniffed into a page.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, PUT"),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "content-type, if-none-match",
            ),
            (header::ACCESS_CONTROL_MAX_AGE, "3000"),
        ],
    )
        .into_response()
}

async fn upload(
    State(store): State<Arc<LocalBlobStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let sent = Some((content_type, body.len() as u64));
    if let Err(refusal) = granted(&store, "PUT", &key, query.as_deref(), sent) {
        return forbidden(refusal);
    }
    match store.put_new(&key, content_type, body.to_vec()).await {
        Ok(true) => StatusCode::OK.into_response(),
        // As S3 answers the `If-None-Match: *` its URLs are signed with: a presigned upload
        // lands once, so the file checked when it is sent is the file served.
        Ok(false) => (StatusCode::PRECONDITION_FAILED, "PreconditionFailed").into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot store a blob");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn download(
    State(store): State<Arc<LocalBlobStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = granted(&store, "GET", &key, query.as_deref(), None) {
        return forbidden(refusal);
    }
    match store.read(&key).await {
        Ok(Some((bytes, content_type))) => {
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot read a blob");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Whether the URL was signed for this very request.
fn granted(
    store: &LocalBlobStore,
    method: &str,
    key: &str,
    query: Option<&str>,
    sent: Option<(&str, u64)>,
) -> Result<(), GrantError> {
    let grant = query
        .and_then(Grant::from_query)
        .ok_or(GrantError::BadSignature)?;
    store.check(method, key, &grant, sent, Timestamp::now())
}

/// 403, as S3 answers a request its URL was not signed for.
fn forbidden(refusal: GrantError) -> Response {
    (StatusCode::FORBIDDEN, refusal.to_string()).into_response()
}
