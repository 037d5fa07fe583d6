//! The outside services the backend calls over HTTPS, with reqwest: identity providers'
//! key sets (JWKS) and OpenAI-compatible model servers; and the echo model, the offline
//! stand-in for a model server.

pub mod echo;
pub mod jwks;
pub mod openai;

pub use echo::EchoModel;
pub use jwks::HttpKeySets;
pub use openai::{OpenAiModel, OpenAiSettings};
