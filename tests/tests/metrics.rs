//! The metrics the functions publish (CloudWatch EMF in Lambda), recorded through the same
//! port by the local server running the same handlers: exact counts per event, never
//! timings.

use std::sync::Arc;

use chat_core::metrics::Metric;
use chat_e2e::{Parts, TestApp, spawn_app_with};
use chat_testkit::metrics::RecordedMetrics;
use reqwest::StatusCode;
use serde_json::json;

async fn recorded(settings: Vec<(&'static str, String)>) -> (TestApp, Arc<RecordedMetrics>) {
    let metrics = Arc::new(RecordedMetrics::default());
    let app = spawn_app_with(Parts {
        settings,
        metrics: Some(metrics.clone()),
        ..Parts::default()
    })
    .await;
    (app, metrics)
}

#[tokio::test]
async fn a_message_counts_once_posted_with_the_connections_it_fanned_out_to() {
    let (app, metrics) = recorded(vec![]).await;
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    let mut sockets = Vec::new();
    for caller in [&ann, &bob, &bob] {
        let mut socket = app.connect(caller, Some(&session)).await;
        socket.next_of("chat_history").await;
        sockets.push(socket);
    }
    metrics.take();
    sockets[0]
        .send(json!({"action": "send", "content": "over the socket"}))
        .await;
    for socket in &mut sockets {
        socket.next_of("chat_message").await;
    }
    let posted = app
        .post(
            &format!("/sessions/{session}/messages"),
            &bob,
            json!({"content": "over REST"}),
        )
        .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{posted:?}");
    for socket in &mut sockets {
        socket.next_of("chat_message").await;
    }
    assert_eq!(metrics.total(Metric::MessagesPosted), 2.0);
    assert_eq!(metrics.samples(Metric::FanOutSize), 2);
    assert_eq!(
        metrics.total(Metric::FanOutSize),
        6.0,
        "three connections each"
    );
    assert_eq!(metrics.samples(Metric::FanOutDuration), 2);
    assert_eq!(metrics.total(Metric::ModerationRefusals), 0.0);
    app.stop().await;
}

#[tokio::test]
async fn a_moderated_or_rate_limited_request_counts_once_over_the_socket_and_over_rest() {
    let (app, metrics) = recorded(vec![("RATE_USER_BURST", "3".to_owned())]).await;
    let ann = app.user("ann");
    let session = app.create_session(&ann, json!({"kind": "group"})).await;
    let mut socket = app.connect(&ann, Some(&session)).await;
    socket.next_of("chat_history").await;
    socket
        .send(json!({"action": "send", "content": "click javascript:alert(1)"}))
        .await;
    assert_eq!(socket.next_of("error").await["code"], "moderated");
    let path = format!("/sessions/{session}/messages");
    let refused = app
        .post(&path, &ann, json!({"content": "javascript:alert(2)"}))
        .await;
    assert_eq!(refused.error_code(), "moderated", "{refused:?}");
    assert_eq!(metrics.total(Metric::ModerationRefusals), 2.0);
    let mut limited = 0;
    for i in 0..6 {
        let reply = app
            .post(&path, &ann, json!({"content": format!("{i}")}))
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "the burst of three is spent");
    assert_eq!(metrics.total(Metric::RateLimitRefusals), f64::from(limited));
    app.stop().await;
}

#[tokio::test]
async fn a_bot_reply_counts_its_tokens_and_the_time_to_its_first_chunk() {
    let (app, metrics) = recorded(vec![]).await;
    let ann = app.user("ann");
    let (_, mut socket) = app.bot_session(&ann).await;
    metrics.take();
    socket
        .send(json!({"action": "send", "content": "tell me something"}))
        .await;
    let complete = socket.next_of("response_complete").await;
    let tokens = complete["token_count"].as_f64().expect("a token count");
    assert!(tokens > 0.0, "{complete}");
    assert_eq!(metrics.samples(Metric::BotTokens), 1);
    assert_eq!(metrics.total(Metric::BotTokens), tokens);
    assert_eq!(metrics.samples(Metric::TimeToFirstChunk), 1);
    assert_eq!(
        metrics.total(Metric::MessagesPosted),
        2.0,
        "the question and the reply"
    );
    app.stop().await;
}
