//! The message path: a gap-free per-session seq under concurrent writers, catching up with
//! `after_seq` and `resume`, the rate limits at their defaults, and what a message costs
//! in DynamoDB requests (exact counts, from the store's own request metrics).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chat_aws::DynamoStore;
use chat_aws::dynamodb::{RequestCounter, local_client};
use chat_core::domain::{Member, MemberRole, SessionId, Timestamp, UserId};
use chat_e2e::{Caller, TestApp, spawn_app_with_limits, spawn_app_with_store};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// moto answers one request at a time: the suites that load it most take turns, so none
/// meets the SDK's timeouts waiting behind another.
static MOTO_IN_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every message of the session in seq order, paged with `after_seq`.
async fn all_after(app: &TestApp, session: &str, caller: &Caller, after: u64) -> Vec<Value> {
    let mut found = Vec::new();
    let mut after = after;
    loop {
        let page = app
            .get(
                &format!("/sessions/{session}/messages?after_seq={after}&limit=100"),
                caller,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        let Some(last) = items.last() else {
            return found;
        };
        after = last["seq"].as_u64().expect("a seq");
        found.extend(items);
    }
}

/// A group of `count` members, its owner first.
async fn group(app: &TestApp, count: usize) -> (String, Vec<Caller>) {
    let callers: Vec<Caller> = (0..count)
        .map(|i| app.user(&format!("writer-{i}")))
        .collect();
    let members: Vec<&str> = callers[1..].iter().map(|c| c.id.as_str()).collect();
    let session = app
        .create_session(&callers[0], json!({"kind": "group", "members": members}))
        .await;
    (session, callers)
}

/// 8 writers, `each` messages each, all at once: seqs 1 to 8 × `each`, each once.
async fn concurrent_writers_get_every_seq_once(app: &TestApp, each: u64) {
    let (session, writers) = group(app, 8).await;
    let sends = writers.iter().map(|writer| {
        let session = session.clone();
        async move {
            for i in 0..each {
                let reply = app
                    .post(
                        &format!("/sessions/{session}/messages"),
                        writer,
                        json!({"content": format!("{} says {i}", writer.id)}),
                    )
                    .await;
                assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
            }
        }
    });
    futures::future::join_all(sends).await;
    let listed = all_after(app, &session, &writers[0], 0).await;
    let seqs: Vec<u64> = listed.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=8 * each).collect::<Vec<u64>>());
    // Each writer's own messages keep their order.
    for writer in &writers {
        let own: Vec<String> = listed
            .iter()
            .filter(|m| m["sender_id"] == writer.id.as_str())
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
        let expected: Vec<String> = (0..each)
            .map(|i| format!("{} says {i}", writer.id))
            .collect();
        assert_eq!(own, expected);
    }
}

/// `resume` after a reconnect: what was missed, in seq order, then live messages; nothing
/// lost, and a seq the client has is dropped by it.
async fn a_reconnecting_client_resumes_from_its_last_seq(app: &TestApp) {
    let (session, people) = group(app, 2).await;
    let (ann, bob) = (&people[0], &people[1]);
    for i in 1..=5 {
        app.post_message(&session, ann, &format!("missed {i}"))
            .await;
    }
    let mut socket = app.connect(bob, None).await;
    socket
        .send(json!({"action": "resume", "session_id": session, "after_seq": 2}))
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let frame = socket.next_of("chat_message").await;
        seen.push(frame["message"]["seq"].as_u64().expect("a seq"));
    }
    assert_eq!(seen, [3, 4, 5]);
    app.post_message(&session, ann, "live").await;
    let live = socket.next_of("chat_message").await;
    assert_eq!(
        (&live["message"]["seq"], &live["message"]["content"]),
        (&json!(6), &json!("live"))
    );
    // The same over REST, and bad values refused.
    let after = all_after(app, &session, bob, 4).await;
    let seqs: Vec<u64> = after.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, [5, 6]);
    let bad = app
        .get(&format!("/sessions/{session}/messages?after_seq=-1"), bob)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    socket
        .send(json!({"action": "resume", "session_id": session, "after_seq": "two"}))
        .await;
    let refused = socket.next_of("error").await;
    assert_eq!(refused["code"], "invalid_frame", "{refused}");
    socket.close().await;
}

