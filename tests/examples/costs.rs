//! What each REST route and WebSocket frame costs in DynamoDB requests (through the local
//! server on moto, at `CHAT_DYNAMODB_ENDPOINT`), whether a chat message's cost grows with
//! the session (2 vs 200 members), and how long one message takes to reach 100 and 1,000
//! local connections (embedded store, in this process; `load.rs` times it against
//! chat-local's own process with a slow Management API).
//! Run by `infra/bench.sh`; prints rows of the benchmarks' one Markdown table
//! (docs/benchmarks.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_aws::DynamoStore;
use chat_aws::dynamodb::{RequestCounter, local_client};
use chat_core::domain::{SessionId, Timestamp};
use chat_e2e::{Caller, Socket, TestApp, spawn_app, spawn_app_with_store};
use serde_json::json;

/// Time for effects after a reply (broadcasts of WebSocket frames) to finish.
const SETTLE: Duration = Duration::from_millis(150);

struct Costs {
    counter: RequestCounter,
    /// Each step, its requests by operation, and the bytes their answers brought.
    rows: Vec<(String, BTreeMap<String, u64>, u64)>,
}

impl Costs {
    fn record(&mut self, name: &str) {
        let (counts, bytes) = (self.counter.take(), self.counter.take_bytes());
        self.rows.push((name.to_owned(), counts, bytes));
    }

    /// Forgets what was sent since the last step.
    fn reset(&self) {
        self.counter.take();
        self.counter.take_bytes();
    }

    fn print(&self) {
        for (name, counts, bytes) in &self.rows {
            let total: u64 = counts.values().sum();
            let detail: Vec<String> = counts.iter().map(|(op, n)| format!("{n} {op}")).collect();
            row(
                "DynamoDB requests",
                name,
                &total.to_string(),
                &format!("{}; {bytes} bytes read", detail.join(", ")),
            );
        }
    }
}

/// The columns of the benchmarks' table, which `infra/bench.sh` gathers every row into.
const TABLE_HEADER: &str = "| benchmark | case | figure | detail |\n|---|---|---|---|";

fn row(benchmark: &str, case: &str, figure: &str, detail: &str) {
    println!("| {benchmark} | {case} | {figure} | {detail} |");
}

#[tokio::main]
async fn main() {
    println!("{TABLE_HEADER}");
    if std::env::var("COSTS_FAN_OUT_ONLY").is_ok() {
        return fan_outs().await;
    }
    let endpoint = std::env::var("CHAT_DYNAMODB_ENDPOINT")
        .expect("CHAT_DYNAMODB_ENDPOINT: run infra/bench.sh");
    let counter = RequestCounter::default();
    let table = format!("costs-{}", SessionId::new(Timestamp::now()));
    let store = Arc::new(DynamoStore::counted(
        &local_client(&endpoint),
        table,
        counter.clone(),
    ));
    store.create_table_if_absent().await.expect("a table");
    let app = spawn_app_with_store(store.clone()).await;
    let mut costs = Costs {
        counter,
        rows: Vec::new(),
    };
    costs.reset();
    // First, while the table holds nothing else to sweep.
    sweeps(&app, &mut costs).await;
    if std::env::var("COSTS_SWEEP_ONLY").is_ok() {
        costs.print();
        return app.stop().await;
    }
    rest_routes(&app, &mut costs).await;
    // Before the 200-member group, whose teardown keeps the emulator busy for a while.
    files_and_bot(&app, &mut costs).await;
    websocket_frames(&app, &mut costs).await;
    // Last: the emulator slows down once it holds the 1,000 chunks' postings.
    replies_with_documents(&app, store.as_ref(), &mut costs, None).await;
    app.stop().await;
    // The same with an embeddings model (a stand-in): 20 candidates read, not 5. On a
    // table of its own, as the emulator slows down with the first one's postings.
    let table = format!("costs-{}", SessionId::new(Timestamp::now()));
    let store = Arc::new(DynamoStore::counted(
        &local_client(&endpoint),
        table,
        costs.counter.clone(),
    ));
    store.create_table_if_absent().await.expect("a table");
    let embeddings = chat_testkit::models::RecordingModel::start("unused").await;
    let app = chat_e2e::spawn_app_with(chat_e2e::Parts {
        store: Some(store.clone()),
        settings: vec![
            ("EMBEDDINGS_PROVIDER", "openai".to_owned()),
            ("EMBEDDINGS_MODEL", "stand-in".to_owned()),
            ("EMBEDDINGS_BASE_URL", embeddings.base_url.clone()),
        ],
        ..chat_e2e::Parts::default()
    })
    .await;
    replies_with_documents(&app, store.as_ref(), &mut costs, Some("stand-in")).await;
    costs.print();
    app.stop().await;
    fan_outs().await;
}

