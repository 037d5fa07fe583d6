//! Fault injection, a test each: the store unavailable, slow or losing an answer, the
//! Management API answering 500, 429 or never, S3 failing or unreachable, the model breaking
//! off mid-reply. Each fault goes in at a port, through the real adapter where there is one
//! (the API Gateway pusher, the S3 blob store, the OpenAI-compatible model against stand-in
//! servers; a store decorator over the embedded store). Every test checks what the client
//! sees (a JSON error without internals, or an `error` frame with the socket open), that
//! nothing is left half written, and that the next request works once the fault is gone.
//! Each prints how many faults it injected.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use chat_core::domain::{AttachmentId, AttachmentState, SessionId, Timestamp};
use chat_core::ports::{MessageQuery, Store};
use chat_e2e::{Caller, Parts, Reply, Socket, TestApp, spawn_app_with};
use chat_testkit::faults::{Fault, FaultyStore};
use chat_testkit::models::{Step, stream_body};
use serde_json::{Value, json};

/// What a client is told when a dependency of ours fails: the contract's `internal`, in
/// words that name no dependency.
const UNAVAILABLE: &str = "the service is temporarily unavailable; try again";

/// The deadline the faulty store plays (the DynamoDB adapter's is 8 s; a test waits less).
const STORE_DEADLINE: Duration = Duration::from_millis(300);

/// Long enough for a frame that is coming to arrive; a frame expected never to come.
const QUIET: Duration = Duration::from_millis(1_500);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

use chat_testkit::serve;

/// Says how many faults a test injected (the harness shows it with `--nocapture`).
fn report(test: &str, injected: usize) {
    assert!(injected > 0, "{test} injected no fault");
    eprintln!("faults injected by {test}: {injected}");
}

/// A REST answer of a failure of ours: 500, the contract's JSON error, no internals.
fn assert_unavailable(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{reply:?}");
    assert_eq!(reply.error_code(), "internal", "{reply:?}");
    assert_eq!(reply.error_message(), UNAVAILABLE, "{reply:?}");
    assert_no_internals(&reply.body);
}

/// What a client sees names no adapter, SDK, stand-in or injected fault.
fn assert_no_internals(body: &Value) {
    let text = body.to_string().to_lowercase();
    for word in [
        "injected",
        "dispatch",
        "sdk",
        "dynamodb",
        "s3",
        "127.0.0.1",
        "http/",
    ] {
        assert!(!text.contains(word), "{word:?} leaked: {body}");
    }
}

/// An `error` frame `internal` that leaves the socket open.
fn assert_error_frame(frame: &Value) {
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "internal", "{frame}");
    assert!(frame.get("close_code").is_none(), "{frame}");
    assert_no_internals(frame);
}

fn sid(session: &str) -> SessionId {
    SessionId::parse(session).expect("a session id")
}

/// Every message stored in the session, oldest first, read from the store itself.
async fn stored(store: &dyn Store, session: &str) -> Vec<chat_core::domain::Message> {
    let query = MessageQuery {
        after_seq: Some(0),
        ..MessageQuery::default()
    };
    store
        .list_messages(sid(session), &query)
        .await
        .expect("the store answers")
        .items
}

/// A group session of ann (owner) and bob.
async fn group(app: &TestApp) -> (String, Caller, Caller) {
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    (session, ann, bob)
}

/// A socket bound to the session, past its welcome.
async fn joined(app: &TestApp, who: &Caller, session: &str) -> Socket {
    let mut socket = app.connect(who, Some(session)).await;
    socket.next_of("chat_history").await;
    socket
}

fn seq(frame: &Value) -> u64 {
    frame["message"]["seq"].as_u64().expect("a seq")
}

// ---------------------------------------------------------------------------------------
// The store: a decorator over the embedded store.

async fn faulty_app() -> (TestApp, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(
        Arc::new(chat_embedded::EmbeddedStore::new()),
        STORE_DEADLINE,
    ));
    let app = spawn_app_with(Parts {
        store: Some(store.clone()),
        ..Parts::default()
    })
    .await;
    (app, store)
}

