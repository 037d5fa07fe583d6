use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::AuthError;
use crate::ports::KeySetFetcher;

/// One usable verification key from the set.
struct JwksKey {
    kid: Option<String>,
    alg: Algorithm,
    key: Arc<DecodingKey>,
}

/// A published key set is a handful of keys, so a linear search by `kid` is
/// as fast as a map and keeps the "only key of its type" rule simple.
type KeySet = Arc<Vec<JwksKey>>;

/// The identity provider's public keys, fetched on first use and refetched
/// when a token names a key we do not know (key rotation).
pub(crate) struct JwksCache {
    url: String,
    refresh_interval: Duration,
    /// Fetches the set over HTTPS (an adapter, so the core needs no HTTP client).
    fetcher: Arc<dyn KeySetFetcher>,
    /// `None` until a fetch has succeeded. Replaced wholesale on refresh, so
    /// readers never see a half-updated set.
    keys: RwLock<Option<KeySet>>,
    /// When the last fetch was attempted. Held across the fetch so that
    /// concurrent misses wait for one request instead of each sending one.
    last_attempt: Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct RawJwks {
    /// Kept as raw JSON so that one key of a type we cannot parse does not
    /// make the whole set unusable.
    keys: Vec<serde_json::Value>,
}

impl JwksCache {
    pub(crate) fn new(
        url: String,
        fetcher: Arc<dyn KeySetFetcher>,
        refresh_interval: Duration,
    ) -> Self {
        Self {
            url,
            refresh_interval,
            fetcher,
            keys: RwLock::new(None),
            last_attempt: Mutex::new(None),
        }
    }

    /// The key that must have signed a token with this header.
    pub(crate) async fn key_for(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<DecodingKey>, AuthError> {
        let seen = self.keys.read().await.clone();
        if let Some(keys) = &seen
            && let Some(key) = select(keys, alg, kid)?
        {
            return Ok(key);
        }
        self.refresh(seen.as_ref()).await?;
        let keys = self
            .keys
            .read()
            .await
            .clone()
            .ok_or(AuthError::KeysUnavailable)?;
        select(&keys, alg, kid)?.ok_or(AuthError::UnknownKey)
    }

    /// Refetches the set, unless another task already replaced `seen` or the
    /// last attempt is too recent: a flood of made-up `kid`s must not turn
    /// into a flood of requests to the identity provider.
    async fn refresh(&self, seen: Option<&KeySet>) -> Result<(), AuthError> {
        let mut last_attempt = self.last_attempt.lock().await;
        let current = self.keys.read().await.clone();
        let replaced = match (&current, seen) {
            (Some(current), Some(seen)) => !Arc::ptr_eq(current, seen),
            (current, seen) => current.is_some() != seen.is_some(),
        };
        if replaced {
            return Ok(());
        }
        if let Some(at) = *last_attempt
            && at.elapsed() < self.refresh_interval
        {
            return match current {
                Some(_) => Ok(()),
                None => Err(AuthError::KeysUnavailable),
            };
        }
        *last_attempt = Some(Instant::now());
        let keys = self.fetch().await?;
        *self.keys.write().await = Some(Arc::new(keys));
        Ok(())
    }

    async fn fetch(&self) -> Result<Vec<JwksKey>, AuthError> {
        let raw = self.download().await.map_err(|error| {
            tracing::warn!(url = %self.url, error = %crate::ports::error_chain(&error), "could not fetch the JWKS");
            AuthError::KeysUnavailable
        })?;
        let total = raw.keys.len();
        let keys: Vec<JwksKey> = raw.keys.into_iter().filter_map(usable_key).collect();
        tracing::info!(url = %self.url, usable = keys.len(), total, "fetched the JWKS");
        Ok(keys)
    }

    async fn download(&self) -> Result<RawJwks, crate::ports::FetchError> {
        let document = self.fetcher.fetch(&self.url).await?;
        serde_json::from_value(document).map_err(crate::ports::FetchError::new)
    }
}

/// Turns one JWK into a key we accept, or `None` for keys we must not use:
/// not for signatures, not RSA or P-256, or whose own `alg` disagrees with
/// its type (such a key must never verify a token of another algorithm).
fn usable_key(value: serde_json::Value) -> Option<JwksKey> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    if matches!(&jwk.common.public_key_use, Some(usage) if *usage != PublicKeyUse::Signature) {
        return None;
    }
    let (alg, expected) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if jwk.common.key_algorithm.is_some_and(|own| own != expected) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(JwksKey {
        kid: jwk.common.key_id,
        alg,
        key: Arc::new(key),
    })
}

/// Picks the key for a token: by `kid`, or, for a token without one, the only
/// key of its algorithm (several would make the choice a guess).
fn select(
    keys: &[JwksKey],
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Option<Arc<DecodingKey>>, AuthError> {
    let Some(kid) = kid else {
        let mut candidates = keys.iter().filter(|k| k.alg == alg);
        return Ok(match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(Arc::clone(&only.key)),
            _ => None,
        });
    };
    match keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
        None => Ok(None),
        Some(found) if found.alg == alg => Ok(Some(Arc::clone(&found.key))),
        Some(_) => Err(AuthError::UnsupportedAlgorithm),
    }
}
