//! The local WebSocket API over real sockets (tokio-tungstenite) and its @connections API
//! over real HTTP (reqwest), against API Gateway's own event fixtures and behaviour. The
//! handlers are closures that record what they receive.
//!
//! Fixtures, copied unchanged from the `aws_lambda_events` crate 1.2.1 (`src/fixtures/`,
//! from github.com/aws/aws-lambda-rust-runtime, MIT): the REQUEST authorizer's WebSocket
//! event, a `$connect` event and a `$disconnect` event.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use chat_local::ws_api::{
    Handshake, RouteHandler, WsApiOptions, WsRoutes, authorizer_event, authorizer_handler,
    connect_event, event_json, route_handler, router,
};
use futures::{SinkExt, StreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::mpsc, time::timeout};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{
        self, Message,
        client::IntoClientRequest,
        error::{ProtocolError, SubProtocolError},
        protocol::{
            CloseFrame,
            frame::{
                Frame,
                coding::{CloseCode, Data, OpCode},
            },
        },
    },
};

use common::{LOGGED, fixture, key_paths};

/// Every wait is bounded: no test can hang.
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing more happens" is watched for.
const QUIET: Duration = Duration::from_millis(300);

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Seen = mpsc::UnboundedReceiver<Value>;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn serve(routes: WsRoutes, options: WsApiOptions) -> SocketAddr {
    common::serve(router(routes, options)).await
}

fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}

/// A route that records its event (as the JSON API Gateway sent) and answers 200.
fn recording(seen: &mpsc::UnboundedSender<Value>) -> RouteHandler {
    let seen = seen.clone();
    route_handler(move |event: ApiGatewayWebsocketProxyRequest| {
        seen.send(event_json(&event).unwrap()).unwrap();
        async { Ok(status(200)) }
    })
}

/// `$connect`, `$disconnect` and `$default`, all recording into one channel, in order.
fn recorded_routes() -> (WsRoutes, Seen) {
    let (seen, events) = mpsc::unbounded_channel();
    let routes = WsRoutes {
        connect: Some(recording(&seen)),
        disconnect: Some(recording(&seen)),
        default: Some(recording(&seen)),
        ..WsRoutes::default()
    };
    (routes, events)
}

/// An authorizer's Allow for the API's `$connect`, with `context`.
fn allow(method_arn: &str, principal: &str, context: Value) -> ApiGatewayCustomAuthorizerResponse {
    policy("Allow", method_arn, principal, context)
}

fn policy(
    effect: &str,
    resource: &str,
    principal: &str,
    context: Value,
) -> ApiGatewayCustomAuthorizerResponse {
    serde_json::from_value(json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }))
    .unwrap()
}

async fn next_event(events: &mut Seen) -> Value {
    timeout(WAIT, events.recv())
        .await
        .expect("no event arrived in time")
        .expect("the recorder is gone")
}

/// The next event, which must be of this route.
async fn expect_event(events: &mut Seen, route_key: &str) -> Value {
    let event = next_event(events).await;
    assert_eq!(event["requestContext"]["routeKey"], route_key, "{event:#}");
    event
}

async fn expect_quiet(events: &mut Seen) {
    if let Ok(Some(event)) = timeout(QUIET, events.recv()).await {
        panic!("unexpected event {event:#}");
    }
}

fn connection_id(event: &Value) -> String {
    event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn connect(
    address: SocketAddr,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Result<(Client, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut request = format!("ws://{address}{path_and_query}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    timeout(WAIT, connect_async(request))
        .await
        .expect("the handshake did not finish in time")
}

async fn open(address: SocketAddr, path_and_query: &str) -> Client {
    connect(address, path_and_query, &[]).await.unwrap().0
}

/// The status a refused handshake got.
async fn refused(address: SocketAddr, path_and_query: &str) -> u16 {
    match connect(address, path_and_query, &[]).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Ok(_) => panic!("{path_and_query}: the handshake was accepted"),
        Err(error) => panic!("{path_and_query}: {error}"),
    }
}

async fn next_message(client: &mut Client) -> Message {
    timeout(WAIT, client.next())
        .await
        .expect("no frame arrived in time")
        .expect("the socket ended")
        .expect("the socket failed")
}

/// Reads until the server's close frame: its code and reason.
async fn close_frame(client: &mut Client) -> (u16, String) {
    loop {
        match next_message(client).await {
            Message::Close(Some(CloseFrame { code, reason })) => {
                return (u16::from(code), reason.to_string());
            }
            Message::Close(None) => panic!("a close frame without a code"),
            _ => {}
        }
    }
}

fn management_url(address: SocketAddr, id: &str) -> String {
    let id = utf8_percent_encode(id, NON_ALPHANUMERIC);
    format!("http://{address}/@connections/{id}")
}

async fn post(address: SocketAddr, id: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    timeout(
        WAIT,
        reqwest::Client::new()
            .post(management_url(address, id))
            .body(body)
            .send(),
    )
    .await
    .unwrap()
    .unwrap()
}

async fn assert_gone(response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), 410);
    assert_eq!(response.headers()["x-amzn-errortype"], "GoneException");
    assert!(response.headers().contains_key("x-amzn-requestid"));
    assert_eq!(response.text().await.unwrap(), "");
}

