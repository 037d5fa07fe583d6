//! `/chatbots`: admins create, change and remove chatbots; every signed-in caller lists
//! the active ones (without their instructions, which are the operator's).

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::Response;
use axum::routing::{delete, get};
use chat_core::domain::{
    Chatbot, ChatbotId, DisplayName, Greeting, ModelName, Principal, SystemPrompt, Temperature,
    Timestamp, ValidationError,
};
use chat_core::service::{ChatService, ChatbotSettings};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::bodies::present;
use crate::error::ApiError;
use crate::extract::{Caller, ChatbotDocumentPath, ChatbotPath, Json};
use crate::reply::json_response;
use crate::{State, allow};

type Result<T> = std::result::Result<T, ApiError>;
type App = With<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/chatbots", allow("GET, POST", get(list).post(create)))
        .route(
            "/chatbots/{id}",
            allow("GET, PATCH, DELETE", get(read).patch(update).delete(remove)),
        )
        .route(
            "/chatbots/{id}/documents",
            allow("GET, POST", get(documents).post(add_document))
                .layer(crate::uploads::multipart_limit()),
        )
        .route(
            "/chatbots/{id}/documents/{did}",
            allow("DELETE", delete(remove_document)),
        )
}

/// A chatbot's fields as `POST` (with `id`) and `PATCH` take them.
#[derive(Deserialize, utoipa::ToSchema)]
struct ChatbotBody {
    /// Required by `POST`; `PATCH` takes only the chatbot's own.
    #[schema(value_type = Option<String>)]
    id: Option<ChatbotId>,
    #[schema(value_type = Option<String>)]
    name: Option<DisplayName>,
    #[schema(value_type = Option<String>)]
    system_prompt: Option<SystemPrompt>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    greeting: Option<Option<Greeting>>,
    provider: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    model: Option<Option<ModelName>>,
    max_tokens: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    temperature: Option<Option<Temperature>>,
    show_reasoning: Option<bool>,
    active: Option<bool>,
}

impl ChatbotBody {
    fn settings(
        self,
    ) -> std::result::Result<(Option<ChatbotId>, ChatbotSettings), ValidationError> {
        let settings = ChatbotSettings {
            name: self.name,
            system_prompt: self.system_prompt,
            greeting: self.greeting,
            provider: self.provider,
            model: self.model,
            max_tokens: self.max_tokens.map(Chatbot::check_max_tokens).transpose()?,
            temperature: self.temperature,
            show_reasoning: self.show_reasoning,
            active: self.active,
        };
        Ok((self.id, settings))
    }
}

/// The chatbots a file lists (chat-local's `--chatbots`): a JSON array of what `POST
/// /chatbots` takes.
pub fn parse_chatbot_file(
    json: &str,
) -> std::result::Result<Vec<(ChatbotId, ChatbotSettings)>, String> {
    let bodies: Vec<ChatbotBody> =
        serde_json::from_str(json).map_err(|e| format!("not a JSON array of chatbots: {e}"))?;
    bodies
        .into_iter()
        .enumerate()
        .map(|(at, body)| {
            let (id, settings) = body.settings().map_err(|e| format!("chatbot {at}: {e}"))?;
            let id = id.ok_or_else(|| format!("chatbot {at}: id is required"))?;
            Ok((id, settings))
        })
        .collect()
}

/// A chatbot as an admin sees it: every setting, and the provider it answers through.
#[derive(Serialize)]
struct AdminView<'a> {
    #[serde(flatten)]
    chatbot: &'a Chatbot,
    provider: Option<&'a str>,
    /// The model it answers with: its own, or the deployment's default.
    effective_model: Option<&'a str>,
}

/// A chatbot as everyone else sees it.
#[derive(Serialize)]
struct PublicView<'a> {
    id: &'a ChatbotId,
    name: &'a DisplayName,
    #[serde(skip_serializing_if = "Option::is_none")]
    greeting: Option<&'a Greeting>,
    updated_at: Timestamp,
}

/// The view the caller may have of `chatbot`, as JSON.
fn view(chat: &ChatService, caller: &Principal, chatbot: &Chatbot) -> serde_json::Value {
    let value = if caller.is_admin() {
        let catalog = chat.model_catalog();
        serde_json::to_value(AdminView {
            chatbot,
            provider: catalog.provider.as_deref(),
            effective_model: chatbot
                .model
                .as_ref()
                .or(catalog.models.first())
                .map(ModelName::as_str),
        })
    } else {
        serde_json::to_value(PublicView {
            id: &chatbot.id,
            name: &chatbot.name,
            greeting: chatbot.greeting.as_ref(),
            updated_at: chatbot.updated_at,
        })
    };
    value.unwrap_or_default()
}

fn answer(
    status: StatusCode,
    chat: &ChatService,
    caller: &Principal,
    chatbot: &Chatbot,
) -> Response {
    json_response(status, &view(chat, caller, chatbot))
}

