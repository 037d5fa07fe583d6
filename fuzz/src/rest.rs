//! The REST API's JSON bodies: the real axum Router on the embedded store, driven through
//! `tower::ServiceExt::oneshot`, with a mutated body on every POST, PATCH and PUT route
//! (the canonical ones and the seeds').

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use chat_core::auth::{Claims, issue_hs256};
use chat_core::compose::{Adapters, Services};
use chat_core::config::Config;
use chat_core::ports::{InvokeError, Invoker, Job, NoKeySets, Pusher, SystemClock};
use chat_embedded::{EmbeddedStore, LocalBlobStore};
use chat_testkit::NoSockets;
use http::{Method, Request};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mutate::mutate;
use crate::oracle::internals;

const SECRET: &str = "a-fuzzing-secret-long-enough-to-sign-tokens";

/// The service's limits opened wide, so that mutated bodies reach the handlers' depths
/// instead of a 429 (the rate limits have their own suites).
const CONFIG: [(&str, &str); 9] = [
    ("JWT_SECRET", SECRET),
    ("TABLE_NAME", "unused"),
    ("MODERATION_MAX_REPEATS", "0"),
    ("RATE_USER_BURST", "100000000"),
    ("RATE_CONNECTION_BURST", "100000000"),
    ("RATE_CONNECT_PER_USER_PER_MINUTE", "100000000"),
    ("RATE_START_PER_IP_PER_MINUTE", "100000000"),
    ("RATE_START_PER_BUSINESS_PER_MINUTE", "100000000"),
    ("RATE_BOT_REPLIES_PER_USER_PER_DAY", "100000000"),
];

/// How many executions share one set of fixtures: a fuzzed body may end the session or
/// delete the message the paths name, and later bodies should still reach live ones.
const FIXTURE_LIFETIME: u64 = 200;

/// A route taking a JSON body: method, path template (`{id}` a session, `{mid}` a message,
/// `{bot}` a chatbot), and the bodies it accepts.
struct Route {
    method: Method,
    path: &'static str,
    seeds: Vec<Value>,
}

fn routes() -> Vec<Route> {
    let create = vec![
        json!({"kind": "group", "title": "Lunch", "members": ["bob", "cy"]}),
        json!({"kind": "group", "join_policy": "open"}),
        json!({"kind": "direct", "members": ["bob"]}),
        json!({"kind": "bot", "chatbot_id": "assistant"}),
        json!({"kind": "support", "business_id": "acme"}),
        json!({"document_id": "doc-1", "title": "Notes"}),
    ];
    let post = vec![
        json!({"content": "hi", "client_msg_id": "c-1"}),
        json!({"kind": "file", "attachment_id": "01HZY6Q6E8J5G7XGZK3M2N4P5R", "content": "cap"}),
        json!({"content": "a reply", "is_bot": true, "token_count": 5}),
    ];
    let route = |method: Method, path: &'static str, seeds: Vec<Value>| Route {
        method,
        path,
        seeds,
    };
    vec![
        route(
            Method::POST,
            "/sessions/start",
            vec![
                json!({"business_id": "acme", "department_id": "sales", "external_customer_id": "c-1"}),
                json!({"business_id": "acme", "external_customer_id": "c-1", "customer_proof": "00ff"}),
            ],
        ),
        route(Method::POST, "/sessions", create.clone()),
        route(
            Method::PATCH,
            "/sessions/{id}",
            vec![
                json!({"title": "New"}),
                json!({"title": null}),
                json!({"status": "inactive"}),
                json!({"join_policy": "open"}),
            ],
        ),
        route(Method::POST, "/sessions/{id}/join", vec![json!({})]),
        route(Method::POST, "/sessions/{id}/leave", vec![json!({})]),
        route(
            Method::POST,
            "/sessions/{id}/members",
            vec![json!({"user_id": "bob"})],
        ),
        route(
            Method::POST,
            "/businesses/acme/customer-secret",
            vec![json!({})],
        ),
        route(Method::POST, "/sessions/{id}/messages", post.clone()),
        route(
            Method::PATCH,
            "/sessions/{id}/messages/{mid}",
            vec![json!({"content": "fixed"})],
        ),
        route(
            Method::POST,
            "/sessions/{id}/messages/{mid}/reactions",
            vec![json!({"reaction": "👍"})],
        ),
        route(
            Method::POST,
            "/sessions/{id}/uploads",
            vec![json!({"file_name": "a.png", "content_type": "image/png", "size": 1024})],
        ),
        // Multipart routes: a JSON body must be refused as one, never answered with a 5xx.
        route(Method::POST, "/sessions/{id}/attachments", vec![json!({})]),
        route(
            Method::POST,
            "/chat/upload-file",
            vec![json!({"session_id": "{id}"})],
        ),
        // Seed 001.
        route(
            Method::POST,
            "/chat",
            vec![
                json!({"user_id": 1, "title": "t", "document_id": "d", "status": "active"}),
                json!({"user_id": "ann"}),
            ],
        ),
        route(
            Method::PUT,
            "/chat/{id}",
            vec![json!({"title": "x", "status": "inactive"})],
        ),
        route(
            Method::POST,
            "/chat/{id}/messages",
            vec![json!({"message": "hi", "is_bot": false, "type": "text", "token": 3})],
        ),
        route(
            Method::PUT,
            "/chat/{id}/messages/{mid}",
            vec![json!({"message": "edited", "reaction": "❤️"})],
        ),
        route(
            Method::POST,
            "/chat/{id}/messages/{mid}/reaction?reaction=%F0%9F%91%8D",
            vec![json!({})],
        ),
        // Seed 003.
        route(Method::POST, "/chatbot/{bot}/session", vec![json!({})]),
        // Seed 000.
        route(Method::POST, "/api/chat/sessions", create),
        route(
            Method::POST,
            "/api/chat/sessions/{id}/join",
            vec![json!({"user_id": "ann"}), json!({})],
        ),
        route(
            Method::POST,
            "/api/chat/sessions/{id}/leave",
            vec![json!({"user_id": 1})],
        ),
        route(Method::POST, "/api/chat/sessions/{id}/messages", post),
        // Seed 004.
        route(
            Method::POST,
            "/chat/start-session",
            vec![json!({"business": "acme", "department": "d", "external_customer_id": "x"})],
        ),
    ]
}