/// The fixture's key paths that ours lacks, leaving out those `skipped` (and their children).
fn missing(fixture: &Value, ours: &Value, skipped: &[&str]) -> Vec<String> {
    let ours = key_paths(ours);
    key_paths(fixture)
        .into_iter()
        .filter(|path| {
            !skipped
                .iter()
                .any(|skip| path == skip || path.starts_with(&format!("{skip}.")))
        })
        .filter(|path| !ours.contains(path))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The events against API Gateway's own
// ---------------------------------------------------------------------------------------

/// What the authorizer fixture has only because it was captured through a Lambda test
/// harness (a serialized `lambda_runtime::Context` around the event).
const HARNESS: [&str; 11] = [
    "version",
    "context",
    "deadline",
    "invoked_function_arn",
    "xray_trace_id",
    "client_context",
    "identity",
    "env_config",
    "memory",
    "log_stream",
    "log_group",
];

/// What `example-apigw-websocket-request.json` has because it is a REST API event dressed
/// as a WebSocket one: REST resources and methods, IAM/Cognito identity, integration
/// fields, a body on CONNECT, and the request headers of a REST client behind CloudFront.
const REST_ONLY: [&str; 25] = [
    "resource",
    "path",
    "httpMethod",
    "pathParameters",
    "stageVariables",
    "body",
    "headers",
    "requestContext.accountId",
    "requestContext.resourceId",
    "requestContext.resourcePath",
    "requestContext.httpMethod",
    "requestContext.error",
    "requestContext.status",
    "requestContext.integrationLatency",
    "requestContext.identity.cognitoIdentityPoolId",
    "requestContext.identity.accountId",
    "requestContext.identity.cognitoIdentityId",
    "requestContext.identity.caller",
    "requestContext.identity.apiKey",
    "requestContext.identity.apiKeyId",
    "requestContext.identity.accessKey",
    "requestContext.identity.cognitoAuthenticationType",
    "requestContext.identity.cognitoAuthenticationProvider",
    "requestContext.identity.userArn",
    "requestContext.identity.user",
];

/// The upgrade request behind the authorizer fixture.
fn fixture_handshake() -> Handshake {
    let request = http::Request::get("/?parameter1=value1&parameter1=value2&parameter2=value")
        .header("Header1", "value1")
        .header("Header2", "value2")
        .header("host", "example.com")
        .header("user-agent", "user-agent")
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    Handshake::new(&parts, IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)))
}

#[test]
fn the_authorizer_event_has_every_field_of_api_gateways_own_and_parses_as_its_type() {
    let options = WsApiOptions::default();
    let handshake = fixture_handshake();
    let ours = authorizer_event(&handshake, &options);
    let theirs = fixture("example-apigw-v2-custom-authorizer-websocket-request.json");

    let lacking = missing(&theirs, &ours, &HARNESS);
    assert!(lacking.is_empty(), "our event lacks {lacking:?}\n{ours:#}");
    // Nothing beyond what the fixture has, headers and parameters aside.
    let known = key_paths(&theirs);
    let maps = [
        "headers.",
        "multiValueHeaders.",
        "queryStringParameters.",
        "multiValueQueryStringParameters.",
    ];
    let extra: Vec<String> = key_paths(&ours)
        .into_iter()
        .filter(|path| !known.contains(path) && !maps.iter().any(|map| path.starts_with(map)))
        .collect();
    assert!(extra.is_empty(), "our event adds {extra:?}\n{ours:#}");

    assert_eq!(ours["type"], "REQUEST");
    assert_eq!(
        ours["methodArn"],
        "arn:aws:execute-api:us-east-1:123456789012:local/local/$connect"
    );
    assert_eq!(
        ours["queryStringParameters"],
        theirs["queryStringParameters"]
    );
    assert_eq!(
        ours["multiValueQueryStringParameters"],
        json!({"parameter1": ["value1", "value2"], "parameter2": ["value"]})
    );
    assert_eq!(ours["headers"]["header1"], "value1");
    assert_eq!(ours["multiValueHeaders"]["header2"], json!(["value2"]));
    let context = &ours["requestContext"];
    for field in ["eventType", "messageDirection", "routeKey", "identity"] {
        assert_eq!(context[field], theirs["requestContext"][field], "{field}");
    }
    assert_eq!(context["connectionId"], handshake.connection_id.as_str());
    assert_eq!(context["domainName"], "example.com");
    assert_eq!(context["apiId"], "local");
    assert_eq!(context["stage"], "local");
    assert_eq!(context["requestId"], context["extendedRequestId"]);
    let time = chrono::DateTime::parse_from_str(
        context["requestTime"].as_str().unwrap(),
        "%d/%b/%Y:%H:%M:%S %z",
    )
    .unwrap();
    assert_eq!(
        time.timestamp(),
        context["requestTimeEpoch"].as_i64().unwrap() / 1000
    );

    let typed: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_value(ours).unwrap();
    assert_eq!(typed.type_.as_deref(), Some("REQUEST"));
    assert_eq!(typed.request_context.apiid.as_deref(), Some("local"));
    assert_eq!(
        typed.request_context.identity.unwrap().source_ip.as_deref(),
        Some("1.2.3.4")
    );
}

