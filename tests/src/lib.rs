//! Helpers for the end-to-end suites: `spawn_app()` starts the local server on free ports,
//! and `TestApp` speaks to it over real HTTP as a client would.

pub mod frame_check;

use std::sync::Arc;

use chat_local::{Options, Running, TokenRequest, mint_token, start};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The HS256 secret the server verifies tokens with; public so the attack suites can sign
/// tokens with the right key and change everything else.
pub const JWT_SECRET: &str = "an-end-to-end-test-secret-of-enough-length";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    running: Running,
    /// Every WebSocket frame of this server, checked against docs/schema/; fails the test
    /// at `stop()` or drop if one did not match.
    frames: frame_check::FrameGuard,
}

/// A caller with a token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: String,
    pub token: String,
}

/// The file part of a multipart form.
#[derive(Clone, Copy, Debug)]
pub struct FilePart<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub bytes: &'a [u8],
}

/// A response: its status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The `error.code` of an error body.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// The visitor a `POST /sessions/start` answer names, with the token it was given.
    pub fn visitor(&self) -> Caller {
        Caller {
            id: self.body["session"]["owner_id"]
                .as_str()
                .expect("an owner")
                .to_owned(),
            token: self.body["visitor_token"]
                .as_str()
                .expect("a visitor token")
                .to_owned(),
        }
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("<no error message>")
    }
}

/// For each `flow => embedded, dynamodb;`, two tests running `flow` (an
/// `async fn(&TestApp)`): `embedded` on the embedded store, `dynamodb` on DynamoDB and S3
/// (moto, which `infra/test.sh` starts; see [`spawn_app_on_dynamodb`]).
#[macro_export]
macro_rules! on_both_stores {
    ($($flow:path => $embedded:ident, $dynamodb:ident;)*) => {$(
        #[tokio::test]
        async fn $embedded() {
            let app = $crate::spawn_app().await;
            $flow(&app).await;
            app.stop().await;
        }

        #[tokio::test]
        async fn $dynamodb() {
            let Some(app) = $crate::spawn_app_on_dynamodb().await else {
                return;
            };
            $flow(&app).await;
            app.stop().await;
        }
    )*};
}

/// The local server on the embedded store, on free ports.
pub async fn spawn_app() -> TestApp {
    spawn_with(None).await
}

/// The local server on the DynamoDB and S3 endpoint that `infra/test.sh` starts (moto). Fails,
/// never skips, when the endpoint is missing and `CHAT_REQUIRE_DYNAMODB=1`; returns `None`
/// (and says so) when neither is set, as under plain `cargo test`.
pub async fn spawn_app_on_dynamodb() -> Option<TestApp> {
    Some(spawn_with(Some(dynamodb_endpoint()?)).await)
}

/// moto's endpoint, or `None` (said aloud) when the suite runs without it.
fn dynamodb_endpoint() -> Option<String> {
    chat_testkit::emulator_endpoint("the end-to-end suite on DynamoDB was")
}

/// The local server on a store the caller built (benchmarks count its requests).
pub async fn spawn_app_with_store(store: std::sync::Arc<dyn chat_core::ports::Store>) -> TestApp {
    spawn_app_with(Parts {
        store: Some(store),
        ..Parts::default()
    })
    .await
}

