//! What handlers take from a request, parsed at the boundary into domain types. Every
//! rejection is an [`ApiError`], so it answers with the API's error body, naming the field.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use bytes::Bytes;
use chat_core::auth::find_bearer_token;
use chat_core::domain::{
    AttachmentId, BusinessId, ChatbotId, Cursor, MessageId, Order, PageLimit, Principal, Reaction,
    SessionId, UserId, ValidationError,
};
use chat_core::ports::{MessageQuery, SessionQuery};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::State;
use crate::error::ApiError;

/// JSON bodies here are small; anything larger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller, from `Authorization: Bearer`, verified once per request.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<State>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, ApiError> {
        let token = find_bearer_token(&parts.headers)
            .ok_or(ApiError::Unauthorized("missing bearer token"))?;
        Ok(Self(state.authenticator.authenticate(&token).await?))
    }
}

/// The caller if a valid token came, for the public routes: a missing or bad token counts
/// as no caller, so an expired visitor token never locks a guest out.
pub struct MaybeCaller(pub Option<Principal>);

impl FromRequestParts<Arc<State>> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, ApiError> {
        Ok(Self(
            Caller::from_request_parts(parts, state)
                .await
                .ok()
                .map(|Caller(caller)| caller),
        ))
    }
}

/// The address a request came from: the last entry of `X-Forwarded-For`, the one API
/// Gateway appends (the ones before it are the client's to say, and may be made up).
pub struct SourceAddress(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let address = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .rfind(|address| !address.is_empty() && address.len() <= 64)
            .map(str::to_owned);
        Ok(Self(address))
    }
}

/// A JSON body, read up to the route's body limit and parsed into `T`; errors name the
/// offending field and never a Rust type.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> Json<T> {
    /// A body already read.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        parse_json(bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(unreadable)?;
        parse_json(&bytes).map(Self)
    }
}

/// A body the API could not read: over the limit, or broken off.
pub fn unreadable(rejection: BytesRejection) -> ApiError {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge
    } else {
        ApiError::BadRequest("the request body cannot be read".into())
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("a JSON body is required".into()));
    }
    // Syntax first, then shape: a wrong type is then never mistaken for broken JSON.
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid JSON: {error}")))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let reason = plain(&error.inner().to_string());
        let message = if path == "." || reason.starts_with(&format!("{path}:")) {
            reason
        } else {
            format!("{path}: {reason}")
        };
        ApiError::BadRequest(message)
    })
}

/// serde's messages with the Rust type names it puts in them (`expected struct
/// PostMessage with 6 elements`, `expected enum SessionKind`) said in JSON's terms.
fn plain(reason: &str) -> String {
    let Some((before, expected)) = reason.split_once("expected ") else {
        return reason.to_owned();
    };
    let first = expected.split([' ', ',']).next().unwrap_or_default();
    let said = match first {
        "struct" | "map" => "an object",
        "enum" | "variant" => "one of the names this field takes",
        "tuple" => "an array",
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "a whole number"
        }
        "f32" | "f64" => "a number",
        "a" if expected.starts_with("a sequence") => "an array",
        // How serde says an enum may be written: one of its names, for our bodies.
        "string" if expected.starts_with("string or map") => "one of the names this field takes",
        _ => return reason.to_owned(),
    };
    format!("{before}expected {said}")
}

/// The path's parameters, percent-decoded (a reaction travels as `%F0%9F%91%8D`).
struct PathParams(HashMap<String, String>);

impl PathParams {
    async fn of<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("the path is not valid UTF-8".into()))?;
        Ok(Self(params))
    }

    fn parse<T>(
        &self,
        param: &str,
        field: &'static str,
        parse: fn(&str) -> Result<T, ValidationError>,
    ) -> Result<T, ApiError> {
        let value = self.0.get(param).map(String::as_str).unwrap_or_default();
        parse(value).map_err(|e| ValidationError::new(field, e.reason).into())
    }

    fn session(&self) -> Result<SessionId, ApiError> {
        self.parse("id", "session_id", SessionId::parse)
    }

    fn message(&self) -> Result<MessageId, ApiError> {
        self.parse("mid", "message_id", MessageId::parse)
    }
}

/// The session a route's path names (`{id}`). Ids are parsed before anything else is
/// looked at, so a malformed one is always the answer.
pub struct SessionPath(pub SessionId);

/// A message of a session (`{id}`, `{mid}`).
pub struct MessagePath(pub SessionId, pub MessageId);

/// A business (`{id}`).
pub struct BusinessPath(pub BusinessId);

impl<S: Send + Sync> FromRequestParts<S> for BusinessPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(params.parse(
            "id",
            "business_id",
            BusinessId::parse,
        )?))
    }
}

/// A member of a session (`{id}`, `{user_id}`).
pub struct MemberPath(pub SessionId, pub UserId);

/// A reaction to a message (`{id}`, `{mid}`, `{emoji}`).
pub struct ReactionPath(pub SessionId, pub MessageId, pub Reaction);

/// An attachment of a session (`{id}`, `{aid}`).
pub struct AttachmentPath(pub SessionId, pub AttachmentId);

/// A user a seed's route names (`{id}`, 001's `/chat/user/{user_id}`).
pub struct UserPath(pub UserId);

/// A chatbot a seed's route names (`{id}`, 003's `/chatbot/{chatbot_id}/session`).
pub struct ChatbotPath(pub ChatbotId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(params.parse("id", "user_id", UserId::parse)?))
    }
}

