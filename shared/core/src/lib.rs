//! The core of the chat backend: the domain, the protocol, the use cases and the ports
//! they are written against, token verification, configuration, and the one composition
//! root that wires chosen adapters into services. It depends on no AWS SDK, Lambda
//! runtime, HTTP client or server (`tests/architecture.rs` holds it to that): adapters
//! live in crates beside it, and functions parse their events, call in here, and map the
//! result.

pub mod auth;
pub mod compose;
pub mod config;
pub mod documents;
pub mod domain;
pub mod metrics;
pub mod moderation;
pub mod paging;
pub mod ports;
pub mod protocol;
pub mod service;
