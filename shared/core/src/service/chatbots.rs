//! Chatbot records: admins manage them, every signed-in caller lists the active ones, a
//! bot session starts only with an active one, and its record shapes every reply.
//!
//! The deployment's default chatbot (`DEFAULT_CHATBOT_ID`) exists without a record, built
//! from the bot's configuration, so a fresh deployment's AI chat works at once; an admin's
//! record of the same id overrides it, and deleting that record brings the built-in back.

use super::{ChatService, ServiceError, ServiceResult};
use crate::config::Config;
use crate::domain::{
    Chatbot, ChatbotId, DisplayName, Greeting, Message, MessageId, ModelCatalog, ModelName,
    Principal, Session, SystemPrompt, Temperature, Timestamp, ValidationError,
};
use crate::ports::{ChatbotWrite, Feed};

/// What the deployment allows its chatbots, and its built-in default chatbot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatbotPolicy {
    pub catalog: ModelCatalog,
    pub builtin: Chatbot,
}

impl ChatbotPolicy {
    pub const BUILTIN_NAME: &'static str = "Assistant";

    /// The policy the configuration gives: its provider's models (the default model, then
    /// `BOT_MODELS`), and the default chatbot on `BOT_SYSTEM_PROMPT` and `BOT_MAX_TOKENS`.
    pub fn from_config(config: &Config) -> Self {
        let bot = config.bot.as_ref();
        Self {
            catalog: bot.map(|bot| bot.catalog()).unwrap_or_default(),
            builtin: builtin(
                config.default_chatbot.clone(),
                bot.map_or(DEFAULT_SYSTEM_PROMPT, |bot| bot.system_prompt.as_str()),
                bot.map_or(DEFAULT_MAX_TOKENS, |bot| bot.max_tokens),
            ),
        }
    }

    /// A policy with `default` as its built-in chatbot and no models to choose from.
    pub fn with_default(default: ChatbotId) -> Self {
        Self {
            catalog: ModelCatalog::default(),
            builtin: builtin(default, DEFAULT_SYSTEM_PROMPT, DEFAULT_MAX_TOKENS),
        }
    }
}

const DEFAULT_SYSTEM_PROMPT: &str = super::BotSettings::DEFAULT_SYSTEM_PROMPT;
const DEFAULT_MAX_TOKENS: u32 = 1_024;

/// The default chatbot as the configuration describes it, active, dated at the epoch.
fn builtin(id: ChatbotId, system_prompt: &str, max_tokens: u32) -> Chatbot {
    let never = Timestamp::from_unix_millis(0);
    Chatbot {
        id,
        name: DisplayName::parse(ChatbotPolicy::BUILTIN_NAME)
            .ok()
            .flatten()
            .expect("a valid name"),
        // The configuration checked the prompt; the fallback only guards the invariant.
        system_prompt: SystemPrompt::parse(system_prompt)
            .or_else(|_| SystemPrompt::parse(DEFAULT_SYSTEM_PROMPT))
            .expect("a valid prompt"),
        greeting: None,
        model: None,
        max_tokens: Chatbot::check_max_tokens(u64::from(max_tokens)).unwrap_or(DEFAULT_MAX_TOKENS),
        temperature: None,
        show_reasoning: false,
        active: true,
        created_at: never,
        updated_at: never,
    }
}

/// A chatbot's settings as an admin gives them: absent fields keep what the chatbot has
/// (or take the defaults, when creating). `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatbotSettings {
    pub name: Option<DisplayName>,
    pub system_prompt: Option<SystemPrompt>,
    pub greeting: Option<Option<Greeting>>,
    /// Checked against the deployment's provider, never stored.
    pub provider: Option<String>,
    pub model: Option<Option<ModelName>>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<Option<Temperature>>,
    pub show_reasoning: Option<bool>,
    pub active: Option<bool>,
}

