//! The outside services the backend calls over HTTPS, with reqwest: identity providers'
//! key sets (JWKS), OpenAI-compatible model servers and embeddings endpoints; and the echo model, the offline
//! stand-in for a model server.

pub mod echo;
pub mod embeddings;
pub mod jwks;
pub mod openai;

pub use echo::EchoModel;
pub use embeddings::{OpenAiEmbedder, OpenAiEmbedderSettings};
pub use jwks::HttpKeySets;
pub use openai::{OpenAiModel, OpenAiSettings};
