//! The REST router on its own, as `lambda_http` runs it in Lambda: requests in, answers
//! out, on the embedded store. What the router itself decides is checked here (routes,
//! methods, bodies, the error body, and that routes, methods and answers are those of the
//! OpenAPI document); the end-to-end suites cover the API's behaviour.

use std::sync::Arc;

use axum::body::Body;
use chat_core::auth::{Claims, issue_hs256};
use chat_core::compose::{Adapters, Services};
use chat_core::config::Config;
use chat_core::ports::{NoKeySets, Pusher, SystemClock};
use chat_embedded::EmbeddedStore;
use chat_testkit::NoSockets;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "a-router-test-secret-long-enough-to-sign";

fn app() -> axum::Router {
    chat_rest::app(state())
}

fn state() -> Arc<chat_rest::State> {
    let config = Config::from_source(&[("JWT_SECRET", SECRET), ("TABLE_NAME", "unused")])
        .expect("a configuration");
    let services = Services::new(
        &config,
        Adapters {
            store: Arc::new(EmbeddedStore::new()),
            pushers: Arc::new(|_: &str| Arc::new(NoSockets) as Arc<dyn Pusher>),
            blobs: None,
            bot_invoker: None,
            clock: Arc::new(SystemClock),
        },
    );
    chat_rest::State::new(
        &config,
        &services,
        "http://127.0.0.1:1",
        Arc::new(NoKeySets),
    )
}

