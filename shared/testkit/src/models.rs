//! What the model adapters' suites share: a scripted streaming answer for their local
//! servers, and starting a reply and reading it to the end, each within a patience that
//! only catches hangs.

use std::time::Duration;

use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream};
use futures::StreamExt;

/// Far above any local round trip: only a hang trips it.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub async fn start(model: &dyn ChatModel, prompt: &Prompt) -> ReplyStream {
    match tokio::time::timeout(PATIENCE, model.reply(prompt))
        .await
        .expect("an answer in time")
    {
        Ok(stream) => stream,
        Err(error) => panic!("the reply did not start: {error:?}"),
    }
}

pub async fn refusal(model: &dyn ChatModel, prompt: &Prompt) -> ModelError {
    match tokio::time::timeout(PATIENCE, model.reply(prompt))
        .await
        .expect("an answer in time")
    {
        Ok(_) => panic!("the reply started"),
        Err(error) => error,
    }
}

pub async fn collect(stream: ReplyStream) -> Vec<Result<ReplyEvent, ModelError>> {
    tokio::time::timeout(PATIENCE, stream.collect())
        .await
        .expect("the stream ends in time")
}

pub fn text(value: &str) -> Result<ReplyEvent, ModelError> {
    Ok(ReplyEvent::Text(value.to_owned()))
}

/// One thing a test server does while streaming its answer.
pub enum Step {
    Send(Vec<u8>),
    Wait(Duration),
    /// Breaks the connection off.
    Fail,
    /// Keeps the connection open, sending nothing more.
    Hang,
}

/// A response body that plays `steps`; `guard` is dropped with the body (when it ends or
/// the client hangs up), so a test can tell.
pub fn stream_body<G: Send + 'static>(steps: Vec<Step>, guard: G) -> axum::body::Body {
    let stream = futures::stream::unfold(
        (steps.into_iter(), guard),
        |(mut steps, guard)| async move {
            loop {
                match steps.next()? {
                    Step::Send(bytes) => return Some((Ok(bytes), (steps, guard))),
                    Step::Wait(pause) => tokio::time::sleep(pause).await,
                    Step::Fail => {
                        return Some((Err(std::io::Error::other("hung up")), (steps, guard)));
                    }
                    Step::Hang => futures::future::pending::<()>().await,
                }
            }
        },
    );
    axum::body::Body::from_stream(stream)
}