async fn eight_hundred_messages_from_eight_writers(app: &TestApp) {
    concurrent_writers_get_every_seq_once(app, 100).await;
}

/// moto answers one request at a time, and eight writers racing for one seq multiply its
/// requests: on it the race is shorter, the same race.
async fn two_hundred_messages_from_eight_writers(app: &TestApp) {
    concurrent_writers_get_every_seq_once(app, 25).await;
}

#[tokio::test]
async fn eight_concurrent_writers_get_seqs_one_to_eight_hundred_each_once() {
    let app = chat_e2e::spawn_app().await;
    eight_hundred_messages_from_eight_writers(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn eight_concurrent_writers_get_every_seq_once_on_dynamodb() {
    let _turn = MOTO_IN_TURN.lock().await;
    let Some(app) = chat_e2e::spawn_app_on_dynamodb().await else {
        return;
    };
    two_hundred_messages_from_eight_writers(&app).await;
    app.stop().await;
}

chat_e2e::on_both_stores! {
    a_reconnecting_client_resumes_from_its_last_seq => a_reconnecting_client_gets_what_it_missed_in_seq_order_then_live_messages, resuming_works_the_same_on_dynamodb;
}

/// The moto turn, for a suite on DynamoDB that counts: behind another suite, a write can
/// outlast the SDK's attempt timeout, and its retry then counts once more on moto, which
/// ignores the idempotency token DynamoDB honours.
async fn moto_turn(on_dynamodb: bool) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if on_dynamodb {
        Some(MOTO_IN_TURN.lock().await)
    } else {
        None
    }
}

/// Waits, if the minute is nearly over, for the next: the per-minute limits count in
/// fixed windows, and a check must not straddle two.
async fn fresh_minute() {
    let into_minute = Timestamp::now().unix_millis() % 60_000;
    if into_minute > 40_000 {
        tokio::time::sleep(Duration::from_millis(60_000 - into_minute + 100)).await;
    }
}

/// The default limits: 20 messages a user, then one a second (REST 429 with
/// `Retry-After`); a connection half that (`rate_limited` with `retry_after_ms`), closed
/// with 1008 after three refusals in a row; 10 public starts a minute from one address;
/// 30 connections a minute per user.
async fn the_default_limits_hold(on_dynamodb: bool) {
    // moto takes long enough per request for a refill to land mid-test: there the buckets
    // refill a hundred times slower, the burst and the rules the same.
    let slow_refill = [
        ("RATE_USER_PER_SECOND", "0.01"),
        ("RATE_CONNECTION_PER_SECOND", "0.005"),
    ];
    let settings: &[(&str, &str)] = if on_dynamodb { &slow_refill } else { &[] };
    let _turn = moto_turn(on_dynamodb).await;
    let Some(app) = spawn_app_with_limits(on_dynamodb, settings).await else {
        return;
    };
    let (session, people) = group(&app, 2).await;
    let (ann, bob) = (&people[0], &people[1]);
    let path = format!("/sessions/{session}/messages");
    for i in 0..20 {
        let reply = app
            .post(&path, ann, json!({"content": format!("{i}")}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "message {i}: {reply:?}");
    }
    let limited = app
        .post(&path, ann, json!({"content": "one too many"}))
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    assert_eq!(limited.error_code(), "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    // The time until one send refills, less what the twenty sends took.
    let refill = if on_dynamodb { 100 } else { 1 };
    assert!(
        (1..=refill).contains(&retry_after) && retry_after + 30 > refill,
        "{retry_after}"
    );
    // Bob's bucket is his own.
    let other = app.post(&path, bob, json!({"content": "mine"})).await;
    assert_eq!(other.status, StatusCode::CREATED);
    // The same text a third time in a row is spam (moderation's repeated-text rule, kept
    // with the bucket); another text starts again.
    let dan = app.user("dan");
    app.post(
        &format!("/sessions/{session}/members"),
        ann,
        json!({"user_id": "dan"}),
    )
    .await;
    for (text, status) in [
        ("Buy now!", StatusCode::CREATED),
        ("buy  now!", StatusCode::CREATED),
        ("BUY NOW!", StatusCode::UNPROCESSABLE_ENTITY),
        ("something else", StatusCode::CREATED),
    ] {
        let reply = app.post(&path, &dan, json!({"content": text})).await;
        assert_eq!(reply.status, status, "{text}: {reply:?}");
    }

    let mut socket = app.connect(bob, Some(&session)).await;
    socket.next_of("chat_history").await;
    let mut acknowledged = 0;
    let mut refusals = Vec::new();
    for i in 0..14 {
        socket
            .send(json!({"action": "send", "content": format!("fast {i}")}))
            .await;
        loop {
            let frame = socket.next().await;
            match frame["type"].as_str() {
                Some("message_received") => {
                    acknowledged += 1;
                    break;
                }
                Some("error") => {
                    refusals.push(frame);
                    break;
                }
                _ => {}
            }
        }
        if refusals.len() == 4 {
            break;
        }
    }
    // Bob had posted once over REST: his own bucket still had 19, the connection's 10.
    assert_eq!(acknowledged, 10);
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    for refusal in &refusals[..3] {
        assert_eq!(refusal["code"], "rate_limited", "{refusal}");
        assert!(
            refusal["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
            "{refusal}"
        );
        assert!(refusal.get("close_code").is_none(), "{refusal}");
    }
    assert_eq!(refusals[3]["close_code"], 1008, "{}", refusals[3]);
    assert!(socket.closed().await.is_some());

    fresh_minute().await;
    let start = || {
        app.request(
            reqwest::Method::POST,
            "/sessions/start",
            None,
            Some(json!({"business_id": "acme"})),
        )
    };
    for i in 0..10 {
        let started = start().await;
        assert_eq!(
            started.status,
            StatusCode::CREATED,
            "start {i}: {started:?}"
        );
    }
    let refused = start().await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{refused:?}");

    fresh_minute().await;
    let cy = app.user("cy");
    let mut open = Vec::new();
    for _ in 0..30 {
        open.push(app.connect(&cy, None).await);
    }
    assert_eq!(
        app.try_connect(Some(&cy), None, chat_e2e::TokenIn::Query)
            .await
            .map(|_| ()),
        Err(429)
    );
    for socket in open {
        socket.close().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_default_rate_limits_refuse_with_when_to_retry_and_close_a_connection_that_keeps_sending()
 {
    the_default_limits_hold(false).await;
}

#[tokio::test]
async fn the_default_rate_limits_hold_on_dynamodb_across_instances_state() {
    the_default_limits_hold(true).await;
}

/// A user's messages to bots count against their bot replies today, in the message's own
/// write: past the limit, the message is refused with `rate_limited`, nothing stored.
async fn bot_replies_are_limited_per_user_per_day(on_dynamodb: bool) {
    let settings = [("RATE_BOT_REPLIES_PER_USER_PER_DAY", "1")];
    let _turn = moto_turn(on_dynamodb).await;
    let Some(app) = spawn_app_with_limits(on_dynamodb, &settings).await else {
        return;
    };
    let ann = app.user("ann");
    let session = app
        .create_session(&ann, json!({"kind": "bot", "chatbot_id": "helper"}))
        .await;
    let path = format!("/sessions/{session}/messages");
    let first = app.post(&path, &ann, json!({"content": "hello bot"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app.post(&path, &ann, json!({"content": "again"})).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS, "{second:?}");
    assert!(second.error_message().contains("bot"), "{second:?}");
    let mine: Vec<Value> = all_after(&app, &session, &ann, 0)
        .await
        .into_iter()
        .filter(|m| m["is_bot"] == false)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_users_messages_to_bots_are_limited_per_day() {
    bot_replies_are_limited_per_user_per_day(false).await;
}

#[tokio::test]
async fn a_users_messages_to_bots_are_limited_per_day_on_dynamodb() {
    bot_replies_are_limited_per_user_per_day(true).await;
}

/// The requests sent from now until the store has been left alone for a while: all of
/// what was just done (its trailing writes too), and before a measurement, whatever an
/// earlier step still had in flight.
async fn requests_until_quiet(counter: &RequestCounter) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    let mut quiet_windows = 0;
    while quiet_windows < 2 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let more = counter.take();
        quiet_windows = if more.is_empty() {
            quiet_windows + 1
        } else {
            0
        };
        for (operation, count) in more {
            *total.entry(operation).or_default() += count;
        }
    }
    total
}

/// A chat message costs at most 3 DynamoDB requests over the WebSocket and over REST,
/// with 2 members and with 1,000: one read of the sender, one Query of the feed, one
/// write; a typing frame 2: its mark, and the index's peers. Exact counts, from the
/// store's request metrics.
#[tokio::test]
async fn a_chat_message_costs_three_dynamodb_requests_and_typing_two_at_two_and_a_thousand_members()
{
    let Ok(endpoint) = std::env::var("CHAT_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("CHAT_REQUIRE_DYNAMODB").as_deref() != Ok("1"),
            "CHAT_REQUIRE_DYNAMODB=1 but CHAT_DYNAMODB_ENDPOINT is not set"
        );
        return;
    };
    let _turn = MOTO_IN_TURN.lock().await;
    let counter = RequestCounter::default();
    let table = format!("costs-{}", SessionId::new(Timestamp::now()));
    let store = Arc::new(DynamoStore::counted(
        &local_client(&endpoint),
        table,
        counter.clone(),
    ));
    store.create_table_if_absent().await.expect("a table");
    let app = spawn_app_with_store(store.clone()).await;
    for size in [2usize, 1_000] {
        let (session, people) = group(&app, 2).await;
        let id = SessionId::parse(&session).expect("an id");
        // The other members, written straight to the store: only their number matters.
        futures::stream::iter(2..size)
            .for_each_concurrent(4, |i| {
                let store = store.clone();
                async move {
                    let user = UserId::parse(&format!("member-{i}")).expect("an id");
                    let member = Member::new(id, user, MemberRole::Member, None, Timestamp::now());
                    chat_core::ports::SessionStore::add_member(store.as_ref(), &member)
                        .await
                        .expect("a member");
                }
            })
            .await;
        let (ann, bob) = (&people[0], &people[1]);
        let mut sender = app.connect(ann, Some(&session)).await;
        let mut listener = app.connect(bob, Some(&session)).await;
        sender.next_of("chat_history").await;
        listener.next_of("chat_history").await;
        sender.drain(Duration::from_millis(300)).await;
        listener.drain(Duration::from_millis(300)).await;

        requests_until_quiet(&counter).await;
        sender
            .send(json!({"action": "send", "content": "how much?"}))
            .await;
        sender.next_of("message_received").await;
        listener.next_of("chat_message").await;
        let websocket = requests_until_quiet(&counter).await;
        assert_eq!(
            websocket.values().sum::<u64>(),
            3,
            "a WebSocket send with {size} members: {websocket:?}"
        );

        let posted = app
            .post(
                &format!("/sessions/{session}/messages"),
                ann,
                json!({"content": "and over REST?"}),
            )
            .await;
        assert_eq!(posted.status, StatusCode::CREATED);
        listener.next_of("chat_message").await;
        let rest = requests_until_quiet(&counter).await;
        assert_eq!(
            rest.values().sum::<u64>(),
            3,
            "a REST post with {size} members: {rest:?}"
        );
        sender
            .send(json!({"action": "typing", "is_typing": true}))
            .await;
        listener.next_of("typing_status").await;
        let typing = requests_until_quiet(&counter).await;
        assert_eq!(
            typing.values().sum::<u64>(),
            2,
            "a typing frame with {size} members: {typing:?}"
        );
        let seqs: BTreeSet<u64> = all_after(&app, &session, ann, 0)
            .await
            .iter()
            .filter_map(|m| m["seq"].as_u64())
            .collect();
        assert_eq!(seqs, BTreeSet::from([1, 2]));
        sender.close().await;
        listener.close().await;
    }
    app.stop().await;
}
