//! The configuration's stored values: a deployed function's `NAME_ARN` variables
//! ([`chat_core::config::stored_references`]) are read once at cold start from Secrets
//! Manager, so the tokens' signing secrets, the model's API key and the system prompt never
//! sit in the plain environment, and long settings do not count against Lambda's 4 KB of
//! variables.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use chat_core::config::{
    ConfigError, Secret, Source, StoredReference, WithStored, stored_references,
};

use crate::sdk_timeouts;

/// `source` with the values its references name, each read once, concurrently, with
/// `sdk_config`'s credentials and region (`None`: the function's own, loaded only if
/// needed). Without references nothing is read and no client is built.
pub async fn with_stored<S: Source>(
    source: S,
    sdk_config: Option<&aws_config::SdkConfig>,
) -> Result<WithStored<S>, ConfigError> {
    let references = stored_references(&source)?;
    if references.is_empty() {
        return Ok(WithStored::new(source, Vec::new()));
    }
    let loaded;
    let sdk_config = match sdk_config {
        Some(sdk_config) => sdk_config,
        None => {
            loaded = crate::sdk_config().await;
            &loaded
        }
    };
    let client = Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk_config)
            .timeout_config(sdk_timeouts())
            .build(),
    );
    let values =
        futures::future::try_join_all(references.iter().map(|reference| read(&client, reference)))
            .await?;
    Ok(WithStored::new(source, values))
}

/// One secret's string; an unreadable, binary or blank one is refused, naming the variable.
async fn read(
    client: &Client,
    reference: &StoredReference,
) -> Result<(&'static str, Secret), ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(&reference.id)
        .send()
        .await
        .map_err(|err| {
            // The code (AccessDeniedException, ResourceNotFoundException...) is what an
            // operator acts on; the context says which request failed and why.
            ConfigError::new(
                reference.reference,
                format!(
                    "names a secret that could not be read ({}): {}",
                    err.code().unwrap_or("an error"),
                    DisplayErrorContext(&err)
                ),
            )
        })?;
    match output.secret_string() {
        Some(value) if !value.trim().is_empty() => {
            Ok((reference.variable, Secret::new(value.trim())))
        }
        _ => Err(ConfigError::new(
            reference.reference,
            "names a secret that is binary or blank",
        )),
    }
}