/// What [`spawn_app_with`] puts in place of the local server's own parts: the stand-ins
/// the fault suites inject failures through.
#[derive(Default)]
pub struct Parts {
    pub store: Option<std::sync::Arc<dyn chat_core::ports::Store>>,
    /// A Management API every push goes through (in front of the server's own).
    pub management_endpoint: Option<String>,
    /// An S3-compatible endpoint for the attachments' bytes.
    pub s3_endpoint: Option<String>,
    /// Configuration over the roomy limits, e.g. the bot's provider.
    pub settings: Vec<(&'static str, String)>,
    /// The web client's identity provider: authorization and token URLs, client id.
    pub oidc: Option<(String, String, String)>,
    /// Where the server's metrics go (the metrics suite records them).
    pub metrics: Option<std::sync::Arc<dyn chat_core::metrics::Metrics>>,
}

/// The local server on the embedded store (or `parts.store`), with `parts` in place.
pub async fn spawn_app_with(parts: Parts) -> TestApp {
    spawn_parts(options(None), parts).await
}

/// [`spawn_app_with`] on moto's DynamoDB and S3; `None` as [`spawn_app_on_dynamodb`] says.
pub async fn spawn_app_with_on_dynamodb(parts: Parts) -> Option<TestApp> {
    Some(spawn_parts(options(Some(dynamodb_endpoint()?)), parts).await)
}

/// The local server asking the OpenAI-compatible server at `base_url` (a test's stand-in),
/// with two models to choose from.
pub fn asking(base_url: &str) -> Parts {
    Parts {
        settings: vec![
            ("BOT_PROVIDER", "openai".to_owned()),
            ("OPENAI_BASE_URL", base_url.to_owned()),
            ("OPENAI_MODEL", "small-model".to_owned()),
            ("BOT_MODELS", "large-model".to_owned()),
        ],
        ..Parts::default()
    }
}

/// `check` against the local server made of `parts`, on the embedded store and on moto.
pub async fn each_store(parts: impl Fn() -> Parts, check: impl AsyncFn(TestApp)) {
    check(spawn_app_with(parts()).await).await;
    if let Some(app) = spawn_app_with_on_dynamodb(parts()).await {
        check(app).await;
    }
}

async fn spawn_parts(mut options: Options, parts: Parts) -> TestApp {
    if parts.s3_endpoint.is_some() {
        options.s3_endpoint = parts.s3_endpoint;
    }
    if let Some((authorize, token, client)) = parts.oidc {
        options.oidc_authorize_url = Some(authorize);
        options.oidc_token_url = Some(token);
        options.oidc_client_id = Some(client);
    }
    options.settings.extend(
        parts
            .settings
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    let local = chat_local::Parts {
        store: parts
            .store
            .map(|store| (store, "a store of the caller's".to_owned())),
        management_endpoint: parts.management_endpoint,
        metrics: parts.metrics,
    };
    let (options, frames) = tapped(options);
    // Boxed, as below: the server's start is a large future, and every test awaits one.
    let running = Box::pin(chat_local::start_with(options, local))
        .await
        .expect("the local server starts");
    TestApp::new(running, frames)
}

/// `options` with a frame tap that checks every frame against docs/schema/.
fn tapped(mut options: Options) -> (Options, Arc<frame_check::FrameLog>) {
    let frames = Arc::new(frame_check::FrameLog::default());
    options.frame_tap = Some(frames.tap());
    (options, frames)
}

/// Moto serves DynamoDB and S3 on one port: with an endpoint, both live there.
fn options(endpoint: Option<String>) -> Options {
    Options {
        log_format: chat_local::LogFormat::Text,
        http_port: 0,
        ws_port: 0,
        s3_endpoint: endpoint.clone(),
        bucket: format!("e2e-{}", ulid_like().to_lowercase()),
        dynamodb_endpoint: endpoint,
        table: format!("e2e-{}", ulid_like()),
        jwt_secret: JWT_SECRET.into(),
        ws_idle_seconds: 600,
        ws_lifetime_seconds: 7200,
        // Sweeps come when a test asks (`TestApp::sweep`).
        sweep_seconds: 0,
        oidc_authorize_url: None,
        oidc_token_url: None,
        oidc_client_id: None,
        blob_dir: None,
        chatbots: Some(test_chatbots()),
        // The suites not about rate limits send faster than a person: they get room.
        // tests/tests/limits.rs runs the defaults.
        settings: ROOMY_LIMITS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        command: None,
        frame_tap: None,
    }
}

/// The chatbots every suite's server has besides the built-in `assistant`: `helper`.
/// Written once per test process (its tests start servers concurrently).
fn test_chatbots() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("chat-e2e-chatbots-{}.json", std::process::id()));
        let chatbots = serde_json::json!([{
            "id": "helper",
            "name": "Helper",
            "system_prompt": "You are a helpful assistant in a chat. Answer briefly and clearly."
        }]);
        std::fs::write(&path, chatbots.to_string()).expect("the chatbots file is written");
        path
    })
    .clone()
}

