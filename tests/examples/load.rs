//! chat-local as its own process (the release build, `CHAT_LOCAL_BIN`), so that its memory
//! and CPU are its own, measured twice, as rows of the benchmarks' Markdown table
//! (docs/benchmarks.md):
//!
//! - fan-out when its Management API stand-in delays every post 20 ms
//!   (`CHAT_MANAGEMENT_DELAY_MS`): the time from a REST post until the last of 1,000
//!   connections of the session received it;
//! - under load: 1,000 WebSocket connections in 100 group sessions (10 each), their members
//!   taking turns to send so that 2,000 `chat_message` frames a second are delivered in
//!   all, for 60 s: the delivery latency (send -> receive, each frame), chat-local's peak
//!   RSS, and counts showing every message was stored once and reached every connection of
//!   its session exactly once.
//!
//! `LOAD_SECONDS`, `LOAD_SESSIONS`, `LOAD_PER_SESSION` and `LOAD_FRAMES_PER_SECOND` change
//! the load's shape: `cargo run --release -p chat-e2e --example load` (infra/bench.sh).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chat_local::{TokenRequest, mint_token};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const JWT_SECRET: &str = "a-load-test-secret-of-enough-length-for-hs256";

/// Limits a person never reaches but 1,000 connections opened in seconds would; and no
/// profanity filter, whose CPU on the shared cores would be what this measures (with it,
/// p99 rose from about 3 ms to 444 ms in a 10 s run). The spam rules still run.
const ROOMY_LIMITS: [(&str, &str); 7] = [
    ("MODERATION_PROFANITY", "off"),
    ("MODERATION_MAX_REPEATS", "0"),
    ("RATE_USER_BURST", "100000"),
    ("RATE_USER_PER_SECOND", "100000"),
    ("RATE_CONNECTION_BURST", "100000"),
    ("RATE_CONNECTION_PER_SECOND", "100000"),
    ("RATE_CONNECT_PER_USER_PER_MINUTE", "100000"),
];

/// How long delivery may trail the last send before what is missing counts as lost.
const DRAIN: Duration = Duration::from_secs(15);

struct Shape {
    seconds: u64,
    sessions: usize,
    per_session: usize,
    frames_per_second: usize,
}

impl Shape {
    fn from_env() -> Self {
        let read = |name: &str, default: usize| {
            std::env::var(name).map_or(default, |text| {
                text.parse()
                    .unwrap_or_else(|_| panic!("{name}: a whole number"))
            })
        };
        Self {
            seconds: read("LOAD_SECONDS", 60) as u64,
            sessions: read("LOAD_SESSIONS", 100),
            per_session: read("LOAD_PER_SESSION", 10),
            frames_per_second: read("LOAD_FRAMES_PER_SECOND", 2_000),
        }
    }

    /// Each message reaches every connection of its session: the sends a session makes
    /// per second, one after the other, to deliver the frames asked for.
    fn send_period(&self) -> Duration {
        let messages_per_second = self.frames_per_second as f64 / self.per_session as f64;
        Duration::from_secs_f64(self.sessions as f64 / messages_per_second)
    }
}

/// chat-local in its own process, killed when dropped (also when the run panics).
struct Server {
    child: Child,
    http: String,
    ws: String,
}

