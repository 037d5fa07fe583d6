//! The local server serves the REST API's OpenAPI document, without a token: the one
//! committed as `docs/openapi.json` (which chat-rest's own tests keep current).

use chat_e2e::spawn_app;
use reqwest::StatusCode;
use serde_json::Value;

const COMMITTED: &str = include_str!("../../docs/openapi.json");

#[tokio::test]
async fn the_local_server_serves_the_openapi_document_without_a_token() {
    let app = spawn_app().await;
    let answer = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let served: Value = answer.json().await.expect("a JSON document");
    let committed: Value = serde_json::from_str(COMMITTED).expect("docs/openapi.json is JSON");
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
    app.stop().await;
}
