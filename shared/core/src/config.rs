//! Configuration, typed and read once at cold start. A missing or bad variable stops the
//! function before it serves anything, with a message that names the variable.

use std::time::Duration;

use crate::auth::{AuthSettings, KeySource};
use crate::domain::{
    Bucket, ChatbotId, Dialect, ModelCatalog, ModelName, SystemPrompt, UploadPolicy, Window,
};
use crate::moderation::{ModerationSettings, ProfanityPolicy, SpamPolicy};

/// A configuration problem, naming the variable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Where variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

/// The variables a deployment keeps out of a function's plain environment (which the
/// Lambda console and `GetFunctionConfiguration` show, and which Lambda caps at 4 KB): the
/// secrets, and the settings that may be long or confidential (a system prompt, word
/// lists). `NAME_ARN` names a Secrets Manager secret whose string is the value, which
/// chat-aws reads once at cold start; the local server and tests set `NAME` itself.
pub const STORED_VARIABLES: [(&str, &str); 7] = [
    ("JWT_SECRET", "JWT_SECRET_ARN"),
    ("VISITOR_TOKEN_SECRET", "VISITOR_TOKEN_SECRET_ARN"),
    ("OPENAI_API_KEY", "OPENAI_API_KEY_ARN"),
    ("EMBEDDINGS_API_KEY", "EMBEDDINGS_API_KEY_ARN"),
    ("BOT_SYSTEM_PROMPT", "BOT_SYSTEM_PROMPT_ARN"),
    ("MODERATION_DENY_WORDS", "MODERATION_DENY_WORDS_ARN"),
    ("MODERATION_ALLOW_WORDS", "MODERATION_ALLOW_WORDS_ARN"),
];

/// A variable whose value is stored elsewhere, as its environment names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReference {
    /// The variable the value stands for, e.g. `JWT_SECRET`.
    pub variable: &'static str,
    /// The variable that names its place, e.g. `JWT_SECRET_ARN`.
    pub reference: &'static str,
    /// The secret's ARN (or name).
    pub id: String,
}

/// The variables `source` names a place for; naming one and also setting it is an error,
/// since which of the two is meant would be a guess.
pub fn stored_references(source: &impl Source) -> Result<Vec<StoredReference>, ConfigError> {
    let mut found = Vec::new();
    for (variable, reference) in STORED_VARIABLES {
        let Some(id) = optional(source, reference) else {
            continue;
        };
        if optional(source, variable).is_some() {
            return Err(ConfigError::new(
                reference,
                format!("and {variable} are both set; set one"),
            ));
        }
        found.push(StoredReference {
            variable,
            reference,
            id,
        });
    }
    Ok(found)
}

/// A source with the stored values read for its references in front of it.
#[derive(Clone, Debug)]
pub struct WithStored<S> {
    source: S,
    values: Vec<(&'static str, Secret)>,
}

impl<S: Source> WithStored<S> {
    /// `values` pairs each variable of [`stored_references`] with the value read for it.
    pub fn new(source: S, values: Vec<(&'static str, Secret)>) -> Self {
        Self { source, values }
    }
}

impl<S: Source> Source for WithStored<S> {
    fn get(&self, name: &str) -> Option<String> {
        match self.values.iter().find(|(variable, _)| *variable == name) {
            Some((_, value)) => Some(value.expose().to_owned()),
            None => self.source.get(name),
        }
    }
}

/// A set, non-blank variable.
pub fn optional(source: &impl Source, name: &'static str) -> Option<String> {
    source
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn required(source: &impl Source, name: &'static str) -> Result<String, ConfigError> {
    optional(source, name).ok_or_else(|| ConfigError::new(name, "is not set"))
}

fn parsed<T: std::str::FromStr>(
    source: &impl Source,
    name: &'static str,
    default: T,
    expected: &str,
) -> Result<T, ConfigError> {
    match optional(source, name) {
        None => Ok(default),
        Some(value) => value
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be {expected}"))),
    }
}

/// HS256 needs a secret at least as long as its hash, or it can be guessed offline.
pub const MIN_SECRET_BYTES: usize = 32;

/// How tokens are verified: `JWT_SECRET` (HS256) or `JWKS_URL` (RS256/ES256), exactly one;
/// `JWT_ISSUER` and `JWT_AUDIENCE` when set; `JWT_LEEWAY_SECONDS` (default 30).
pub fn auth_settings(source: &impl Source) -> Result<AuthSettings, ConfigError> {
    let keys = match (optional(source, "JWT_SECRET"), optional(source, "JWKS_URL")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "JWKS_URL",
                "and JWT_SECRET are both set; set exactly one",
            ));
        }
        (None, None) => {
            return Err(ConfigError::new(
                "JWT_SECRET",
                "is not set (nor is JWKS_URL); set exactly one",
            ));
        }
        (Some(secret), None) if secret.len() < MIN_SECRET_BYTES => {
            return Err(ConfigError::new(
                "JWT_SECRET",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        (Some(secret), None) => KeySource::Hs256 {
            secret: secret.into_bytes(),
        },
        (None, Some(url)) => {
            let local = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
            if !url.starts_with("https://") && !local {
                return Err(ConfigError::new("JWKS_URL", "must be an https:// URL"));
            }
            KeySource::Jwks { url }
        }
    };
    Ok(AuthSettings {
        keys,
        issuer: optional(source, "JWT_ISSUER"),
        audience: optional(source, "JWT_AUDIENCE"),
        leeway_secs: parsed(
            source,
            "JWT_LEEWAY_SECONDS",
            30,
            "a whole number of seconds",
        )?,
    })
}

/// Where the DynamoDB table is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// `TABLE_NAME`, set by the template.
    pub table_name: String,
    /// `DYNAMODB_ENDPOINT`, for a DynamoDB-compatible endpoint instead of AWS.
    pub endpoint: Option<String>,
}

impl StoreConfig {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required(source, "TABLE_NAME")?,
            endpoint: optional(source, "DYNAMODB_ENDPOINT"),
        })
    }
}