impl Server {
    /// With `settings` (`--set NAME=VALUE`) over the roomy limits.
    fn start(settings: &[(&str, &str)]) -> Self {
        let binary = std::env::var("CHAT_LOCAL_BIN").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/chat-local").to_owned()
        });
        let mut command = Command::new(&binary);
        command
            .args(["--http-port", "0", "--ws-port", "0", "--sweep-seconds", "0"])
            .env("JWT_SECRET", JWT_SECRET)
            // Info lines for each of 2,000 frames a second would measure the logging.
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        for (name, value) in ROOMY_LIMITS.iter().chain(settings) {
            command.arg("--set").arg(format!("{name}={value}"));
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{binary}: {e} (cargo build --release -p chat-local)"));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut http, mut ws) = (None, None);
        while http.is_none() || ws.is_none() {
            let line = lines
                .next()
                .expect("chat-local prints its banner")
                .expect("a line");
            let address = |scheme: &str| {
                line.split_whitespace()
                    .find(|word| word.starts_with(scheme))
                    .map(str::to_owned)
            };
            if line.trim_start().starts_with("REST API") {
                http = address("http://");
            } else if line.trim_start().starts_with("WebSocket API") {
                ws = address("ws://");
            }
        }
        // Its later lines must not fill the pipe and stall it.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            http: http.expect("the REST address"),
            ws: ws.expect("the WebSocket address"),
        }
    }

    /// The process's peak resident set (VmHWM), in MB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        let kb: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmHWM");
        kb / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(user: &str) -> String {
    let request = TokenRequest {
        sub: user.to_owned(),
        role: "user".to_owned(),
        name: Some(user.to_owned()),
        org: None,
        hours: 2,
    };
    mint_token(JWT_SECRET, &request).expect("a token")
}

/// The member `member` of session `session`.
fn user(session: usize, member: usize) -> String {
    format!("load-{session}-{member}")
}

/// What each delivered frame's content says: the session, the message's number in it, and
/// when it was sent (microseconds since the run's epoch).
fn content(session: usize, seq: usize, sent_us: u128) -> String {
    format!("load {session} {seq} {sent_us}")
}

fn parse_content(content: &str) -> Option<(usize, usize, u128)> {
    let mut words = content.strip_prefix("load ")?.split(' ');
    let mut next = || words.next()?.parse::<u128>().ok();
    let (session, seq, sent) = (next()?, next()?, next()?);
    Some((
        usize::try_from(session).ok()?,
        usize::try_from(seq).ok()?,
        sent,
    ))
}

/// What one connection received of the load's messages.
#[derive(Default)]
struct Received {
    /// Each message number of its own session, as often as it came.
    seqs: Vec<usize>,
    latencies_us: Vec<u64>,
    /// Load messages of another session: none should come.
    strays: usize,
    /// `chat_message` frames whose content is not a load message's: none should come.
    unreadable: usize,
    /// The `error` frames it was sent, by code and message: none should come.
    errors: BTreeMap<String, usize>,
}

async fn read(
    mut stream: SplitStream<Stream>,
    session: usize,
    epoch: Instant,
    delivered: Arc<AtomicUsize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Received {
    let mut received = Received::default();
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let Some(Ok(Message::Text(text))) = message else {
            if matches!(message, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) {
                break;
            }
            continue;
        };
        let at_us = epoch.elapsed().as_micros();
        let frame: Value = serde_json::from_str(&text).expect("frames are JSON");
        if frame["type"] == "error" {
            let error = format!("{} ({})", frame["code"], frame["message"]);
            *received.errors.entry(error).or_default() += 1;
        }
        if frame["type"] != "chat_message" {
            continue;
        }
        let Some((from, seq, sent_us)) =
            frame["message"]["content"].as_str().and_then(parse_content)
        else {
            received.unreadable += 1;
            continue;
        };
        if from != session {
            received.strays += 1;
            continue;
        }
        received.seqs.push(seq);
        received
            .latencies_us
            .push(u64::try_from(at_us.saturating_sub(sent_us)).unwrap_or(u64::MAX));
        delivered.fetch_add(1, Ordering::Relaxed);
    }
    received
}

/// The session's members take turns to send, one message each `period`, starting after
/// `offset` (so the sessions' sends spread over the period) and until `until`; answers how
/// many were sent.
async fn send(
    mut sinks: Vec<SplitSink<Stream, Message>>,
    session: usize,
    epoch: Instant,
    offset: Duration,
    period: Duration,
    until: Instant,
) -> usize {
    let mut ticks = tokio::time::interval_at((epoch + offset).into(), period);
    let mut seq = 0;
    loop {
        ticks.tick().await;
        if Instant::now() >= until {
            return seq;
        }
        let text = content(session, seq, epoch.elapsed().as_micros());
        let frame = json!({"action": "send", "content": text}).to_string();
        let turn = seq % sinks.len();
        sinks[turn].send(Message::text(frame)).await.expect("sent");
        seq += 1;
    }
}

