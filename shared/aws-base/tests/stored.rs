//! The configuration's stored values read from moto's Secrets Manager (the endpoint
//! `infra/test.sh` starts), as a deployed function reads them at cold start.

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use chat_aws_base::stored::with_stored;
use chat_core::config::{AuthConfig, Config, ConfigError, Source};
use chat_core::domain::{SessionId, Timestamp};

const SECRET: &str = "a-deployment-secret-of-at-least-32-bytes";

/// The SDK configuration of a function whose AWS is the emulator.
async fn emulated(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The SDK configuration of moto's Secrets Manager, or `None` (said aloud) without it.
async fn moto() -> Option<aws_config::SdkConfig> {
    let endpoint = chat_testkit::emulator_endpoint("the stored configuration tests were")?;
    Some(emulated(&endpoint).await)
}

/// A new secret holding `value`: its ARN.
async fn stored(sdk_config: &aws_config::SdkConfig, name: &str, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(sdk_config);
    let unique = SessionId::new(Timestamp::now()).to_string().to_lowercase();
    client
        .create_secret()
        .name(format!("{name}-{unique}"))
        .secret_string(value)
        .send()
        .await
        .expect("the emulator stores a secret")
        .arn()
        .expect("an ARN")
        .to_owned()
}

/// A function's environment, as the template sets it.
struct Variables(Vec<(&'static str, String)>);

impl Source for Variables {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    }
}

fn problem(result: Result<impl Sized, ConfigError>) -> ConfigError {
    match result {
        Ok(_) => panic!("a configuration problem"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_function_reads_the_secrets_its_environment_names_and_uses_them_as_variables() {
    let Some(sdk_config) = moto().await else {
        return;
    };
    let jwt = stored(&sdk_config, "jwt", SECRET).await;
    let key = stored(&sdk_config, "openai", "sk-from-secrets-manager").await;
    let prompt = "You answer questions about our product, briefly. ".repeat(60);
    let prompt_arn = stored(&sdk_config, "prompt", &prompt).await;
    let words = stored(&sdk_config, "deny", "frobnicate,grault").await;
    let environment = Variables(vec![
        ("TABLE_NAME", "chat".to_owned()),
        ("JWT_SECRET_ARN", jwt),
        ("BOT_PROVIDER", "openai".to_owned()),
        ("OPENAI_MODEL", "gpt-4o-mini".to_owned()),
        ("OPENAI_API_KEY_ARN", key),
        ("BOT_SYSTEM_PROMPT_ARN", prompt_arn),
        ("MODERATION_DENY_WORDS_ARN", words),
    ]);
    let read = with_stored(environment, Some(&sdk_config))
        .await
        .expect("every value is read");
    assert_eq!(read.get("JWT_SECRET").as_deref(), Some(SECRET));
    assert_eq!(
        read.get("OPENAI_API_KEY").as_deref(),
        Some("sk-from-secrets-manager")
    );
    assert_eq!(
        read.get("MODERATION_DENY_WORDS").as_deref(),
        Some("frobnicate,grault")
    );
    let config = Config::from_source(&read).expect("a whole configuration");
    let bot = config.bot.expect("a bot");
    // Longer than Lambda's whole environment may be.
    assert!(prompt.trim().len() > 2_900);
    assert_eq!(bot.system_prompt, prompt.trim());
    match bot.provider {
        chat_core::config::BotProvider::OpenAi { api_key, .. } => {
            assert_eq!(api_key.expect("a key").expose(), "sk-from-secrets-manager")
        }
        other => panic!("an OpenAI bot, not {other:?}"),
    }
}

#[tokio::test]
async fn without_references_the_plain_environment_is_used_and_nothing_is_requested() {
    // No emulator needed: an endpoint nobody listens on proves no request is made.
    let sdk_config = emulated("http://127.0.0.1:9").await;
    let environment = Variables(vec![
        ("TABLE_NAME", "chat".to_owned()),
        ("JWT_SECRET", SECRET.to_owned()),
    ]);
    let read = with_stored(environment, Some(&sdk_config))
        .await
        .expect("nothing to read");
    AuthConfig::from_source(&read).expect("the plain secret verifies tokens");
}

#[tokio::test]
async fn a_missing_or_unreadable_value_stops_the_cold_start_naming_its_variable() {
    let Some(sdk_config) = moto().await else {
        return;
    };
    let missing = Variables(vec![(
        "VISITOR_TOKEN_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf".to_owned(),
    )]);
    let refused = problem(with_stored(missing, Some(&sdk_config)).await);
    assert_eq!(refused.variable, "VISITOR_TOKEN_SECRET_ARN");
    assert!(
        refused.problem.contains("ResourceNotFoundException"),
        "{refused}"
    );

    let blank = stored(&sdk_config, "blank", "   ").await;
    let refused = problem(
        with_stored(
            Variables(vec![("JWT_SECRET_ARN", blank)]),
            Some(&sdk_config),
        )
        .await,
    );
    assert_eq!(refused.variable, "JWT_SECRET_ARN");
    assert!(refused.problem.contains("binary or blank"), "{refused}");

    let unreachable = emulated("http://127.0.0.1:9").await;
    let named = Variables(vec![("JWT_SECRET_ARN", "jwt".to_owned())]);
    let refused = problem(with_stored(named, Some(&unreachable)).await);
    assert_eq!(refused.variable, "JWT_SECRET_ARN");

    let both = Variables(vec![
        ("JWT_SECRET", SECRET.to_owned()),
        ("JWT_SECRET_ARN", "jwt".to_owned()),
    ]);
    assert_eq!(
        problem(with_stored(both, Some(&sdk_config)).await).variable,
        "JWT_SECRET_ARN"
    );
}
