//! Seed 003 (chatbot sessions): `POST /chatbot/{chatbot_id}/session` starts or resumes the
//! caller's one active session with the chatbot, `DELETE /chatbot/session/{id}` ends it.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use chat_core::domain::{ChatbotId, Message, SessionId, SessionKind, Timestamp};
use chat_core::service::NewSession;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{Caller, ChatbotPath};
use crate::reply::{self, session_view};
use crate::sessions::end_session;
use crate::{State, allow};

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/chatbot/{id}/session", allow("POST", post(open_session)))
        .route(
            "/chatbot/session/{id}",
            allow("DELETE", delete(end_session)),
        )
}

/// The seed's answer: the session, its chatbot, and the conversation so far.
#[derive(Serialize, utoipa::ToSchema)]
struct ChatbotSession {
    #[schema(value_type = String)]
    session_id: SessionId,
    /// The seed keeps conversations apart from sessions; here they are one.
    #[schema(value_type = String)]
    conversation_id: SessionId,
    #[schema(value_type = String)]
    chatbot_id: ChatbotId,
    chatbot_name: String,
    previous_messages: Vec<PreviousMessage>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PreviousMessage {
    /// `assistant` for the chatbot's messages, `user` for everyone else's.
    #[schema(value_type = String)]
    role: &'static str,
    message: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

impl From<&Message> for PreviousMessage {
    fn from(message: &Message) -> Self {
        Self {
            role: if message.is_bot { "assistant" } else { "user" },
            message: message.content.clone(),
            created_at: message.created_at,
        }
    }
}

/// 201 with a new session, 200 with the one already active.
#[utoipa::path(post, path = "/chatbot/{id}/session", tag = "seed 003",
    responses(
        (status = 201, description = "A new session with the chatbot", body = ChatbotSession),
        (status = 200, description = "The caller's session with it, already active", body = ChatbotSession),
    ))]
async fn open_session(
    With(app): With<Arc<State>>,
    ChatbotPath(chatbot): ChatbotPath,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    let request = NewSession {
        kind: Some(SessionKind::Bot),
        chatbot_id: Some(chatbot.clone()),
        ..NewSession::default()
    };
    let opened = app.chat.create_session(&caller, request).await?;
    let session = &opened.details.session;
    let answer = ChatbotSession {
        session_id: session.id,
        conversation_id: session.id,
        chatbot_name: session_view(&opened.details).chatbot_name().to_owned(),
        chatbot_id: chatbot,
        previous_messages: opened
            .previous_messages
            .iter()
            .filter(|message| !message.is_deleted())
            .map(PreviousMessage::from)
            .collect(),
    };
    Ok(reply::With(reply::created_or_found(opened.created), answer).into_response())
}