/// Sessions opened at once.
const OPENING_AT_ONCE: usize = 10;

/// The JSON body chat-local answers `request` with.
async fn answer_of(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("chat-local answers")
        .json()
        .await
        .expect("JSON")
}

/// Creates the session of `members` users over REST and opens `connections` to it, the
/// members' in turn, `at_once` at a time, each past its welcome. (Opening them all at once
/// once lost connections: a broadcast to one still in its `$connect` got 410 and forgot
/// it; `HANDSHAKE_GRACE` now keeps it.)
async fn open_session(
    http: &reqwest::Client,
    server: &Server,
    session: usize,
    members: usize,
    connections: usize,
    at_once: usize,
) -> (String, Vec<Stream>) {
    let members: Vec<String> = (0..members).map(|m| user(session, m)).collect();
    let reply = answer_of(
        http.post(format!("{}/sessions", server.http))
            .bearer_auth(token(&user(session, 0)))
            .json(&json!({"kind": "group", "members": members[1..], "join_policy": "open"})),
    )
    .await;
    let id = reply["session"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a session: {reply}"))
        .to_owned();
    let connects = (0..connections).map(|n| {
        let url = format!(
            "{}/?session_id={id}&token={}",
            server.ws,
            token(&members[n % members.len()])
        );
        async move {
            let (mut stream, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("the handshake succeeds");
            welcomed(&mut stream).await;
            stream
        }
    });
    let streams = futures::stream::iter(connects)
        .buffered(at_once)
        .collect()
        .await;
    (id, streams)
}

async fn welcomed(stream: &mut Stream) {
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message
                && serde_json::from_str::<Value>(&text).is_ok_and(|f| f["type"] == "chat_history")
            {
                return;
            }
        }
        panic!("the socket closed before its welcome");
    });
    wait.await.expect("a welcome within 30 s");
}

/// How many times each message number of the session is stored, read back over REST.
async fn stored(
    http: &reqwest::Client,
    server: &Server,
    session: usize,
    id: &str,
) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/sessions/{id}/messages?limit=100", server.http);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = answer_of(http.get(url).bearer_auth(token(&user(session, 0)))).await;
        let items = page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {page}"));
        for item in items {
            if let Some((_, seq, _)) = item["content"].as_str().and_then(parse_content) {
                *counts.entry(seq).or_default() += 1;
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return counts,
        }
    }
}