/// Limits a deployment may tune.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `MAX_UPLOAD_BYTES`, default 25 MB, and `ALLOWED_CONTENT_TYPES` (comma-separated
    /// media types; default [`UploadPolicy::DEFAULT_TYPES`]).
    pub uploads: UploadPolicy,
    /// `SESSION_IDLE_MINUTES`: the sweeper ends sessions idle this long (default 7 days).
    pub session_idle: Duration,
    pub rates: RateLimits,
}

/// The rate limits, each kept in the table (README, "Rate limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// `RATE_USER_BURST` (20) and `RATE_USER_PER_SECOND` (1): a user's messages, all their
    /// connections and REST together.
    pub user_sends: Bucket,
    /// `RATE_CONNECTION_BURST` (10) and `RATE_CONNECTION_PER_SECOND` (0.5): one connection's.
    pub connection_sends: Bucket,
    /// `RATE_START_PER_IP_PER_MINUTE` (10): public `start-session`s from one address.
    pub starts_per_address: Window,
    /// `RATE_START_PER_BUSINESS_PER_MINUTE` (300): public `start-session`s for one business.
    pub starts_per_business: Window,
    /// `RATE_CONNECT_PER_USER_PER_MINUTE` (30): a user's `$connect`s.
    pub connects_per_user: Window,
    /// `RATE_BOT_REPLIES_PER_USER_PER_DAY` (200): bot replies a user's messages start.
    pub bot_replies_per_user: Window,
    /// `RATE_BOT_TOKENS_PER_USER_PER_DAY` (200,000): the tokens a user's bot replies may
    /// come to in a UTC day; once reached, messages to a bot are refused until the next.
    pub bot_tokens_per_user: u64,
}

impl RateLimits {
    /// Sends refused in a row after which a connection is closed.
    pub const STRIKES: u32 = 3;

    /// The defaults ([`RateLimits::default`], the one place their figures live) with
    /// each variable that is set.
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let bucket = |burst_name: &'static str, rate_name: &'static str, default: Bucket| {
            let burst = parsed(
                source,
                burst_name,
                default.burst,
                "a whole number of at least 1",
            )?;
            let rate = parsed(
                source,
                rate_name,
                1.0 / default.interval.as_secs_f64(),
                "a positive number of sends a second",
            )?;
            Bucket::new(burst, rate).map_err(|e| ConfigError::new(rate_name, e.reason))
        };
        let window = |name: &'static str, default: Window| {
            let limit = parsed(source, name, default.limit, "a whole number of at least 1")?;
            Window::new(limit, default.period).map_err(|e| ConfigError::new(name, e.reason))
        };
        Ok(Self {
            user_sends: bucket(
                "RATE_USER_BURST",
                "RATE_USER_PER_SECOND",
                defaults.user_sends,
            )?,
            connection_sends: bucket(
                "RATE_CONNECTION_BURST",
                "RATE_CONNECTION_PER_SECOND",
                defaults.connection_sends,
            )?,
            starts_per_address: window(
                "RATE_START_PER_IP_PER_MINUTE",
                defaults.starts_per_address,
            )?,
            starts_per_business: window(
                "RATE_START_PER_BUSINESS_PER_MINUTE",
                defaults.starts_per_business,
            )?,
            connects_per_user: window(
                "RATE_CONNECT_PER_USER_PER_MINUTE",
                defaults.connects_per_user,
            )?,
            bot_replies_per_user: window(
                "RATE_BOT_REPLIES_PER_USER_PER_DAY",
                defaults.bot_replies_per_user,
            )?,
            bot_tokens_per_user: parsed(
                source,
                "RATE_BOT_TOKENS_PER_USER_PER_DAY",
                std::num::NonZeroU64::new(defaults.bot_tokens_per_user)
                    .unwrap_or(std::num::NonZeroU64::MIN),
                "a whole number of at least 1",
            )?
            .get(),
        })
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        let per_minute = |limit| Window {
            limit,
            period: minute,
        };
        Self {
            user_sends: Bucket {
                burst: 20,
                interval: Duration::from_secs(1),
            },
            connection_sends: Bucket {
                burst: 10,
                interval: Duration::from_secs(2),
            },
            starts_per_address: per_minute(10),
            starts_per_business: per_minute(300),
            connects_per_user: per_minute(30),
            bot_replies_per_user: Window {
                limit: 200,
                period: Duration::from_secs(24 * 60 * 60),
            },
            bot_tokens_per_user: 200_000,
        }
    }
}

