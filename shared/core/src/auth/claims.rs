use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AuthError;

/// The claims this service reads from a verified token. Other claims are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// The `aud` claim, which RFC 7519 allows as one string or an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

impl Claims {
    /// Builds the claims from a payload whose signature and registered claims
    /// were already checked. Reads field by field (rather than one derived
    /// deserialize) so a refusal can name the offending claim.
    pub(crate) fn from_verified_payload(payload: Value) -> Result<Self, AuthError> {
        let Value::Object(fields) = payload else {
            return Err(AuthError::Malformed);
        };
        let sub: String = required(&fields, "sub")?;
        // An empty subject would identify nobody, yet compare equal across
        // every such token.
        if sub.is_empty() {
            return Err(AuthError::InvalidClaims("sub"));
        }
        // The library checks `nbf` but rounds a float one; like `exp` and `iat` it must be
        // whole seconds, or a token is read differently here than by the library.
        optional::<i64>(&fields, "nbf")?;
        Ok(Self {
            sub,
            exp: required(&fields, "exp")?,
            iat: optional(&fields, "iat")?,
            role: optional(&fields, "role")?,
            name: optional(&fields, "name")?,
            org: optional(&fields, "org")?,
            iss: optional(&fields, "iss")?,
            aud: optional(&fields, "aud")?,
        })
    }
}

fn optional<T: DeserializeOwned>(
    fields: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<T>, AuthError> {
    match fields.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|_| AuthError::InvalidClaims(claim)),
    }
}

fn required<T: DeserializeOwned>(
    fields: &Map<String, Value>,
    claim: &'static str,
) -> Result<T, AuthError> {
    optional(fields, claim)?.ok_or(AuthError::InvalidClaims(claim))
}

/// Signs `claims` as an HS256 JWT, for visitor tokens and local development.
///
/// An empty secret is refused: it would let anyone mint tokens.
pub fn issue_hs256(claims: &Claims, secret: &[u8]) -> Result<String, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::SigningFailed);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|_| AuthError::SigningFailed)
}
