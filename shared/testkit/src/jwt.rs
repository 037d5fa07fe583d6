//! Hand-built JWTs for the attack suites: headers and claims the `jsonwebtoken` encoder
//! refuses to produce (`alg: none`, an `alg` that disagrees with the signature, claims of
//! the wrong type), signed by any key or not at all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::Value;

/// `header.payload.signature`, each part the base64url of what is given, unchecked.
pub fn forge(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!("{}.{}", signing_input(header, payload), encode(signature))
}

/// Signs `header.payload` with `key` as `alg` does, whatever the header's own `alg` says:
/// how a token claiming RS256 but carrying an HMAC is made.
pub fn forge_signed(header: &Value, payload: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    let input = signing_input(header, payload);
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("the test key signs");
    format!("{input}.{signature}")
}

/// An HMAC key from a shared secret, for [`forge_signed`].
pub fn hmac_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret)
}

/// The base64url of `bytes`, as a token's parts are written.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(payload.to_string().as_bytes())
    )
}