fn token() -> String {
    let claims = Claims {
        sub: "ann".into(),
        exp: 4_102_444_800,
        iat: None,
        role: None,
        name: None,
        org: None,
        iss: None,
        aud: None,
    };
    issue_hs256(&claims, SECRET.as_bytes()).expect("a token")
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

async fn send(method: Method, path: &str, body: Option<&str>) -> Answer {
    send_to(app(), method, path, body).await
}

async fn send_to(router: axum::Router, method: Method, path: &str, body: Option<&str>) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", token()))
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("a request");
    let response = router.oneshot(request).await.expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn message(answer: &Answer) -> &str {
    answer.body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_the_error_body() {
    let nowhere = send(Method::GET, "/nowhere", None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(
        nowhere.body,
        json!({"error": {"code": "not_found", "message": "no such route"}})
    );
    let wrong = send(Method::PUT, "/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV", None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers["allow"], "GET, PATCH, DELETE");
    assert_eq!(wrong.body["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn a_trailing_slash_reaches_the_same_route() {
    let health = send(Method::GET, "/health/", None).await;
    assert_eq!(
        (health.status, health.body),
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn seed_004s_upload_is_served_by_either_function_that_its_path_may_reach() {
    for router in [chat_rest::uploads(state()), chat_rest::sessions(state())] {
        let answer = send_to(router, Method::POST, "/chat/upload-file/", Some("{}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
        assert_eq!(
            message(&answer),
            "the body must be multipart/form-data with a boundary"
        );
    }
}

#[tokio::test]
async fn every_answer_names_its_request() {
    let first = send(Method::GET, "/health", None).await;
    let second = send(Method::GET, "/nowhere", None).await;
    let id = |answer: &Answer| answer.headers["x-request-id"].to_str().map(str::to_owned);
    assert_ne!(id(&first).expect("an id"), id(&second).expect("an id"));
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_are_refused_naming_the_field_and_no_rust_type() {
    let array = send(Method::POST, "/sessions", Some("[1, 2]")).await;
    assert_eq!(
        (array.status, message(&array)),
        (StatusCode::BAD_REQUEST, "the body must be a JSON object")
    );
    for (body, field) in [
        (r#"{"kind": 5}"#, "kind"),
        (r#"{"kind": "group", "members": "bob"}"#, "members"),
        (r#"{"kind": "group", "title": {"a": 1}}"#, "title"),
    ] {
        let refused = send(Method::POST, "/sessions", Some(body)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        let text = message(&refused);
        assert!(text.starts_with(&format!("{field}: ")), "{text}");
        for rust in ["struct", "enum ", "CreateSession", "SessionKind", "Vec<"] {
            assert!(!text.contains(rust), "{text}");
        }
    }
    let posted = send(
        Method::POST,
        "/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV/messages",
        Some(r#"{"content": 5}"#),
    )
    .await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST);
    assert!(
        message(&posted).starts_with("content: "),
        "{}",
        message(&posted)
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_too_large() {
    let huge = format!(
        r#"{{"kind": "group", "title": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let refused = send(Method::POST, "/sessions", Some(&huge)).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.body["error"]["code"], "too_large");
}

/// The keys of an OpenAPI path item that are operations.
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document's operations, as (path, method).
fn documented_operations() -> Vec<(String, Method)> {
    let document = serde_json::to_value(chat_rest::openapi()).expect("a JSON document");
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item").keys();
            methods
                .filter(|key| OPERATION_KEYS.contains(&key.as_str()))
                .filter_map(|method| Method::from_bytes(method.to_uppercase().as_bytes()).ok())
                .map(|method| (path.clone(), method))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A path of the document with every `{parameter}` filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "01ARZ3NDEKTSV4RRFFQ69G5FAV"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The router's own answer for a path it has no route for.
fn is_no_route(answer: &Answer) -> bool {
    answer.status == StatusCode::NOT_FOUND
        && message(answer) == chat_rest::ApiError::NoRoute.to_string()
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let operations = documented_operations();
    assert!(operations.len() > 40, "{operations:?}");
    for (path, method) in operations {
        let answer = send(method.clone(), &concrete(&path), None).await;
        assert!(
            !is_no_route(&answer) && answer.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is in the OpenAPI document but not routed: {} {:?}",
            answer.status,
            answer.body
        );
    }
}

#[tokio::test]
async fn every_routed_method_of_a_documented_path_is_documented() {
    let operations = documented_operations();
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let paths: std::collections::BTreeSet<&String> = operations.iter().map(|(p, _)| p).collect();
    for path in paths {
        for method in &methods {
            if operations.contains(&(path.clone(), method.clone())) {
                continue;
            }
            let answer = send(method.clone(), &concrete(path), None).await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is routed but not in the OpenAPI document"
            );
        }
    }
}

/// Checks `answer` against the schema the document gives `method template` for its status
/// (or its class, `4XX`), as JSON Schema 2020-12 with the document's components.
fn assert_documented(method: &Method, template: &str, answer: &Answer) {
    let document = serde_json::to_value(chat_rest::openapi()).expect("a JSON document");
    let operation = &document["paths"][template][method.as_str().to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not documented"
    );
    let status = answer.status.as_u16();
    let responses = &operation["responses"];
    let mut response = [status.to_string(), format!("{}XX", status / 100)]
        .iter()
        .map(|key| &responses[key])
        .find(|response| !response.is_null())
        .unwrap_or_else(|| panic!("{method} {template}: {status} is not documented"));
    if let Some(name) = response["$ref"]
        .as_str()
        .and_then(|reference| reference.strip_prefix("#/components/responses/"))
    {
        response = &document["components"]["responses"][name];
    }
    let mut schema = response["content"]["application/json"]["schema"].clone();
    schema["components"] = document["components"].clone();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&answer.body)
        .map(|error| format!("at {}: {error}", error.instance_path().as_str()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} answered {status} off its schema: {errors:?}\n{}",
        answer.body
    );
}

/// Sends a request to `router` and checks its answer against the document.
async fn documented(
    router: &axum::Router,
    method: Method,
    template: &str,
    path: &str,
    body: Option<&str>,
) -> Answer {
    let answer = send_to(router.clone(), method.clone(), path, body).await;
    assert_documented(&method, template, &answer);
    answer
}

#[tokio::test]
async fn a_session_s_routes_answer_as_the_openapi_document_says() {
    let router = &app();
    documented(router, Method::GET, "/health", "/health", None).await;
    let created = documented(
        router,
        Method::POST,
        "/sessions",
        "/sessions",
        Some(r#"{"kind": "group", "title": "Docs", "members": ["bob"]}"#),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["session"]["id"].as_str().expect("an id");
    let session = format!("/sessions/{id}");
    let posted = documented(
        router,
        Method::POST,
        "/sessions/{id}/messages",
        &format!("{session}/messages"),
        Some(r#"{"content": "hello", "client_msg_id": "c1"}"#),
    )
    .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{:?}", posted.body);
    let message = posted.body["message"]["id"].as_str().expect("an id");
    let reacted = documented(
        router,
        Method::POST,
        "/sessions/{id}/messages/{mid}/reactions",
        &format!("{session}/messages/{message}/reactions"),
        Some(r#"{"reaction": "👍"}"#),
    )
    .await;
    assert_eq!(reacted.status, StatusCode::OK, "{:?}", reacted.body);
    for (template, path) in [
        ("/sessions", "/sessions".to_owned()),
        ("/sessions/{id}", session.clone()),
        ("/sessions/{id}/messages", format!("{session}/messages")),
        ("/sessions/{id}/history", format!("{session}/history")),
        ("/sessions/{id}/full", format!("{session}/full")),
        (
            "/sessions/{id}/connections",
            format!("{session}/connections"),
        ),
        ("/usage/{id}", "/usage/ann".to_owned()),
        ("/chatbots", "/chatbots".to_owned()),
        ("/chat/{id}", format!("/chat/{id}")),
        ("/chat/history/{id}", format!("/chat/history/{id}")),
    ] {
        let answer = documented(router, Method::GET, template, &path, None).await;
        assert!(answer.status.as_u16() < 500, "{path}: {:?}", answer.body);
    }
    let refused = documented(
        router,
        Method::GET,
        "/sessions/{id}",
        "/sessions/not-an-id",
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let ended = documented(router, Method::DELETE, "/sessions/{id}", &session, None).await;
    assert_eq!(ended.status, StatusCode::OK, "{:?}", ended.body);
}

#[tokio::test]
async fn the_seed_routes_answer_as_the_openapi_document_says() {
    let router = &app();
    let chat = documented(
        router,
        Method::POST,
        "/chat",
        "/chat",
        Some(r#"{"user_id": "ann"}"#),
    )
    .await;
    assert_eq!(chat.status, StatusCode::CREATED, "{:?}", chat.body);
    let id = chat.body["_id"].as_str().expect("an id");
    let posted = documented(
        router,
        Method::POST,
        "/chat/{id}/messages",
        &format!("/chat/{id}/messages"),
        Some(r#"{"message": "hello"}"#),
    )
    .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{:?}", posted.body);
    for (template, path) in [
        ("/chat/{id}", format!("/chat/{id}")),
        ("/chat/{id}/full", format!("/chat/{id}/full")),
        ("/chat/{id}/messages", format!("/chat/{id}/messages")),
        ("/chat/user/{id}", "/chat/user/ann".to_owned()),
        ("/chat/ws/{id}/status", format!("/chat/ws/{id}/status")),
        (
            "/api/chat/sessions/{id}",
            format!("/api/chat/sessions/{id}"),
        ),
    ] {
        let answer = documented(router, Method::GET, template, &path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    }
    let bot = documented(
        router,
        Method::POST,
        "/chatbot/{id}/session",
        "/chatbot/assistant/session",
        None,
    )
    .await;
    assert!(bot.status.is_success(), "{:?}", bot.body);
    let support = documented(
        router,
        Method::POST,
        "/chat/start-session",
        "/chat/start-session",
        Some(r#"{"business": "acme"}"#),
    )
    .await;
    assert!(support.status.is_success(), "{:?}", support.body);
}
