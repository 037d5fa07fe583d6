//! The OpenAI-compatible embeddings client against a local server answering as such
//! servers do: vectors out of order, errors with a message, answers missing vectors. The
//! request's `model` picks what the server does.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_core::ports::{Embedder, error_chain};
use chat_providers::{OpenAiEmbedder, OpenAiEmbedderSettings};
use serde_json::{Value, json};

const KEY: &str = "sk-embed-secret";

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn answer(State(seen): State<Seen>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).expect("a JSON request");
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.lock()
        .expect("lock")
        .push((authorization, body.clone()));
    let count = body["input"].as_array().map_or(0, Vec::len);
    match body["model"].as_str() {
        // Vectors in reverse order: the client must place them by `index`.
        Some("good") => {
            let data: Vec<Value> = (0..count)
                .rev()
                .map(|i| json!({"object": "embedding", "index": i, "embedding": [i as f32, 1.0]}))
                .collect();
            axum::Json(json!({"object": "list", "data": data})).into_response()
        }
        Some("short") => {
            axum::Json(json!({"data": [{"index": 0, "embedding": [1.0]}]})).into_response()
        }
        Some("refused") => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}})),
        )
            .into_response(),
        _ => (StatusCode::OK, "not json").into_response(),
    }
}

async fn server() -> (String, Seen) {
    let seen = Seen::default();
    let router = Router::new()
        .route("/v1/embeddings", post(answer))
        .with_state(seen.clone());
    let address = chat_testkit::serve(router).await;
    (format!("http://{address}/v1/"), seen)
}

fn embedder(base_url: &str, model: &str, dimensions: Option<u32>) -> OpenAiEmbedder {
    OpenAiEmbedder::new(OpenAiEmbedderSettings {
        base_url: base_url.to_owned(),
        model: model.to_owned(),
        api_key: Some(KEY.to_owned()),
        dimensions,
    })
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|t| (*t).to_owned()).collect()
}

#[tokio::test]
async fn vectors_come_back_in_the_order_of_the_texts_whatever_order_they_arrive_in() {
    let (url, seen) = server().await;
    let good = embedder(&url, "good", Some(256));
    assert_eq!(
        good.model(),
        "good@256",
        "vectors of another size never compare"
    );
    let vectors = good
        .embed(&texts(&["zero", "one", "two"]))
        .await
        .expect("vectors");
    assert_eq!(
        vectors,
        vec![vec![0.0, 1.0], vec![1.0, 1.0], vec![2.0, 1.0]]
    );
    assert!(good.embed(&[]).await.expect("nothing").is_empty());
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1, "no request for no text");
    let (authorization, body) = &seen[0];
    assert_eq!(authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
    assert_eq!(
        body,
        &json!({"model": "good", "input": ["zero", "one", "two"], "dimensions": 256})
    );
    assert_eq!(embedder(&url, "good", None).model(), "good");
}

#[tokio::test]
async fn a_refusal_a_short_answer_and_a_broken_one_are_errors_that_never_show_the_key() {
    let (url, _) = server().await;
    for (model, expected) in [
        (
            "refused",
            "HTTP 401: Incorrect API key provided: [redacted]",
        ),
        ("short", "an answer without a vector for every text"),
        ("broken", "an answer that is not embeddings"),
    ] {
        let error = embedder(&url, model, None)
            .embed(&texts(&["a", "b"]))
            .await
            .expect_err("an error");
        let chain = error_chain(&error);
        assert!(chain.contains(expected), "{model}: {chain}");
        assert!(!chain.contains(KEY), "{chain}");
    }
    let nowhere = embedder("http://127.0.0.1:9/v1", "good", None)
        .embed(&texts(&["a"]))
        .await
        .expect_err("no server");
    assert!(
        !error_chain(&nowhere).contains("127.0.0.1:9"),
        "no URL in errors"
    );
}