fn percentile(sorted: &[u64], percent: usize) -> f64 {
    let index = (sorted.len() * percent / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default() as f64 / 1000.0
}

const TABLE_HEADER: &str = "| benchmark | case | figure | detail |\n|---|---|---|---|";

/// What every post to @connections waits in the slow fan-out: about API Gateway's round
/// trip from a Lambda.
const MANAGEMENT_DELAY_MS: u64 = 20;
const SLOW_FAN_OUT_CONNECTIONS: usize = 1_000;
/// The connections belong to ten users (phones, tabs): each distinct user joining tells
/// everyone already there, which is not what is measured.
const SLOW_FAN_OUT_USERS: usize = 10;
const SLOW_FAN_OUT_TARGET: Duration = Duration::from_millis(500);
const SLOW_FAN_OUT_CONNECTING_AT_ONCE: usize = 10;

#[tokio::main]
async fn main() {
    println!("{TABLE_HEADER}");
    slow_fan_out().await;
    load().await;
}

/// The time from a REST post until the last of 1,000 connections received it, each post
/// to @connections delayed [`MANAGEMENT_DELAY_MS`].
async fn slow_fan_out() {
    let delay = MANAGEMENT_DELAY_MS.to_string();
    let server = Server::start(&[(chat_local::MANAGEMENT_DELAY_VARIABLE, &delay)]);
    let http = reqwest::Client::new();
    let (id, streams) = open_session(
        &http,
        &server,
        0,
        SLOW_FAN_OUT_USERS,
        SLOW_FAN_OUT_CONNECTIONS,
        // One at a time, each welcome's posts waiting the delay, would take many minutes;
        // a connection lost to the race above shows as one that never received the post.
        SLOW_FAN_OUT_CONNECTING_AT_ONCE,
    )
    .await;
    // The later joiners' user_joined frames go out before the post.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let arrivals: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(tokio::time::timeout(Duration::from_secs(30), async move {
                while let Some(Ok(message)) = stream.next().await {
                    if let Message::Text(text) = message
                        && serde_json::from_str::<Value>(&text).is_ok_and(|frame| {
                            frame["type"] == "chat_message"
                                && frame["message"]["content"] == "to everyone"
                        })
                    {
                        return Some(started.elapsed());
                    }
                }
                None
            }))
        })
        .collect();
    let reply = http
        .post(format!("{}/sessions/{id}/messages", server.http))
        .bearer_auth(token(&user(0, 0)))
        .json(&json!({"content": "to everyone"}))
        .send()
        .await
        .expect("chat-local answers");
    assert_eq!(reply.status(), 201, "the post is stored");
    let answered = started.elapsed();
    let mut arrivals: Vec<Duration> = futures::future::join_all(arrivals)
        .await
        .into_iter()
        .filter_map(|arrival| arrival.expect("a reader").ok().flatten())
        .collect();
    let received = arrivals.len();
    arrivals.sort();
    let last = arrivals.last().copied().unwrap_or_default();
    let concurrency = chat_core::service::FANOUT_CONCURRENCY;
    let rounds = SLOW_FAN_OUT_CONNECTIONS.div_ceil(concurrency);
    let floor = rounds as u64 * MANAGEMENT_DELAY_MS;
    let verdict = match last.checked_sub(SLOW_FAN_OUT_TARGET) {
        Some(over) if !over.is_zero() => format!(
            "misses the {} ms target by {} ms",
            SLOW_FAN_OUT_TARGET.as_millis(),
            over.as_millis()
        ),
        _ => format!("within the {} ms target", SLOW_FAN_OUT_TARGET.as_millis()),
    };
    println!(
        "| Fan-out of one REST post, chat-local's Management API delaying each post {MANAGEMENT_DELAY_MS} ms | {SLOW_FAN_OUT_CONNECTIONS} connections | {} ms | {verdict}; a broadcast keeps at most {concurrency} posts in flight (FANOUT_CONCURRENCY), so {rounds} rounds of {MANAGEMENT_DELAY_MS} ms: at least {floor} ms; the post answered after {} ms; arrivals p50 {} ms, p90 {} ms; {received} of {SLOW_FAN_OUT_CONNECTIONS} received it within 30 s |",
        last.as_millis(),
        answered.as_millis(),
        arrivals[arrivals.len() / 2].as_millis(),
        arrivals[arrivals.len() * 9 / 10].as_millis(),
    );
}

