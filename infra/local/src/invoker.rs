//! Lambda's asynchronous invocation, played locally: a job is handed to a background
//! task and the caller goes on at once. The job travels as JSON, as it would to Lambda.

use std::sync::Arc;

use async_trait::async_trait;
use chat_core::ports::{InvokeError, Invoker, Job};
use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub struct BackgroundInvoker {
    jobs: mpsc::UnboundedSender<serde_json::Value>,
}

/// The jobs an invoker has been handed, waiting for `serve`.
pub struct Queue(mpsc::UnboundedReceiver<serde_json::Value>);

/// Runs one job, as the function it is meant for would.
pub type JobHandler =
    Arc<dyn Fn(Job) -> BoxFuture<'static, Result<(), lambda_runtime::Error>> + Send + Sync>;

impl BackgroundInvoker {
    pub fn new() -> (Self, Queue) {
        let (jobs, queued) = mpsc::unbounded_channel();
        (Self { jobs }, Queue(queued))
    }
}

/// Runs each queued job in its own task, as Lambda runs each asynchronous invocation in
/// its own; stops when every invoker is dropped.
pub fn serve(mut queue: Queue, handler: JobHandler) {
    tokio::spawn(async move {
        while let Some(payload) = queue.0.recv().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                match serde_json::from_value::<Job>(payload) {
                    Ok(job) => {
                        if let Err(error) = handler(job).await {
                            tracing::warn!(%error, "a background job failed");
                        }
                    }
                    Err(error) => tracing::error!(%error, "a background job did not parse"),
                }
            });
        }
    });
}

#[async_trait]
impl Invoker for BackgroundInvoker {
    async fn invoke(&self, job: &Job) -> Result<(), InvokeError> {
        let payload = serde_json::to_value(job).map_err(|e| InvokeError(Box::new(e)))?;
        self.jobs
            .send(payload)
            .map_err(|_| InvokeError("the background worker stopped".into()))
    }
}
