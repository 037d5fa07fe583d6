//! Amazon Titan Text Embeddings on Bedrock (`amazon.titan-embed-text-v2:0`, or v1) as the
//! `Embedder`, through InvokeModel with the function's own credentials: one text a request
//! (the model takes no batches), a few at a time.

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Builder;
use aws_sdk_bedrockruntime::error::DisplayErrorContext;
use aws_sdk_bedrockruntime::primitives::Blob;

use chat_core::ports::{EmbedError, Embedder};

/// Requests in flight at once while a file's chunks are embedded.
const CONCURRENCY: usize = 8;

#[derive(Clone, Debug)]
pub struct BedrockEmbedder {
    client: Client,
    model_id: String,
    dimensions: Option<u32>,
    /// The name vectors are kept under: the model and, when asked for, the size.
    name: String,
}

impl BedrockEmbedder {
    /// The model in the function's own region, with its own credentials and the SDK's
    /// usual retries of throttling and server errors.
    pub fn new(
        sdk_config: &aws_config::SdkConfig,
        model_id: impl Into<String>,
        dimensions: Option<u32>,
    ) -> Self {
        Self::with(Builder::from(sdk_config), model_id.into(), dimensions)
    }

    /// A stand-in endpoint on this machine (tests), which checks no signatures.
    pub fn local(endpoint: &str, model_id: impl Into<String>, dimensions: Option<u32>) -> Self {
        Self::with(crate::local_builder(endpoint), model_id.into(), dimensions)
    }

    fn with(builder: Builder, model_id: String, dimensions: Option<u32>) -> Self {
        let name = match dimensions {
            Some(dimensions) => format!("{model_id}@{dimensions}"),
            None => model_id.clone(),
        };
        Self {
            client: Client::from_conf(builder.build()),
            model_id,
            dimensions,
            name,
        }
    }

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut body = serde_json::json!({ "inputText": text });
        // Only v2 takes these; v1 answers in its one size.
        if let Some(dimensions) = self.dimensions {
            body["dimensions"] = dimensions.into();
            body["normalize"] = true.into();
        }
        let output = self
            .client
            .invoke_model()
            .model_id(&self.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .map_err(|e| EmbedError(crate::clip(&DisplayErrorContext(&e).to_string()).into()))?;
        let answer: serde_json::Value =
            serde_json::from_slice(output.body().as_ref()).map_err(|e| EmbedError(Box::new(e)))?;
        answer["embedding"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_f64().map(|v| v as f32))
                    .collect::<Vec<f32>>()
            })
            .filter(|vector| !vector.is_empty())
            .ok_or_else(|| EmbedError("an answer without an embedding".into()))
    }
}

#[async_trait::async_trait]
impl Embedder for BedrockEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(CONCURRENCY) {
            let batch = batch.iter().map(|text| self.embed_one(text));
            vectors.extend(futures::future::try_join_all(batch).await?);
        }
        Ok(vectors)
    }
}
