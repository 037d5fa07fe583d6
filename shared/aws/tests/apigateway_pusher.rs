//! The API Gateway pusher against a stand-in Management API that answers as API Gateway
//! does: 410 Gone for a vanished connection, 429 LimitExceeded when throttling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_aws::ApiGatewayPusher;
use chat_core::domain::ConnectionId;
use chat_core::ports::{PushError, Pusher};

#[derive(Default)]
struct Calls {
    posts: AtomicUsize,
}

/// `throttled-N` is throttled N times then accepted; `gone` is gone; `broken` fails.
async fn post_to_connection(State(calls): State<Arc<Calls>>, Path(id): Path<String>) -> Response {
    let attempt = calls.posts.fetch_add(1, Ordering::SeqCst);
    let error = |status: StatusCode, kind: &'static str| {
        (status, [("x-amzn-ErrorType", kind)], r#"{"message":null}"#).into_response()
    };
    match id.as_str() {
        "gone" => error(StatusCode::GONE, "GoneException"),
        "broken" => error(StatusCode::FORBIDDEN, "ForbiddenException"),
        throttled => {
            let times: usize = throttled
                .trim_start_matches("throttled-")
                .parse()
                .unwrap_or(0);
            if attempt < times {
                error(StatusCode::TOO_MANY_REQUESTS, "LimitExceededException")
            } else {
                StatusCode::OK.into_response()
            }
        }
    }
}

async fn serve() -> (ApiGatewayPusher, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let app = Router::new()
        .route("/@connections/{id}", post(post_to_connection))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (ApiGatewayPusher::local(&format!("http://{address}")), calls)
}

fn id(value: &str) -> ConnectionId {
    ConnectionId::parse(value).expect("an id")
}

#[tokio::test]
async fn a_throttled_post_is_retried_until_it_goes_through() {
    let (pusher, calls) = serve().await;
    pusher
        .post(&id("throttled-2"), b"{}")
        .await
        .expect("delivered on the third try");
    assert_eq!(calls.posts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn throttling_that_persists_gives_up_after_three_tries() {
    let (pusher, calls) = serve().await;
    let outcome = pusher.post(&id("throttled-9"), b"{}").await;
    assert!(matches!(outcome, Err(PushError::Failed(_))), "{outcome:?}");
    assert_eq!(calls.posts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_gone_connection_is_reported_as_gone_at_once() {
    let (pusher, calls) = serve().await;
    assert!(matches!(
        pusher.post(&id("gone"), b"{}").await,
        Err(PushError::Gone)
    ));
    assert_eq!(
        calls.posts.load(Ordering::SeqCst),
        1,
        "no retry for a gone connection"
    );
    assert!(matches!(
        pusher.post(&id("broken"), b"{}").await,
        Err(PushError::Failed(_))
    ));
}