/// Limits no suite but the limits' own reaches (and the repeated-text rule, which the
/// other suites' "hello"s would meet).
const ROOMY_LIMITS: [(&str, &str); 7] = [
    ("MODERATION_MAX_REPEATS", "0"),
    ("RATE_USER_BURST", "100000"),
    ("RATE_CONNECTION_BURST", "100000"),
    ("RATE_CONNECT_PER_USER_PER_MINUTE", "100000"),
    ("RATE_START_PER_IP_PER_MINUTE", "100000"),
    ("RATE_START_PER_BUSINESS_PER_MINUTE", "100000"),
    ("RATE_BOT_REPLIES_PER_USER_PER_DAY", "100000"),
];

async fn spawn_with(dynamodb_endpoint: Option<String>) -> TestApp {
    let (options, frames) = tapped(options(dynamodb_endpoint));
    let running = Box::pin(start(options))
        .await
        .expect("the local server starts");
    TestApp::new(running, frames)
}

/// The local server with the deployment's default rate limits, but for `settings`: on the
/// embedded store, or with `on_dynamodb` on moto (`None` as [`spawn_app_on_dynamodb`]).
pub async fn spawn_app_with_limits(
    on_dynamodb: bool,
    settings: &[(&str, &str)],
) -> Option<TestApp> {
    let endpoint = if on_dynamodb {
        Some(dynamodb_endpoint()?)
    } else {
        None
    };
    let mut options = options(endpoint);
    options.settings = settings
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let (options, frames) = tapped(options);
    let running = Box::pin(start(options))
        .await
        .expect("the local server starts");
    Some(TestApp::new(running, frames))
}

fn ulid_like() -> String {
    chat_core::domain::SessionId::new(chat_core::domain::Timestamp::now()).to_string()
}

impl TestApp {
    fn new(running: Running, frames: Arc<frame_check::FrameLog>) -> Self {
        Self {
            base: running.http_url(),
            http: reqwest::Client::new(),
            running,
            frames: frame_check::FrameGuard(frames),
        }
    }

    /// What this server's frame tap has seen so far.
    pub fn frames(&self) -> &frame_check::FrameLog {
        &self.frames.0
    }

    /// A caller with the given role (`user`, `agent`, ...) and business.
    pub fn caller(&self, id: &str, role: &str, org: Option<&str>) -> Caller {
        let request = TokenRequest {
            sub: id.into(),
            role: role.into(),
            name: Some(format!("{id} (test)")),
            org: org.map(str::to_owned),
            hours: 1,
        };
        Caller {
            id: id.into(),
            token: mint_token(JWT_SECRET, &request).expect("a token"),
        }
    }