#[test]
fn the_connect_event_built_from_a_request_parses_as_its_type() {
    let handshake = fixture_handshake();
    let event = connect_event(&handshake, Default::default(), &WsApiOptions::default());
    let json = event_json(&event).unwrap();
    assert_eq!(
        json["queryStringParameters"],
        json!({"parameter1": "value2", "parameter2": "value"})
    );
    assert_eq!(
        json["multiValueQueryStringParameters"],
        json!({"parameter1": ["value1", "value2"], "parameter2": ["value"]})
    );
    assert!(json["requestContext"].get("authorizer").is_none());
    let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(json).unwrap();
    assert_eq!(typed.request_context.event_type.as_deref(), Some("CONNECT"));
}

/// A server whose authorizer answers like the one behind the `$connect` fixture.
async fn fixture_server() -> (SocketAddr, Seen, mpsc::UnboundedReceiver<Value>) {
    let (mut routes, events) = recorded_routes();
    let (authorized, authorizations) = mpsc::unbounded_channel();
    routes.authorizer = Some(authorizer_handler(
        move |event: ApiGatewayCustomAuthorizerRequestTypeRequest| {
            authorized
                .send(serde_json::to_value(&event).unwrap())
                .unwrap();
            let arn = event.method_arn.unwrap_or_default();
            async move {
                Ok(allow(
                    &arn,
                    "admin",
                    json!({"clientId": 1, "clientName": "Exata"}),
                ))
            }
        },
    ));
    (
        serve(routes, WsApiOptions::default()).await,
        events,
        authorizations,
    )
}