async fn fan_outs() {
    let local = spawn_app().await;
    for size in [100, 1_000] {
        let (elapsed, detail) = fan_out(&local, size).await;
        row(
            "Fan-out of one REST post (embedded store, clients in the same process)",
            &format!("{size} connections"),
            &format!("{} ms", elapsed.as_millis()),
            &detail,
        );
    }
    local.stop().await;
}

/// What a sweep costs when nothing is due, and when ten idle bot sessions (each with a
/// connection, told `session_ended`) end.
async fn sweeps(app: &TestApp, costs: &mut Costs) {
    costs.reset();
    app.sweep(None).await;
    tokio::time::sleep(SETTLE).await;
    costs.record("a sweep with nothing due");
    let mut sockets = Vec::new();
    for n in 0..10 {
        sockets.push(app.bot_session(&app.user(&format!("idle-{n}"))).await);
    }
    tokio::time::sleep(SETTLE).await;
    costs.reset();
    // Eight days on: the sessions are idle, and their connections past their expiry.
    let later = Timestamp::now().plus(Duration::from_secs(8 * 86_400));
    let report = app.sweep(Some(later)).await;
    tokio::time::sleep(SETTLE).await;
    costs.record(&format!(
        "a sweep ending 10 idle bot sessions, each with a connection ({report})"
    ));
}

async fn rest_routes(app: &TestApp, costs: &mut Costs) {
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let reply = app
        .post(
            "/sessions",
            &ann,
            json!({"kind": "group", "members": ["bob"], "join_policy": "open"}),
        )
        .await;
    costs.record("POST /sessions (group)");
    let session = reply.body["session"]["id"].as_str().expect("id").to_owned();
    let base = format!("/sessions/{session}");
    app.post(
        "/sessions",
        &ann,
        json!({"kind": "bot", "chatbot_id": "helper"}),
    )
    .await;
    costs.record("POST /sessions (bot, new)");
    app.post(
        "/sessions",
        &ann,
        json!({"kind": "bot", "chatbot_id": "helper"}),
    )
    .await;
    costs.record("POST /sessions (bot, already active)");
    app.request(
        reqwest::Method::POST,
        "/sessions/start",
        None,
        Some(json!({"business_id": "acme"})),
    )
    .await;
    costs.record("POST /sessions/start");
    app.get("/sessions", &ann).await;
    costs.record("GET /sessions");
    app.get(&base, &ann).await;
    costs.record("GET /sessions/{id}");
    app.patch(&base, &ann, json!({"title": "renamed"})).await;
    costs.record("PATCH /sessions/{id}");
    app.post(&format!("{base}/join"), &app.user("cy"), json!({}))
        .await;
    costs.record("POST /sessions/{id}/join");
    app.post(&format!("{base}/leave"), &app.user("cy"), json!({}))
        .await;
    costs.record("POST /sessions/{id}/leave");
    app.post(&format!("{base}/members"), &ann, json!({"user_id": "dan"}))
        .await;
    costs.record("POST /sessions/{id}/members");
    app.delete(&format!("{base}/members/dan"), &ann).await;
    costs.record("DELETE /sessions/{id}/members/{user_id}");
    app.get(&format!("{base}/connections"), &ann).await;
    costs.record("GET /sessions/{id}/connections");
    let message = app.post_message(&session, &bob, "hello").await;
    costs.record("POST /sessions/{id}/messages (no one connected)");
    app.post(
        &format!("{base}/messages"),
        &bob,
        json!({"content": "again", "client_msg_id": "k"}),
    )
    .await;
    costs.record("POST /sessions/{id}/messages (client_msg_id, new)");
    app.post(
        &format!("{base}/messages"),
        &bob,
        json!({"content": "again", "client_msg_id": "k"}),
    )
    .await;
    costs.record("POST /sessions/{id}/messages (client_msg_id, duplicate)");
    app.get(&format!("{base}/messages"), &ann).await;
    costs.record("GET /sessions/{id}/messages");
    app.get(&format!("{base}/messages/{message}"), &ann).await;
    costs.record("GET /sessions/{id}/messages/{mid}");
    app.patch(
        &format!("{base}/messages/{message}"),
        &bob,
        json!({"content": "hi"}),
    )
    .await;
    costs.record("PATCH /sessions/{id}/messages/{mid}");
    app.post(
        &format!("{base}/messages/{message}/reactions"),
        &ann,
        json!({"reaction": "👍"}),
    )
    .await;
    costs.record("POST .../reactions");
    app.delete(
        &format!("{base}/messages/{message}/reactions/%F0%9F%91%8D"),
        &ann,
    )
    .await;
    costs.record("DELETE .../reactions/{emoji}");
    app.delete(&format!("{base}/messages/{message}"), &bob)
        .await;
    costs.record("DELETE /sessions/{id}/messages/{mid}");
    app.get(&format!("{base}/full"), &ann).await;
    costs.record("GET /sessions/{id}/full");
    app.delete(&base, &ann).await;
    costs.record("DELETE /sessions/{id} (no one connected)");
}

