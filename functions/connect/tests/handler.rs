//! `$connect` fed API Gateway's own WebSocket event, adjusted per case, on the embedded
//! store with a pusher and an invoker that record what they are asked.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use chat_core::compose::{Adapters, Services};
use chat_core::config::Config;
use chat_core::domain::{
    ConnectionId, Member, MemberRole, Session, SessionId, SessionKind, SessionSpec, Timestamp,
    UserId,
};
use chat_core::ports::{InvokeError, Invoker, Job, Pusher, Store, SystemClock};
use chat_embedded::EmbeddedStore;
use chat_testkit::NoSockets;
use connect::App;
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/example-apigw-websocket-request.json");

#[derive(Default)]
struct Jobs(Mutex<Vec<Job>>);

#[async_trait]
impl Invoker for Jobs {
    async fn invoke(&self, job: &Job) -> Result<(), InvokeError> {
        self.0.lock().expect("lock").push(job.clone());
        Ok(())
    }
}

struct Fixture {
    app: App,
    jobs: Arc<Jobs>,
    store: Arc<dyn Store>,
    session: SessionId,
}

async fn fixture() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new());
    let now = Timestamp::now();
    let ann = UserId::parse("ann").expect("id");
    let session = Session::open(
        SessionId::new(now),
        SessionSpec::new(SessionKind::Direct, ann.clone()),
        now,
    )
    .expect("a session");
    let members = [Member::new(session.id, ann, MemberRole::Owner, None, now)];
    store
        .create_session(&session, &members)
        .await
        .expect("created");
    let jobs = Arc::new(Jobs::default());
    let config = Config::from_source(&[
        ("JWT_SECRET", "a-connect-test-secret-long-enough-to-use"),
        ("TABLE_NAME", "unused"),
    ])
    .expect("a configuration");
    let services = Services::new(
        &config,
        Adapters {
            store: store.clone(),
            pushers: Arc::new(|_: &str| Arc::new(NoSockets) as Arc<dyn Pusher>),
            blobs: None,
            bot_invoker: None,
            clock: Arc::new(SystemClock),
        },
    );
    let app = App {
        services,
        invoker: jobs.clone(),
        dialect: chat_core::domain::Dialect::Canonical,
    };
    Fixture {
        app,
        jobs,
        store,
        session: session.id,
    }
}

/// The fixture as `user` connecting with `query`, and `headers` added.
fn event(user: Option<&str>, query: Value, headers: Value) -> ApiGatewayWebsocketProxyRequest {
    let mut event: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    event["queryStringParameters"] = query;
    if let (Some(map), Value::Object(extra)) = (event["headers"].as_object_mut(), headers) {
        map.extend(extra);
    }
    event["requestContext"]["authorizer"] = match user {
        Some(user) => json!({"principalId": user, "user_id": user, "role": "user"}),
        None => json!({}),
    };
    serde_json::from_value(event).expect("a WebSocket event")
}

async fn status(fixture: &Fixture, event: ApiGatewayWebsocketProxyRequest) -> i64 {
    connect::handle_connect(&fixture.app, event)
        .await
        .expect("a response")
        .status_code
}

#[tokio::test]
async fn a_bound_connection_is_recorded_and_its_welcome_started() {
    let fixture = fixture().await;
    let response = connect::handle_connect(
        &fixture.app,
        event(
            Some("ann"),
            json!({"session_id": fixture.session.to_string()}),
            json!({}),
        ),
    )
    .await
    .expect("a response");
    assert_eq!(response.status_code, 200);
    assert!(
        response.headers.get("sec-websocket-protocol").is_none(),
        "no subprotocol unless offered"
    );
    let id = ConnectionId::parse("TWegAcC4EowCHnA=").expect("the fixture's id");
    let stored = fixture
        .store
        .get_connection(&id, Timestamp::now())
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(stored.session_id, Some(fixture.session));
    let jobs = fixture.jobs.0.lock().expect("lock").clone();
    assert_eq!(
        jobs,
        vec![Job::Welcome {
            connection_id: id,
            endpoint: "https://*.execute-api.eu-central-1.amazonaws.com/testStage".into()
        }]
    );
}

#[tokio::test]
async fn the_bearer_subprotocol_is_answered_as_the_client_spelled_it() {
    let fixture = fixture().await;
    let offered = json!({"Sec-WebSocket-Protocol": "Bearer, some-token"});
    let response = connect::handle_connect(&fixture.app, event(Some("ann"), json!({}), offered))
        .await
        .expect("a response");
    assert_eq!(
        response
            .headers
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert!(
        fixture.jobs.0.lock().expect("lock").is_empty(),
        "an unbound connection needs no welcome"
    );
}

#[tokio::test]
async fn refusals_answer_the_contracts_statuses() {
    let fixture = fixture().await;
    let session = json!({"session_id": fixture.session.to_string()});
    assert_eq!(
        status(&fixture, event(None, json!({}), json!({}))).await,
        401
    );
    // Someone else's direct session is hidden from eve: 404, as REST answers.
    assert_eq!(
        status(&fixture, event(Some("eve"), session.clone(), json!({}))).await,
        404
    );
    assert_eq!(
        status(
            &fixture,
            event(
                Some("ann"),
                json!({"session_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
                json!({})
            )
        )
        .await,
        404
    );
    assert_eq!(
        status(
            &fixture,
            event(Some("ann"), json!({"session_id": "nope"}), json!({}))
        )
        .await,
        400
    );
    fixture
        .store
        .end_session(fixture.session, Timestamp::now())
        .await
        .expect("ended");
    assert_eq!(
        status(&fixture, event(Some("ann"), session, json!({}))).await,
        410
    );
}

#[tokio::test]
async fn seed_001s_chat_id_names_the_session_as_session_id_does() {
    let fixture = fixture().await;
    let id = fixture.session.to_string();
    let bound = |query: Value| event(Some("ann"), query, json!({}));
    assert_eq!(status(&fixture, bound(json!({"chat_id": id}))).await, 200);
    let connection = ConnectionId::parse("TWegAcC4EowCHnA=").expect("the fixture's id");
    let stored = fixture
        .store
        .get_connection(&connection, Timestamp::now())
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(stored.session_id, Some(fixture.session));
    assert_eq!(fixture.jobs.0.lock().expect("lock").len(), 1, "welcomed");

    // Both, naming the same session, are fine; naming two, or a malformed one, is not.
    assert_eq!(
        status(&fixture, bound(json!({"chat_id": id, "session_id": id}))).await,
        200
    );
    let other = SessionId::new(Timestamp::now()).to_string();
    assert_eq!(
        status(&fixture, bound(json!({"chat_id": other, "session_id": id}))).await,
        400
    );
    assert_eq!(
        status(&fixture, bound(json!({"chat_id": "nope"}))).await,
        400
    );
    assert_eq!(
        status(
            &fixture,
            bound(json!({"chat_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}))
        )
        .await,
        404
    );
}

#[tokio::test]
async fn a_visitor_connection_must_name_its_session_as_seed_004s_does() {
    let fixture = fixture().await;
    let visitor = |query: Value| event(Some("ann"), query, json!({}));
    assert_eq!(
        status(&fixture, visitor(json!({"dialect": "visitor"}))).await,
        400
    );
    assert_eq!(
        status(
            &fixture,
            visitor(json!({"dialect": "visitor", "session_id": fixture.session.to_string()}))
        )
        .await,
        200
    );
    assert_eq!(
        status(&fixture, visitor(json!({"dialect": "chatbot"}))).await,
        200,
        "other dialects may connect unbound and join later"
    );
}
