//! What the adapters' test suites share: the store conformance cases, stated once and run
//! against every store adapter, and the model adapters' helpers.

pub mod conformance;
pub mod models;

use async_trait::async_trait;
use chat_core::domain::ConnectionId;
use chat_core::ports::{PushError, Pusher};

/// A pusher for tests with no sockets: every connection is gone, as API Gateway answers
/// for one that closed.
pub struct NoSockets;

#[async_trait]
impl Pusher for NoSockets {
    async fn post(&self, _: &ConnectionId, _: &[u8]) -> Result<(), PushError> {
        Err(PushError::Gone)
    }

    async fn close(&self, _: &ConnectionId) -> Result<(), PushError> {
        Err(PushError::Gone)
    }
}