impl Limits {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let minutes: u64 = parsed(
            source,
            "SESSION_IDLE_MINUTES",
            7 * 24 * 60,
            "a whole number of minutes",
        )?;
        let max_bytes = parsed(
            source,
            "MAX_UPLOAD_BYTES",
            UploadPolicy::default().max_bytes,
            "a whole number of bytes",
        )?;
        let allowed_types = match optional(source, "ALLOWED_CONTENT_TYPES") {
            None => UploadPolicy::default_types(),
            Some(list) => list
                .split(',')
                .filter(|t| !t.trim().is_empty())
                .map(crate::domain::parse_content_type)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError {
                    variable: "ALLOWED_CONTENT_TYPES",
                    problem: format!("must be comma-separated media types: {}", e.reason),
                })?,
        };
        Ok(Self {
            uploads: UploadPolicy::new(max_bytes, allowed_types),
            session_idle: Duration::from_secs(minutes.saturating_mul(60)),
            rates: RateLimits::from_source(source)?,
        })
    }
}

/// One of `choices` (the value as configured, each with what it means), or the default
/// when unset.
fn choice<T: Copy>(
    source: &impl Source,
    name: &'static str,
    default: T,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(value) = optional(source, name) else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(spelled, _)| spelled.eq_ignore_ascii_case(&value))
        .map(|(_, chosen)| *chosen)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(spelled, _)| *spelled).collect();
            ConfigError::new(name, format!("must be one of {}", names.join(", ")))
        })
}

/// A comma-separated list of words (letters and digits), lowercase.
fn words(source: &impl Source, name: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(list) = optional(source, name) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(|word| {
            if word.chars().all(char::is_alphanumeric) {
                Ok(word.to_lowercase())
            } else {
                Err(ConfigError::new(
                    name,
                    "must be comma-separated words, each only letters and digits",
                ))
            }
        })
        .collect()
}

/// Moderation of message content: `MODERATION_PROFANITY` (`mask`, `refuse` or `off`;
/// default `mask`), `MODERATION_SPAM` (`refuse` or `off`), `MODERATION_MALICIOUS` (only
/// `refuse`: no chat needs control characters, bidi overrides or script links, and what
/// they do lands on every client and log), `MODERATION_DENY_WORDS` and
/// `MODERATION_ALLOW_WORDS` (comma-separated words that always, or never, count as
/// profanity), and the spam limits `MODERATION_MAX_LINKS` (default 5),
/// `MODERATION_MAX_MENTIONS` (10), `MODERATION_MAX_RUN` (30, at least 3) and
/// `MODERATION_MAX_REPEATS` (2: the same text a third time in a row is refused).
pub fn moderation(source: &impl Source) -> Result<ModerationSettings, ConfigError> {
    let defaults = ModerationSettings::default();
    let profanity = choice(
        source,
        "MODERATION_PROFANITY",
        defaults.profanity,
        &[
            ("mask", ProfanityPolicy::Mask),
            ("refuse", ProfanityPolicy::Refuse),
            ("off", ProfanityPolicy::Off),
        ],
    )?;
    let spam = choice(
        source,
        "MODERATION_SPAM",
        defaults.spam,
        &[("refuse", SpamPolicy::Refuse), ("off", SpamPolicy::Off)],
    )?;
    match optional(source, "MODERATION_MALICIOUS") {
        Some(value) if !value.eq_ignore_ascii_case("refuse") => {
            return Err(ConfigError::new(
                "MODERATION_MALICIOUS",
                "must be refuse: malicious content (control characters, bidi overrides, \
                 script links) cannot be let through",
            ));
        }
        _ => {}
    }
    let deny_words = words(source, "MODERATION_DENY_WORDS")?;
    let allow_words = words(source, "MODERATION_ALLOW_WORDS")?;
    if allow_words.iter().any(|word| deny_words.contains(word)) {
        return Err(ConfigError::new(
            "MODERATION_ALLOW_WORDS",
            "names a word MODERATION_DENY_WORDS names too",
        ));
    }
    let count = |name, default| parsed(source, name, default, "a whole number");
    let max_run = count("MODERATION_MAX_RUN", defaults.max_run)?;
    if max_run < ModerationSettings::MIN_RUN {
        return Err(ConfigError::new(
            "MODERATION_MAX_RUN",
            format!("must be at least {}", ModerationSettings::MIN_RUN),
        ));
    }
    Ok(ModerationSettings {
        profanity,
        spam,
        deny_words,
        allow_words,
        max_links: count("MODERATION_MAX_LINKS", defaults.max_links)?,
        max_mentions: count("MODERATION_MAX_MENTIONS", defaults.max_mentions)?,
        max_run,
        max_repeats: parsed(
            source,
            "MODERATION_MAX_REPEATS",
            defaults.max_repeats,
            "a whole number",
        )?,
    })
}

/// `VISITOR_TOKEN_SECRET` signs visitor tokens (at least 32 bytes). With `JWT_SECRET` it
/// may be left unset (that secret signs them); with `JWKS_URL` it is required, since the
/// identity provider's keys cannot sign.
pub fn visitor_secret(
    source: &impl Source,
    auth: &AuthSettings,
) -> Result<Option<Vec<u8>>, ConfigError> {
    match (optional(source, "VISITOR_TOKEN_SECRET"), &auth.keys) {
        (Some(secret), _) if secret.len() < MIN_SECRET_BYTES => Err(ConfigError::new(
            "VISITOR_TOKEN_SECRET",
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        )),
        (Some(secret), _) => Ok(Some(secret.into_bytes())),
        (None, KeySource::Hs256 { .. }) => Ok(None),
        (None, KeySource::Jwks { .. }) => Err(ConfigError::new(
            "VISITOR_TOKEN_SECRET",
            "is not set; it is required with JWKS_URL to sign visitor tokens",
        )),
    }
}

