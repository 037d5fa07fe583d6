//! What the adapters' test suites share: the store conformance cases, stated once and run
//! against every store adapter, a store that fails on command, the model adapters'
//! helpers, and a JWT forger for the token attack suites.

pub mod conformance;
pub mod faults;
pub mod jwt;
pub mod models;

/// Serves `router` on a free loopback port: its address.
pub async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

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

/// A pusher for tests that keeps every frame posted, in order, with its connection.
#[derive(Default)]
pub struct Recorder(std::sync::Mutex<Vec<(ConnectionId, serde_json::Value)>>);

#[async_trait]
impl Pusher for Recorder {
    async fn post(&self, connection: &ConnectionId, frame: &[u8]) -> Result<(), PushError> {
        let frame = serde_json::from_slice(frame).expect("frames are JSON");
        self.posted().push((connection.clone(), frame));
        Ok(())
    }

    async fn close(&self, _: &ConnectionId) -> Result<(), PushError> {
        Ok(())
    }
}

impl Recorder {
    fn posted(&self) -> std::sync::MutexGuard<'_, Vec<(ConnectionId, serde_json::Value)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every frame posted, in order.
    pub fn frames(&self) -> Vec<serde_json::Value> {
        self.posted()
            .iter()
            .map(|(_, frame)| frame.clone())
            .collect()
    }

    /// The frames posted to `connection`, in order.
    pub fn frames_to(&self, connection: &ConnectionId) -> Vec<serde_json::Value> {
        self.posted()
            .iter()
            .filter(|(to, _)| to == connection)
            .map(|(_, frame)| frame.clone())
            .collect()
    }
}
