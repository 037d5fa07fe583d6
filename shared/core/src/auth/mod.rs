//! Authentication: finding a bearer token in a request and verifying it.
//!
//! Tokens are JWTs, either signed with a shared HS256 secret (visitor and
//! local development tokens, minted by [`issue_hs256`]) or by an external
//! identity provider that publishes its public keys as a JWKS (RS256 / ES256).
//!
//! Nothing in this module logs a token or echoes one in an error: tokens are
//! credentials, and logs outlive them.

mod claims;
mod error;
mod identity;
mod jwks;
mod token;
mod verify;

pub use claims::{Audience, Claims, issue_hs256};
pub use error::AuthError;
pub use identity::{AuthFailure, Authenticator, VISITOR_TOKEN_LIFETIME};
pub use token::{FoundToken, TokenSource, find_bearer_token, find_websocket_token};
pub use verify::{AuthSettings, KeySource, TokenVerifier};