/// `WEBSOCKET_ENDPOINT`: the WebSocket API's management URL, `https://{domain}/{stage}`,
/// for functions that broadcast without having been called through that API (REST).
pub fn websocket_endpoint(source: &impl Source) -> Result<String, ConfigError> {
    let endpoint = required(source, "WEBSOCKET_ENDPOINT")?;
    if endpoint.starts_with("https://") || endpoint.starts_with("http://") {
        Ok(endpoint)
    } else {
        Err(ConfigError::new(
            "WEBSOCKET_ENDPOINT",
            "must be an http(s) URL",
        ))
    }
}

/// A credential kept out of `Debug` output (configuration is logged when it is refused).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The model the bot answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotProvider {
    /// The offline stand-in that streams a fixed reply.
    Echo,
    /// Any OpenAI-compatible chat-completions server: `OPENAI_BASE_URL` (default
    /// OpenAI's), `OPENAI_MODEL`, `OPENAI_API_KEY` (none: no `Authorization` header).
    OpenAi {
        base_url: String,
        model: String,
        api_key: Option<Secret>,
        /// `OPENAI_MAX_TOKENS_FIELD`; unset: the right one for the server (see
        /// [`TokenLimitField::for_server`]).
        token_limit_field: Option<TokenLimitField>,
    },
    /// Amazon Bedrock's ConverseStream with `BEDROCK_MODEL_ID`, through the function's
    /// own AWS credentials and region.
    Bedrock { model_id: String },
}

/// The bot's model and how it is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotConfig {
    pub provider: BotProvider,
    /// `BOT_SYSTEM_PROMPT`, or a short helpful-assistant prompt.
    pub system_prompt: String,
    /// `BOT_MAX_TOKENS`: the longest reply, default 1024.
    pub max_tokens: u32,
    /// `BOT_MODELS`: more models of the provider that chatbots may choose (comma-separated).
    pub models: Vec<ModelName>,
}