async fn websocket_frames(app: &TestApp, costs: &mut Costs) {
    for size in [2usize, 200] {
        let (session, sockets) = connected_group(app, size).await;
        costs.reset();
        let mut sender = sockets.into_iter();
        let (caller, mut socket) = sender.next().expect("a member");
        let mut listener = sender.next_back().expect("another member").1;
        socket
            .send(json!({"action": "send", "content": "cost?"}))
            .await;
        listener.next_of("chat_message").await;
        tokio::time::sleep(SETTLE).await;
        costs.record(&format!("WebSocket send, {size} members connected"));
        if size == 2 {
            socket
                .send(json!({"action": "typing", "is_typing": true}))
                .await;
            listener.next_of("typing_status").await;
            tokio::time::sleep(SETTLE).await;
            costs.record("WebSocket typing");
            socket.send(json!({"action": "history"})).await;
            socket.next_of("chat_history").await;
            costs.record("WebSocket history");
            let reply = app
                .post(
                    &format!("/sessions/{session}/messages"),
                    &caller,
                    json!({"content": "rest"}),
                )
                .await;
            assert_eq!(reply.status, 201);
            listener.next_of("chat_message").await;
            costs.record("POST /sessions/{id}/messages (2 connected)");
            let mut late = app.connect(&app.user("late-joiner"), Some(&session)).await;
            late.next_of("chat_history").await;
            tokio::time::sleep(SETTLE).await;
            costs.record("WebSocket $connect with session_id, welcome, user_joined");
            late.close().await;
            tokio::time::sleep(SETTLE).await;
            costs.record("WebSocket $disconnect, user_left");
        }
    }
}

/// An upload and a file message; a bot reply on the echo model.
async fn files_and_bot(app: &TestApp, costs: &mut Costs) {
    let (session, sockets) = connected_group(app, 2).await;
    let mut sockets = sockets.into_iter();
    let (caller, mut socket) = sockets.next().expect("a member");
    let mut listener = sockets.next().expect("another member").1;
    costs.reset();
    let bytes = b"twelve bytes".to_vec();
    let upload = app
        .post(
            &format!("/sessions/{session}/uploads"),
            &caller,
            json!({"file_name": "a.txt", "content_type": "text/plain", "size": bytes.len()}),
        )
        .await;
    assert_eq!(upload.status, 201, "{upload:?}");
    costs.record("POST /sessions/{id}/uploads");
    let put = app
        .http
        .put(upload.body["url"].as_str().expect("a url"))
        .header("content-type", "text/plain")
        .body(bytes)
        .send()
        .await
        .expect("stored");
    assert_eq!(put.status(), 200);
    socket
        .send(json!({"action": "send", "kind": "file", "attachment_id": upload.body["attachment_id"]}))
        .await;
    listener.next_of("chat_message").await;
    tokio::time::sleep(SETTLE).await;
    costs.record("WebSocket send of a file (2 connected; plus 1 HeadObject)");

    let (_, mut bot_socket) = app.bot_session(&app.user("asker")).await;
    costs.reset();
    bot_socket
        .send(json!({"action": "send", "content": "how much does a reply cost?"}))
        .await;
    let complete = bot_socket.next_of("response_complete").await;
    tokio::time::sleep(SETTLE).await;
    let words = complete["message"]["content"]
        .as_str()
        .map_or(0, |c| c.split(' ').count());
    costs.record(&format!(
        "WebSocket send in a bot session with its echo reply ({words} words, about {} ms)",
        words * 30
    ));
}

