//! Verified customers. A business's own backend proves which customer a support chat is
//! for with an HMAC-SHA256 of the customer's id under the business's secret, as support
//! widgets' identity verification does; with a valid proof the customer is the same
//! visitor on every device, so their one active session is found wherever they start.

use std::fmt;

use aws_lc_rs::{digest, hmac};
use serde::{Deserialize, Serialize};

use super::{BusinessId, ExternalCustomerId, Timestamp, UserId};

/// A business's customer-verification secret: 32 random bytes, as 64 hex digits, which
/// are also the HMAC key the business signs with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerSecret(String);

/// A business's current secret and when it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessSecret {
    pub business_id: BusinessId,
    pub secret: CustomerSecret,
    pub created_at: Timestamp,
}

impl CustomerSecret {
    pub fn generate() -> Self {
        Self(hex(&rand::random::<[u8; 32]>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `proof` (hex) is the HMAC-SHA256 of `customer` under this secret, compared
    /// in constant time.
    pub fn verifies(&self, customer: &ExternalCustomerId, proof: &str) -> bool {
        let Some(tag) = unhex(proof.trim()) else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes());
        hmac::verify(&key, customer.as_str().as_bytes(), &tag).is_ok()
    }

    /// The proof of `customer`: what the business's backend computes.
    pub fn prove(&self, customer: &ExternalCustomerId) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes());
        hex(hmac::sign(&key, customer.as_str().as_bytes()).as_ref())
    }
}

/// Never in a log.
impl fmt::Debug for CustomerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerSecret(..)")
    }
}

/// The visitor a verified customer is, on every device. Derived by hashing, so the
/// business's id for them (often an email address) never becomes a user id.
pub fn verified_customer_id(business: &BusinessId, customer: &ExternalCustomerId) -> UserId {
    let input = format!("{business}\0{customer}");
    let hash = digest::digest(&digest::SHA256, input.as_bytes());
    UserId::parse(&format!("customer-{}", hex(&hash.as_ref()[..20])))
        .expect("hex digits make a valid user id")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str) -> ExternalCustomerId {
        ExternalCustomerId::parse(id).expect("valid")
    }

    #[test]
    fn a_proof_verifies_for_its_customer_and_secret_only() {
        let secret = CustomerSecret::generate();
        assert_eq!(secret.as_str().len(), 64);
        let proof = secret.prove(&customer("cust-42"));
        assert!(secret.verifies(&customer("cust-42"), &proof));
        assert!(secret.verifies(&customer("cust-42"), &proof.to_uppercase()));
        assert!(!secret.verifies(&customer("cust-43"), &proof));
        assert!(!CustomerSecret::generate().verifies(&customer("cust-42"), &proof));
        for bad in ["", "zz", &proof[..63], &proof[..62], "é"] {
            assert!(!secret.verifies(&customer("cust-42"), bad), "{bad}");
        }
    }

    #[test]
    fn the_proof_is_the_openssl_hmac_a_business_backend_computes() {
        // printf '%s' cust-42 | openssl dgst -sha256 -hmac "$(printf '0%.0s' {1..64})"
        let secret = CustomerSecret("0".repeat(64));
        assert_eq!(
            secret.prove(&customer("cust-42")),
            "61c081badc726d548dd23ead14695b80f78b3dec74d015f18ac8c2be5b15249e"
        );
    }

    #[test]
    fn a_verified_customer_is_one_visitor_per_business() {
        let (acme, globex) = (
            BusinessId::parse("acme").expect("valid"),
            BusinessId::parse("globex").expect("valid"),
        );
        let id = verified_customer_id(&acme, &customer("ann@example.com"));
        assert_eq!(
            id,
            verified_customer_id(&acme, &customer("ann@example.com"))
        );
        assert_ne!(
            id,
            verified_customer_id(&globex, &customer("ann@example.com"))
        );
        assert!(id.as_str().starts_with("customer-") && !id.as_str().contains('@'));
    }
}
