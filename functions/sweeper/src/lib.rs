//! The sweeper: run on a schedule (EventBridge Scheduler; locally, chat-local's timer and
//! `POST /_local/sweep`), it ends idle bot and support sessions as `DELETE /sessions/{id}`
//! ends them, and removes uploads announced and never sent, with their objects, and
//! connections past their expiry. The work is the core's `ChatService::sweep`.

use chat_core::compose::Services;
use chat_core::config::Config;
use chat_core::domain::Timestamp;
use chat_core::ports::error_chain;
use chat_core::service::{SweepPolicy, SweepReport};
use lambda_runtime::Error;
use serde::Deserialize;

/// What the function builds at cold start.
pub struct App {
    pub services: Services,
    pub policy: SweepPolicy,
    /// The WebSocket API's management endpoint `session_ended` is posted through.
    pub endpoint: String,
}

impl App {
    pub fn new(services: Services, config: &Config, endpoint: String) -> Self {
        Self {
            services,
            policy: SweepPolicy::new(config.limits.session_idle),
            endpoint,
        }
    }
}

/// What a run is asked: the schedule sends `{}`; `as_of` sweeps as of another time.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SweepRequest {
    #[serde(default)]
    pub as_of: Option<Timestamp>,
}

/// One sweep.
pub async fn handle(app: &App, request: SweepRequest) -> Result<SweepReport, Error> {
    let as_of = request.as_of.unwrap_or_else(|| app.services.clock().now());
    app.services
        .for_endpoint(&app.endpoint)
        .sweep(as_of, &app.policy)
        .await
        // The runtime logs what the invocation failed with: the whole cause.
        .map_err(|error| error_chain(&error).into())
}
