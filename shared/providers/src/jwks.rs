//! An identity provider's key set fetched over HTTPS.

use async_trait::async_trait;
use chat_core::ports::{FetchError, KeySetFetcher};
use std::time::Duration;
use tokio::sync::OnceCell;

/// A slow identity provider must not hold verifications hostage for long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches JWKS documents with reqwest.
#[derive(Debug, Default)]
pub struct HttpKeySets {
    /// Built on first fetch, so that building a verifier does no I/O and cannot fail.
    client: OnceCell<reqwest::Client>,
}

impl HttpKeySets {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl KeySetFetcher for HttpKeySets {
    async fn fetch(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        let client = self
            .client
            .get_or_try_init(|| async { reqwest::Client::builder().timeout(FETCH_TIMEOUT).build() })
            .await
            .map_err(FetchError::new)?;
        let response = client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(FetchError::new)?;
        response.json().await.map_err(FetchError::new)
    }
}
