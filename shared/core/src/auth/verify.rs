use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use super::{AuthError, Claims};
use crate::ports::KeySetFetcher;

/// Real tokens are well under 2 KiB; anything far larger is refused before
/// any decoding work is spent on it.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The shortest time between two JWKS fetches triggered by unknown keys.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// `jsonwebtoken` subtracts the leeway from the current time as `u64`; an
/// absurd setting would overflow, and more than a day is no longer clock skew.
const MAX_LEEWAY_SECS: u64 = 24 * 60 * 60;

/// Where the keys that verify tokens come from.
#[derive(Clone)]
pub enum KeySource {
    /// A shared secret; only HS256 tokens are accepted.
    Hs256 { secret: Vec<u8> },
    /// An identity provider's JWKS endpoint; only RS256 and ES256 (P-256)
    /// tokens are accepted.
    Jwks { url: String },
}

/// Keeps the secret out of logs and panic messages.
impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hs256 { .. } => f.write_str("Hs256 { secret: <redacted> }"),
            Self::Jwks { url } => f.debug_struct("Jwks").field("url", url).finish(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub keys: KeySource,
    /// When set, tokens must carry exactly this `iss`.
    pub issuer: Option<String>,
    /// When set, tokens must name this audience in `aud`.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
}

enum Keys {
    /// `None` when configured with an empty secret, which would accept
    /// tokens anyone can forge; every token is then refused as a server fault.
    Hs256(Option<DecodingKey>),
    Jwks(JwksCache),
}

/// Verifies access tokens. Cheap to share: wrap it in an `Arc` and call
/// [`TokenVerifier::verify`] from any task.
pub struct TokenVerifier {
    keys: Keys,
    /// Everything but the algorithm, which is pinned per token.
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.keys {
            Keys::Hs256(_) => "Hs256",
            Keys::Jwks(_) => "Jwks",
        };
        f.debug_struct("TokenVerifier")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

/// The two header fields read before the signature is checked, to choose the
/// key. Parsed here rather than by `jsonwebtoken` so that algorithms it does
/// not even know (`none`) are refused as unsupported, not as malformed.
#[derive(Deserialize)]
struct PeekedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions the token says must be understood (RFC 7515 §4.1.11); this service
    /// understands none, so a token naming any is refused.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl TokenVerifier {
    /// Does no I/O: a JWKS is fetched through `key_sets` on the first verification that
    /// needs it (an HS256 verifier never uses `key_sets`).
    pub fn new(settings: AuthSettings, key_sets: Arc<dyn KeySetFetcher>) -> Self {
        Self::with_refresh_interval(settings, key_sets, DEFAULT_REFRESH_INTERVAL)
    }

    /// Like [`TokenVerifier::new`], with the shortest time between two JWKS
    /// refetches caused by unknown keys (the first fetch is never delayed).
    pub fn with_refresh_interval(
        settings: AuthSettings,
        key_sets: Arc<dyn KeySetFetcher>,
        refresh_interval: Duration,
    ) -> Self {
        let keys = match settings.keys {
            KeySource::Hs256 { secret } if secret.is_empty() => {
                tracing::error!("the HS256 secret is empty; every token will be refused");
                Keys::Hs256(None)
            }
            KeySource::Hs256 { secret } => Keys::Hs256(Some(DecodingKey::from_secret(&secret))),
            KeySource::Jwks { url } => Keys::Jwks(JwksCache::new(url, key_sets, refresh_interval)),
        };

        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = settings.leeway_secs.min(MAX_LEEWAY_SECS);
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        // Without a configured audience the library would refuse every token
        // that carries one; audience checking is opt-in instead.
        validation.validate_aud = settings.audience.is_some();
        if let Some(audience) = &settings.audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);

        Self { keys, validation }
    }

    /// Checks the token's algorithm, signature, expiry, issuer and audience,
    /// and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = peek_header(token)?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let alg = self.accepted_algorithm(&header.alg)?;

        let fetched;
        let key = match &self.keys {
            Keys::Hs256(key) => key.as_ref().ok_or(AuthError::KeysUnavailable)?,
            Keys::Jwks(cache) => {
                fetched = cache.key_for(alg, header.kid.as_deref()).await?;
                &*fetched
            }
        };

        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .inspect_err(|error| tracing::debug!(%error, "token refused"))?;
        let claims = Claims::from_verified_payload(data.claims)?;
        // A token issued in the future was minted by a clock that cannot be trusted, or
        // made to outlive its own `exp` checks; past the leeway it is refused.
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(i64::MAX);
        let leeway = i64::try_from(validation.leeway).unwrap_or(0);
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(AuthError::InvalidClaims("iat"));
        }
        Ok(claims)
    }

    /// The only algorithms each mode accepts. Pinning them per mode is what
    /// defeats algorithm confusion, e.g. an HS256 token "signed" with an RSA
    /// public key sent to a verifier that expects RS256.
    fn accepted_algorithm(&self, alg: &str) -> Result<Algorithm, AuthError> {
        match (&self.keys, alg) {
            (Keys::Hs256(_), "HS256") => Ok(Algorithm::HS256),
            (Keys::Jwks(_), "RS256") => Ok(Algorithm::RS256),
            (Keys::Jwks(_), "ES256") => Ok(Algorithm::ES256),
            _ => Err(AuthError::UnsupportedAlgorithm),
        }
    }
}

fn peek_header(token: &str) -> Result<PeekedHeader, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| AuthError::Malformed)
}