/// 2,000 frames a second delivered to 1,000 connections in 100 sessions.
async fn load() {
    let shape = Shape::from_env();
    let server = Server::start(&[]);
    let http = reqwest::Client::new();
    let connections = shape.sessions * shape.per_session;
    let opened = Instant::now();
    let members = shape.per_session;
    let sessions: Vec<(String, Vec<Stream>)> = futures::stream::iter(0..shape.sessions)
        .map(|session| open_session(&http, &server, session, members, members, 1))
        .buffered(OPENING_AT_ONCE)
        .collect()
        .await;
    let open_took = opened.elapsed();
    // The last joiners' user_joined frames go out before the load starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = server.peak_rss_mb();

    let epoch = Instant::now();
    let until = epoch + Duration::from_secs(shape.seconds);
    let period = shape.send_period();
    let delivered = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    let mut ids = Vec::new();
    for (session, (id, streams)) in sessions.into_iter().enumerate() {
        let mut sinks = Vec::new();
        for stream in streams {
            let (sink, stream) = stream.split();
            sinks.push(sink);
            let reader = read(stream, session, epoch, delivered.clone(), stopped.clone());
            readers.push((session, tokio::spawn(reader)));
        }
        let offset = period.mul_f64(session as f64 / shape.sessions as f64);
        senders.push(tokio::spawn(send(
            sinks, session, epoch, offset, period, until,
        )));
        ids.push(id);
    }
    let mut sent = Vec::new();
    for sender in senders {
        sent.push(sender.await.expect("a sender"));
    }
    let expected: usize = sent.iter().sum::<usize>() * shape.per_session;
    let drained = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected && drained.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    let peak_rss = server.peak_rss_mb();

    let mut latencies = Vec::new();
    let (mut exact, mut missing, mut duplicated, mut strays, mut unreadable) = (0, 0, 0, 0, 0);
    let mut errors = BTreeMap::<String, usize>::new();
    for (session, reader) in readers {
        let received = reader.await.expect("a reader");
        strays += received.strays;
        unreadable += received.unreadable;
        for (error, count) in received.errors {
            *errors.entry(error).or_default() += count;
        }
        latencies.extend(received.latencies_us);
        let mut counts = vec![0usize; sent[session]];
        for seq in received.seqs {
            match counts.get_mut(seq) {
                Some(count) => *count += 1,
                None => strays += 1,
            }
        }
        exact += counts.iter().filter(|&&n| n == 1).count();
        missing += counts.iter().filter(|&&n| n == 0).count();
        duplicated += counts.iter().filter(|&&n| n > 1).count();
    }
    let (mut stored_once, mut stored_wrong) = (0, 0);
    for (session, id) in ids.iter().enumerate() {
        let counts = stored(&http, &server, session, id).await;
        let once = (0..sent[session])
            .filter(|seq| counts.get(seq) == Some(&1))
            .count();
        stored_once += once;
        stored_wrong +=
            sent[session] - once + counts.keys().filter(|&&s| s >= sent[session]).count();
    }
    latencies.sort_unstable();
    let messages: usize = sent.iter().sum();
    let benchmark = format!(
        "chat-local under load ({connections} connections in {} sessions, {} frames/s asked, {} s)",
        shape.sessions, shape.frames_per_second, shape.seconds
    );
    let rate = latencies.len() as f64 / shape.seconds as f64;
    let row = |case: &str, figure: String, detail: String| {
        println!("| {benchmark} | {case} | {figure} | {detail} |");
    };
    row(
        "delivery latency (send → receive, each chat_message)",
        format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            percentile(&latencies, 50),
            percentile(&latencies, 99)
        ),
        format!(
            "max {:.1} ms over {} frames ({rate:.0} delivered a second); client and server share the machine's {} cores",
            percentile(&latencies, 100),
            latencies.len(),
            std::thread::available_parallelism().map_or(0, usize::from)
        ),
    );
    row(
        "chat-local's peak RSS (VmHWM)",
        format!("{peak_rss:.1} MB"),
        format!(
            "{rss_connected:.1} MB once the {connections} connections were open (they took {:.1} s to open); release build, embedded store, RUST_LOG=warn",
            open_took.as_secs_f64()
        ),
    );
    row(
        "stored once, delivered exactly once",
        format!(
            "{stored_once} of {messages} messages stored once; {exact} of {expected} deliveries exactly once"
        ),
        format!(
            "read back over REST: {stored_wrong} stored other than once; deliveries missing {missing}, duplicated {duplicated}, to the wrong session {strays}, unreadable {unreadable}; error frames: {errors:?}"
        ),
    );
    drop(server);
    let failed = stored_once != messages || exact != expected || strays + unreadable > 0;
    if failed {
        std::process::exit(1);
    }
}