    pub fn user(&self, id: &str) -> Caller {
        self.caller(id, "user", None)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        caller: Option<&Caller>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(caller) = caller {
            request = request.bearer_auth(&caller.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Sends a request built by the test (raw bodies, odd headers).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// `POST path` of a `multipart/form-data` body: the text `fields`, then `file` in a
    /// part named `file`.
    pub async fn form(
        &self,
        path: &str,
        who: Option<&Caller>,
        fields: &[(&str, &str)],
        file: FilePart<'_>,
    ) -> Reply {
        let boundary = "x-chat-e2e-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let FilePart { name, kind, bytes } = file;
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {kind}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        if let Some(who) = who {
            request = request.bearer_auth(&who.token);
        }
        self.send(request).await
    }

    pub async fn get(&self, path: &str, caller: &Caller) -> Reply {
        self.request(Method::GET, path, Some(caller), None).await
    }

    pub async fn post(&self, path: &str, caller: &Caller, body: Value) -> Reply {
        self.request(Method::POST, path, Some(caller), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, caller: &Caller, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(caller), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, caller: &Caller) -> Reply {
        self.request(Method::DELETE, path, Some(caller), None).await
    }

    /// Creates a session as `owner`, returning its id.
    pub async fn create_session(&self, owner: &Caller, body: Value) -> String {
        let reply = self.post("/sessions", owner, body).await;
        assert!(reply.status.is_success(), "creating a session: {reply:?}");
        reply.body["session"]["id"]
            .as_str()
            .expect("a session id")
            .to_owned()
    }

    /// `POST /sessions/{id}/uploads`: announces a file of `size` bytes for a presigned PUT.
    pub async fn announce_upload(
        &self,
        session: &str,
        who: &Caller,
        file_name: &str,
        content_type: &str,
        size: usize,
    ) -> Reply {
        self.post(
            &format!("/sessions/{session}/uploads"),
            who,
            serde_json::json!({"file_name": file_name, "content_type": content_type, "size": size}),
        )
        .await
    }

    /// The presigned request of an upload answer, made with `bytes`.
    pub async fn put_upload(&self, upload: &Value, bytes: &[u8]) -> StatusCode {
        assert_eq!(upload["method"], "PUT");
        let mut request = self.http.put(upload["url"].as_str().expect("a url"));
        for (name, value) in upload["headers"].as_object().expect("headers") {
            // The client sets the length from the body; the signature pins the same value.
            if !name.eq_ignore_ascii_case("content-length") {
                request = request.header(name, value.as_str().expect("a header value"));
            }
        }
        request
            .body(bytes.to_vec())
            .send()
            .await
            .expect("the blob store answers")
            .status()
    }

    /// Runs `script` under Node.js, off the runtime's thread (the server answers on it),
    /// with the server's URLs in `CHAT_WS` and `CHAT_HTTP` and `env`, whatever its exit.
    pub async fn node(&self, script: &str, env: &[(&str, &str)]) -> std::process::Output {
        let mut node = std::process::Command::new("node");
        node.args(["--experimental-websocket", "--no-warnings", script])
            .env("CHAT_WS", self.ws_url())
            .env("CHAT_HTTP", &self.base)
            .envs(env.iter().copied());
        tokio::task::spawn_blocking(move || node.output())
            .await
            .expect("the node task ends")
            .expect("node runs (the tests need Node.js 20 or later)")
    }

    /// Runs a seed's JavaScript example under Node's built-in `WebSocket` (Node 20 or
    /// later) with chat-local's WebSocket URL in `CHAT_WS` and `env`, answering what it
    /// printed once it exited successfully.
    pub async fn run_node(&self, script: &str, env: &[(&str, &str)]) -> String {
        let output = self.node(script, env).await;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// A visitor starts a support session with `business` through the public
    /// `POST /sessions/start`: the visitor (with the token it was given) and the session's id.
    pub async fn start_support(&self, business: &str) -> (Caller, String) {
        let start = self
            .request(
                Method::POST,
                "/sessions/start",
                None,
                Some(serde_json::json!({"business_id": business})),
            )
            .await;
        assert_eq!(
            start.status,
            StatusCode::CREATED,
            "starting support: {start:?}"
        );
        let visitor = start.visitor();
        let session = start.body["session"]["id"]
            .as_str()
            .expect("a session id")
            .to_owned();
        (visitor, session)
    }

    /// Posts a text message, returning its id.
    pub async fn post_message(&self, session: &str, sender: &Caller, content: &str) -> String {
        let reply = self
            .post(
                &format!("/sessions/{session}/messages"),
                sender,
                serde_json::json!({"content": content}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "posting a message: {reply:?}"
        );
        reply.body["message"]["id"]
            .as_str()
            .expect("a message id")
            .to_owned()
    }

    /// What the server printed when it started.
    pub fn banner(&self) -> String {
        self.running.banner()
    }

    /// Stops the server; panics if a WebSocket frame did not match docs/schema/.
    pub async fn stop(self) {
        self.running.stop().await;
        drop(self.frames);
    }
}

/// A frame's field names, sorted: what a seed's documented shape is checked against.
pub fn fields(frame: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = frame
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| name.as_str())
        .collect();
    names.sort_unstable();
    names
}

/// `2025-07-02T12:00:00.000Z`: the contract's timestamps, which seeds 003 and 004 share.
pub fn is_rfc3339_millis(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == 24
            && text.ends_with('Z')
            && text.as_bytes()[19] == b'.'
            && chat_core::domain::Timestamp::parse(text).is_ok()
    })
}

/// How long a test waits for a frame before failing: far above what a local round trip
/// takes, so only a missing frame trips it.
pub const FRAME_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A real WebSocket client.
pub struct Socket {
    stream: Stream,
    /// The subprotocol the server accepted.
    pub protocol: Option<String>,
}

/// Where a test puts the token when connecting.
#[derive(Clone, Copy, Debug)]
pub enum TokenIn {
    Query,
    Header,
    Cookie,
    /// `Sec-WebSocket-Protocol: bearer, <token>`.
    Subprotocol,
    /// The same with `bearer` spelled so (seed 004's clients send `Bearer`).
    SubprotocolAs(&'static str),
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        self.running.ws_url()
    }

    pub fn blobs(&self) -> std::sync::Arc<chat_embedded::LocalBlobStore> {
        self.running.blobs()
    }

    pub fn store(&self) -> std::sync::Arc<dyn chat_core::ports::Store> {
        self.running.store()
    }

    /// Where the server keeps files (a folder, or moto's S3).
    pub fn files(&self) -> std::sync::Arc<dyn chat_core::ports::BlobStore> {
        self.running.files()
    }

    /// `POST /_local/sweep`: one sweep as of `as_of` (now without it); its report.
    pub async fn sweep(&self, as_of: Option<chat_core::domain::Timestamp>) -> Value {
        let body = match as_of {
            Some(at) => serde_json::json!({ "as_of": at }).to_string(),
            None => String::new(),
        };
        let reply = self
            .http
            .post(format!("{}/_local/sweep", self.base))
            .body(body)
            .send()
            .await
            .expect("the local server answers");
        assert_eq!(reply.status(), StatusCode::OK, "a sweep");
        reply.json().await.expect("a report")
    }

    /// A bot session of `owner` with the chatbot `helper`, and the owner's socket in it
    /// past the welcome.
    pub async fn bot_session(&self, owner: &Caller) -> (String, Socket) {
        let session = self
            .create_session(
                owner,
                serde_json::json!({"kind": "bot", "chatbot_id": "helper"}),
            )
            .await;
        let mut socket = self.connect(owner, Some(&session)).await;
        socket.next_of("chat_history").await;
        (session, socket)
    }

    /// Connects with the token in the query, bound to `session` when given.
    pub async fn connect(&self, caller: &Caller, session: Option<&str>) -> Socket {
        self.try_connect(Some(caller), session, TokenIn::Query)
            .await
            .expect("the handshake succeeds")
    }

    /// Connects, answering the refused handshake's status as the error.
    pub async fn try_connect(
        &self,
        caller: Option<&Caller>,
        session: Option<&str>,
        token_in: TokenIn,
    ) -> Result<Socket, u16> {
        let mut query = Vec::new();
        if let Some(session) = session {
            query.push(format!("session_id={session}"));
        }
        if let (Some(caller), TokenIn::Query) = (caller, token_in) {
            query.push(format!("token={}", caller.token));
        }
        self.connect_to(&format!("/?{}", query.join("&")), caller, token_in)
            .await
    }

    /// Connects to `path_and_query` of the WebSocket API as a seed's client would (its own
    /// path and parameters), with the caller's token where `token_in` says (in the query
    /// only if `path_and_query` has it already).
    pub async fn connect_to(
        &self,
        path_and_query: &str,
        caller: Option<&Caller>,
        token_in: TokenIn,
    ) -> Result<Socket, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path_and_query}", self.ws_url());
        let mut request = url.into_client_request().expect("a request");
        if let Some(caller) = caller {
            let (name, value) = match token_in {
                TokenIn::Query => ("", String::new()),
                TokenIn::Header => ("authorization", format!("Bearer {}", caller.token)),
                TokenIn::Cookie => (
                    "cookie",
                    format!("theme=dark; access_token={}", caller.token),
                ),
                TokenIn::Subprotocol => (
                    "sec-websocket-protocol",
                    format!("bearer, {}", caller.token),
                ),
                TokenIn::SubprotocolAs(bearer) => (
                    "sec-websocket-protocol",
                    format!("{bearer}, {}", caller.token),
                ),
            };
            if !name.is_empty() {
                request
                    .headers_mut()
                    .insert(name, value.parse().expect("a header value"));
            }
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, response)) => {
                let protocol = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok(Socket { stream, protocol })
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(error) => panic!("the handshake failed oddly: {error}"),
        }
    }
}

