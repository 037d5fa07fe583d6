//! Seed 000 (live chat manager): `/api/chat/sessions...`. The seed names its routes and not
//! their bodies, so each answers exactly as its canonical twin under `/sessions`; join and
//! leave also take the seed's "a user" as an optional `{"user_id"}` body: the caller
//! joining or leaving, or someone else whom the group's owner (or an admin) adds or removes.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State as With};
use axum::routing::{get, post};
use bytes::Bytes;
use chat_core::domain::{Principal, UserId};
use serde::Deserialize;

use super::optional_seed_user_id;
use crate::error::ApiError;
use crate::extract::{Caller, Json, SessionPath, unreadable};
use crate::reply::{Joined, Left, session_view};
use crate::sessions::{create_session, get_session, joined, left, list_messages, post_message};
use crate::{State, allow};

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/chat/sessions", allow("POST", post(create_session)))
        .route("/api/chat/sessions/{id}", allow("GET", get(get_session)))
        .route("/api/chat/sessions/{id}/join", allow("POST", post(join)))
        .route("/api/chat/sessions/{id}/leave", allow("POST", post(leave)))
        .route(
            "/api/chat/sessions/{id}/messages",
            allow("GET, POST", get(list_messages).post(post_message)),
        )
}

/// `{"user_id"}`, which may be left out (or the body with it): the user the request is for.
#[derive(Deserialize, Default, utoipa::ToSchema)]
struct ForUser {
    #[serde(default, deserialize_with = "optional_seed_user_id")]
    #[schema(value_type = Option<crate::openapi::SeedUserId>)]
    user_id: Option<UserId>,
}

/// A JSON body that may be empty.
struct MaybeBody<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for MaybeBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(unreadable)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let Json(body) = Json::<T>::from_bytes(&bytes)?;
        Ok(Self(body))
    }
}

impl ForUser {
    /// The user named, unless it is the caller.
    fn someone_else(self, caller: &Principal) -> Option<UserId> {
        self.user_id.filter(|user| *user != caller.user_id)
    }
}

#[utoipa::path(post, path = "/api/chat/sessions/{id}/join", tag = "seed 000", operation_id = "seed_000_join",
    request_body(content = Option<ForUser>, description = "Optional: someone else for the owner (or an admin) to add"),
    responses((status = 200, description = "The session; `joined` is false for a member already", body = Joined)))]
async fn join(
    With(app): With<Arc<State>>,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    MaybeBody(body): MaybeBody<ForUser>,
) -> Result<Joined, ApiError> {
    let Some(user) = body.someone_else(&caller) else {
        return joined(&app, &caller, id).await;
    };
    let (details, added) = app.chat.add_member(&caller, id, user).await?;
    Ok(Joined {
        session: session_view(&details),
        joined: added,
    })
}

#[utoipa::path(post, path = "/api/chat/sessions/{id}/leave", tag = "seed 000", operation_id = "seed_000_leave",
    request_body(content = Option<ForUser>, description = "Optional: someone else for the owner (or an admin) to remove"),
    responses((status = 200, description = "`left` is false for someone not a member", body = Left)))]
async fn leave(
    With(app): With<Arc<State>>,
    SessionPath(id): SessionPath,
    Caller(caller): Caller,
    MaybeBody(body): MaybeBody<ForUser>,
) -> Result<Left, ApiError> {
    let Some(user) = body.someone_else(&caller) else {
        return left(&app, &caller, id).await;
    };
    Ok(Left {
        left: app.chat.remove_member(&caller, id, &user).await?,
    })
}