impl ChatbotSettings {
    /// `chatbot` with these settings applied, checked against what the deployment allows.
    fn apply(self, mut chatbot: Chatbot, catalog: &ModelCatalog) -> ServiceResult<Chatbot> {
        if let Some(provider) = &self.provider {
            catalog.check_provider(provider)?;
        }
        if let Some(Some(model)) = &self.model {
            catalog.check(model)?;
        }
        if let Some(name) = self.name {
            chatbot.name = name;
        }
        if let Some(prompt) = self.system_prompt {
            chatbot.system_prompt = prompt;
        }
        if let Some(greeting) = self.greeting {
            chatbot.greeting = greeting;
        }
        if let Some(model) = self.model {
            chatbot.model = model;
        }
        if let Some(tokens) = self.max_tokens {
            chatbot.max_tokens = Chatbot::check_max_tokens(u64::from(tokens))?;
        }
        if let Some(temperature) = self.temperature {
            chatbot.temperature = temperature;
        }
        if let Some(show) = self.show_reasoning {
            chatbot.show_reasoning = show;
        }
        if let Some(active) = self.active {
            chatbot.active = active;
        }
        Ok(chatbot)
    }
}

impl ChatService {
    /// The deployment's default chatbot (`DEFAULT_CHATBOT_ID`).
    pub fn default_chatbot(&self) -> &ChatbotId {
        &self.chatbots.builtin.id
    }

    /// The models chatbots may choose from.
    pub fn model_catalog(&self) -> &ModelCatalog {
        &self.chatbots.catalog
    }

    /// The chatbots the caller may see: every one for an admin, the active ones for
    /// everyone else. One Query.
    pub async fn list_chatbots(&self, caller: &Principal) -> ServiceResult<Vec<Chatbot>> {
        let mut chatbots = self.store.list_chatbots().await?;
        if !chatbots.iter().any(|c| c.id == self.chatbots.builtin.id) {
            chatbots.push(self.chatbots.builtin.clone());
            chatbots.sort_by(|a, b| a.id.cmp(&b.id));
        }
        chatbots.retain(|chatbot| chatbot.active || caller.is_admin());
        Ok(chatbots)
    }

    /// One chatbot: an inactive one only for an admin (to anyone else it does not exist).
    pub async fn get_chatbot(&self, caller: &Principal, id: &ChatbotId) -> ServiceResult<Chatbot> {
        match self.chatbot(id).await? {
            Some(chatbot) if chatbot.active || caller.is_admin() => Ok(chatbot),
            _ => Err(ServiceError::NotFound("chatbot")),
        }
    }

    /// An admin adds a chatbot; 409 when the id is taken (the built-in default's too).
    pub async fn create_chatbot(
        &self,
        caller: &Principal,
        id: ChatbotId,
        settings: ChatbotSettings,
    ) -> ServiceResult<Chatbot> {
        require_admin(caller)?;
        let name = settings
            .name
            .clone()
            .ok_or_else(|| ValidationError::new("name", "is required"))?;
        let prompt = settings
            .system_prompt
            .clone()
            .ok_or_else(|| ValidationError::new("system_prompt", "is required"))?;
        let now = self.clock.now();
        let fresh = Chatbot {
            id,
            name,
            system_prompt: prompt,
            created_at: now,
            updated_at: now,
            ..self.chatbots.builtin.clone()
        };
        let chatbot = settings.apply(fresh, &self.chatbots.catalog)?;
        if chatbot.id == self.chatbots.builtin.id
            || !self
                .store
                .put_chatbot(&chatbot, ChatbotWrite::Create)
                .await?
        {
            return Err(ServiceError::Conflict("a chatbot with this id exists"));
        }
        Ok(chatbot)
    }

