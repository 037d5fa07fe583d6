//! `/documents`: each signed-in user's document library. A session created with one of
//! its ids as `document_id` has the bot answer from that document.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::Response;
use axum::routing::{delete, get};
use http::StatusCode;

use crate::error::ApiError;
use crate::extract::{Caller, LibraryDocumentPath};
use crate::reply::json_response;
use crate::{State, allow};

type Result<T> = std::result::Result<T, ApiError>;
type App = With<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/documents",
            allow("GET, POST", get(list).post(add)).layer(crate::uploads::multipart_limit()),
        )
        .route("/documents/{id}", allow("DELETE", delete(remove)))
}

/// `GET /documents`: the caller's documents, each with its indexing state.
#[utoipa::path(get, path = "/documents", tag = "documents", operation_id = "list_documents",
    responses((status = 200, description = "The caller's documents, each with its indexing state", body = crate::openapi::LibraryDocuments)))]
async fn list(With(app): App, Caller(caller): Caller) -> Result<Response> {
    let items = app.chat.library(&caller).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

/// `POST /documents`: a document in the `file` part of a multipart body; 202, as it is
/// indexed in the background.
#[utoipa::path(post, path = "/documents", tag = "documents", operation_id = "add_document",
    request_body(content = crate::openapi::FileForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "Accepted; indexed in the background", body = crate::openapi::LibraryDocument)))]
async fn add(
    With(app): App,
    Caller(caller): Caller,
    form: crate::uploads::Form,
) -> Result<Response> {
    let added = app.chat.add_library_document(&caller, form.file).await?;
    Ok(json_response(StatusCode::ACCEPTED, &added))
}

/// `DELETE /documents/{id}`: the document, its index and its bytes go.
#[utoipa::path(delete, path = "/documents/{id}", tag = "documents", operation_id = "remove_document",
    responses((status = 200, description = "The document, its index and its bytes are gone", body = crate::openapi::DocumentDeleted)))]
async fn remove(
    With(app): App,
    LibraryDocumentPath(id): LibraryDocumentPath,
    Caller(caller): Caller,
) -> Result<Response> {
    app.chat.remove_library_document(&caller, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "deleted": true, "document_id": id }),
    ))
}