impl BotConfig {
    /// The provider's models chatbots may choose: the configured one first.
    pub fn catalog(&self) -> ModelCatalog {
        let (provider, default) = match &self.provider {
            BotProvider::Echo => ("echo", None),
            BotProvider::OpenAi { model, .. } => ("openai", Some(model)),
            BotProvider::Bedrock { model_id } => ("bedrock", Some(model_id)),
        };
        let mut models: Vec<ModelName> = default
            .and_then(|model| ModelName::parse(model).ok())
            .into_iter()
            .collect();
        for model in &self.models {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        ModelCatalog {
            provider: Some(provider.to_owned()),
            models,
        }
    }
}

/// The bot's configuration from `BOT_PROVIDER` (`openai`, `bedrock` or `echo`) and the
/// variables of that provider; `None` when `BOT_PROVIDER` is unset. The caller decides
/// whether that is an error (the `bot` function) or means the echo model (the local server).
pub fn bot(source: &impl Source) -> Result<Option<BotConfig>, ConfigError> {
    let Some(provider) = optional(source, "BOT_PROVIDER") else {
        return Ok(None);
    };
    let provider = match provider.as_str() {
        "echo" => BotProvider::Echo,
        "openai" => BotProvider::OpenAi {
            base_url: optional(source, "OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
            model: optional(source, "OPENAI_MODEL")
                .ok_or_else(|| ConfigError::new("OPENAI_MODEL", "is not set (e.g. gpt-4o-mini)"))?,
            api_key: optional(source, "OPENAI_API_KEY").map(Secret),
            token_limit_field: match optional(source, "OPENAI_MAX_TOKENS_FIELD").as_deref() {
                None => None,
                Some("max_tokens") => Some(TokenLimitField::MaxTokens),
                Some("max_completion_tokens") => Some(TokenLimitField::MaxCompletionTokens),
                Some(_) => {
                    return Err(ConfigError::new(
                        "OPENAI_MAX_TOKENS_FIELD",
                        "must be max_tokens or max_completion_tokens",
                    ));
                }
            },
        },
        "bedrock" => BotProvider::Bedrock {
            model_id: optional(source, "BEDROCK_MODEL_ID").ok_or_else(|| {
                ConfigError::new(
                    "BEDROCK_MODEL_ID",
                    "is not set (e.g. anthropic.claude-3-haiku-20240307-v1:0)",
                )
            })?,
        },
        _ => {
            return Err(ConfigError::new(
                "BOT_PROVIDER",
                "must be openai, bedrock or echo",
            ));
        }
    };
    Ok(Some(BotConfig {
        provider,
        system_prompt: match source.get("BOT_SYSTEM_PROMPT") {
            Some(prompt) if !prompt.trim().is_empty() => SystemPrompt::parse(&prompt)
                .map_err(|e| ConfigError::new("BOT_SYSTEM_PROMPT", e.reason))?
                .as_str()
                .to_owned(),
            _ => crate::service::BotSettings::DEFAULT_SYSTEM_PROMPT.to_owned(),
        },
        max_tokens: parsed(source, "BOT_MAX_TOKENS", 1024, "a whole number")?,
        models: optional(source, "BOT_MODELS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|model| !model.is_empty())
                    .map(ModelName::parse)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| ConfigError::new("BOT_MODELS", e.reason))?
            .unwrap_or_default(),
    }))
}

/// The request field an OpenAI-compatible server reads a reply's token limit from.
/// OpenAI's reasoning and newer models refuse `max_tokens` ("Use 'max_completion_tokens'
/// instead"); llama.cpp reads only `max_tokens` (or `n_predict`); vLLM and Ollama take
/// either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenLimitField {
    MaxTokens,
    MaxCompletionTokens,
}

impl TokenLimitField {
    /// `max_completion_tokens` for OpenAI's own API (and Azure OpenAI), `max_tokens` for
    /// every other server.
    pub fn for_server(base_url: &str) -> Self {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest)
            .split(['/', ':', '?'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if host == "api.openai.com" || host.ends_with(".openai.azure.com") {
            Self::MaxCompletionTokens
        } else {
            Self::MaxTokens
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxTokens => "max_tokens",
            Self::MaxCompletionTokens => "max_completion_tokens",
        }
    }

    /// The field a server that refuses this one reads.
    pub fn other(self) -> Self {
        match self {
            Self::MaxTokens => Self::MaxCompletionTokens,
            Self::MaxCompletionTokens => Self::MaxTokens,
        }
    }
}

/// The optional embeddings model that orders a reply's keyword matches by meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsConfig {
    pub provider: EmbeddingsProvider,
    /// `EMBEDDINGS_MODEL` (e.g. `text-embedding-3-small`, `amazon.titan-embed-text-v2:0`).
    pub model: String,
    /// `EMBEDDINGS_DIMENSIONS`: vectors this long, for models that shorten them.
    pub dimensions: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmbeddingsProvider {
    /// An OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama, llama.cpp,
    /// LiteLLM): `EMBEDDINGS_BASE_URL`, else `OPENAI_BASE_URL`, else OpenAI's; the key
    /// `EMBEDDINGS_API_KEY`, else `OPENAI_API_KEY`.
    OpenAi {
        base_url: String,
        api_key: Option<Secret>,
    },
    /// Amazon Titan Text Embeddings on Bedrock, with the function's own credentials.
    Bedrock,
}

/// `EMBEDDINGS_PROVIDER` (`openai`, `bedrock`, or unset for none) and its variables.
pub fn embeddings(source: &impl Source) -> Result<Option<EmbeddingsConfig>, ConfigError> {
    let provider = match optional(source, "EMBEDDINGS_PROVIDER").as_deref() {
        None | Some("none") => return Ok(None),
        Some("openai") => EmbeddingsProvider::OpenAi {
            base_url: optional(source, "EMBEDDINGS_BASE_URL")
                .or_else(|| optional(source, "OPENAI_BASE_URL"))
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
            api_key: optional(source, "EMBEDDINGS_API_KEY")
                .or_else(|| optional(source, "OPENAI_API_KEY"))
                .map(Secret),
        },
        Some("bedrock") => EmbeddingsProvider::Bedrock,
        Some(_) => {
            return Err(ConfigError::new(
                "EMBEDDINGS_PROVIDER",
                "must be openai, bedrock or none",
            ));
        }
    };
    let dimensions = match optional(source, "EMBEDDINGS_DIMENSIONS") {
        None => None,
        Some(value) => Some(
            value
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=8_192).contains(d))
                .ok_or_else(|| ConfigError::new("EMBEDDINGS_DIMENSIONS", "must be 1..8192"))?,
        ),
    };
    Ok(Some(EmbeddingsConfig {
        provider,
        model: optional(source, "EMBEDDINGS_MODEL").ok_or_else(|| {
            ConfigError::new(
                "EMBEDDINGS_MODEL",
                "is not set (e.g. text-embedding-3-small, amazon.titan-embed-text-v2:0)",
            )
        })?,
        dimensions,
    }))
}

/// How callers are authenticated: token verification and the visitor tokens' secret.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub settings: AuthSettings,
    pub visitor_secret: Option<Vec<u8>>,
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let settings = auth_settings(source)?;
        Ok(Self {
            visitor_secret: visitor_secret(source, &settings)?,
            settings,
        })
    }
}