/// One REST request, as generated: what a finding reproduces.
pub struct Input {
    pub method: Method,
    pub path: String,
    pub caller: Option<usize>,
    pub body: Vec<u8>,
}

/// Asynchronous work (the welcome, bot replies) is not this target's; it is dropped.
struct Discard;

#[async_trait]
impl Invoker for Discard {
    async fn invoke(&self, _: &Job) -> Result<(), InvokeError> {
        Ok(())
    }
}

/// The router, its fixtures and callers, and a runtime to drive them.
pub struct RestTarget {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    routes: Vec<Route>,
    keys: Vec<&'static str>,
    donors: Vec<Value>,
    /// The owner (a user), an agent of `acme`, and a service.
    tokens: Vec<String>,
    session: String,
    message: String,
    executions: u64,
    /// Keeps the blob folder for as long as the router may write to it.
    _blobs: TempDir,
}

impl RestTarget {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let config = Config::from_source(&CONFIG).expect("the fuzzing configuration");
        let blobs = TempDir::new();
        let services = Services::new(
            &config,
            Adapters {
                store: Arc::new(EmbeddedStore::new()),
                pushers: Arc::new(|_: &str| Arc::new(NoSockets) as Arc<dyn Pusher>),
                blobs: Some(Arc::new(LocalBlobStore::new(
                    blobs.0.clone(),
                    "http://127.0.0.1:1",
                    b"a-fuzzing-blob-secret",
                ))),
                bot_invoker: Some(Arc::new(Discard)),
                clock: Arc::new(SystemClock),
            },
        );
        let state = chat_rest::State::new(
            &config,
            &services,
            "http://127.0.0.1:1",
            Arc::new(NoKeySets),
        );
        let routes = routes();
        let donors: Vec<Value> = routes.iter().flat_map(|r| r.seeds.clone()).collect();
        let mut keys: Vec<&'static str> = vec!["user_id", "session_id", "kind", "type"];
        keys.extend(FIELD_NAMES);
        let tokens = [
            ("ann", "user", None),
            ("alice", "agent", Some("acme")),
            ("bot", "service", None),
        ]
        .into_iter()
        .map(|(sub, role, org)| token(sub, role, org))
        .collect();
        Self {
            runtime,
            router: chat_rest::app(state),
            routes,
            keys,
            donors,
            tokens,
            session: String::new(),
            message: String::new(),
            executions: 0,
            _blobs: blobs,
        }
    }

    /// A fresh group session of the owner's with one message: what `{id}` and `{mid}` name.
    fn refresh_fixtures(&mut self) {
        let created = self.call(&Input {
            method: Method::POST,
            path: "/sessions".into(),
            caller: Some(0),
            body: br#"{"kind":"group","members":["bob"]}"#.to_vec(),
        });
        self.session = created.1["session"]["id"]
            .as_str()
            .expect("the fixture session is created")
            .to_owned();
        let posted = self.call(&Input {
            method: Method::POST,
            path: format!("/sessions/{}/messages", self.session),
            caller: Some(0),
            body: br#"{"content":"the fixture"}"#.to_vec(),
        });
        self.message = posted.1["message"]["id"]
            .as_str()
            .expect("the fixture message is posted")
            .to_owned();
    }

    /// One request drawn from `rng`.
    pub fn generate(&mut self, rng: &mut StdRng) -> Input {
        if self.executions.is_multiple_of(FIXTURE_LIFETIME) {
            self.refresh_fixtures();
        }
        self.executions += 1;
        let route_index = rng.random_range(0..self.routes.len());
        let (method, template, seed) = {
            let route = &self.routes[route_index];
            let seed = route.seeds.choose(rng).cloned().unwrap_or(Value::Null);
            (route.method.clone(), route.path, seed)
        };
        let seed = self.with_ids(&seed);
        let body = if rng.random_bool(0.05) {
            seed.to_string().into_bytes()
        } else {
            mutate(rng, &seed, &self.keys, &self.donors)
        };
        // Mostly the owner, whose fixtures the paths name; sometimes another or nobody.
        let caller = match rng.random_range(0..10) {
            0 => None,
            1 => Some(1),
            2 => Some(2),
            _ => Some(0),
        };
        Input {
            method,
            path: self.path(rng, template),
            caller,
            body,
        }
    }

    /// `template` with the fixtures' ids, now and then an unknown or malformed one instead.
    fn path(&self, rng: &mut StdRng, template: &str) -> String {
        let mut odd = || match rng.random_range(0..20) {
            0 => Some("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            1 => Some("nope"),
            2 => Some("%F0%9F%91%8D"),
            3 => Some("%ff%fe"),
            _ => None,
        };
        let session = odd().unwrap_or(self.session.as_str()).to_owned();
        let message = odd().unwrap_or(self.message.as_str()).to_owned();
        template
            .replace("{id}", &session)
            .replace("{mid}", &message)
            .replace("{bot}", odd().unwrap_or("assistant"))
    }

    /// A seed body naming the fixture session where it says `{id}`.
    fn with_ids(&self, seed: &Value) -> Value {
        match seed {
            Value::String(text) if text == "{id}" => Value::String(self.session.clone()),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), self.with_ids(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Sends `input`: `Ok(true)` for a 2xx, `Ok(false)` for a proper 4xx, `Err` saying what
    /// was wrong with the answer.
    pub fn check(&self, input: &Input) -> Result<bool, String> {
        let (status, body) = self.call(input);
        if status >= 500 {
            return Err(format!("answered {status}: {body}"));
        }
        if status >= 400 {
            let (Some(code), Some(message)) = (
                body["error"]["code"].as_str(),
                body["error"]["message"].as_str(),
            ) else {
                return Err(format!("a {status} without the error body: {body}"));
            };
            if code.is_empty() || message.trim().is_empty() {
                return Err(format!("a {status} with an empty error: {body}"));
            }
            if let Some(found) = internals(message) {
                return Err(format!("a {status} whose message shows {found:?}: {body}"));
            }
        }
        Ok(status < 300)
    }

    fn call(&self, input: &Input) -> (u16, Value) {
        let mut request = Request::builder()
            .method(input.method.clone())
            .uri(&input.path)
            .header("content-type", "application/json");
        if let Some(token) = input.caller.and_then(|i| self.tokens.get(i)) {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Body::from(input.body.clone()))
            .expect("a request");
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let response = router.oneshot(request).await.expect("routers never fail");
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }
}

impl Default for RestTarget {
    fn default() -> Self {
        Self::new()
    }
}

/// Every field name the bodies take, for mutations that add one.
const FIELD_NAMES: [&str; 24] = [
    "title",
    "members",
    "document_id",
    "chatbot_id",
    "business_id",
    "department_id",
    "external_customer_id",
    "status",
    "content",
    "attachment_id",
    "client_msg_id",
    "is_bot",
    "token_count",
    "reaction",
    "file_name",
    "content_type",
    "size",
    "message",
    "token",
    "business",
    "department",
    "action",
    "__proto__",
    "",
];

fn token(sub: &str, role: &str, org: Option<&str>) -> String {
    let claims = Claims {
        sub: sub.into(),
        exp: 4_102_444_800,
        iat: None,
        role: Some(role.into()),
        name: None,
        org: org.map(str::to_owned),
        iss: None,
        aud: None,
    };
    issue_hs256(&claims, SECRET.as_bytes()).expect("a token")
}

/// A folder of its own for uploaded files, removed when the target is.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "chat-fuzz-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