/// A chatbot's document (`{id}`, `{did}`).
pub struct ChatbotDocumentPath(pub ChatbotId, pub AttachmentId);

impl<S: Send + Sync> FromRequestParts<S> for ChatbotDocumentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(
            params.parse("id", "chatbot_id", ChatbotId::parse)?,
            params.parse("did", "document_id", AttachmentId::parse)?,
        ))
    }
}

/// A document of the caller's library (`{id}`).
pub struct LibraryDocumentPath(pub AttachmentId);

impl<S: Send + Sync> FromRequestParts<S> for LibraryDocumentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(params.parse(
            "id",
            "document_id",
            AttachmentId::parse,
        )?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ChatbotPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(params.parse("id", "chatbot_id", ChatbotId::parse)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(PathParams::of(parts, state).await?.session()?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MessagePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(params.session()?, params.message()?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(
            params.session()?,
            params.parse("user_id", "user_id", UserId::parse)?,
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReactionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(
            params.session()?,
            params.message()?,
            params.parse("emoji", "reaction", Reaction::parse)?,
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AttachmentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = PathParams::of(parts, state).await?;
        Ok(Self(
            params.session()?,
            params.parse("aid", "attachment_id", AttachmentId::parse)?,
        ))
    }
}

/// A numbered page (`page`, `limit`), for the seed routes that page by number.
#[derive(Clone, Copy, Debug)]
pub struct PageNumber {
    pub page: usize,
    pub limit: PageLimit,
}

impl PageNumber {
    /// The last page number accepted: reaching page N reads the N - 1 pages before it.
    pub const LAST: usize = 1_000;

    /// How many items come before this page.
    pub fn skip(&self) -> usize {
        (self.page - 1) * self.limit.get()
    }
}

/// The query string's parameters, each parsed when asked for; absent or empty is `None`,
/// and a repeated one counts once, as its first value.
pub struct Query(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::BadRequest("the query string cannot be read".into()))?;
        Ok(Self(pairs))
    }
}

impl Query {
    pub fn param<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, ValidationError>,
    ) -> Result<Option<T>, ValidationError> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
            .map(parse)
            .transpose()
    }

    pub fn limit(&self) -> Result<PageLimit, ValidationError> {
        let parsed = self.param("limit", |v| {
            v.parse::<usize>()
                .map_err(|_| ValidationError::new("limit", "must be a whole number"))
        })?;
        parsed.map_or(Ok(PageLimit::DEFAULT), PageLimit::new)
    }

    /// Seed 001's `page` (from 1, the default) and `limit`.
    pub fn page(&self) -> Result<PageNumber, ValidationError> {
        let page = self.param("page", |v| {
            v.parse::<usize>()
                .ok()
                .filter(|page| (1..=PageNumber::LAST).contains(page))
                .ok_or_else(|| {
                    ValidationError::new("page", "must be a whole number from 1 to 1000")
                })
        })?;
        Ok(PageNumber {
            page: page.unwrap_or(1),
            limit: self.limit()?,
        })
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, ValidationError> {
        self.param("cursor", Cursor::from_client)
    }

    pub fn sessions(&self) -> Result<SessionQuery, ValidationError> {
        let status = self.param("status", |v| {
            serde_json::from_value(serde_json::Value::String(v.to_owned()))
                .map_err(|_| ValidationError::new("status", "must be active, inactive or ended"))
        })?;
        Ok(SessionQuery {
            status,
            limit: self.limit()?,
            cursor: self.cursor()?,
        })
    }

    /// `after` catches up from a message, so it reads oldest first unless `order` says
    /// otherwise.
    pub fn messages(&self) -> Result<MessageQuery, ValidationError> {
        let id = |field: &'static str| {
            move |v: &str| MessageId::parse(v).map_err(|e| ValidationError::new(field, e.reason))
        };
        let after = self.param("after", id("after"))?;
        let before = self.param("before", id("before"))?;
        let order = self.param("order", |v| match v {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(ValidationError::new("order", "must be asc or desc")),
        })?;
        let after_seq = self.param("after_seq", |v| {
            v.parse::<u64>()
                .map_err(|_| ValidationError::new("after_seq", "must be a whole number"))
        })?;
        if after_seq.is_some() && (after.is_some() || before.is_some() || order.is_some()) {
            return Err(ValidationError::new(
                "after_seq",
                "lists in seq order, oldest first: it takes no after, before or order",
            ));
        }
        let order = order.unwrap_or(if after.is_some() || after_seq.is_some() {
            Order::Asc
        } else {
            Order::Desc
        });
        Ok(MessageQuery {
            order,
            limit: self.limit()?,
            cursor: self.cursor()?,
            after,
            before,
            after_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        kind: Kind,
        size: u64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Group,
    }

    fn refusal(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Ok(body) => panic!("accepted {body:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_refused_without_naming_rust_types() {
        assert_eq!(refusal("[1, 2]"), "the body must be a JSON object");
        assert_eq!(refusal("   "), "a JSON body is required");
        assert!(refusal("{").starts_with("the body is not valid JSON"));
        for (body, field) in [
            (r#"{"kind": 3, "size": 1}"#, "kind"),
            (r#"{"kind": "group", "size": "big"}"#, "size"),
            (r#"{"kind": {"a": 1}, "size": 1}"#, "kind"),
        ] {
            let message = refusal(body);
            assert!(message.starts_with(&format!("{field}: ")), "{message}");
            for rust in ["struct", "enum", "Kind", "Body", "u64"] {
                assert!(!message.contains(rust), "{message}");
            }
        }
    }
}
