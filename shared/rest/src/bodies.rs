//! The request bodies, parsed into the service's requests at the boundary.

use chat_core::domain::{
    AttachmentId, BusinessId, ChatbotId, ClientMsgId, Content, DepartmentId, DocumentId,
    ExternalCustomerId, JoinPolicy, Language, MessageKind, Reaction, SessionKind, SessionStatus,
    TimeZoneName, Title, UserId, ValidationError,
};
use chat_core::ports::SessionPatch;
use chat_core::protocol::AttachmentRef;
use chat_core::service::{NewMessage, NewSession, SupportRequest, UploadRequest};
use serde::Deserialize;
use utoipa::ToSchema;

/// `null` and absent are different for `PATCH`: absent keeps, `null` clears.
pub(crate) fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A new session, or the one already open where a kind keeps one per caller.
#[derive(Deserialize, ToSchema)]
pub struct CreateSession {
    title: Option<String>,
    #[schema(value_type = Option<crate::openapi::SessionKind>)]
    kind: Option<SessionKind>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    members: Vec<UserId>,
    /// A document of the caller's library for the bot to answer from.
    #[schema(value_type = Option<String>)]
    document_id: Option<DocumentId>,
    #[schema(value_type = Option<String>)]
    chatbot_id: Option<ChatbotId>,
    #[schema(value_type = Option<String>)]
    business_id: Option<BusinessId>,
    #[schema(value_type = Option<crate::openapi::JoinPolicy>)]
    join_policy: Option<JoinPolicy>,
    #[schema(value_type = Option<String>)]
    language: Option<Language>,
    #[schema(value_type = Option<String>)]
    timezone: Option<TimeZoneName>,
    #[serde(default)]
    end_on_disconnect: bool,
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
            one_of_many: false,
            join_policy: self.join_policy,
            language: self.language,
            timezone: self.timezone,
            end_on_disconnect: self.end_on_disconnect,
        })
    }
}

/// A visitor's support session with a business, started or resumed.
#[derive(Deserialize, ToSchema)]
pub struct StartSupport {
    #[schema(value_type = String)]
    business_id: BusinessId,
    #[schema(value_type = Option<String>)]
    department_id: Option<DepartmentId>,
    #[schema(value_type = Option<String>)]
    external_customer_id: Option<ExternalCustomerId>,
    /// The business backend's proof of `external_customer_id`.
    customer_proof: Option<String>,
}

impl From<StartSupport> for SupportRequest {
    fn from(body: StartSupport) -> Self {
        Self {
            business_id: body.business_id,
            department_id: body.department_id,
            external_customer_id: body.external_customer_id,
            source_address: None,
            customer_proof: body.customer_proof,
        }
    }
}

/// What changes: an absent field stays, `null` clears; one at least is given.
#[derive(Deserialize, ToSchema)]
pub struct PatchSession {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    title: Option<Option<String>>,
    #[schema(value_type = Option<crate::openapi::SessionStatus>)]
    status: Option<SessionStatus>,
    #[schema(value_type = Option<crate::openapi::JoinPolicy>)]
    join_policy: Option<JoinPolicy>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    language: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    timezone: Option<Option<String>>,
}

/// A field a PATCH may set or clear: absent, `null` (or blank: cleared), or a value.
fn cleared_or<T>(
    field: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, ValidationError>,
) -> Result<Option<Option<T>>, ValidationError> {
    match field {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(value)) if value.trim().is_empty() => Ok(Some(None)),
        Some(Some(value)) => parse(&value).map(|v| Some(Some(v))),
    }
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
            join_policy: self.join_policy,
            language: cleared_or(self.language, Language::parse)?,
            timezone: cleared_or(self.timezone, TimeZoneName::parse)?,
        };
        if patch == SessionPatch::default() {
            return Err(ValidationError::new(
                "title",
                "status, join_policy, language or timezone must be given",
            ));
        }
        Ok(patch)
    }
}

/// A message: text, or a file uploaded before (`attachment_id`). `is_bot` and
/// `token_count` are a service token's to set.
#[derive(Deserialize, ToSchema)]
pub struct PostMessage {
    #[schema(value_type = Option<String>)]
    content: Option<Content>,
    #[serde(default)]
    #[schema(value_type = crate::openapi::MessageKind)]
    kind: MessageKind,
    #[schema(value_type = Option<String>)]
    attachment_id: Option<AttachmentId>,
    /// The client's own id: a repeated one answers the original message.
    #[schema(value_type = Option<String>)]
    client_msg_id: Option<ClientMsgId>,
    #[serde(default)]
    is_bot: bool,
    token_count: Option<u32>,
    /// What the bot's reply is asked in.
    #[schema(value_type = Option<String>)]
    language: Option<Language>,
    #[schema(value_type = Option<String>)]
    timezone: Option<TimeZoneName>,
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
            preferences: chat_core::domain::ReplyPreferences {
                language: body.language,
                timezone: body.timezone,
            },
        }
    }
}

/// A member the owner adds to a group.
#[derive(Deserialize, ToSchema)]
pub struct AddMember {
    #[schema(value_type = String)]
    pub user_id: UserId,
}

#[derive(Deserialize, ToSchema)]
pub struct EditMessage {
    #[schema(value_type = String)]
    pub content: Content,
}

#[derive(Deserialize, ToSchema)]
pub struct AddReaction {
    /// An emoji.
    #[schema(value_type = String)]
    pub reaction: Reaction,
}

/// The file to be uploaded with the presigned request.
#[derive(Deserialize, ToSchema)]
pub struct AnnouncedUpload {
    file_name: String,
    content_type: String,
    size: u64,
}

impl From<AnnouncedUpload> for UploadRequest {
    fn from(body: AnnouncedUpload) -> Self {
        Self {
            file_name: body.file_name,
            content_type: body.content_type,
            size: body.size,
        }
    }
}
