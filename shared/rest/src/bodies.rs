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

/// `null` and absent are different for `PATCH`: absent keeps, `null` clears.
pub(crate) fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
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
    join_policy: Option<JoinPolicy>,
    language: Option<Language>,
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

#[derive(Deserialize)]
pub struct StartSupport {
    business_id: BusinessId,
    department_id: Option<DepartmentId>,
    external_customer_id: Option<ExternalCustomerId>,
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

#[derive(Deserialize)]
pub struct PatchSession {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    status: Option<SessionStatus>,
    join_policy: Option<JoinPolicy>,
    #[serde(default, deserialize_with = "present")]
    language: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
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
    language: Option<Language>,
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
#[derive(Deserialize)]
pub struct AddMember {
    pub user_id: UserId,
}

#[derive(Deserialize)]
pub struct EditMessage {
    pub content: Content,
}

#[derive(Deserialize)]
pub struct AddReaction {
    pub reaction: Reaction,
}

#[derive(Deserialize)]
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