#[utoipa::path(get, path = "/chatbots", tag = "chatbots", operation_id = "list_chatbots",
    responses((status = 200, description = "The chatbots the caller may see (admins: every one, with its settings)", body = crate::openapi::Chatbots)))]
async fn list(With(app): App, Caller(caller): Caller) -> Result<Response> {
    let chatbots = app.chat.list_chatbots(&caller).await?;
    let items: Vec<_> = chatbots
        .iter()
        .map(|chatbot| view(&app.chat, &caller, chatbot))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[utoipa::path(post, path = "/chatbots", tag = "chatbots", request_body = ChatbotBody,
    operation_id = "create_chatbot",
    responses((status = 201, description = "The new chatbot", body = crate::openapi::Chatbot)))]
async fn create(
    With(app): App,
    Caller(caller): Caller,
    Json(body): Json<ChatbotBody>,
) -> Result<Response> {
    let (id, settings) = body.settings()?;
    let id = id.ok_or_else(|| ValidationError::new("id", "is required"))?;
    let chatbot = app.chat.create_chatbot(&caller, id, settings).await?;
    Ok(answer(StatusCode::CREATED, &app.chat, &caller, &chatbot))
}

#[utoipa::path(get, path = "/chatbots/{id}", tag = "chatbots", operation_id = "read_chatbot",
    responses((status = 200, description = "The chatbot", body = crate::openapi::Chatbot)))]
async fn read(
    With(app): App,
    ChatbotPath(id): ChatbotPath,
    Caller(caller): Caller,
) -> Result<Response> {
    let chatbot = app.chat.get_chatbot(&caller, &id).await?;
    Ok(answer(StatusCode::OK, &app.chat, &caller, &chatbot))
}

#[utoipa::path(patch, path = "/chatbots/{id}", tag = "chatbots", request_body = ChatbotBody,
    operation_id = "update_chatbot",
    responses((status = 200, description = "The chatbot changed", body = crate::openapi::Chatbot)))]
async fn update(
    With(app): App,
    ChatbotPath(id): ChatbotPath,
    Caller(caller): Caller,
    Json(body): Json<ChatbotBody>,
) -> Result<Response> {
    let (renamed, settings) = body.settings()?;
    if renamed.is_some_and(|new| new != id) {
        return Err(ValidationError::new("id", "cannot be changed").into());
    }
    let chatbot = app.chat.update_chatbot(&caller, &id, settings).await?;
    Ok(answer(StatusCode::OK, &app.chat, &caller, &chatbot))
}

#[utoipa::path(delete, path = "/chatbots/{id}", tag = "chatbots", operation_id = "remove_chatbot",
    responses((status = 200, description = "The chatbot is gone", body = crate::openapi::ChatbotDeleted)))]
async fn remove(
    With(app): App,
    ChatbotPath(id): ChatbotPath,
    Caller(caller): Caller,
) -> Result<Response> {
    app.chat.delete_chatbot(&caller, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "deleted": true, "id": id }),
    ))
}

/// `GET /chatbots/{id}/documents` (admins): the chatbot's indexed documents.
#[utoipa::path(get, path = "/chatbots/{id}/documents", tag = "chatbots", operation_id = "chatbot_documents",
    responses((status = 200, description = "The chatbot's indexed documents", body = crate::openapi::IndexedFiles)))]
async fn documents(
    With(app): App,
    ChatbotPath(id): ChatbotPath,
    Caller(caller): Caller,
) -> Result<Response> {
    let items = app.chat.chatbot_documents(&caller, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

/// `POST /chatbots/{id}/documents` (admins): a document in the `file` part of a multipart
/// body; 202, as it is indexed in the background.
#[utoipa::path(post, path = "/chatbots/{id}/documents", tag = "chatbots", operation_id = "add_chatbot_document",
    request_body(content = crate::openapi::FileForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "Accepted; indexed in the background", body = crate::openapi::DocumentAccepted)))]
async fn add_document(
    With(app): App,
    ChatbotPath(id): ChatbotPath,
    Caller(caller): Caller,
    form: crate::uploads::Form,
) -> Result<Response> {
    let added = app
        .chat
        .add_chatbot_document(&caller, &id, form.file)
        .await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({
            "document_id": added.id,
            "file_name": added.file_name,
            "content_type": added.content_type,
            "size": added.size,
            "state": "indexing",
        }),
    ))
}

/// `DELETE /chatbots/{id}/documents/{did}` (admins): the document leaves the index.
#[utoipa::path(delete, path = "/chatbots/{id}/documents/{did}", tag = "chatbots",
    operation_id = "remove_chatbot_document",
    responses((status = 200, description = "The document left the index", body = crate::openapi::DocumentDeleted)))]
async fn remove_document(
    With(app): App,
    ChatbotDocumentPath(id, document): ChatbotDocumentPath,
    Caller(caller): Caller,
) -> Result<Response> {
    app.chat
        .remove_chatbot_document(&caller, &id, document)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "deleted": true, "document_id": document }),
    ))
}
