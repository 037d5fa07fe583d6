//! The sweeper, locally: the `sweeper` function's handler on a timer (as EventBridge
//! Scheduler runs it), and `POST /_local/sweep` on the HTTP port (loopback only, like
//! `/_blobs/`), which runs one sweep now, or as of the body's `as_of`, so tests and people
//! can see it work without waiting.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// Where a sweep is asked for.
pub const SWEEP_PATH: &str = "/_local/sweep";

pub fn router(app: Arc<sweeper::App>) -> Router {
    Router::new()
        .route(SWEEP_PATH, post(sweep_now))
        .with_state(app)
}

async fn sweep_now(State(app): State<Arc<sweeper::App>>, body: Bytes) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        sweeper::SweepRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(error) => {
                let message =
                    format!("the body is {{\"as_of\": \"<RFC 3339 time>\"}} or empty: {error}");
                return crate::local_error(StatusCode::BAD_REQUEST, "invalid_request", &message);
            }
        }
    };
    match sweeper::handle(&app, request).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(error) => {
            tracing::error!(%error, "a sweep failed");
            crate::local_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the sweep failed; see the server's log",
            )
        }
    }
}

/// Sweeps every `every` until the server stops.
pub fn run_on_timer(
    app: Arc<sweeper::App>,
    every: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let mut stop = std::pin::pin!(stop);
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if let Err(error) = sweeper::handle(&app, sweeper::SweepRequest::default()).await {
                        tracing::warn!(%error, "a scheduled sweep failed");
                    }
                }
                () = &mut stop => return,
            }
        }
    });
}
