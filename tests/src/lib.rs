//! Helpers for the end-to-end suites: `spawn_app()` starts the local server on free ports,
//! and `TestApp` speaks to it over real HTTP as a client would.

use chat_local::{Options, Running, TokenRequest, mint_token, start};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const SECRET: &str = "an-end-to-end-test-secret-of-enough-length";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    running: Running,
}

/// A caller with a token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: String,
    pub token: String,
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

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("<no error message>")
    }
}

/// The local server on the embedded store, on free ports.
pub async fn spawn_app() -> TestApp {
    spawn_with(None).await
}

/// The local server on the DynamoDB endpoint that `infra/test.sh` starts (moto). Fails,
/// never skips, when the endpoint is missing and `CHAT_REQUIRE_DYNAMODB=1`; returns `None`
/// (and says so) when neither is set, as under plain `cargo test`.
pub async fn spawn_app_on_dynamodb() -> Option<TestApp> {
    match std::env::var("CHAT_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    {
        Some(endpoint) => Some(spawn_with(Some(endpoint)).await),
        None if std::env::var("CHAT_REQUIRE_DYNAMODB").is_ok_and(|v| v == "1") => {
            panic!("CHAT_REQUIRE_DYNAMODB=1 but CHAT_DYNAMODB_ENDPOINT is not set")
        }
        None => {
            eprintln!(
                "NOTE: the end-to-end suite on DynamoDB was NOT run: CHAT_DYNAMODB_ENDPOINT is not set (infra/test.sh sets it)"
            );
            None
        }
    }
}

async fn spawn_with(dynamodb_endpoint: Option<String>) -> TestApp {
    let table = format!("e2e-{}", ulid_like());
    let options = Options {
        http_port: 0,
        ws_port: 0,
        dynamodb_endpoint,
        table,
        jwt_secret: SECRET.into(),
        command: None,
    };
    let running = start(options).await.expect("the local server starts");
    TestApp {
        base: running.http_url(),
        http: reqwest::Client::new(),
        running,
    }
}

fn ulid_like() -> String {
    chat_shared::domain::SessionId::new(chat_shared::domain::Timestamp::now()).to_string()
}

impl TestApp {
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
            token: mint_token(SECRET, &request).expect("a token"),
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

    pub async fn stop(self) {
        self.running.stop().await;
    }
}