/// What a bot reply costs with 0, 10 and 1,000 chunks of shared files in its session
/// (indexed straight through the store, each chunk 120 words of a 5,000-word vocabulary),
/// asked a question whose terms occur in many chunks; and what indexing them cost. With
/// `embedder`, each chunk carries a 1,024-dimension vector of that model.
async fn replies_with_documents(
    app: &TestApp,
    store: &DynamoStore,
    costs: &mut Costs,
    embedder: Option<&str>,
) {
    use chat_core::documents::{Embedding, weighted_terms};
    use chat_core::ports::{DocumentStore, IndexedDocument};
    let mut seed = 7u64;
    let mut word = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        format!("w{}", (seed >> 33) % 5_000)
    };
    let vector: Vec<f32> = (0..1_024).map(|i| ((i % 7) as f32 - 3.0) / 3.0).collect();
    let (label, counts): (String, &[usize]) = match embedder {
        None => (String::new(), &[0, 10, 1_000]),
        Some(model) => (format!(", with embeddings ({model})"), &[10, 1_000]),
    };
    for &chunks in counts {
        let asker = app.user(&format!("reader-{chunks}{}", embedder.unwrap_or("")));
        let (session, mut socket) = app.bot_session(&asker).await;
        let id = SessionId::parse(&session).expect("an id");
        let document = IndexedDocument {
            attachment_id: chat_core::domain::AttachmentId::new(Timestamp::now()),
            file_name: "corpus.txt".to_owned(),
            chunks: (0..chunks)
                .map(|_| {
                    let text: Vec<String> = (0..120).map(|_| word()).collect();
                    let text = text.join(" ");
                    let impacts = weighted_terms(&text);
                    (text, impacts)
                })
                .collect(),
            embeddings: embedder
                .map(|model| vec![Embedding::pack(model, &vector); chunks])
                .unwrap_or_default(),
        };
        costs.reset();
        if chunks > 0 {
            let scope = chat_core::ports::DocumentScope::Session(id);
            store
                .index_document(&scope, &document)
                .await
                .expect("indexed");
            costs.record(&format!("indexing {chunks} chunks of a shared file{label}"));
        }
        socket
            .send(json!({"action": "send", "content": "what do w1 w2 w3 w4 w5 w6 w7 w8 say?"}))
            .await;
        // moto reads a whole partition for each Query: with many postings the reply starts
        // late there (DynamoDB reads only the items returned).
        let started = Instant::now();
        // Waits in spells shorter than the socket's own patience, which panics.
        let mut complete = None;
        while complete.is_none() && started.elapsed() < Duration::from_secs(300) {
            complete = socket
                .first_of(&["response_complete"], Duration::from_secs(4))
                .await;
        }
        complete.expect("the reply");
        let took = started.elapsed().as_millis();
        tokio::time::sleep(SETTLE).await;
        costs.record(&format!(
            "a bot reply (echo) with {chunks} chunks of files in the session{label} ({took} ms on moto)"
        ));
    }
}

/// A group of `size` members, each connected to it, all welcomed.
async fn connected_group(app: &TestApp, size: usize) -> (String, Vec<(Caller, Socket)>) {
    let owner = app.user(&format!("owner-{size}"));
    let session = app
        .create_session(&owner, json!({"kind": "group", "join_policy": "open"}))
        .await;
    let mut sockets = Vec::new();
    for i in 0..size {
        let member = if i == 0 {
            owner.clone()
        } else {
            app.user(&format!("member-{size}-{i}"))
        };
        let mut socket = app.connect(&member, Some(&session)).await;
        socket.next_of("chat_history").await;
        sockets.push((member, socket));
    }
    // Let the last user_joined broadcasts finish before anything is counted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (session, sockets)
}

/// Time from a REST post until every one of `size` connections has the `chat_message`.
/// The connections belong to ten users (phones, tabs): each distinct user joining tells
/// everyone already there, so a thousand distinct joiners would first cost half a million
/// presence frames, which is not what is measured here. Also how the arrivals spread.
async fn fan_out(app: &TestApp, size: usize) -> (Duration, String) {
    let users: Vec<Caller> = (0..10)
        .map(|i| app.user(&format!("fan-{size}-{i}")))
        .collect();
    let session = app
        .create_session(&users[0], json!({"kind": "group", "join_policy": "open"}))
        .await;
    let mut sockets = Vec::new();
    for i in 0..size {
        let user = users[i % users.len()].clone();
        let mut socket = app.connect(&user, Some(&session)).await;
        socket.next_of("chat_history").await;
        sockets.push((user, socket));
    }
    let drains = sockets
        .iter_mut()
        .map(|(_, socket)| socket.drain(Duration::from_millis(300)));
    futures::future::join_all(drains).await;
    let sender = sockets[0].0.clone();
    let started = Instant::now();
    let waits: Vec<_> = sockets
        .into_iter()
        .map(|(_, mut socket)| {
            tokio::spawn(async move {
                socket.next_of("chat_message").await;
                started.elapsed()
            })
        })
        .collect();
    app.post_message(&session, &sender, "to everyone").await;
    let answered = started.elapsed();
    let mut arrivals: Vec<Duration> = futures::future::join_all(waits)
        .await
        .into_iter()
        .flatten()
        .collect();
    arrivals.sort();
    let at = |q: usize| {
        arrivals
            .get(arrivals.len() * q / 100)
            .copied()
            .unwrap_or_default()
            .as_millis()
    };
    let detail = format!(
        "until the last connection received it; the post answered after {} ms; arrivals p50 {} ms, p90 {} ms",
        answered.as_millis(),
        at(50),
        at(90)
    );
    (started.elapsed(), detail)
}
