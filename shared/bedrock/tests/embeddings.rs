//! The Titan embeddings client against a local server answering InvokeModel as Bedrock
//! does: a JSON body with `embedding`, or a JSON error with its type in
//! `x-amzn-ErrorType`. The model id picks what the server does.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_bedrock::BedrockEmbedder;
use chat_core::ports::{Embedder, error_chain};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn invoke(State(seen): State<Seen>, Path(model_id): Path<String>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock()
        .expect("lock")
        .push((model_id.clone(), body.clone()));
    match model_id.as_str() {
        "denied" => (
            StatusCode::FORBIDDEN,
            [(
                header::HeaderName::from_static("x-amzn-errortype"),
                "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            )],
            json!({"message": "You don't have access to the model with the specified model ID."})
                .to_string(),
        )
            .into_response(),
        "empty" => axum::Json(json!({"inputTextTokenCount": 1})).into_response(),
        _ => {
            // A vector that says which text it is for: its length in characters.
            let length = body["inputText"].as_str().map_or(0, str::len) as f64;
            axum::Json(json!({"embedding": [length, 1.0], "inputTextTokenCount": 3}))
                .into_response()
        }
    }
}

async fn serve() -> (String, Seen) {
    let seen = Seen::default();
    let router = Router::new()
        .route("/model/{model_id}/invoke", post(invoke))
        .with_state(seen.clone());
    let address = chat_testkit::serve(router).await;
    (format!("http://{address}"), seen)
}

#[tokio::test]
async fn each_text_is_embedded_by_its_own_request_and_the_vectors_keep_the_texts_order() {
    let (endpoint, seen) = serve().await;
    let titan = BedrockEmbedder::local(&endpoint, "amazon.titan-embed-text-v2:0", Some(256));
    assert_eq!(titan.model(), "amazon.titan-embed-text-v2:0@256");
    let texts: Vec<String> = (1..=20).map(|n| "x".repeat(n)).collect();
    let vectors = titan.embed(&texts).await.expect("vectors");
    let lengths: Vec<f32> = vectors.iter().map(|v| v[0]).collect();
    assert_eq!(lengths, (1..=20).map(|n| n as f32).collect::<Vec<_>>());
    let requests = seen.lock().expect("lock").clone();
    assert_eq!(requests.len(), 20);
    assert!(
        requests
            .iter()
            .all(|(model, _)| model == "amazon.titan-embed-text-v2:0")
    );
    // Sent a few at a time, so in any order.
    assert!(
        requests
            .iter()
            .any(|(_, body)| body
                == &json!({"inputText": "x", "dimensions": 256, "normalize": true})),
        "{requests:?}"
    );
    let v1 = BedrockEmbedder::local(&endpoint, "amazon.titan-embed-text-v1", None);
    v1.embed(&["a".to_owned()]).await.expect("a vector");
}

#[tokio::test]
async fn a_denied_model_and_an_answer_without_a_vector_are_errors() {
    let (endpoint, _) = serve().await;
    let denied = BedrockEmbedder::local(&endpoint, "denied", None)
        .embed(&["a".to_owned()])
        .await
        .expect_err("denied");
    assert!(
        error_chain(&denied).contains("AccessDeniedException"),
        "{}",
        error_chain(&denied)
    );
    let empty = BedrockEmbedder::local(&endpoint, "empty", None)
        .embed(&["a".to_owned()])
        .await
        .expect_err("no vector");
    assert!(error_chain(&empty).contains("without an embedding"));
}