    /// An admin changes a chatbot. The built-in default gets a record of its own the first
    /// time. A concurrent change is not overwritten: 409, read it again.
    pub async fn update_chatbot(
        &self,
        caller: &Principal,
        id: &ChatbotId,
        settings: ChatbotSettings,
    ) -> ServiceResult<Chatbot> {
        require_admin(caller)?;
        let stored = self.store.get_chatbot(id).await?;
        let write = match &stored {
            Some(chatbot) => ChatbotWrite::Replace {
                updated_at: chatbot.updated_at,
            },
            None => ChatbotWrite::Create,
        };
        let current = self
            .or_builtin(id, stored)
            .ok_or(ServiceError::NotFound("chatbot"))?;
        let mut chatbot = settings.apply(current, &self.chatbots.catalog)?;
        // Strictly later, so the next change's condition tells the two versions apart.
        chatbot.updated_at = self
            .clock
            .now()
            .max(chatbot.updated_at.plus(std::time::Duration::from_millis(1)));
        if !self.store.put_chatbot(&chatbot, write).await? {
            return Err(ServiceError::Conflict(
                "the chatbot was changed meanwhile; read it and try again",
            ));
        }
        Ok(chatbot)
    }

    /// An admin removes a chatbot record. Its sessions stay, and get no more replies. The
    /// default chatbot's record removed, the built-in one answers again.
    pub async fn delete_chatbot(&self, caller: &Principal, id: &ChatbotId) -> ServiceResult<()> {
        require_admin(caller)?;
        if self.store.delete_chatbot(id).await? {
            Ok(())
        } else if *id == self.chatbots.builtin.id {
            Err(ServiceError::Conflict(
                "the default chatbot is built in; deactivate it, or set DEFAULT_CHATBOT_ID",
            ))
        } else {
            Err(ServiceError::NotFound("chatbot"))
        }
    }

    /// Stores the chatbot's greeting as the first message of its new session: one write,
    /// since a session just made has no messages and no connections to read.
    pub(super) async fn greet(
        &self,
        session: &Session,
        greeting: &Greeting,
    ) -> ServiceResult<Message> {
        let now = self.clock.now();
        let mut message = Message::bot_reply(
            MessageId::new(now),
            session.id,
            super::bot::bot_user(session)?,
            greeting.as_str().to_owned(),
            now,
        );
        message.sender_name = session.chatbot_name.clone();
        let empty = Feed {
            last_seq: 0,
            wants_bot: Some(session.wants_bot()),
            connections: Vec::new(),
        };
        let (stored, _) = self.append_reply(message, empty, None).await?;
        Ok(stored.message().clone())
    }

    /// Creates the chatbot, or updates it if it exists: what a deployment's own list of
    /// chatbots does at start (chat-local's `--chatbots`).
    pub async fn put_chatbot(
        &self,
        caller: &Principal,
        id: ChatbotId,
        settings: ChatbotSettings,
    ) -> ServiceResult<Chatbot> {
        match self
            .create_chatbot(caller, id.clone(), settings.clone())
            .await
        {
            Err(ServiceError::Conflict(_)) => self.update_chatbot(caller, &id, settings).await,
            created => created,
        }
    }

    /// The chatbot's record, or the built-in one for the default id. One read.
    pub(super) async fn chatbot(&self, id: &ChatbotId) -> ServiceResult<Option<Chatbot>> {
        let stored = self.store.get_chatbot(id).await?;
        Ok(self.or_builtin(id, stored))
    }

    /// `stored`, or, when there is no record of the default chatbot, the built-in one.
    fn or_builtin(&self, id: &ChatbotId, stored: Option<Chatbot>) -> Option<Chatbot> {
        stored.or_else(|| (*id == self.chatbots.builtin.id).then(|| self.chatbots.builtin.clone()))
    }

    /// The chatbot a new session may be started with: unknown and inactive ones are 404.
    pub(super) async fn active_chatbot(&self, id: &ChatbotId) -> ServiceResult<Chatbot> {
        self.chatbot(id)
            .await?
            .filter(|chatbot| chatbot.active)
            .ok_or(ServiceError::NotFound("chatbot"))
    }
}

pub(super) fn require_admin(caller: &Principal) -> ServiceResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden("only an admin manages chatbots"))
    }
}