/// What every function reads at cold start, read once: no other code reads the
/// environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub auth: AuthSettings,
    pub visitor_secret: Option<Vec<u8>>,
    pub store: StoreConfig,
    pub limits: Limits,
    /// `ATTACHMENTS_BUCKET`: the S3 bucket for attachments. Without it file messages and
    /// uploads are refused as unavailable (a deployment that wants no files).
    pub attachments_bucket: Option<String>,
    /// `BOT_FUNCTION_NAME`: the `bot` function `message` and `sessions` invoke; unset, bot
    /// sessions get no replies.
    pub bot_function: Option<String>,
    /// `WEBSOCKET_ENDPOINT`, when set (checked by [`websocket_endpoint`]).
    pub websocket_endpoint: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`, when set (Lambda sets it).
    pub function_name: Option<String>,
    /// `BOT_PROVIDER` and its variables, when set.
    pub bot: Option<BotConfig>,
    /// `EMBEDDINGS_PROVIDER` and its variables, when set (the bot uses them).
    pub embeddings: Option<EmbeddingsConfig>,
    /// `WS_DIALECT`: the frames a WebSocket client gets unless it asks with `?dialect=`
    /// (default `canonical`), so a team moving from a seed system changes only the URL.
    pub ws_dialect: Dialect,
    /// `DEFAULT_CHATBOT_ID`: the chatbot of seed 002's AI chat (default `assistant`).
    pub default_chatbot: ChatbotId,
    /// `MODERATION_*`: what message content is refused or masked (see [`moderation`]).
    pub moderation: ModerationSettings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let AuthConfig {
            settings: auth,
            visitor_secret,
        } = AuthConfig::from_source(source)?;
        Ok(Self {
            visitor_secret,
            auth,
            store: StoreConfig::from_source(source)?,
            limits: Limits::from_source(source)?,
            attachments_bucket: optional(source, "ATTACHMENTS_BUCKET"),
            bot_function: optional(source, "BOT_FUNCTION_NAME"),
            websocket_endpoint: match optional(source, "WEBSOCKET_ENDPOINT") {
                Some(_) => Some(websocket_endpoint(source)?),
                None => None,
            },
            function_name: optional(source, "AWS_LAMBDA_FUNCTION_NAME"),
            bot: bot(source)?,
            embeddings: embeddings(source)?,
            ws_dialect: match optional(source, "WS_DIALECT") {
                None => Dialect::Canonical,
                Some(value) => {
                    Dialect::parse(&value).map_err(|e| ConfigError::new("WS_DIALECT", e.reason))?
                }
            },
            default_chatbot: ChatbotId::parse(
                &optional(source, "DEFAULT_CHATBOT_ID").unwrap_or_else(|| "assistant".into()),
            )
            .map_err(|e| ConfigError::new("DEFAULT_CHATBOT_ID", e.reason))?,
            moderation: moderation(source)?,
        })
    }

    /// The authentication part, for the builders that verify tokens.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            settings: self.auth.clone(),
            visitor_secret: self.visitor_secret.clone(),
        }
    }

    /// `WEBSOCKET_ENDPOINT`, for the functions that post without having been called
    /// through the WebSocket API (REST, the bot).
    pub fn require_websocket_endpoint(&self) -> Result<&str, ConfigError> {
        self.websocket_endpoint
            .as_deref()
            .ok_or_else(|| ConfigError::new("WEBSOCKET_ENDPOINT", "is not set"))
    }

    /// `AWS_LAMBDA_FUNCTION_NAME`, which Lambda always sets.
    pub fn require_function_name(&self) -> Result<&str, ConfigError> {
        self.function_name
            .as_deref()
            .ok_or_else(|| ConfigError::new("AWS_LAMBDA_FUNCTION_NAME", "is not set"))
    }

    /// The bot's model, which the `bot` function cannot start without.
    pub fn require_bot(&self) -> Result<&BotConfig, ConfigError> {
        self.bot.as_ref().ok_or_else(|| {
            ConfigError::new(
                "BOT_PROVIDER",
                "is not set: name the model provider (openai, bedrock, or echo for a stand-in)",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rate_limits_default_to_the_documented_figures_and_refuse_nonsense() {
        let defaults = RateLimits::from_source(&[]).expect("the defaults");
        assert_eq!(defaults, RateLimits::default());
        let tuned =
            RateLimits::from_source(&[("RATE_USER_BURST", "5"), ("RATE_USER_PER_SECOND", "2")])
                .expect("tuned");
        assert_eq!(
            tuned.user_sends,
            Bucket {
                burst: 5,
                interval: Duration::from_millis(500)
            }
        );
        for (name, value) in [
            ("RATE_USER_BURST", "0"),
            ("RATE_USER_PER_SECOND", "-1"),
            ("RATE_CONNECT_PER_USER_PER_MINUTE", "many"),
        ] {
            let error = RateLimits::from_source(&[(name, value)]).expect_err("refused");
            assert!(error.variable.starts_with("RATE_"), "{error:?}");
        }
    }

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn problem(result: Result<Config, ConfigError>) -> String {
        result.expect_err("refused").to_string()
    }

    #[test]
    fn a_complete_environment_gives_typed_settings() {
        let config = Config::from_source(&[
            ("JWT_SECRET", SECRET),
            ("JWT_ISSUER", "https://issuer.example"),
            ("TABLE_NAME", "chat"),
            ("MAX_UPLOAD_BYTES", "1024"),
            ("ALLOWED_CONTENT_TYPES", "image/png, Application/PDF"),
            ("ATTACHMENTS_BUCKET", "files"),
        ])
        .expect("valid");
        assert!(
            matches!(config.auth.keys, KeySource::Hs256 { ref secret } if secret == SECRET.as_bytes())
        );
        assert_eq!(
            config.auth.issuer.as_deref(),
            Some("https://issuer.example")
        );
        assert_eq!((config.auth.audience, config.auth.leeway_secs), (None, 30));
        assert_eq!(
            config.store,
            StoreConfig {
                table_name: "chat".into(),
                endpoint: None
            }
        );
        assert_eq!(
            config.limits.uploads,
            UploadPolicy::new(1024, vec!["image/png".into(), "application/pdf".into()])
        );
        assert_eq!(config.attachments_bucket.as_deref(), Some("files"));
    }

    #[test]
    fn each_problem_names_its_variable() {
        assert_eq!(
            problem(Config::from_source(&[("JWT_SECRET", SECRET)])),
            "configuration error: TABLE_NAME is not set"
        );
        assert!(
            problem(Config::from_source(&[("TABLE_NAME", "t")])).contains("JWT_SECRET is not set")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", "short")
            ]))
            .contains("JWT_SECRET must be at least 32 bytes")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", SECRET),
                ("JWKS_URL", "https://x")
            ]))
            .contains("JWKS_URL and JWT_SECRET are both set")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWKS_URL", "http://keys.example")
            ]))
            .contains("JWKS_URL must be an https:// URL")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", SECRET),
                ("MAX_UPLOAD_BYTES", "lots")
            ]))
            .contains("MAX_UPLOAD_BYTES must be a whole number of bytes")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", SECRET),
                ("JWT_LEEWAY_SECONDS", "-1")
            ]))
            .contains("JWT_LEEWAY_SECONDS")
        );
    }

    #[test]
    fn a_jwks_deployment_needs_its_own_visitor_secret() {
        let jwks = [
            ("TABLE_NAME", "t"),
            ("JWKS_URL", "https://id.example/jwks.json"),
        ];
        assert!(problem(Config::from_source(&jwks)).contains("VISITOR_TOKEN_SECRET is not set"));
        let with_secret = [
            ("TABLE_NAME", "t"),
            ("JWKS_URL", "https://id.example/jwks.json"),
            ("VISITOR_TOKEN_SECRET", SECRET),
        ];
        let config = Config::from_source(&with_secret).expect("valid");
        assert_eq!(config.visitor_secret, Some(SECRET.as_bytes().to_vec()));
        assert_eq!(
            websocket_endpoint(&[("WEBSOCKET_ENDPOINT", "ftp://x")])
                .expect_err("refused")
                .variable,
            "WEBSOCKET_ENDPOINT"
        );
    }

    #[test]
    fn the_websocket_dialect_and_default_chatbot_have_defaults_and_are_checked() {
        let base = [("TABLE_NAME", "t"), ("JWT_SECRET", SECRET)];
        let config = Config::from_source(&base).expect("valid");
        assert_eq!(config.ws_dialect, Dialect::Canonical);
        assert_eq!(config.default_chatbot.as_str(), "assistant");
        let ai = Config::from_source(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", SECRET),
            ("WS_DIALECT", "ai"),
            ("DEFAULT_CHATBOT_ID", "helper"),
        ])
        .expect("valid");
        assert_eq!(
            (ai.ws_dialect, ai.default_chatbot.as_str()),
            (Dialect::Ai, "helper")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", SECRET),
                ("WS_DIALECT", "klingon"),
            ]))
            .contains("WS_DIALECT must be one of canonical, live, chat, ai, chatbot, visitor")
        );
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", SECRET),
                ("DEFAULT_CHATBOT_ID", "two words"),
            ]))
            .contains("DEFAULT_CHATBOT_ID")
        );
    }

    #[test]
    fn moderation_has_defaults_and_each_policy_and_limit_is_read() {
        let base = [("TABLE_NAME", "t"), ("JWT_SECRET", SECRET)];
        assert_eq!(
            Config::from_source(&base).expect("valid").moderation,
            ModerationSettings::default()
        );
        let configured = moderation(&[
            ("MODERATION_PROFANITY", "Refuse"),
            ("MODERATION_SPAM", "off"),
            ("MODERATION_MALICIOUS", "refuse"),
            ("MODERATION_DENY_WORDS", " Brocolli, kale ,,"),
            ("MODERATION_ALLOW_WORDS", "crap"),
            ("MODERATION_MAX_LINKS", "0"),
            ("MODERATION_MAX_MENTIONS", "3"),
            ("MODERATION_MAX_RUN", "12"),
            ("MODERATION_MAX_REPEATS", "0"),
        ])
        .expect("valid");
        assert_eq!(
            configured,
            ModerationSettings {
                profanity: ProfanityPolicy::Refuse,
                spam: SpamPolicy::Off,
                deny_words: vec!["brocolli".into(), "kale".into()],
                allow_words: vec!["crap".into()],
                max_links: 0,
                max_mentions: 3,
                max_run: 12,
                max_repeats: 0,
            }
        );
        assert_eq!(
            moderation(&[("MODERATION_PROFANITY", "off")])
                .expect("valid")
                .profanity,
            ProfanityPolicy::Off
        );
    }

    #[test]
    fn bad_moderation_values_are_refused_naming_the_variable() {
        let refused = |source: &[(&str, &str); 1]| moderation(source).expect_err("refused");
        let cases = [
            (
                ("MODERATION_PROFANITY", "censor"),
                "MODERATION_PROFANITY must be one of mask, refuse, off",
            ),
            (
                ("MODERATION_SPAM", "mask"),
                "MODERATION_SPAM must be one of refuse, off",
            ),
            (
                ("MODERATION_MALICIOUS", "off"),
                "MODERATION_MALICIOUS must be refuse",
            ),
            (
                ("MODERATION_DENY_WORDS", "bad word"),
                "MODERATION_DENY_WORDS must be comma-separated words",
            ),
            (
                ("MODERATION_ALLOW_WORDS", "o'clock"),
                "MODERATION_ALLOW_WORDS must be comma-separated words",
            ),
            (
                ("MODERATION_MAX_LINKS", "-1"),
                "MODERATION_MAX_LINKS must be a whole number",
            ),
            (
                ("MODERATION_MAX_MENTIONS", "many"),
                "MODERATION_MAX_MENTIONS must be a whole number",
            ),
            (
                ("MODERATION_MAX_RUN", "2"),
                "MODERATION_MAX_RUN must be at least 3",
            ),
        ];
        for (variable, problem) in cases {
            let error = refused(&[variable]).to_string();
            assert!(error.contains(problem), "{error}");
        }
        let both = moderation(&[
            ("MODERATION_DENY_WORDS", "kale"),
            ("MODERATION_ALLOW_WORDS", "Kale"),
        ])
        .expect_err("refused");
        assert_eq!(both.variable, "MODERATION_ALLOW_WORDS");
        assert!(
            problem(Config::from_source(&[
                ("TABLE_NAME", "t"),
                ("JWT_SECRET", SECRET),
                ("MODERATION_MAX_RUN", "x"),
            ]))
            .contains("MODERATION_MAX_RUN")
        );
    }

    #[test]
    fn blank_variables_count_as_unset() {
        let config = Config::from_source(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "  "),
            ("JWKS_URL", "https://id.example/.well-known/jwks.json"),
            ("VISITOR_TOKEN_SECRET", SECRET),
            ("DYNAMODB_ENDPOINT", ""),
        ])
        .expect("valid");
        assert!(matches!(config.auth.keys, KeySource::Jwks { .. }));
        assert_eq!(config.store.endpoint, None);
    }

    #[test]
    fn a_stored_value_may_be_named_by_its_place_instead_of_set_but_not_both() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf";
        let named = [
            ("TABLE_NAME", "t"),
            ("JWT_SECRET_ARN", arn),
            ("BOT_SYSTEM_PROMPT_ARN", "prompt"),
        ];
        assert_eq!(
            stored_references(&named).expect("valid"),
            vec![
                StoredReference {
                    variable: "JWT_SECRET",
                    reference: "JWT_SECRET_ARN",
                    id: arn.to_owned(),
                },
                StoredReference {
                    variable: "BOT_SYSTEM_PROMPT",
                    reference: "BOT_SYSTEM_PROMPT_ARN",
                    id: "prompt".to_owned(),
                }
            ]
        );
        assert_eq!(
            stored_references(&[("JWT_SECRET", SECRET)]).expect("valid"),
            Vec::new()
        );
        let both = stored_references(&[("JWT_SECRET", SECRET), ("JWT_SECRET_ARN", arn)])
            .expect_err("ambiguous");
        assert_eq!(both.variable, "JWT_SECRET_ARN");
        assert!(both.problem.contains("JWT_SECRET are both set"), "{both}");

        // What was read stands in for the variable; everything else still comes from the
        // environment.
        let read = WithStored::new(named, vec![("JWT_SECRET", Secret::new(SECRET))]);
        let config = Config::from_source(&read).expect("valid");
        assert!(matches!(config.auth.keys, KeySource::Hs256 { .. }));
        assert_eq!(config.store.table_name, "t");
        assert!(
            Config::from_source(&named)
                .expect_err("the reference alone is not a secret")
                .to_string()
                .contains("JWT_SECRET is not set")
        );
    }

    #[test]
    fn embeddings_are_off_unless_asked_for_and_borrow_the_openai_settings() {
        use super::{EmbeddingsConfig, EmbeddingsProvider, Secret, embeddings};
        assert_eq!(embeddings(&[]).expect("valid"), None);
        assert_eq!(
            embeddings(&[("EMBEDDINGS_PROVIDER", "none")]).expect("valid"),
            None
        );
        let borrowed = embeddings(&[
            ("EMBEDDINGS_PROVIDER", "openai"),
            ("EMBEDDINGS_MODEL", "text-embedding-3-small"),
            ("OPENAI_BASE_URL", "http://localhost:11434/v1"),
            ("OPENAI_API_KEY", "sk-1"),
        ])
        .expect("valid");
        assert_eq!(
            borrowed,
            Some(EmbeddingsConfig {
                provider: EmbeddingsProvider::OpenAi {
                    base_url: "http://localhost:11434/v1".into(),
                    api_key: Some(Secret::new("sk-1")),
                },
                model: "text-embedding-3-small".into(),
                dimensions: None,
            })
        );
        let own = embeddings(&[
            ("EMBEDDINGS_PROVIDER", "openai"),
            ("EMBEDDINGS_MODEL", "m"),
            ("EMBEDDINGS_BASE_URL", "http://vllm:8000/v1"),
            ("EMBEDDINGS_API_KEY", "sk-2"),
            ("OPENAI_API_KEY", "sk-1"),
            ("EMBEDDINGS_DIMENSIONS", "256"),
        ])
        .expect("valid")
        .expect("configured");
        assert_eq!(
            own.provider,
            EmbeddingsProvider::OpenAi {
                base_url: "http://vllm:8000/v1".into(),
                api_key: Some(Secret::new("sk-2")),
            }
        );
        assert_eq!(own.dimensions, Some(256));
        let titan = embeddings(&[
            ("EMBEDDINGS_PROVIDER", "bedrock"),
            ("EMBEDDINGS_MODEL", "amazon.titan-embed-text-v2:0"),
        ])
        .expect("valid")
        .expect("configured");
        assert_eq!(titan.provider, EmbeddingsProvider::Bedrock);
        let refusals = [
            embeddings(&[("EMBEDDINGS_PROVIDER", "cohere")]),
            embeddings(&[("EMBEDDINGS_PROVIDER", "openai")]),
            embeddings(&[
                ("EMBEDDINGS_PROVIDER", "openai"),
                ("EMBEDDINGS_MODEL", "m"),
                ("EMBEDDINGS_DIMENSIONS", "0"),
            ]),
        ];
        for (refused, variable) in refusals.into_iter().zip([
            "EMBEDDINGS_PROVIDER",
            "EMBEDDINGS_MODEL",
            "EMBEDDINGS_DIMENSIONS",
        ]) {
            let error = refused.expect_err("refused");
            assert!(error.to_string().contains(variable), "{error}");
        }
    }
}
