//! Broadcasting frames to a session's connections: one read of the connections, then a
//! post to each, several at once; a connection that is gone (410) is forgotten.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;

use crate::domain::{Connection, ConnectionId, Dialect, SessionId};
use crate::metrics::{Metric, Metrics, NoMetrics, Sample};
use crate::ports::{Clock, ConnectionStore, PushError, Pusher, StoreResult};
use crate::protocol::{ServerFrame, render};

/// Posts in flight at once per broadcast: N recipients take about N / this round trips.
/// At 64, 1,000 recipients of 20 ms posts hear a message within about 0.3 s
/// (docs/benchmarks.md), and a few broadcasts at once stay far below API Gateway's
/// account-wide 10,000 requests a second.
pub const FANOUT_CONCURRENCY: usize = 64;

/// How long after its record is written a connection may still be in its `$connect`,
/// where API Gateway answers posts to it with 410: a broadcast reaching it then (another
/// joiner's `user_joined`) must not forget it. One that never opens is forgotten by its
/// `$disconnect` or the sweeper.
pub const HANDSHAKE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct Fanout {
    connections: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn Pusher>,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn Metrics>,
}

/// What a broadcast achieved, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    /// Connections found gone and forgotten.
    pub gone: usize,
    pub failed: usize,
}

impl Delivery {
    /// The connections posted to, whatever came of it.
    pub fn attempted(&self) -> usize {
        self.delivered + self.gone + self.failed
    }
}

impl Fanout {
    pub fn new(
        connections: Arc<dyn ConnectionStore>,
        pusher: Arc<dyn Pusher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            connections,
            pusher,
            clock,
            metrics: Arc::new(NoMetrics),
        }
    }

    /// The same fan-out counting the connections it finds gone in `metrics`.
    pub fn with_metrics(self, metrics: Arc<dyn Metrics>) -> Self {
        Self { metrics, ..self }
    }

    /// The session's live connections.
    pub async fn connections(&self, session: SessionId) -> StoreResult<Vec<Connection>> {
        self.connections
            .list_session_connections(session, self.clock.now())
            .await
    }

    /// Sends the frame to every live connection of the session.
    pub async fn broadcast(
        &self,
        session: SessionId,
        frame: &ServerFrame,
    ) -> StoreResult<Delivery> {
        let targets = self.connections(session).await?;
        Ok(self.send_all(&targets, frame).await)
    }

    /// Sends the frame to each of `targets`, a bounded number at a time, rendered once for
    /// each dialect among them. A connection gets its dialect's frames in order, one after
    /// the other; one whose dialect has no such frame gets nothing and is not counted.
    pub async fn send_all(&self, targets: &[Connection], frame: &ServerFrame) -> Delivery {
        let now = self.clock.now();
        let mut rendered: BTreeMap<Dialect, Arc<[String]>> = BTreeMap::new();
        // Each send owns what it uses: futures borrowing from a closure's argument would
        // not be provably `Send` for the callers that box them.
        let sends: Vec<_> = targets
            .iter()
            .filter_map(|connection| {
                let payloads = rendered
                    .entry(connection.dialect)
                    .or_insert_with(|| render(frame, connection.dialect, now).into())
                    .clone();
                if payloads.is_empty() {
                    return None;
                }
                let (this, id) = (self.clone(), connection.id.clone());
                let settled = connection.connected_at.plus(HANDSHAKE_GRACE) <= now;
                Some(async move { this.deliver(&id, &payloads, settled).await })
            })
            .collect();
        let outcomes: Vec<Result<(), PushError>> = futures::stream::iter(sends)
            .buffer_unordered(FANOUT_CONCURRENCY)
            .collect()
            .await;
        let mut delivery = Delivery::default();
        for outcome in outcomes {
            match outcome {
                Ok(()) => delivery.delivered += 1,
                Err(PushError::Gone) => delivery.gone += 1,
                Err(PushError::Failed(_)) => delivery.failed += 1,
            }
        }
        delivery
    }

    /// Sends one frame to one connection in its dialect, forgetting it if it is gone.
    pub async fn send(
        &self,
        connection: &ConnectionId,
        dialect: Dialect,
        frame: &ServerFrame,
    ) -> Result<(), PushError> {
        let payloads = render(frame, dialect, self.clock.now());
        self.send_payloads(connection, &payloads).await
    }

    /// Posts already rendered frames to one connection in order, forgetting it if it is
    /// gone. The first failure ends it: a later frame must not arrive without the earlier.
    pub async fn send_payloads(
        &self,
        connection: &ConnectionId,
        payloads: &[String],
    ) -> Result<(), PushError> {
        self.deliver(connection, payloads, true).await
    }

    /// [`Self::send_payloads`], forgetting a gone connection only when `forget_gone`.
    async fn deliver(
        &self,
        connection: &ConnectionId,
        payloads: &[String],
        forget_gone: bool,
    ) -> Result<(), PushError> {
        for payload in payloads {
            self.send_payload(connection, payload.as_bytes(), forget_gone)
                .await?;
        }
        Ok(())
    }

    /// Closes one connection's socket.
    pub async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        self.pusher.close(connection).await
    }

    /// Posts bytes to one connection as they are, leaving a gone connection to the caller.
    pub async fn post_raw(
        &self,
        connection: &ConnectionId,
        payload: &[u8],
    ) -> Result<(), PushError> {
        self.pusher.post(connection, payload).await
    }

    async fn send_payload(
        &self,
        connection: &ConnectionId,
        payload: &[u8],
        forget_gone: bool,
    ) -> Result<(), PushError> {
        let result = self.pusher.post(connection, payload).await;
        match &result {
            Err(PushError::Gone) if forget_gone => {
                self.metrics
                    .record(&[Sample::count(Metric::GoneConnections, 1)]);
                self.forget(connection).await;
            }
            Err(PushError::Gone) => {
                tracing::debug!(connection = %connection, "a connection still opening was not posted to");
            }
            Err(PushError::Failed(reason)) => {
                tracing::warn!(connection = %connection, %reason, "post to connection failed");
            }
            Ok(()) => {}
        }
        result
    }

    /// Sends the frame to every connection of the session, then closes them all.
    pub async fn close_session(
        &self,
        session: SessionId,
        frame: &ServerFrame,
    ) -> StoreResult<Delivery> {
        let targets = self.connections(session).await?;
        let delivery = self.send_all(&targets, frame).await;
        let closes: Vec<_> = targets.iter().map(|connection| {
            let (this, id) = (self.clone(), connection.id.clone());
            async move {
                match this.pusher.close(&id).await {
                    Ok(()) | Err(PushError::Gone) => {}
                    Err(PushError::Failed(reason)) => {
                        tracing::warn!(connection = %id, %reason, "closing a connection failed");
                    }
                }
                // $disconnect will follow, but the session must stop counting it now.
                this.forget(&id).await;
            }
        }).collect();
        futures::stream::iter(closes)
            .buffer_unordered(FANOUT_CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
        Ok(delivery)
    }

    async fn forget(&self, connection: &ConnectionId) {
        if let Err(error) = self.connections.delete_connection(connection).await {
            tracing::warn!(connection = %connection, error = %crate::ports::error_chain(&error), "forgetting a gone connection failed");
        }
    }
}
