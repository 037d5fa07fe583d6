//! What the adapters' test suites share: the store conformance cases, stated once and run
//! against every store adapter, a store that fails on command, the model adapters'
//! helpers, and a JWT forger for the token attack suites.

pub mod conformance;
pub mod faults;
pub mod jwt;
pub mod metrics;
pub mod models;

/// moto's endpoint (DynamoDB, S3 and Secrets Manager on one port), which `infra/test.sh`
/// starts and names in `CHAT_DYNAMODB_ENDPOINT`. Without it a test fails when
/// `CHAT_REQUIRE_DYNAMODB=1` (the test command sets it) and otherwise, as under plain
/// `cargo test`, gets `None` after saying that `not_run` was not run.
pub fn emulator_endpoint(not_run: &str) -> Option<String> {
    match std::env::var("CHAT_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    {
        Some(endpoint) => Some(endpoint),
        None if std::env::var("CHAT_REQUIRE_DYNAMODB").is_ok_and(|v| v == "1") => {
            panic!("CHAT_REQUIRE_DYNAMODB=1 but CHAT_DYNAMODB_ENDPOINT (moto) is not set")
        }
        None => {
            // Straight to stderr: the test harness captures `eprintln!`, and a skip must show.
            let note = format!(
                "NOTE: {not_run} NOT run: CHAT_DYNAMODB_ENDPOINT is not set (infra/test.sh sets it)\n"
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
            None
        }
    }
}

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