#[tokio::test]
async fn a_message_the_store_cannot_take_answers_500_stores_nothing_and_the_next_one_takes_seq_1() {
    let (app, store) = faulty_app().await;
    let (session, ann, _) = group(&app).await;
    let path = format!("/sessions/{session}/messages");

    store.arm("put_message", Fault::Unavailable);
    assert_unavailable(&app.post(&path, &ann, json!({"content": "lost"})).await);
    assert!(stored(&*store.inner(), &session).await.is_empty());

    store.heal();
    let reply = app.post(&path, &ann, json!({"content": "kept"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(
        reply.body["message"]["seq"], 1,
        "no gap where the failure was"
    );
    report("store unavailable on a REST post", store.injected());
    app.stop().await;
}

#[tokio::test]
async fn a_send_while_the_store_is_down_gets_an_error_frame_and_the_socket_keeps_working() {
    let (app, store) = faulty_app().await;
    let (session, ann, _) = group(&app).await;
    let mut socket = joined(&app, &ann, &session).await;

    // Down for the write, then for the very first read of a frame (its sender).
    for operation in ["put_message", "read_sender"] {
        store.arm(operation, Fault::Unavailable);
        socket
            .send(json!({"action": "send", "content": "lost"}))
            .await;
        assert_error_frame(&socket.next_of("error").await);
        store.heal();
    }
    socket.expect_silence(Duration::from_millis(300)).await;
    assert!(stored(&*store.inner(), &session).await.is_empty());

    socket
        .send(json!({"action": "send", "content": "kept"}))
        .await;
    socket.next_of("message_received").await;
    assert_eq!(seq(&socket.next_of("chat_message").await), 1);
    report("store unavailable on a socket send", store.injected());
    app.stop().await;
}

#[tokio::test]
async fn a_session_the_store_cannot_create_answers_500_and_leaves_no_half_session() {
    let (app, store) = faulty_app().await;
    let ann = app.user("ann");
    let bob = app.user("bob");
    let body = json!({"kind": "group", "members": ["bob"]});

    store.arm("create_session", Fault::Unavailable);
    assert_unavailable(&app.post("/sessions", &ann, body.clone()).await);
    store.heal();
    for who in [&ann, &bob] {
        let listed = app.get("/sessions", who).await;
        assert_eq!(listed.body["items"], json!([]), "{listed:?}");
    }

    let session = app.create_session(&ann, body).await;
    let listed = app.get("/sessions", &bob).await;
    assert_eq!(listed.body["items"][0]["id"], session.as_str());
    report("store unavailable creating a session", store.injected());
    app.stop().await;
}

#[tokio::test]
async fn a_store_slower_than_its_deadline_answers_500_at_the_deadline_and_writes_nothing() {
    let (app, store) = faulty_app().await;
    let (session, ann, _) = group(&app).await;
    let path = format!("/sessions/{session}/messages");

    let slow = Duration::from_secs(2);
    store.arm("put_message", Fault::Slow(slow));
    let started = tokio::time::Instant::now();
    let reply = app.post(&path, &ann, json!({"content": "late"})).await;
    assert_unavailable(&reply);
    assert!(
        started.elapsed() < slow,
        "answered at the deadline, not after the store"
    );
    assert!(
        reply.headers.get(header::RETRY_AFTER).is_none(),
        "the contract gives Retry-After to rate limits only"
    );
    // The abandoned write never lands, however long one waits.
    tokio::time::sleep(slow).await;
    assert!(stored(&*store.inner(), &session).await.is_empty());

    store.heal();
    assert_eq!(
        app.post(&path, &ann, json!({"content": "on time"}))
            .await
            .status,
        StatusCode::CREATED
    );
    report("store slower than its deadline", store.injected());
    app.stop().await;
}

#[tokio::test]
async fn a_send_whose_answer_was_lost_is_stored_once_when_retried_with_its_client_msg_id() {
    let (app, store) = faulty_app().await;
    let (session, ann, _) = group(&app).await;
    let mut socket = joined(&app, &ann, &session).await;
    let send = json!({"action": "send", "content": "exactly once", "client_msg_id": "c-1"});

    store.arm("put_message", Fault::AnswerLost);
    socket.send(send.clone()).await;
    assert_error_frame(&socket.next_of("error").await);
    let landed = stored(&*store.inner(), &session).await;
    assert_eq!(
        landed.len(),
        1,
        "the write landed though its answer was lost"
    );

    store.heal();
    socket.send(send).await;
    let received = socket.next_of("message_received").await;
    assert_eq!(received["message_id"], landed[0].id.to_string());
    assert_eq!(stored(&*store.inner(), &session).await.len(), 1);
    report("store answer lost after the write", store.injected());
    app.stop().await;
}

/// Ann's presigned upload of a small text file, its bytes put: the attachment's id.
async fn uploaded(app: &TestApp, session: &str, ann: &Caller) -> String {
    let bytes = b"minutes of the meeting";
    let reply = app
        .announce_upload(session, ann, "minutes.txt", "text/plain", bytes.len())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(app.put_upload(&reply.body, bytes).await, StatusCode::OK);
    reply.body["attachment_id"]
        .as_str()
        .expect("an attachment id")
        .to_owned()
}

async fn attachment_state(store: &dyn Store, session: &str, id: &str) -> AttachmentState {
    let id = AttachmentId::parse(id).expect("an attachment id");
    store
        .get_attachment(sid(session), id)
        .await
        .expect("the store answers")
        .expect("the attachment is recorded")
        .state
}

/// A file message over REST, the way a client sends an uploaded file.
async fn send_file(app: &TestApp, session: &str, who: &Caller, attachment: &str) -> Reply {
    app.post(
        &format!("/sessions/{session}/messages"),
        who,
        json!({"kind": "file", "attachment_id": attachment, "content": "the minutes"}),
    )
    .await
}

#[tokio::test]
async fn a_file_message_the_store_cannot_take_leaves_its_file_unshared_and_sends_once_healed() {
    let (app, store) = faulty_app().await;
    let (session, ann, bob) = group(&app).await;
    let attachment = uploaded(&app, &session, &ann).await;
    let timeline = format!("/sessions/{session}/history");

    store.arm("put_message", Fault::Unavailable);
    assert_unavailable(&send_file(&app, &session, &ann, &attachment).await);
    store.heal();
    assert!(stored(&*store.inner(), &session).await.is_empty());
    // Not sent, so not shared: still pending, and out of the timeline bob reads. The file
    // is made ready in the message's own write, so there is no state between the two.
    assert_eq!(
        attachment_state(&*store.inner(), &session, &attachment).await,
        AttachmentState::Pending
    );
    let history = app.get(&timeline, &bob).await;
    assert_eq!(history.body["items"], json!([]), "{history:?}");

    let reply = send_file(&app, &session, &ann, &attachment).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(
        reply.body["message"]["attachment"]["id"],
        attachment.as_str()
    );
    assert_eq!(reply.body["message"]["seq"], 1);
    assert_eq!(
        attachment_state(&*store.inner(), &session, &attachment).await,
        AttachmentState::Ready
    );
    assert_eq!(
        app.get(&timeline, &bob).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    report("store unavailable sending a file", store.injected());
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// The Management API: the real pusher through a stand-in in front of chat-local's own
// @connections, failing chosen connections.

#[derive(Clone, Copy, Debug)]
enum PushFault {
    /// 500 InternalServerError on every try.
    Broken,
    /// 429 LimitExceeded on the first `times` tries, with `Retry-After: 1` or without.
    Throttled { times: usize, retry_after: bool },
    /// Never answers.
    Hangs,
}

#[derive(Default)]
struct Management {
    /// chat-local's own management API, known once it is up.
    target: Mutex<String>,
    faults: Mutex<HashMap<String, PushFault>>,
    /// Requests that reached the stand-in for a faulted connection.
    tries: Mutex<HashMap<String, usize>>,
    injected: AtomicUsize,
    /// Hanging requests the pusher gave up on.
    abandoned: AtomicUsize,
    client: reqwest::Client,
}

/// Counts a hanging request the client abandoned.
struct Abandoned(Arc<Management>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.abandoned.fetch_add(1, Ordering::SeqCst);
    }
}

fn api_gateway_error(status: StatusCode, kind: &'static str) -> Response {
    (status, [("x-amzn-ErrorType", kind)], r#"{"message":null}"#).into_response()
}

impl Management {
    fn tries_of(&self, connection: &str) -> usize {
        lock(&self.tries).get(connection).copied().unwrap_or(0)
    }
}

/// Waits until `done` holds (the pusher's backoff is jittered), failing after a while.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn management_call(
    State(api): State<Arc<Management>>,
    method: Method,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let fault = lock(&api.faults).get(&id).copied();
    if let Some(fault) = fault {
        let attempt = {
            let mut tries = lock(&api.tries);
            let count = tries.entry(id.clone()).or_default();
            *count += 1;
            *count
        };
        let injected = || api.injected.fetch_add(1, Ordering::SeqCst);
        match fault {
            PushFault::Broken => {
                injected();
                return api_gateway_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerErrorException",
                );
            }
            PushFault::Throttled { times, retry_after } if attempt <= times => {
                injected();
                let mut answer =
                    api_gateway_error(StatusCode::TOO_MANY_REQUESTS, "LimitExceededException");
                if retry_after {
                    answer
                        .headers_mut()
                        .insert(header::RETRY_AFTER, "1".parse().expect("a header"));
                }
                return answer;
            }
            PushFault::Throttled { .. } => {}
            PushFault::Hangs => {
                injected();
                let _abandoned = Abandoned(api.clone());
                std::future::pending::<()>().await;
            }
        }
    }
    forward(&api, method, &id, body).await
}

/// The call as chat-local's own management API answers it (410 Gone included).
async fn forward(api: &Management, method: Method, id: &str, body: Bytes) -> Response {
    let url = format!("{}/@connections/{id}", lock(&api.target));
    let answer = api
        .client
        .request(method, url)
        .body(body)
        .send()
        .await
        .expect("chat-local's management API answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.expect("a body");
    response.body(bytes.into()).expect("a response")
}

async fn app_behind_management() -> (TestApp, Arc<Management>) {
    let api = Arc::new(Management::default());
    let address = serve(
        Router::new()
            .route("/@connections/{id}", any(management_call))
            .with_state(api.clone()),
    )
    .await;
    let app = spawn_app_with(Parts {
        management_endpoint: Some(format!("http://{address}")),
        ..Parts::default()
    })
    .await;
    *lock(&api.target) = app.ws_url().replacen("ws://", "http://", 1);
    (app, api)
}

/// The connection id of `who`'s socket in the session.
async fn connection_of(app: &TestApp, session: &str, who: &Caller) -> String {
    app.store()
        .list_session_connections(sid(session), Timestamp::now())
        .await
        .expect("the store answers")
        .into_iter()
        .find(|c| c.principal.user_id.as_str() == who.id)
        .expect("a connection")
        .id
        .as_str()
        .to_owned()
}

/// Ann and bob connected to a group session; bob's connection id.
async fn two_sockets(app: &TestApp) -> (String, Socket, Socket, String) {
    let (session, ann, bob) = group(app).await;
    let ann_socket = joined(app, &ann, &session).await;
    let mut bob_socket = joined(app, &bob, &session).await;
    bob_socket.drain(Duration::from_millis(200)).await;
    let bob_id = connection_of(app, &session, &bob).await;
    (session, ann_socket, bob_socket, bob_id)
}

/// Ann's send is acknowledged and broadcast to her whatever happens to bob's push.
async fn ann_sends(ann: &mut Socket, content: &str) -> u64 {
    ann.send(json!({"action": "send", "content": content}))
        .await;
    ann.next_of("message_received").await;
    seq(&ann.next_of("chat_message").await)
}

/// A peer whose pushes keep failing misses the message (after the pusher's three tries),
/// stays connected (only 410 Gone forgets a connection), and catches up by `resume`.
async fn a_failing_peer_misses_the_message_and_catches_up(fault: PushFault) {
    let (app, api) = app_behind_management().await;
    let (session, mut ann, mut bob, bob_id) = two_sockets(&app).await;

    lock(&api.faults).insert(bob_id.clone(), fault);
    assert_eq!(ann_sends(&mut ann, "while bob's pushes fail").await, 1);
    eventually("the pusher's three tries", || api.tries_of(&bob_id) == 3).await;
    bob.expect_silence(QUIET).await;
    assert_eq!(api.tries_of(&bob_id), 3, "no fourth try");
    assert_eq!(stored(&*app.store(), &session).await.len(), 1);
    assert_eq!(
        connection_of(&app, &session, &app.user("bob")).await,
        bob_id
    );

    lock(&api.faults).clear();
    assert_eq!(ann_sends(&mut ann, "once they work").await, 2);
    assert_eq!(seq(&bob.next_of("chat_message").await), 2);
    // Seq 2 after nothing: bob knows he missed one, and asks for it.
    bob.send(json!({"action": "resume", "session_id": session, "after_seq": 0}))
        .await;
    assert_eq!(seq(&bob.next_of("chat_message").await), 1);
    report(
        &format!("Management API {fault:?}"),
        api.injected.load(Ordering::SeqCst),
    );
    app.stop().await;
}

#[tokio::test]
async fn a_peer_whose_pushes_answer_500_misses_the_message_keeps_its_connection_and_resumes() {
    a_failing_peer_misses_the_message_and_catches_up(PushFault::Broken).await;
}

#[tokio::test]
async fn a_peer_throttled_past_the_retries_misses_the_message_keeps_its_connection_and_resumes() {
    a_failing_peer_misses_the_message_and_catches_up(PushFault::Throttled {
        times: usize::MAX,
        retry_after: false,
    })
    .await;
}

/// Throttling that clears within the pusher's tries costs the peer nothing.
async fn a_briefly_throttled_peer_gets_the_message(retry_after: bool) {
    let (app, api) = app_behind_management().await;
    let (_, mut ann, mut bob, bob_id) = two_sockets(&app).await;
    let fault = PushFault::Throttled {
        times: 2,
        retry_after,
    };
    lock(&api.faults).insert(bob_id.clone(), fault);
    ann_sends(&mut ann, "after a moment").await;
    assert_eq!(seq(&bob.next_of("chat_message").await), 1);
    assert_eq!(api.tries_of(&bob_id), 3);
    report(
        &format!("Management API {fault:?}"),
        api.injected.load(Ordering::SeqCst),
    );
    app.stop().await;
}

#[tokio::test]
async fn a_peer_throttled_twice_with_retry_after_still_gets_the_message() {
    a_briefly_throttled_peer_gets_the_message(true).await;
}

#[tokio::test]
async fn a_peer_throttled_twice_without_retry_after_still_gets_the_message() {
    a_briefly_throttled_peer_gets_the_message(false).await;
}

#[tokio::test]
async fn a_peer_whose_pushes_never_answer_does_not_hold_up_the_sender_and_the_pusher_gives_up() {
    let (app, api) = app_behind_management().await;
    let (session, mut ann, mut bob, bob_id) = two_sockets(&app).await;

    lock(&api.faults).insert(bob_id.clone(), PushFault::Hangs);
    let started = tokio::time::Instant::now();
    assert_eq!(ann_sends(&mut ann, "into the void").await, 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the sender waited for bob"
    );
    assert_eq!(stored(&*app.store(), &session).await.len(), 1);

    // Each try times out after 3 s and the whole call after 8 s (`sdk_timeouts`): past
    // that, every try was abandoned and the message function has ended, not hung.
    tokio::time::sleep_until(started + Duration::from_secs(9)).await;
    let tries = api.tries_of(&bob_id);
    assert!(tries >= 2, "retried: {tries}");
    assert_eq!(
        api.abandoned.load(Ordering::SeqCst),
        tries,
        "every try abandoned"
    );
    assert_eq!(
        connection_of(&app, &session, &app.user("bob")).await,
        bob_id
    );

    lock(&api.faults).clear();
    assert_eq!(ann_sends(&mut ann, "heard").await, 2);
    assert_eq!(seq(&bob.next_of("chat_message").await), 2);
    report(
        "Management API never answering",
        api.injected.load(Ordering::SeqCst),
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// S3: the real blob store against a stand-in bucket that can fail or go away.

#[derive(Default)]
struct Bucket {
    /// key → (size, content type)
    objects: Mutex<HashMap<String, (usize, String)>>,
    failing: std::sync::atomic::AtomicBool,
    injected: AtomicUsize,
}

async fn s3_call(
    State(bucket): State<Arc<Bucket>>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bucket.failing.load(Ordering::SeqCst) {
        bucket.injected.fetch_add(1, Ordering::SeqCst);
        let error = "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>";
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/xml")],
            error,
        )
            .into_response();
    }
    // `bucket` alone is the bucket's creation; `bucket/key` an object.
    let key = match path.split_once('/') {
        Some((_, key)) if !key.is_empty() => key,
        _ => return StatusCode::OK.into_response(),
    };
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match method {
        Method::PUT => {
            // The SDK may send its body aws-chunked, naming the object's own length.
            let size = header_text("x-amz-decoded-content-length")
                .and_then(|n| n.parse().ok())
                .unwrap_or(body.len());
            let kind = header_text("content-type").unwrap_or_default();
            lock(&bucket.objects).insert(key.to_owned(), (size, kind));
            StatusCode::OK.into_response()
        }
        Method::HEAD | Method::GET => match lock(&bucket.objects).get(key).cloned() {
            Some((size, kind)) => ([(header::CONTENT_TYPE, kind)], vec![0u8; size]).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// The stand-in bucket on its port, which `kill` leaves with nothing listening.
struct S3StandIn {
    bucket: Arc<Bucket>,
    address: SocketAddr,
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    kills: usize,
}

impl S3StandIn {
    async fn start() -> Self {
        let mut stand_in = Self {
            bucket: Arc::default(),
            address: "127.0.0.1:0".parse().expect("an address"),
            stop: None,
            kills: 0,
        };
        stand_in.listen().await;
        stand_in
    }

    async fn listen(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .expect("the stand-in's port");
        self.address = listener.local_addr().expect("an address");
        let router = Router::new()
            .route("/{*path}", any(s3_call))
            .with_state(self.bucket.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        self.stop = Some((stop, server));
    }

    /// Nothing listens on the port until `revive`: connections are refused.
    async fn kill(&mut self) {
        let (stop, server) = self.stop.take().expect("running");
        let _ = stop.send(());
        let _ = server.await;
        self.kills += 1;
    }

    async fn revive(&mut self) {
        self.listen().await;
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn injected(&self) -> usize {
        self.bucket.injected.load(Ordering::SeqCst) + self.kills
    }
}

async fn app_on_s3() -> (TestApp, S3StandIn) {
    let s3 = S3StandIn::start().await;
    let app = spawn_app_with(Parts {
        s3_endpoint: Some(s3.endpoint()),
        ..Parts::default()
    })
    .await;
    (app, s3)
}

#[tokio::test]
async fn a_file_message_while_s3_answers_500_is_refused_and_its_attachment_stays_pending() {
    let (app, s3) = app_on_s3().await;
    let (session, ann, _) = group(&app).await;
    let attachment = uploaded(&app, &session, &ann).await;

    s3.bucket.failing.store(true, Ordering::SeqCst);
    assert_unavailable(&send_file(&app, &session, &ann, &attachment).await);
    let path = format!("/sessions/{session}/attachments/{attachment}");
    assert_unavailable(&app.get(&path, &ann).await);
    assert_eq!(
        attachment_state(&*app.store(), &session, &attachment).await,
        AttachmentState::Pending
    );
    assert!(stored(&*app.store(), &session).await.is_empty());

    s3.bucket.failing.store(false, Ordering::SeqCst);
    let reply = send_file(&app, &session, &ann, &attachment).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(
        attachment_state(&*app.store(), &session, &attachment).await,
        AttachmentState::Ready
    );
    report("S3 answering 500", s3.injected());
    app.stop().await;
}

#[tokio::test]
async fn a_small_upload_while_s3_is_unreachable_is_refused_and_nothing_of_it_is_ready() {
    let (app, mut s3) = app_on_s3().await;
    let (session, ann, _) = group(&app).await;
    let file = chat_e2e::FilePart {
        name: "note.txt",
        kind: "text/plain",
        bytes: b"a small note",
    };
    let path = format!("/sessions/{session}/attachments");

    s3.kill().await;
    let reply = app.form(&path, Some(&ann), &[], file).await;
    assert_unavailable(&reply);
    // The record written before the bytes stays pending, as an upload never made does:
    // nobody was given its id, and no message can carry it until its bytes are there.
    let attachments = app
        .store()
        .list_attachments(sid(&session), None, Default::default())
        .await
        .expect("the store answers")
        .items;
    assert!(
        attachments
            .iter()
            .all(|a| a.state == AttachmentState::Pending),
        "{attachments:?}"
    );

    s3.revive().await;
    let reply = app.form(&path, Some(&ann), &[], file).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let attachment = reply.body["attachment_id"].as_str().expect("an id");
    let sent = send_file(&app, &session, &ann, attachment).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    report("S3 unreachable", s3.injected());
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// The model: the OpenAI-compatible adapter against a stand-in streaming server.

/// How the stand-in model answers one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Whole,
    /// Some text, then the connection is cut.
    Drops,
    /// Some text, then an error event, then nothing.
    ErrorsMidway,
    /// Some text, a pause (for a test to act in), then the rest.
    Pauses,
    /// 500 before any text.
    Broken,
}

const WHOLE: [&str; 2] = ["All ", "good."];
const PARTIAL: [&str; 2] = ["The answer ", "is "];

#[derive(Default)]
struct ModelServer {
    /// What the next requests get; `Whole` once it is empty.
    script: Mutex<VecDeque<Answer>>,
    injected: AtomicUsize,
}

fn text_event(text: &str) -> Step {
    let chunk =
        json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    Step::Send(format!("data: {chunk}\n\n").into_bytes())
}

fn steps(answer: Answer) -> Vec<Step> {
    let done = || Step::Send(b"data: [DONE]\n\n".to_vec());
    let partial = || PARTIAL.iter().map(|t| text_event(t)).collect::<Vec<_>>();
    let mut steps = Vec::new();
    match answer {
        Answer::Whole | Answer::Broken => {
            steps.extend(WHOLE.iter().map(|t| text_event(t)));
            steps.push(done());
        }
        Answer::Drops => {
            steps.extend(partial());
            steps.push(Step::Wait(Duration::from_millis(300)));
            steps.push(Step::Fail);
        }
        Answer::ErrorsMidway => {
            steps.extend(partial());
            steps.push(Step::Send(
                b"data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}\n\n".to_vec(),
            ));
            steps.push(Step::Hang);
        }
        Answer::Pauses => {
            steps.extend(partial());
            steps.push(Step::Wait(Duration::from_millis(1_000)));
            steps.extend(WHOLE.iter().map(|t| text_event(t)));
            steps.push(done());
        }
    }
    steps
}

async fn completions(State(model): State<Arc<ModelServer>>) -> Response {
    let answer = lock(&model.script).pop_front().unwrap_or(Answer::Whole);
    if !matches!(answer, Answer::Whole | Answer::Pauses) {
        model.injected.fetch_add(1, Ordering::SeqCst);
    }
    if let Answer::Broken = answer {
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(stream_body(steps(answer), ()))
        .expect("a response")
}

async fn app_with_model(store: Option<Arc<dyn Store>>) -> (TestApp, Arc<ModelServer>) {
    let model = Arc::new(ModelServer::default());
    let address = serve(
        Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(model.clone()),
    )
    .await;
    let app = spawn_app_with(Parts {
        store,
        settings: vec![
            ("BOT_PROVIDER", "openai".to_owned()),
            ("OPENAI_BASE_URL", format!("http://{address}/v1")),
            ("OPENAI_MODEL", "stand-in".to_owned()),
        ],
        ..Parts::default()
    })
    .await;
    (app, model)
}

/// Sends `content` and reads the reply's frames up to `response_complete` (or, when none
/// comes, up to silence): the frames and the chunks' text.
async fn reply_to(socket: &mut Socket, content: &str) -> (Vec<Value>, String) {
    socket
        .send(json!({"action": "send", "content": content}))
        .await;
    socket.next_of("message_received").await;
    let mut frames = vec![socket.next_of("response_start").await];
    let mut text = String::new();
    loop {
        let frame = socket.next().await;
        if frame["type"] == "response_chunk" {
            text.push_str(frame["chunk"].as_str().expect("a chunk"));
        }
        let done = frame["type"] == "response_complete";
        frames.push(frame);
        if done {
            return (frames, text);
        }
    }
}

fn kinds(frames: &[Value]) -> Vec<&str> {
    let mut kinds: Vec<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    kinds.dedup();
    kinds
}

/// The bot's stored replies in the session.
async fn bot_replies(store: &dyn Store, session: &str) -> Vec<chat_core::domain::Message> {
    stored(store, session)
        .await
        .into_iter()
        .filter(|m| m.is_bot)
        .collect()
}

/// A reply that breaks off: the chunks, an `error`, then the partial text completed and
/// stored as incomplete; the next message gets a whole reply.
async fn a_broken_reply_is_kept_as_incomplete(answer: Answer) {
    let (app, model) = app_with_model(None).await;
    let (session, mut socket) = app.bot_session(&app.user("ann")).await;

    lock(&model.script).push_back(answer);
    let (frames, text) = reply_to(&mut socket, "tell me").await;
    assert_eq!(
        kinds(&frames),
        [
            "response_start",
            "response_chunk",
            "error",
            "response_complete"
        ],
        "{frames:?}"
    );
    assert_error_frame(&frames[frames.len() - 2]);
    assert_eq!(text, PARTIAL.concat());
    let complete = &frames[frames.len() - 1]["message"];
    assert_eq!(
        (complete["content"].as_str(), &complete["incomplete"]),
        (Some(text.as_str()), &json!(true))
    );
    let kept = bot_replies(&*app.store(), &session).await;
    assert_eq!(kept.len(), 1);
    assert!(kept[0].incomplete, "stored as incomplete");

    let (frames, text) = reply_to(&mut socket, "again").await;
    assert_eq!(text, WHOLE.concat());
    let complete = &frames[frames.len() - 1]["message"];
    assert!(complete.get("incomplete").is_none(), "{complete}");
    report(
        &format!("model {answer:?}"),
        model.injected.load(Ordering::SeqCst),
    );
    app.stop().await;
}

#[tokio::test]
async fn a_model_that_drops_the_connection_mid_reply_leaves_an_incomplete_reply_and_the_next_is_whole()
 {
    a_broken_reply_is_kept_as_incomplete(Answer::Drops).await;
}

#[tokio::test]
async fn a_model_that_errors_mid_stream_leaves_an_incomplete_reply_and_the_next_is_whole() {
    a_broken_reply_is_kept_as_incomplete(Answer::ErrorsMidway).await;
}

#[tokio::test]
async fn a_model_that_fails_before_saying_anything_gets_an_error_frame_and_nothing_stored() {
    let (app, model) = app_with_model(None).await;
    let (session, mut socket) = app.bot_session(&app.user("ann")).await;

    // A 500 is asked again (four tries in all, within the first-byte budget): one that
    // persists fails the reply.
    for _ in 0..4 {
        lock(&model.script).push_back(Answer::Broken);
    }
    socket
        .send(json!({"action": "send", "content": "hello?"}))
        .await;
    socket.next_of("response_start").await;
    assert_error_frame(&socket.next_of("error").await);
    socket.expect_silence(Duration::from_millis(500)).await;
    assert!(bot_replies(&*app.store(), &session).await.is_empty());
    assert_eq!(
        model.injected.load(Ordering::SeqCst),
        4,
        "each try was a 500"
    );

    let (_, text) = reply_to(&mut socket, "hello again").await;
    assert_eq!(text, WHOLE.concat());
    report(
        "model failing at once",
        model.injected.load(Ordering::SeqCst),
    );
    app.stop().await;
}

#[tokio::test]
async fn a_model_that_fails_once_is_asked_again_and_the_reply_is_whole() {
    let (app, model) = app_with_model(None).await;
    let (_, mut socket) = app.bot_session(&app.user("ann")).await;
    lock(&model.script).push_back(Answer::Broken);
    let (frames, text) = reply_to(&mut socket, "hello?").await;
    assert_eq!(text, WHOLE.concat());
    assert!(!kinds(&frames).contains(&"error"), "{frames:?}");
    assert_eq!(model.injected.load(Ordering::SeqCst), 1);
    app.stop().await;
}

/// The bot's own store calls failing: its socket must hear how the reply ended.
async fn a_reply_the_store_fails_ends_with_an_error_frame(operation: &'static str) {
    let store = Arc::new(FaultyStore::new(
        Arc::new(chat_embedded::EmbeddedStore::new()),
        STORE_DEADLINE,
    ));
    let (app, model) = app_with_model(Some(store.clone())).await;
    let (session, mut socket) = app.bot_session(&app.user("ann")).await;

    // Only the bot claims the reply slot: that fault can wait from the start. The message
    // the reply is stored with is armed while the reply streams, after the user's is in.
    let while_streaming = operation != "start_reply";
    if while_streaming {
        lock(&model.script).push_back(Answer::Pauses);
    } else {
        store.arm(operation, Fault::Unavailable);
    }
    socket
        .send(json!({"action": "send", "content": "take your time"}))
        .await;
    socket.next_of("message_received").await;
    if while_streaming {
        socket.next_of("response_chunk").await;
        store.arm(operation, Fault::Unavailable);
    }
    assert_error_frame(&socket.next_of("error").await);
    socket.expect_silence(QUIET).await;
    store.heal();
    assert!(bot_replies(&*store.inner(), &session).await.is_empty());

    let (_, text) = reply_to(&mut socket, "and now?").await;
    assert_eq!(text, WHOLE.concat());
    report(
        &format!("store unavailable for the bot's {operation}"),
        store.injected(),
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bot_that_cannot_claim_the_reply_slot_sends_an_error_frame_and_the_next_reply_works() {
    a_reply_the_store_fails_ends_with_an_error_frame("start_reply").await;
}

#[tokio::test]
async fn a_reply_the_store_cannot_keep_ends_with_an_error_frame_and_the_next_reply_works() {
    a_reply_the_store_fails_ends_with_an_error_frame("put_message").await;
}

#[tokio::test]
async fn a_library_document_the_store_cannot_index_is_listed_as_failed_and_the_next_one_is_indexed()
{
    let (app, store) = faulty_app().await;
    let ann = app.user("ann");
    let add = async |name: &str| {
        let file = chat_e2e::FilePart {
            name,
            kind: "text/plain",
            bytes: b"The boiler code is 7731.",
        };
        let added = app.form("/documents", Some(&ann), &[], file).await;
        assert_eq!(added.status, StatusCode::ACCEPTED, "{added:?}");
        added.body["document_id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    // Where the document ends up once the bot is done with it.
    let state_of = async |id: &str| {
        for _ in 0..100 {
            let listed = app.get("/documents", &ann).await.body;
            let state = listed["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|item| item["document_id"] == id)
                .map(|item| item["state"].clone());
            if let Some(state) = state.filter(|s| s != "indexing") {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{id} is still indexing");
    };
    store.arm("index_document", Fault::Unavailable);
    let failed = add("first.txt").await;
    assert_eq!(state_of(&failed).await, "failed");
    let injected = store.injected();
    store.heal();
    let indexed = add("second.txt").await;
    assert_eq!(state_of(&indexed).await, "indexed");
    report("library indexing", injected);
    app.stop().await;
}