#[tokio::test]
async fn the_connect_and_message_events_have_every_field_of_api_gateways_own() {
    let (address, mut events, mut authorizations) = fixture_server().await;
    let extensions = (
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits",
    );
    let (mut client, _) = connect(
        address,
        "/?name=me",
        &[extensions, ("user-agent", "PostmanRuntime/2.4.5")],
    )
    .await
    .unwrap();
    let theirs = fixture("example-apigw-websocket-request.json");

    // The authorizer got its type, with the handshake's headers and parameters.
    let authorization = next_event(&mut authorizations).await;
    assert_eq!(authorization["type"], "REQUEST");
    assert_eq!(
        authorization["queryStringParameters"],
        json!({"name": ["me"]})
    );
    assert_eq!(
        authorization["headers"]["user-agent"],
        "PostmanRuntime/2.4.5"
    );
    assert_eq!(authorization["requestContext"]["stage"], "local");

    let connect = expect_event(&mut events, "$connect").await;
    let lacking = missing(
        &theirs,
        &connect,
        &[&REST_ONLY[..], &["requestContext.messageId"]].concat(),
    );
    assert!(
        lacking.is_empty(),
        "$connect lacks {lacking:?}\n{connect:#}"
    );
    // The fixture's multiValueHeaders are those of a real WebSocket handshake: `headers`
    // carries the same names.
    for name in theirs["multiValueHeaders"].as_object().unwrap().keys() {
        let name = name.to_ascii_lowercase();
        assert!(
            connect["headers"].get(&name).is_some(),
            "headers lack {name}\n{connect:#}"
        );
    }
    for header in ["connection", "upgrade"] {
        assert!(
            connect["headers"].get(header).is_none(),
            "{header}\n{connect:#}"
        );
    }
    assert_eq!(
        connect["queryStringParameters"],
        theirs["queryStringParameters"]
    );
    assert_eq!(
        connect["multiValueQueryStringParameters"],
        theirs["multiValueQueryStringParameters"]
    );
    assert_eq!(connect["isBase64Encoded"], false);
    let context = &connect["requestContext"];
    assert_eq!(context["eventType"], "CONNECT");
    assert_eq!(context["messageDirection"], "IN");
    assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["identity"]["userAgent"], "PostmanRuntime/2.4.5");
    assert_eq!(context["domainName"], address.to_string());
    assert_eq!(context["authorizer"]["principalId"], "admin");
    assert_eq!(context["authorizer"]["clientId"], 1);
    assert_eq!(context["authorizer"]["clientName"], "Exata");
    assert!(context["authorizer"]["integrationLatency"].is_u64());
    assert_eq!(context["requestId"], context["extendedRequestId"]);
    // The authorizer's crate type has no field for the WebSocket context (the wire JSON
    // has it: see the test of `authorizer_event`), so its handler cannot see the id.
    assert!(
        authorization["requestContext"]
            .get("connectionId")
            .is_none()
    );
    let id = connection_id(&connect);
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.ends_with('='), "{id}");
    assert!(
        id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'='),
        "{id}"
    );
    serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(connect.clone()).unwrap();

    client.send(Message::text(r#"{"a": 1}"#)).await.unwrap();
    let message = expect_event(&mut events, "$default").await;
    let message_only = [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
    ];
    let lacking = missing(
        &theirs,
        &message,
        &[&REST_ONLY[..5], &REST_ONLY[6..], &message_only[..]].concat(),
    );
    assert!(
        lacking.is_empty(),
        "the message lacks {lacking:?}\n{message:#}"
    );
    for absent in message_only {
        assert!(message.get(absent).is_none(), "{absent}\n{message:#}");
    }
    let context = &message["requestContext"];
    assert_eq!(context["eventType"], "MESSAGE");
    assert_eq!(context["connectionId"], id.as_str());
    assert_eq!(
        context["connectedAt"],
        connect["requestContext"]["connectedAt"]
    );
    assert_ne!(context["requestId"], connect["requestContext"]["requestId"]);
    assert_eq!(context["messageId"].as_str().unwrap().len(), 16);
    assert_eq!(message["body"], r#"{"a": 1}"#);
    assert_eq!(message["isBase64Encoded"], false);
    serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(message).unwrap();
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn the_disconnect_event_is_api_gateways_own_for_a_close_without_status() {
    let (address, mut events, _authorizations) = fixture_server().await;
    let mut client = open(address, "/").await;
    let connect = expect_event(&mut events, "$connect").await;
    client.close(None).await.unwrap();

    let disconnect = expect_event(&mut events, "$disconnect").await;
    let theirs = fixture("example-apigw-websocket-request-disconnect-route.json");
    let lacking = missing(&theirs, &disconnect, &[]);
    assert!(
        lacking.is_empty(),
        "$disconnect lacks {lacking:?}\n{disconnect:#}"
    );
    let context = &disconnect["requestContext"];
    for field in [
        "eventType",
        "disconnectStatusCode",
        "disconnectReason",
        "messageDirection",
    ] {
        assert_eq!(context[field], theirs["requestContext"][field], "{field}");
    }
    assert_eq!(disconnect["headers"]["host"], address.to_string());
    assert_eq!(disconnect["headers"]["x-restapi"], "");
    assert_eq!(
        context["connectionId"],
        connect["requestContext"]["connectionId"]
    );
    assert_eq!(context["authorizer"]["principalId"], "admin");
    assert!(disconnect.get("body").is_none());
    serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(disconnect).unwrap();
    expect_quiet(&mut events).await;
}

// ---------------------------------------------------------------------------------------
// The handshake
// ---------------------------------------------------------------------------------------

/// An authorizer deciding by the `case` query parameter, recording what it allowed.
fn deciding_authorizer() -> WsRoutes {
    WsRoutes {
        authorizer: Some(authorizer_handler(
            |event: ApiGatewayCustomAuthorizerRequestTypeRequest| async move {
                let case = event
                    .query_string_parameters
                    .first("case")
                    .unwrap_or_default()
                    .to_owned();
                let arn = event.method_arn.unwrap_or_default();
                match case.as_str() {
                    "unauthorized" => Err("Unauthorized".into()),
                    "unauthorized-lowercase" => Err("unauthorized".into()),
                    "fail" => Err("the key store is down".into()),
                    "panic" => panic!("the authorizer blew up"),
                    "deny" => Ok(policy("Deny", &arn, "u1", json!({}))),
                    "other-resource" => Ok(allow(
                        "arn:aws:execute-api:us-east-1:123456789012:other/local/$connect",
                        "u1",
                        json!({}),
                    )),
                    "nested-context" => Ok(allow(&arn, "u1", json!({"user": {"id": "u1"}}))),
                    "wildcard" => Ok(allow("arn:aws:execute-api:*:*:local/*", "u1", json!({}))),
                    _ => Ok(allow(&arn, "u1", json!({}))),
                }
            },
        )),
        ..WsRoutes::default()
    }
}

#[tokio::test]
async fn the_authorizers_outcomes_become_api_gateways_statuses() {
    let address = serve(deciding_authorizer(), WsApiOptions::default()).await;
    for (case, expected) in [
        ("unauthorized", 401),
        ("deny", 403),
        ("other-resource", 403),
        ("unauthorized-lowercase", 500),
        ("fail", 500),
        ("panic", 500),
        ("nested-context", 500),
    ] {
        assert_eq!(
            refused(address, &format!("/?case={case}")).await,
            expected,
            "{case}"
        );
    }
    let response = connect(address, "/?case=unauthorized", &[]).await;
    let Err(tungstenite::Error::Http(response)) = response else {
        panic!("accepted")
    };
    assert_eq!(
        response.body().as_deref(),
        Some(br#"{"message":"Unauthorized"}"#.as_slice())
    );
    // Still serving after a panic; Allow (also through wildcards) opens the socket.
    for case in ["allow", "wildcard"] {
        let mut client = open(address, &format!("/?case={case}")).await;
        client.close(None).await.unwrap();
    }
}

#[tokio::test]
async fn a_connect_status_outside_2xx_or_a_failure_refuses_the_handshake() {
    let (seen, mut events) = mpsc::unbounded_channel();
    let routes = WsRoutes {
        connect: Some(route_handler(
            |event: ApiGatewayWebsocketProxyRequest| async move {
                let case = event
                    .query_string_parameters
                    .first("case")
                    .unwrap_or_default()
                    .to_owned();
                match case.as_str() {
                    "fail" => Err("the store is down".into()),
                    "panic" => panic!("$connect blew up"),
                    "invalid" => Ok(status(0)),
                    code => Ok(status(code.parse().unwrap_or(200))),
                }
            },
        )),
        disconnect: Some(recording(&seen)),
        ..WsRoutes::default()
    };
    let address = serve(routes, WsApiOptions::default()).await;
    for (case, expected) in [
        ("401", 401),
        ("403", 403),
        ("404", 404),
        ("410", 410),
        ("fail", 500),
        ("panic", 500),
        ("invalid", 500),
    ] {
        assert_eq!(
            refused(address, &format!("/?case={case}")).await,
            expected,
            "{case}"
        );
    }
    let Err(tungstenite::Error::Http(response)) = connect(address, "/?case=404", &[]).await else {
        panic!("accepted")
    };
    assert!(response.body().as_ref().is_none_or(|body| body.is_empty()));
    // A refused connection never existed: no $disconnect.
    expect_quiet(&mut events).await;

    let mut client = open(address, "/?case=204").await;
    client.close(None).await.unwrap();
    expect_event(&mut events, "$disconnect").await;
}

#[tokio::test]
async fn the_authorizer_context_reaches_every_later_event() {
    let (mut routes, mut events) = recorded_routes();
    routes.authorizer = Some(authorizer_handler(
        |event: ApiGatewayCustomAuthorizerRequestTypeRequest| async move {
            let arn = event.method_arn.unwrap_or_default();
            let context =
                json!({"userId": "u1", "role": "agent", "n": 3, "flag": true, "none": null});
            Ok(allow(&arn, "u1", context))
        },
    ));
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    client.send(Message::text("hello")).await.unwrap();
    client.close(None).await.unwrap();

    for route_key in ["$connect", "$default", "$disconnect"] {
        let event = expect_event(&mut events, route_key).await;
        let authorizer = &event["requestContext"]["authorizer"];
        assert_eq!(authorizer["principalId"], "u1", "{route_key}");
        assert_eq!(authorizer["userId"], "u1", "{route_key}");
        assert_eq!(authorizer["role"], "agent", "{route_key}");
        assert_eq!(authorizer["n"], 3, "{route_key}");
        assert_eq!(authorizer["flag"], true, "{route_key}");
        assert!(authorizer.get("none").is_none(), "{route_key}");
        let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).unwrap();
        assert_eq!(typed.request_context.authorizer.fields["userId"], "u1");
    }
}

#[tokio::test]
async fn the_subprotocol_is_echoed_only_when_connect_answers_it() {
    let routes = WsRoutes {
        connect: Some(route_handler(
            |event: ApiGatewayWebsocketProxyRequest| async move {
                let mut response = status(200);
                if let Some(answer) = event.query_string_parameters.first("answer") {
                    response
                        .headers
                        .insert("sec-websocket-protocol", answer.parse().unwrap());
                }
                Ok(response)
            },
        )),
        ..WsRoutes::default()
    };
    let address = serve(routes, WsApiOptions::default()).await;
    let offer = [(
        "sec-websocket-protocol",
        "bearer, eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    )];

    let (mut client, response) = connect(address, "/?answer=bearer", &offer).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "bearer");
    client.close(None).await.unwrap();

    // Not answered: accepted without one, which the client (like a browser) refuses.
    match connect(address, "/", &offer).await {
        Err(tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        ))) => {}
        other => panic!("{other:?}"),
    }
    let (mut client, response) = connect(address, "/", &[]).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    client.close(None).await.unwrap();

    // Answered one the client did not offer: API Gateway fails the handshake.
    let Err(tungstenite::Error::Http(response)) =
        connect(address, "/?answer=graphql-ws", &offer).await
    else {
        panic!("accepted")
    };
    assert_eq!(response.status().as_u16(), 500);
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_are_routed_by_action_in_order() {
    let (mut routes, mut events) = recorded_routes();
    let named = routes.default.clone().unwrap();
    routes.named.insert("send".to_owned(), named);
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    expect_event(&mut events, "$connect").await;

    let frames = [
        Message::text(r#"{"action":"send","content":"hi"}"#),
        Message::text(r#"{"action":"typing"}"#),
        Message::text(r#"{"action":7}"#),
        Message::text("not json"),
        Message::text(r#"["send"]"#),
        Message::binary(vec![0u8, 159, 146, 150]),
    ];
    for frame in frames {
        client.send(frame).await.unwrap();
    }
    let send = expect_event(&mut events, "send").await;
    assert_eq!(send["body"], r#"{"action":"send","content":"hi"}"#);
    assert_eq!(send["requestContext"]["eventType"], "MESSAGE");
    for body in [
        r#"{"action":"typing"}"#,
        r#"{"action":7}"#,
        "not json",
        r#"["send"]"#,
    ] {
        let event = expect_event(&mut events, "$default").await;
        assert_eq!(event["body"], body);
        assert_eq!(event["isBase64Encoded"], false);
    }
    let binary = expect_event(&mut events, "$default").await;
    assert_eq!(binary["body"], "AJ+Slg==");
    assert_eq!(binary["isBase64Encoded"], true);
    let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(binary).unwrap();
    assert!(typed.is_base64_encoded);
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn one_connections_events_reach_the_handlers_one_at_a_time() {
    let (seen, mut events) = mpsc::unbounded_channel();
    let slow = route_handler(move |event: ApiGatewayWebsocketProxyRequest| {
        let seen = seen.clone();
        async move {
            seen.send(json!({"start": event.body})).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            seen.send(json!({"end": event.body})).unwrap();
            Ok(status(200))
        }
    });
    let routes = WsRoutes {
        default: Some(slow),
        ..WsRoutes::default()
    };
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    for n in 0..3 {
        client.send(Message::text(n.to_string())).await.unwrap();
    }
    for n in 0..3 {
        assert_eq!(
            next_event(&mut events).await,
            json!({"start": n.to_string()})
        );
        assert_eq!(next_event(&mut events).await, json!({"end": n.to_string()}));
    }
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn a_failing_route_or_no_route_gets_api_gateways_error_frame() {
    let routes = WsRoutes {
        default: Some(route_handler(
            |event: ApiGatewayWebsocketProxyRequest| async move {
                match event.body.as_deref() {
                    Some("fail") => Err("the store is down".into()),
                    Some("panic") => panic!("$default blew up"),
                    _ => Ok(status(200)),
                }
            },
        )),
        ..WsRoutes::default()
    };
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    for body in ["fail", "panic"] {
        client.send(Message::text(body)).await.unwrap();
        let Message::Text(frame) = next_message(&mut client).await else {
            panic!("not text")
        };
        let frame: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(frame["message"], "Internal server error", "{body}");
        assert_eq!(frame["connectionId"].as_str().unwrap().len(), 16);
        assert_eq!(frame["requestId"].as_str().unwrap().len(), 16);
    }
    // A success answers nothing.
    client.send(Message::text("fine")).await.unwrap();
    assert!(timeout(QUIET, client.next()).await.is_err());
    client.close(None).await.unwrap();

    let address = serve(WsRoutes::default(), WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    client
        .send(Message::text(r#"{"action":"send"}"#))
        .await
        .unwrap();
    let Message::Text(frame) = next_message(&mut client).await else {
        panic!("not text")
    };
    assert!(
        frame.starts_with(r#"{"message": "Forbidden", "connectionId":""#),
        "{frame}"
    );
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn pings_are_answered() {
    let address = serve(WsRoutes::default(), WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut client).await,
        Message::Pong(b"are you there".to_vec().into())
    );
    client.close(None).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// The management API
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn posts_during_connect_are_gone_and_after_open_reach_the_client() {
    let (seen, mut events) = mpsc::unbounded_channel();
    let (mut routes, _) = recorded_routes();
    let during = seen.clone();
    // `$connect` posts to its own connection, through the stage's management URL, as a
    // deployed function would.
    routes.connect = Some(route_handler(
        move |event: ApiGatewayWebsocketProxyRequest| {
            let during = during.clone();
            async move {
                let context = &event.request_context;
                let url = format!(
                    "http://{}/{}/@connections/{}",
                    context.domain_name.as_deref().unwrap_or_default(),
                    context.stage.as_deref().unwrap_or_default(),
                    utf8_percent_encode(
                        context.connection_id.as_deref().unwrap_or_default(),
                        NON_ALPHANUMERIC
                    ),
                );
                let response = reqwest::Client::new()
                    .post(&url)
                    .body("too early")
                    .send()
                    .await?;
                let posted = response.status().as_u16();
                let error_type = response.headers().get("x-amzn-errortype").cloned();
                let get = reqwest::get(&url).await?.status().as_u16();
                during
                .send(json!({
                    "id": context.connection_id,
                    "post": posted,
                    "get": get,
                    "errorType": error_type.map(|value| value.to_str().unwrap_or_default().to_owned()),
                }))
                .unwrap();
                Ok(status(200))
            }
        },
    ));
    let address = serve(routes, WsApiOptions::default()).await;
    let (mut client, _) = connect(address, "/", &[("user-agent", "test-client/1.0")])
        .await
        .unwrap();
    let during = next_event(&mut events).await;
    assert_eq!(during["post"], 410);
    assert_eq!(during["get"], 410);
    assert_eq!(during["errorType"], "GoneException");
    let id = during["id"].as_str().unwrap().to_owned();

    let response = post(address, &id, r#"{"type":"pong"}"#).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    assert_eq!(
        next_message(&mut client).await,
        Message::text(r#"{"type":"pong"}"#)
    );
    // Not UTF-8: a binary frame.
    let bytes = vec![0xffu8, 0x00, 0xfe];
    assert_eq!(
        post(address, &id, bytes.clone()).await.status().as_u16(),
        200
    );
    assert_eq!(next_message(&mut client).await, Message::binary(bytes));
    // Up to 128 KiB goes; more is refused.
    let largest = "x".repeat(128 * 1024);
    assert_eq!(
        post(address, &id, largest.clone()).await.status().as_u16(),
        200
    );
    assert_eq!(next_message(&mut client).await, Message::text(largest));
    let response = post(address, &id, "x".repeat(128 * 1024 + 1)).await;
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "PayloadTooLargeException"
    );

    // The stage's path works as well as the bare one.
    let staged = format!(
        "http://{address}/local/@connections/{}",
        utf8_percent_encode(&id, NON_ALPHANUMERIC)
    );
    let response = reqwest::Client::new()
        .post(&staged)
        .body("staged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(next_message(&mut client).await, Message::text("staged"));

    let info = reqwest::get(management_url(address, &id)).await.unwrap();
    assert_eq!(info.status().as_u16(), 200);
    assert_eq!(info.headers()["content-type"], "application/json");
    let info: Value = info.json().await.unwrap();
    assert_eq!(
        info["Identity"],
        json!({"SourceIp": "127.0.0.1", "UserAgent": "test-client/1.0"})
    );
    let connected =
        chrono::DateTime::parse_from_rfc3339(info["ConnectedAt"].as_str().unwrap()).unwrap();
    let active =
        chrono::DateTime::parse_from_rfc3339(info["LastActiveAt"].as_str().unwrap()).unwrap();
    assert!(active > connected, "{info}");
    assert!(info["ConnectedAt"].as_str().unwrap().ends_with('Z'));

    assert_gone(post(address, "AAAAAAAAAAAAAAA=", "hello").await).await;
    assert_gone(
        reqwest::get(management_url(address, "AAAAAAAAAAAAAAA="))
            .await
            .unwrap(),
    )
    .await;
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn delete_closes_the_socket_with_1000_and_fires_disconnect_once() {
    let (routes, mut events) = recorded_routes();
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    let id = connection_id(&expect_event(&mut events, "$connect").await);

    let response = timeout(
        WAIT,
        reqwest::Client::new()
            .delete(management_url(address, &id))
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(close_frame(&mut client).await.0, 1000);
    let disconnect = expect_event(&mut events, "$disconnect").await;
    assert_eq!(disconnect["requestContext"]["disconnectStatusCode"], 1000);
    assert_eq!(
        disconnect["requestContext"]["disconnectReason"],
        "Connection Closed Normally"
    );
    expect_quiet(&mut events).await;

    assert_gone(post(address, &id, "late").await).await;
    let again = reqwest::Client::new()
        .delete(management_url(address, &id))
        .send()
        .await
        .unwrap();
    assert_gone(again).await;
}

// ---------------------------------------------------------------------------------------
// Limits and endings
// ---------------------------------------------------------------------------------------

async fn expect_disconnect(events: &mut Seen, code: u16) -> Value {
    let disconnect = expect_event(events, "$disconnect").await;
    assert_eq!(
        disconnect["requestContext"]["disconnectStatusCode"], code,
        "{disconnect:#}"
    );
    expect_quiet(events).await;
    disconnect
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let (routes, mut events) = recorded_routes();
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    expect_event(&mut events, "$connect").await;

    client
        .send(Message::text("x".repeat(32 * 1024)))
        .await
        .unwrap();
    expect_event(&mut events, "$default").await;
    client
        .send(Message::text("x".repeat(32 * 1024 + 1)))
        .await
        .unwrap();
    assert_eq!(close_frame(&mut client).await.0, 1009);
    expect_disconnect(&mut events, 1009).await;
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009_though_each_frame_fits() {
    let (routes, mut events) = recorded_routes();
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    expect_event(&mut events, "$connect").await;

    let send_fragments = async |client: &mut Client, count: usize| {
        let chunk = "y".repeat(30 * 1024);
        for n in 0..count {
            let opcode = if n == 0 { Data::Text } else { Data::Continue };
            let frame = Frame::message(chunk.clone(), OpCode::Data(opcode), n + 1 == count);
            client.send(Message::Frame(frame)).await.unwrap();
        }
    };
    // 120 KiB in four frames: one message.
    send_fragments(&mut client, 4).await;
    let message = expect_event(&mut events, "$default").await;
    assert_eq!(message["body"].as_str().unwrap().len(), 120 * 1024);
    // 150 KiB in five.
    send_fragments(&mut client, 5).await;
    assert_eq!(close_frame(&mut client).await.0, 1009);
    expect_disconnect(&mut events, 1009).await;
}

#[tokio::test]
async fn an_idle_connection_closes_with_1001_and_activity_keeps_it_open() {
    let (routes, mut events) = recorded_routes();
    let options = WsApiOptions {
        idle_timeout: Duration::from_millis(300),
        ..WsApiOptions::default()
    };
    let address = serve(routes, options).await;
    let mut client = open(address, "/").await;
    let id = connection_id(&expect_event(&mut events, "$connect").await);

    // Frames from the client, then posts to it, each well within the timeout.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.send(Message::Ping(Vec::new().into())).await.unwrap();
        assert!(matches!(next_message(&mut client).await, Message::Pong(_)));
    }
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            post(address, &id, "still here").await.status().as_u16(),
            200
        );
        assert_eq!(next_message(&mut client).await, Message::text("still here"));
    }
    let started = tokio::time::Instant::now();
    assert_eq!(
        close_frame(&mut client).await,
        (1001, "Going away".to_owned())
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    let disconnect = expect_disconnect(&mut events, 1001).await;
    assert_eq!(
        disconnect["requestContext"]["disconnectReason"],
        "Going away"
    );
}

#[tokio::test]
async fn the_lifetime_limit_closes_with_1001_however_active() {
    let (routes, mut events) = recorded_routes();
    let options = WsApiOptions {
        max_lifetime: Duration::from_millis(400),
        ..WsApiOptions::default()
    };
    let address = serve(routes, options).await;
    let started = tokio::time::Instant::now();
    let mut client = open(address, "/").await;
    expect_event(&mut events, "$connect").await;
    let closed = loop {
        // The server may close the socket under this very send.
        let _ = client.send(Message::text("busy")).await;
        let next = timeout(Duration::from_millis(50), client.next()).await;
        if let Ok(Some(Ok(Message::Close(Some(frame))))) = next {
            break u16::from(frame.code);
        }
        assert!(started.elapsed() < WAIT, "never closed");
    };
    assert_eq!(closed, 1001);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let disconnect = loop {
        let event = next_event(&mut events).await;
        if event["requestContext"]["routeKey"] == "$disconnect" {
            break event;
        }
    };
    assert_eq!(disconnect["requestContext"]["disconnectStatusCode"], 1001);
    expect_quiet(&mut events).await;
}

#[tokio::test]
async fn a_client_close_reports_its_code_and_reason() {
    let (routes, mut events) = recorded_routes();
    let address = serve(routes, WsApiOptions::default()).await;
    let mut client = open(address, "/").await;
    expect_event(&mut events, "$connect").await;
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "tab closed".into(),
    };
    client.close(Some(frame)).await.unwrap();
    // The server answers the close handshake.
    assert_eq!(close_frame(&mut client).await.0, 1001);
    let disconnect = expect_disconnect(&mut events, 1001).await;
    assert_eq!(
        disconnect["requestContext"]["disconnectReason"],
        "tab closed"
    );
}

#[tokio::test]
async fn a_dropped_tcp_connection_fires_disconnect_once() {
    let (routes, mut events) = recorded_routes();
    let address = serve(routes, WsApiOptions::default()).await;
    let client = open(address, "/").await;
    let id = connection_id(&expect_event(&mut events, "$connect").await);
    // No close frame: the TCP connection just goes.
    drop(client);
    let disconnect = expect_disconnect(&mut events, 1006).await;
    assert_eq!(connection_id(&disconnect), id);
    assert_gone(post(address, &id, "anyone?").await).await;
}

// ---------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn connects_messages_and_disconnects_are_logged_but_never_a_token() {
    let (routes, mut events) = recorded_routes();
    let address = serve(routes, WsApiOptions::default()).await;
    let offer = [("sec-websocket-protocol", "bearer, s3cr3t-subprotocol-token")];
    // Not answered by `$connect`: the client drops the socket.
    let _ = connect(address, "/?token=s3cr3t-query-token", &offer).await;
    let id = connection_id(&expect_event(&mut events, "$connect").await);
    expect_event(&mut events, "$disconnect").await;
    let mut client = open(address, "/?token=s3cr3t-query-token").await;
    let second = connection_id(&expect_event(&mut events, "$connect").await);
    client.send(Message::text("hello")).await.unwrap();
    expect_event(&mut events, "$default").await;
    client.close(None).await.unwrap();
    expect_event(&mut events, "$disconnect").await;

    let logged = LOGGED.lock().unwrap().clone();
    let secrets: Vec<&String> = logged
        .iter()
        .filter(|line| line.contains("s3cr3t"))
        .collect();
    assert!(secrets.is_empty(), "{secrets:?}");
    for line in [
        format!("WS CONNECT {id} 200"),
        format!("WS DISCONNECT {id} 1006"),
        format!("WS CONNECT {second} 200"),
        format!("WS MESSAGE {second} $default"),
        format!("WS DISCONNECT {second} 1005"),
    ] {
        let count = logged.iter().filter(|logged| **logged == line).count();
        assert_eq!(count, 1, "{line:?} in {logged:#?}");
    }
}