impl Socket {
    /// A socket the test opened itself (odd handshakes).
    pub fn from_stream(
        stream: tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Self {
        Self {
            stream,
            protocol: None,
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .expect("the frame is sent");
    }

    /// The next frame, whatever it is; fails after `FRAME_WAIT`.
    pub async fn next(&mut self) -> Value {
        match self.next_event().await {
            SocketEvent::Frame(frame) => frame,
            SocketEvent::Closed(code) => {
                panic!("the socket closed ({code:?}) while a frame was awaited")
            }
        }
    }

    /// The next frame of `kind`, skipping others (presence may interleave).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_named("type", kind).await
    }

    /// The next frame whose `field` (`type`, or seed 001's `mt`) is `name`, skipping others.
    pub async fn next_named(&mut self, field: &str, name: &str) -> Value {
        let deadline = tokio::time::Instant::now() + FRAME_WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("no {field} {name} frame within {FRAME_WAIT:?}"));
            if frame[field] == name {
                return frame;
            }
        }
    }

    /// The next frame whose `type` is one of `kinds`, skipping others; `None` when none
    /// came within `wait` (at most [`FRAME_WAIT`]) or the socket closed first: for tests
    /// that record what happened rather than panic.
    pub async fn first_of(&mut self, kinds: &[&str], wait: std::time::Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.next_event()).await {
                Ok(SocketEvent::Frame(frame))
                    if kinds.iter().any(|kind| frame["type"] == *kind) =>
                {
                    return Some(frame);
                }
                Ok(SocketEvent::Frame(_)) => {}
                Ok(SocketEvent::Closed(_)) | Err(_) => return None,
            }
        }
    }

    /// Reads and drops frames until none has arrived for `quiet`.
    pub async fn drain(&mut self, quiet: std::time::Duration) {
        use futures::StreamExt;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(quiet, self.stream.next()).await {}
    }

    /// No frame arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: std::time::Duration) {
        use futures::StreamExt;
        if let Ok(Some(Ok(message))) = tokio::time::timeout(wait, self.stream.next()).await {
            panic!("expected silence, got {message:?}");
        }
    }

    /// Waits for the server to close the socket, answering its close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            if let SocketEvent::Closed(code) = self.next_event().await {
                return code;
            }
        }
    }

    async fn next_event(&mut self) -> SocketEvent {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("nothing arrived within {FRAME_WAIT:?}"));
            match message {
                Some(Ok(Message::Text(text))) => {
                    return SocketEvent::Frame(
                        serde_json::from_str(&text).expect("frames are JSON"),
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    return SocketEvent::Closed(frame.map(|f| u16::from(f.code)));
                }
                None | Some(Err(_)) => return SocketEvent::Closed(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

enum SocketEvent {
    Frame(Value),
    Closed(Option<u16>),
}
