//! An OpenAI-compatible `/embeddings` endpoint as the `Embedder`: OpenAI itself, or vLLM,
//! Ollama, llama.cpp (`--embeddings`), LiteLLM, or a Bedrock access gateway.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::openai::{describe, error_message, scrub};
use chat_core::ports::{EmbedError, Embedder};

/// How long one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct OpenAiEmbedderSettings {
    /// The API root; `/embeddings` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token when set.
    pub api_key: Option<String>,
    /// Asked for when set (models that shorten their vectors, e.g. OpenAI's `-3-`).
    pub dimensions: Option<u32>,
}

/// Never prints the key.
impl fmt::Debug for OpenAiEmbedderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiEmbedderSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

#[derive(Debug)]
pub struct OpenAiEmbedder {
    settings: OpenAiEmbedderSettings,
    /// The name vectors are kept under: the model and, when asked for, the size, since
    /// vectors of another size do not compare.
    name: String,
    client: OnceCell<reqwest::Client>,
}

impl OpenAiEmbedder {
    pub fn new(settings: OpenAiEmbedderSettings) -> Self {
        let name = match settings.dimensions {
            Some(dimensions) => format!("{}@{dimensions}", settings.model),
            None => settings.model.clone(),
        };
        Self {
            settings,
            name,
            client: OnceCell::new(),
        }
    }

    fn failure(&self, text: String) -> EmbedError {
        EmbedError(scrub(&text, self.settings.api_key.as_deref()).into())
    }
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingData>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    index: usize,
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let client = self
            .client
            .get_or_try_init(|| async {
                reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()
            })
            .await
            .map_err(|e| self.failure(describe(&e)))?;
        let url = format!(
            "{}/embeddings",
            self.settings.base_url.trim_end_matches('/')
        );
        let mut request = client.post(url).json(&EmbeddingsRequest {
            model: &self.settings.model,
            input: texts,
            dimensions: self.settings.dimensions,
        });
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }
        // The URL is left out of errors: a base URL may carry credentials.
        let response = request
            .send()
            .await
            .map_err(|e| self.failure(describe(&e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            let body: Option<Value> = response.json().await.ok();
            let message = body.as_ref().and_then(error_message).unwrap_or_default();
            return Err(self.failure(format!("HTTP {}: {message}", status.as_u16())));
        }
        let answer: EmbeddingsResponse = response.json().await.map_err(|e| {
            self.failure(format!(
                "an answer that is not embeddings: {}",
                describe(&e.without_url())
            ))
        })?;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in answer.data {
            if let Some(slot) = vectors.get_mut(item.index) {
                *slot = Some(item.embedding);
            }
        }
        vectors
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.failure("an answer without a vector for every text".to_owned()))
    }
}
