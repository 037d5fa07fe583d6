//! Messages and their reactions.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    Attachment, AttachmentId, ClientMsgId, Content, DisplayName, Language, MessageId, Reaction,
    SessionId, TimeZoneName, Timestamp, UserId,
};

/// A file a bot reply drew on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub attachment_id: AttachmentId,
    pub file_name: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Text,
    File,
    Image,
}

/// Why a bot reply is incomplete: the model stopped early and said why, or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    /// It reached its token limit (OpenAI `length`, Bedrock `max_tokens`).
    MaxTokens,
    /// The provider's filter or guardrail cut it (`content_filter`, `content_filtered`,
    /// `guardrail_intervened`).
    ContentFilter,
    /// The conversation outgrew the model's context (`model_context_window_exceeded`).
    ContextWindow,
    /// The model's output could not be read (`malformed_model_output`).
    MalformedOutput,
    /// The model failed or the connection broke mid-reply.
    ModelError,
    /// The model fell silent.
    Timeout,
}

impl IncompleteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxTokens => "max_tokens",
            Self::ContentFilter => "content_filter",
            Self::ContextWindow => "context_window",
            Self::MalformedOutput => "malformed_output",
            Self::ModelError => "model_error",
            Self::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub session_id: SessionId,
    /// Its place in the session: 1, 2, 3, ... with no gaps, in the order the writes
    /// committed (ids sort by the writers' clocks, which need not agree). 0 until stored.
    #[serde(default)]
    pub seq: u64,
    pub sender_id: UserId,
    pub sender_name: Option<DisplayName>,
    pub is_bot: bool,
    pub kind: MessageKind,
    /// The text (a caption for files); empty once the message is deleted.
    pub content: String,
    /// A file or image message's attachment as it was when sent (ready attachments never
    /// change, so the copy saves a read per message shown).
    pub attachment: Option<Attachment>,
    pub client_msg_id: Option<ClientMsgId>,
    /// Tokens the model spent on a bot reply; only service tokens may set it.
    pub token_count: Option<u32>,
    /// A bot reply the model broke off: what arrived before the failure.
    #[serde(default)]
    pub incomplete: bool,
    /// Why an incomplete reply is (messages stored before it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<IncompleteReason>,
    /// Moderation changed the text: profanity masked, or a model's unsafe characters and
    /// script links taken out. Messages stored before moderation have none.
    #[serde(default)]
    pub moderated: bool,
    /// The language the sender asked the bot to reply in (seed 001's `selectedLanguage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// The sender's time zone, for the bot's dates and times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZoneName>,
    /// A bot reply's: the files it drew on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub reactions: Reactions,
}

impl Message {
    /// A new text message; the id's time is `now`, so ids sort in posting order.
    pub fn text(
        session_id: SessionId,
        sender_id: UserId,
        sender_name: Option<DisplayName>,
        content: Content,
        now: Timestamp,
    ) -> Self {
        let mut message = Self::blank(session_id, sender_id, sender_name, now);
        message.content = content.as_str().to_owned();
        message
    }

    /// A new file or image message from the attachment's uploader, with `caption` as its
    /// content.
    pub fn file(
        kind: MessageKind,
        attachment: Attachment,
        caption: Option<&Content>,
        sender_name: Option<DisplayName>,
        now: Timestamp,
    ) -> Self {
        let mut message = Self::blank(
            attachment.session_id,
            attachment.uploader_id.clone(),
            sender_name,
            now,
        );
        message.kind = kind;
        message.content = caption.map(|c| c.as_str().to_owned()).unwrap_or_default();
        message.attachment = Some(attachment);
        message
    }

    /// An empty text message from the sender, made now.
    fn blank(
        session_id: SessionId,
        sender_id: UserId,
        sender_name: Option<DisplayName>,
        now: Timestamp,
    ) -> Self {
        Self {
            id: MessageId::new(now),
            session_id,
            seq: 0,
            sender_id,
            sender_name,
            is_bot: false,
            kind: MessageKind::Text,
            content: String::new(),
            attachment: None,
            client_msg_id: None,
            token_count: None,
            incomplete: false,
            incomplete_reason: None,
            moderated: false,
            language: None,
            timezone: None,
            sources: Vec::new(),
            created_at: now,
            edited_at: None,
            deleted_at: None,
            reactions: Reactions::default(),
        }
    }

    /// A bot's reply, stored under the id announced in `response_start`.
    pub fn bot_reply(
        id: MessageId,
        session_id: SessionId,
        bot: UserId,
        content: String,
        now: Timestamp,
    ) -> Self {
        let mut message = Self::blank(session_id, bot, None, now);
        message.id = id;
        message.is_bot = true;
        message.content = content;
        message
    }

    pub fn is_edited(&self) -> bool {
        self.edited_at.is_some()
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// Reactions by emoji, each with the users who gave it; one per user per emoji.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reactions(BTreeMap<Reaction, BTreeSet<UserId>>);

impl Reactions {
    /// Adds the user's reaction; false when they had already given it.
    pub fn add(&mut self, reaction: Reaction, user: UserId) -> bool {
        self.0.entry(reaction).or_default().insert(user)
    }

    /// Removes the user's reaction; false when they had not given it.
    pub fn remove(&mut self, reaction: &Reaction, user: &UserId) -> bool {
        let Some(users) = self.0.get_mut(reaction) else {
            return false;
        };
        let removed = users.remove(user);
        if users.is_empty() {
            self.0.remove(reaction);
        }
        removed
    }

    pub fn users(&self, reaction: &Reaction) -> impl Iterator<Item = &UserId> {
        self.0.get(reaction).into_iter().flatten()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Reaction, &BTreeSet<UserId>)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(Reaction, UserId)> for Reactions {
    fn from_iter<I: IntoIterator<Item = (Reaction, UserId)>>(pairs: I) -> Self {
        let mut reactions = Self::default();
        for (reaction, user) in pairs {
            reactions.add(reaction, user);
        }
        reactions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_are_kept_per_user_and_dropped_when_the_last_user_removes_theirs() {
        let thumbs = Reaction::parse("👍").expect("emoji");
        let (ann, bob) = (
            UserId::parse("ann").expect("id"),
            UserId::parse("bob").expect("id"),
        );
        let mut reactions = Reactions::default();
        assert!(reactions.add(thumbs.clone(), ann.clone()));
        assert!(!reactions.add(thumbs.clone(), ann.clone()));
        assert!(reactions.add(thumbs.clone(), bob.clone()));
        assert_eq!(
            serde_json::to_string(&reactions).expect("json"),
            r#"{"👍":["ann","bob"]}"#
        );
        assert!(reactions.remove(&thumbs, &ann));
        assert!(!reactions.remove(&thumbs, &ann));
        assert!(reactions.remove(&thumbs, &bob));
        assert!(reactions.is_empty());
    }
}
