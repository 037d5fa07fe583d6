/// Why a token was not accepted.
///
/// Display messages are meant to be shown to a client as they are: they never
/// contain the token or any key material. [`AuthError::KeysUnavailable`] (and
/// [`AuthError::SigningFailed`]) are faults on our side, not a bad token;
/// [`AuthError::is_server_fault`] tells them apart so a caller can answer
/// 503/500 instead of 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no access token was presented")]
    Missing,
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token's signing algorithm is not accepted")]
    UnsupportedAlgorithm,
    #[error("the access token requires header extensions (crit) this service does not support")]
    CriticalHeader,
    #[error("the access token's signature is invalid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    /// Names the claim (`"sub"`, `"exp"`, `"nbf"`, ...) that is missing or has
    /// the wrong type or value.
    #[error("the access token's `{0}` claim is missing or invalid")]
    InvalidClaims(&'static str),
    #[error("the access token was not issued by the expected issuer")]
    WrongIssuer,
    #[error("the access token is not intended for this service")]
    WrongAudience,
    #[error("the access token was signed with an unknown key")]
    UnknownKey,
    #[error("the signing keys are unavailable right now")]
    KeysUnavailable,
    /// Only [`crate::auth::issue_hs256`] returns this.
    #[error("a token could not be signed")]
    SigningFailed,
}

impl AuthError {
    /// True when the failure is ours (keys unreachable, misconfiguration)
    /// rather than the client's token.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Self::KeysUnavailable | Self::SigningFailed)
    }
}

/// Translates a `jsonwebtoken` failure into the client-safe vocabulary above.
/// Deliberately exhaustive over the kinds we know so a new library kind falls
/// into the conservative `Malformed` bucket instead of leaking its text.
impl From<jsonwebtoken::errors::Error> for AuthError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match error.kind() {
            K::InvalidSignature => Self::BadSignature,
            // A key that cannot be used to check the signature proves nothing
            // about the token: treat it like a signature that did not verify.
            K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => {
                Self::BadSignature
            }
            K::InvalidAlgorithm
            | K::UnsupportedAlgorithm
            | K::InvalidAlgorithmName
            | K::MissingAlgorithm => Self::UnsupportedAlgorithm,
            K::ExpiredSignature => Self::Expired,
            K::ImmatureSignature => Self::InvalidClaims("nbf"),
            K::InvalidSubject => Self::InvalidClaims("sub"),
            K::InvalidIssuer => Self::WrongIssuer,
            K::InvalidAudience => Self::WrongAudience,
            // A configured issuer/audience that the token does not carry at
            // all is the same refusal as carrying the wrong one.
            K::MissingRequiredClaim(claim) if claim == "iss" => Self::WrongIssuer,
            K::MissingRequiredClaim(claim) if claim == "aud" => Self::WrongAudience,
            K::MissingRequiredClaim(claim) | K::InvalidClaimFormat(claim) => {
                Self::InvalidClaims(static_claim_name(claim))
            }
            K::RsaFailedSigning | K::Signing(_) => Self::SigningFailed,
            _ => Self::Malformed,
        }
    }
}

/// The library names claims with owned strings; the error keeps a `'static`
/// name so it stays cheap to clone and match on.
fn static_claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "sub" => "sub",
        "iss" => "iss",
        "aud" => "aud",
        _ => "claims",
    }
}
