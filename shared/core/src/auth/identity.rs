//! From a token to a `Principal`, and visitor tokens: the one entry point the functions use.

use std::sync::Arc;
use std::time::Duration;

use super::{Audience, AuthError, AuthSettings, Claims, KeySource, TokenVerifier, issue_hs256};
use crate::config::AuthConfig;
use crate::domain::{Principal, Role, Timestamp, ValidationError};
use crate::ports::KeySetFetcher;

/// How long a visitor token from `POST /sessions/start` lasts.
pub const VISITOR_TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// Why a caller was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error(transparent)]
    Token(#[from] AuthError),
    /// The token verified but a claim does not fit (e.g. an unknown role).
    #[error("token claim {}", .0)]
    Claims(#[from] ValidationError),
}

impl AuthFailure {
    /// True when the fault is ours (keys unreachable), not the caller's.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Self::Token(error) if error.is_server_fault())
    }
}

/// Verifies callers' tokens and mints visitor tokens.
///
/// Visitor tokens are HS256-signed with the visitor secret, which defaults to the users'
/// HS256 secret. With a JWKS (users' tokens come from an identity provider) a separate
/// visitor secret is needed, and a token verified with it is accepted only as a visitor.
#[derive(Debug)]
pub struct Authenticator {
    users: TokenVerifier,
    visitors: Option<(TokenVerifier, Vec<u8>)>,
    settings: AuthSettings,
}

impl Authenticator {
    /// `key_sets` fetches an identity provider's keys when `settings` name a JWKS.
    pub fn new(config: AuthConfig, key_sets: Arc<dyn KeySetFetcher>) -> Self {
        let AuthConfig {
            settings,
            visitor_secret,
        } = config;
        let secret = match (&settings.keys, visitor_secret) {
            (_, Some(secret)) => Some(secret),
            (KeySource::Hs256 { secret }, None) => Some(secret.clone()),
            (KeySource::Jwks { .. }, None) => None,
        };
        let visitors = secret.map(|secret| {
            let keys = KeySource::Hs256 {
                secret: secret.clone(),
            };
            (
                TokenVerifier::new(
                    AuthSettings {
                        keys,
                        ..settings.clone()
                    },
                    key_sets.clone(),
                ),
                secret,
            )
        });
        Self {
            users: TokenVerifier::new(settings.clone(), key_sets),
            visitors,
            settings,
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthFailure> {
        let claims = match (self.users.verify(token).await, &self.visitors) {
            (Ok(claims), _) => claims,
            (Err(refused), Some((visitors, _))) => {
                let claims = visitors.verify(token).await.map_err(|_| refused)?;
                // The visitor secret mints visitors and nothing else.
                if claims.role.as_deref() != Some(Role::Visitor.as_str()) {
                    return Err(AuthError::InvalidClaims("role").into());
                }
                claims
            }
            (Err(refused), None) => return Err(refused.into()),
        };
        Ok(Principal::from_claims(
            &claims.sub,
            claims.role.as_deref(),
            claims.name.as_deref(),
            claims.org.as_deref(),
        )?)
    }

    /// A short-lived token for a visitor, and when it expires.
    pub fn issue_visitor_token(
        &self,
        visitor: &Principal,
        now: Timestamp,
    ) -> Result<(String, Timestamp), AuthError> {
        let (_, secret) = self.visitors.as_ref().ok_or(AuthError::SigningFailed)?;
        let expires_at = now.plus(VISITOR_TOKEN_LIFETIME);
        let claims = Claims {
            sub: visitor.user_id.to_string(),
            exp: expires_at.unix_seconds(),
            iat: Some(now.unix_seconds()),
            role: Some(Role::Visitor.as_str().to_owned()),
            name: visitor.name.as_ref().map(|n| n.as_str().to_owned()),
            org: visitor.org.as_ref().map(|o| o.as_str().to_owned()),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone().map(Audience::One),
        };
        Ok((issue_hs256(&claims, secret)?, expires_at))
    }
}
