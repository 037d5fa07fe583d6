//! Request bodies and query strings, parsed into domain types at the boundary.

use chat_shared::domain::{
    AttachmentId, BusinessId, ChatbotId, ClientMsgId, Content, Cursor, DepartmentId, DocumentId,
    ExternalCustomerId, MessageId, MessageKind, Order, PageLimit, Reaction, SessionKind,
    SessionStatus, Title, UserId, ValidationError,
};
use chat_shared::ports::{MessageQuery, SessionPatch, SessionQuery};
use chat_shared::protocol::AttachmentRef;
use chat_shared::service::{NewMessage, NewSession, SupportRequest};
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// JSON bodies here are small; anything larger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses the JSON body; errors name the offending field.
pub fn json<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("a JSON body is required".into()));
    }
    // Syntax first, then shape: a wrong type is then never mistaken for broken JSON.
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid JSON: {error}")))?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let reason = error.inner().to_string();
        let message = if path == "." || reason.starts_with(&format!("{path}:")) {
            reason
        } else {
            format!("{path}: {reason}")
        };
        ApiError::BadRequest(message)
    })
}

/// `null` and absent are different for `PATCH`: absent keeps, `null` clears.
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
pub struct CreateSession {
    title: Option<String>,
    kind: Option<SessionKind>,
    #[serde(default)]
    members: Vec<UserId>,
    document_id: Option<DocumentId>,
    chatbot_id: Option<ChatbotId>,
    business_id: Option<BusinessId>,
}

impl CreateSession {
    pub fn parse(self) -> Result<NewSession, ValidationError> {
        Ok(NewSession {
            kind: self.kind,
            title: self
                .title
                .as_deref()
                .map(Title::parse)
                .transpose()?
                .flatten(),
            members: self.members,
            document_id: self.document_id,
            chatbot_id: self.chatbot_id,
            business_id: self.business_id,
        })
    }
}

#[derive(Deserialize)]
pub struct StartSupport {
    business_id: BusinessId,
    department_id: Option<DepartmentId>,
    external_customer_id: Option<ExternalCustomerId>,
}

impl From<StartSupport> for SupportRequest {
    fn from(body: StartSupport) -> Self {
        Self {
            business_id: body.business_id,
            department_id: body.department_id,
            external_customer_id: body.external_customer_id,
        }
    }
}

#[derive(Deserialize)]
pub struct PatchSession {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    status: Option<SessionStatus>,
}

impl PatchSession {
    pub fn parse(self) -> Result<SessionPatch, ValidationError> {
        let title = match self.title {
            None => None,
            Some(None) => Some(None),
            Some(Some(title)) => Some(Title::parse(&title)?),
        };
        let patch = SessionPatch {
            title,
            status: self.status,
        };
        if patch == SessionPatch::default() {
            return Err(ValidationError::new("title", "or status must be given"));
        }
        Ok(patch)
    }
}

#[derive(Deserialize)]
pub struct PostMessage {
    content: Option<Content>,
    #[serde(default)]
    kind: MessageKind,
    attachment_id: Option<AttachmentId>,
    client_msg_id: Option<ClientMsgId>,
    #[serde(default)]
    is_bot: bool,
    token_count: Option<u32>,
}

impl From<PostMessage> for NewMessage {
    fn from(body: PostMessage) -> Self {
        Self {
            content: body.content,
            kind: body.kind,
            attachment: body.attachment_id.map(AttachmentRef::Id),
            client_msg_id: body.client_msg_id,
            is_bot: body.is_bot,
            token_count: body.token_count,
            acknowledge: None,
        }
    }
}

#[derive(Deserialize)]
pub struct EditMessage {
    pub content: Content,
}

#[derive(Deserialize)]
pub struct AddReaction {
    pub reaction: Reaction,
}

/// One query parameter, parsed; absent or empty is `None`.
fn param<T>(
    request: &Request,
    name: &'static str,
    parse: impl Fn(&str) -> Result<T, ValidationError>,
) -> Result<Option<T>, ValidationError> {
    let params = request.query_string_parameters();
    params
        .first(name)
        .filter(|v| !v.is_empty())
        .map(parse)
        .transpose()
}

fn limit(request: &Request) -> Result<PageLimit, ValidationError> {
    let parsed = param(request, "limit", |v| {
        v.parse::<usize>()
            .map_err(|_| ValidationError::new("limit", "must be a whole number"))
    })?;
    parsed.map_or(Ok(PageLimit::DEFAULT), PageLimit::new)
}

pub fn cursor(request: &Request) -> Result<Option<Cursor>, ValidationError> {
    param(request, "cursor", Cursor::from_client)
}

pub fn session_query(request: &Request) -> Result<SessionQuery, ValidationError> {
    let status = param(request, "status", |v| {
        serde_json::from_value(serde_json::Value::String(v.to_owned()))
            .map_err(|_| ValidationError::new("status", "must be active, inactive or ended"))
    })?;
    Ok(SessionQuery {
        status,
        limit: limit(request)?,
        cursor: cursor(request)?,
    })
}

/// `after` catches up from a message, so it reads oldest first unless `order` says otherwise.
pub fn message_query(request: &Request) -> Result<MessageQuery, ValidationError> {
    let after = param(request, "after", |v| {
        MessageId::parse(v).map_err(|e| ValidationError::new("after", e.reason))
    })?;
    let before = param(request, "before", |v| {
        MessageId::parse(v).map_err(|e| ValidationError::new("before", e.reason))
    })?;
    let order = param(request, "order", |v| match v {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        _ => Err(ValidationError::new("order", "must be asc or desc")),
    })?;
    let order = order.unwrap_or(if after.is_some() {
        Order::Asc
    } else {
        Order::Desc
    });
    Ok(MessageQuery {
        order,
        limit: limit(request)?,
        cursor: cursor(request)?,
        after,
        before,
    })
}

pub fn page_limit(request: &Request) -> Result<PageLimit, ValidationError> {
    limit(request)
}
