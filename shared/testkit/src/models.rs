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

/// An OpenAI-compatible chat-completions server on a free loopback port that keeps every
/// request body it gets and streams `reply` word by word: the end-to-end suites read
/// what the model was asked (system text, turns, model, temperature) from it. It serves
/// `/v1/embeddings` too, with [`concept_vector`]s.
pub struct RecordingModel {
    pub base_url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    embedded: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

/// The word groups [`concept_vector`] knows: words of one group mean alike.
const CONCEPTS: &[&[&str]] = &[
    &["wifi", "wireless", "internet", "network"],
    &["password", "passphrase", "code", "key"],
    &["guest", "guests", "visitor", "visitors"],
    &["parking", "car", "cars", "garage"],
    &["lunch", "food", "canteen", "meal"],
];

/// A stand-in embedding that knows a few synonyms: a dimension per group of
/// [`CONCEPTS`], counting its words, and a faint one for any other word, so texts that
/// share no word but mean alike (`wireless passphrase`, `wifi password`) lie close.
pub fn concept_vector(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; CONCEPTS.len() + 1];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        match CONCEPTS
            .iter()
            .position(|group| group.contains(&word.as_str()))
        {
            Some(at) => vector[at] += 1.0,
            None => vector[CONCEPTS.len()] += 0.01,
        }
    }
    vector
}

impl RecordingModel {
    pub async fn start(reply: &str) -> Self {
        use axum::extract::State;
        type Kept = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;
        let requests: Kept = Kept::default();
        let words: Vec<String> = reply.split_inclusive(' ').map(str::to_owned).collect();
        let answer = move |State(kept): State<Kept>,
                           axum::Json(body): axum::Json<serde_json::Value>| {
            let words = words.clone();
            async move {
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                let mut steps: Vec<Step> = words
                    .iter()
                    .map(|word| {
                        let chunk = serde_json::json!({
                            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]
                        });
                        Step::Send(format!("data: {chunk}\n\n").into_bytes())
                    })
                    .collect();
                steps.push(Step::Send(b"data: [DONE]\n\n".to_vec()));
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(stream_body(steps, ()))
                    .expect("a response")
            }
        };
        let embedded: Kept = Kept::default();
        let embed = |State(kept): State<Kept>, axum::Json(body): axum::Json<serde_json::Value>| async move {
            let texts: Vec<String> = body["input"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|text| text.as_str().map(str::to_owned))
                .collect();
            kept.lock().unwrap_or_else(|p| p.into_inner()).push(body);
            let data: Vec<serde_json::Value> = texts
                .iter()
                .enumerate()
                .rev()
                .map(|(index, text)| serde_json::json!({"index": index, "embedding": concept_vector(text)}))
                .collect();
            axum::Json(serde_json::json!({"object": "list", "data": data}))
        };
        let router = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(answer))
            .with_state(requests.clone())
            .merge(
                axum::Router::new()
                    .route("/v1/embeddings", axum::routing::post(embed))
                    .with_state(embedded.clone()),
            );
        let address = crate::serve(router).await;
        Self {
            base_url: format!("http://{address}/v1"),
            requests,
            embedded,
        }
    }

    /// Every embeddings request body so far, oldest first (the vectors come back in
    /// reverse order of `index`, as servers may send them).
    pub fn embedding_requests(&self) -> Vec<serde_json::Value> {
        self.embedded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every request body so far, oldest first.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
