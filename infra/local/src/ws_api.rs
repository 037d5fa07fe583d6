//! API Gateway's WebSocket API, played on a laptop.
//!
//! A WebSocket handshake on any path runs the `$connect` REQUEST authorizer and the
//! `$connect` route with the events API Gateway would send them; the upgrade is accepted
//! only when both agree, and with a subprotocol only when `$connect` answered one. Text
//! frames are routed by `$request.body.action` (binary frames go to `$default`),
//! `$disconnect` fires once however the socket ends, and API Gateway's limits apply: frame
//! and message size, idle timeout, connection lifetime. The same listener serves the API
//! Gateway Management API (`POST/GET/DELETE /@connections/{id}`), answering as the real
//! service does, so the AWS SDK pointed at `http://127.0.0.1:PORT` works unchanged.
//!
//! As in Lambda, every event goes through JSON (serialized as API Gateway sends it, then
//! deserialized into the handler's type) and every handler runs in its own task, so a
//! panic fails that invocation only. Events of one connection reach the handlers one at a
//! time, in order.
//!
//! Serve the router with `into_make_service_with_connect_info::<SocketAddr>()` so that
//! `identity.sourceIp` is the client's address (it is `127.0.0.1` otherwise).

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use aws_lambda_events::{
    apigw::{
        ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
        ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyResponse, ApiGatewayRequestIdentity,
        ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext,
    },
    iam::{IamPolicyEffect, IamPolicyStatement},
    query_map::QueryMap,
};
use axum::{
    Router,
    extract::{
        FromRequestParts, Path, State,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
    },
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use http::{
    HeaderMap, HeaderName, HeaderValue, StatusCode,
    header::{CONNECTION, CONTENT_TYPE, HOST, SEC_WEBSOCKET_PROTOCOL, UPGRADE, USER_AGENT},
    request::Parts,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::gateway_common::{
    self, ACCOUNT_ID, TIME_FORMAT, add_forwarding_headers, domain_name, gateway_error, header_text,
    insert_text, panic_message, read_body, source_ip, uuid,
};

/// A `$connect` REQUEST authorizer, as a Lambda's main would pass it to `lambda_runtime::run`.
/// Failing with the message `Unauthorized` refuses the handshake with 401, as in Lambda.
pub type AuthorizerHandler = Arc<
    dyn Fn(
            ApiGatewayCustomAuthorizerRequestTypeRequest,
        )
            -> BoxFuture<'static, Result<ApiGatewayCustomAuthorizerResponse, lambda_runtime::Error>>
        + Send
        + Sync,
>;

/// A route's Lambda (`$connect`, `$disconnect`, `$default` or a named route).
pub type RouteHandler = Arc<
    dyn Fn(
            ApiGatewayWebsocketProxyRequest,
        ) -> BoxFuture<'static, Result<ApiGatewayProxyResponse, lambda_runtime::Error>>
        + Send
        + Sync,
>;

/// Wraps an async function or closure as a [`RouteHandler`], e.g.
/// `route_handler(move |event| message::handle(Arc::clone(&state), event))`.
pub fn route_handler<F, Fut>(handler: F) -> RouteHandler
where
    F: Fn(ApiGatewayWebsocketProxyRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ApiGatewayProxyResponse, lambda_runtime::Error>> + Send + 'static,
{
    Arc::new(move |event| Box::pin(handler(event)))
}

/// Wraps an async function or closure as an [`AuthorizerHandler`].
pub fn authorizer_handler<F, Fut>(handler: F) -> AuthorizerHandler
where
    F: Fn(ApiGatewayCustomAuthorizerRequestTypeRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ApiGatewayCustomAuthorizerResponse, lambda_runtime::Error>>
        + Send
        + 'static,
{
    Arc::new(move |event| Box::pin(handler(event)))
}

/// The API's routes and their integrations; a route left `None` is not configured.
#[derive(Clone, Default)]
pub struct WsRoutes {
    /// The REQUEST authorizer of `$connect`.
    pub authorizer: Option<AuthorizerHandler>,
    pub connect: Option<RouteHandler>,
    pub disconnect: Option<RouteHandler>,
    pub default: Option<RouteHandler>,
    /// Routes selected by `$request.body.action`, keyed by the action.
    pub named: HashMap<String, RouteHandler>,
}

/// API Gateway's limits for WebSocket APIs.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const MAX_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// What identifies the API in its events, and its limits.
#[derive(Clone, Debug)]
pub struct WsApiOptions {
    /// `requestContext.apiId`.
    pub api_id: String,
    /// `requestContext.stage`.
    pub stage: String,
    /// A connection with no frame and no post in either direction for this long is closed
    /// with 1001.
    pub idle_timeout: Duration,
    /// A connection is closed with 1001 this long after it opened.
    pub max_lifetime: Duration,
    /// A larger frame closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// A larger message (all its frames) closes the connection with 1009; a larger post to
    /// `@connections` is refused with 413.
    pub max_message_bytes: usize,
}

impl Default for WsApiOptions {
    fn default() -> Self {
        Self {
            api_id: "local".to_owned(),
            stage: "local".to_owned(),
            idle_timeout: IDLE_TIMEOUT,
            max_lifetime: MAX_LIFETIME,
            max_frame_bytes: MAX_FRAME_BYTES,
            max_message_bytes: MAX_MESSAGE_BYTES,
        }
    }
}

const REGION: &str = "us-east-1";
/// API Gateway names every answer's request in this header (a UUID).
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// How long a closing socket waits for the client's close frame before dropping it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

const CONNECT: &str = "$connect";
const DISCONNECT: &str = "$disconnect";
const DEFAULT: &str = "$default";

/// Close codes and the `disconnectReason`s API Gateway reports with them.
const NORMAL: (u16, &str) = (1000, "Connection Closed Normally");
const GOING_AWAY: (u16, &str) = (1001, "Going away");
const NO_STATUS: (u16, &str) = (1005, "Client-side close frame status not set");
const ABNORMAL: (u16, &str) = (1006, "Connection closed abnormally");
const TOO_BIG: (u16, &str) = (1009, "Message too big");

struct Api {
    routes: WsRoutes,
    options: WsApiOptions,
    /// Open connections only: a connection joins once its socket is open (so posts during
    /// `$connect` answer 410) and leaves as soon as its socket ends.
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

impl Api {
    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An open connection, as the management API sees it.
struct Connection {
    peer: Peer,
    last_active: Mutex<DateTime<Utc>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Connection {
    fn touch(&self) {
        *self
            .last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Utc::now();
    }

    fn last_active(&self) -> DateTime<Utc> {
        *self
            .last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the socket's task is asked to do; the reply tells it was done.
enum Command {
    Send(Message, Option<oneshot::Sender<()>>),
    Close(oneshot::Sender<()>),
}

/// What every event of a connection repeats about it.
#[derive(Clone, Debug)]
struct Peer {
    connection_id: String,
    connected_at: DateTime<Utc>,
    source_ip: IpAddr,
    user_agent: Option<String>,
    domain_name: String,
    /// `requestContext.authorizer`: the authorizer's context, `principalId` and
    /// `integrationLatency`; empty without an authorizer.
    authorizer: HashMap<String, Value>,
}

/// An axum Router that plays the WebSocket API: handshakes on any path, and the
/// `@connections` management API (also under `/{stage}`).
pub fn router(routes: WsRoutes, options: WsApiOptions) -> Router {
    let api = Arc::new(Api {
        routes,
        options,
        connections: Mutex::new(HashMap::new()),
    });
    let management = || {
        post(post_to_connection)
            .get(get_connection)
            .delete(delete_connection)
    };
    Router::new()
        .route("/@connections/{connection_id}", management())
        .route("/{stage}/@connections/{connection_id}", management())
        .fallback(handshake)
        .with_state(api)
}

// ---------------------------------------------------------------------------------------
// The handshake
// ---------------------------------------------------------------------------------------

/// The upgrade request as API Gateway records it for `$connect` (public so tests can build
/// the events from a plain `http::Request`).
#[derive(Clone, Debug)]
pub struct Handshake {
    pub connection_id: String,
    pub connected_at: DateTime<Utc>,
    pub source_ip: IpAddr,
    /// The Host header (or the loopback address): `requestContext.domainName`.
    pub domain_name: String,
    /// The request's headers as the client sent them.
    pub headers: HeaderMap,
    /// The raw query string, if any.
    pub query: Option<String>,
}

impl Handshake {
    /// A new connection (new id, connected now) for this upgrade request.
    pub fn new(parts: &Parts, source_ip: IpAddr) -> Self {
        Self {
            connection_id: new_id(),
            connected_at: Utc::now(),
            source_ip,
            domain_name: domain_name(parts),
            headers: parts.headers.clone(),
            query: parts.uri.query().map(str::to_owned),
        }
    }

    fn peer(&self, authorizer: HashMap<String, Value>) -> Peer {
        Peer {
            connection_id: self.connection_id.clone(),
            connected_at: self.connected_at,
            source_ip: self.source_ip,
            user_agent: self
                .headers
                .get(USER_AGENT)
                .map(|agent| header_text(agent).into_owned()),
            domain_name: self.domain_name.clone(),
            authorizer,
        }
    }
}

/// Why a handshake is refused.
enum Refusal {
    /// API Gateway's own answer (authorizer outcome, failed integration).
    Gateway(StatusCode),
    /// The `$connect` integration's status, passed on with an empty body.
    Route(StatusCode),
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::Gateway(status) | Self::Route(status) => *status,
        }
    }

    fn into_response(self) -> Response {
        match self {
            Self::Gateway(status) => {
                let message = match status {
                    StatusCode::UNAUTHORIZED => "Unauthorized",
                    StatusCode::FORBIDDEN => "Forbidden",
                    _ => "Internal server error",
                };
                with_request_id(gateway_error(status, message))
            }
            Self::Route(status) => with_request_id(status.into_response()),
        }
    }
}

async fn handshake(State(api): State<Arc<Api>>, request: axum::extract::Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let handshake = Handshake::new(&parts, source_ip(&parts));
    let id = handshake.connection_id.clone();

    let accepted = async {
        let authorizer = authorize(&api, &handshake).await?;
        let peer = handshake.peer(authorizer);
        let protocol = run_connect(&api, &handshake, &peer).await?;
        Ok::<_, Refusal>((peer, protocol))
    }
    .await;
    let (peer, protocol) = match accepted {
        Ok(accepted) => accepted,
        Err(refusal) => {
            // The id only: tokens may travel in the query string or the subprotocol.
            tracing::info!("WS CONNECT {id} {}", refusal.status().as_u16());
            return refusal.into_response();
        }
    };

    let mut upgrade = upgrade
        .max_frame_size(api.options.max_frame_bytes)
        .max_message_size(api.options.max_message_bytes);
    if let Some(protocol) = protocol {
        // API Gateway fails the handshake when `$connect` answers a subprotocol the client
        // did not offer.
        if !upgrade
            .requested_protocols()
            .any(|offered| *offered == protocol)
        {
            tracing::error!(
                "WS CONNECT {id}: $connect answered a subprotocol the client did not offer"
            );
            tracing::info!("WS CONNECT {id} 500");
            return Refusal::Gateway(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
        upgrade.set_selected_protocol(protocol);
    }
    tracing::info!("WS CONNECT {id} 200");

    let failed = (Arc::clone(&api), peer.clone());
    upgrade
        .on_failed_upgrade(move |error| {
            // `$connect` succeeded, so the backend knows the connection: tell it it is gone.
            let (api, peer) = failed;
            tracing::warn!(
                "WS CONNECT {}: the upgrade failed: {error}",
                peer.connection_id
            );
            let (events, queue) = mpsc::unbounded_channel();
            let (commands, _) = mpsc::unbounded_channel();
            tokio::spawn(deliver(queue, commands));
            queue_disconnect(&api, &peer, &events, ABNORMAL.0, ABNORMAL.1);
        })
        .on_upgrade(move |socket| open(api, peer, socket))
}

/// Runs the authorizer, if any: its context (with `principalId` and `integrationLatency`)
/// for every later event, or the refusal API Gateway answers.
async fn authorize(api: &Api, handshake: &Handshake) -> Result<HashMap<String, Value>, Refusal> {
    let Some(authorizer) = api.routes.authorizer.clone() else {
        return Ok(HashMap::new());
    };
    let id = &handshake.connection_id;
    let method_arn = method_arn(&api.options);
    let started = Instant::now();
    let outcome: Result<ApiGatewayCustomAuthorizerResponse, Failure> = invoke(
        move |event| authorizer(event),
        authorizer_event(handshake, &api.options),
    )
    .await;
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let response = match outcome {
        Ok(response) => response,
        Err(Failure::Handler(error)) if error.to_string() == "Unauthorized" => {
            return Err(Refusal::Gateway(StatusCode::UNAUTHORIZED));
        }
        Err(failure) => {
            tracing::error!("WS CONNECT {id}: the authorizer {failure}");
            return Err(Refusal::Gateway(StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    if !policy_allows(&response.policy_document, &method_arn) {
        return Err(Refusal::Gateway(StatusCode::FORBIDDEN));
    }

    let mut context = HashMap::new();
    match response.context {
        Value::Object(fields) => {
            for (key, value) in fields {
                match value {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                        context.insert(key, value);
                    }
                    Value::Null => {}
                    Value::Array(_) | Value::Object(_) => {
                        // API Gateway refuses the whole response (AuthorizerConfigurationException).
                        tracing::error!(
                            "WS CONNECT {id}: the authorizer's context value `{key}` is not a string, number or boolean"
                        );
                        return Err(Refusal::Gateway(StatusCode::INTERNAL_SERVER_ERROR));
                    }
                }
            }
        }
        Value::Null => {}
        _ => {
            tracing::error!("WS CONNECT {id}: the authorizer's context is not an object");
            return Err(Refusal::Gateway(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
    if let Some(principal) = response.principal_id {
        context.insert("principalId".to_owned(), Value::String(principal));
    }
    context.insert("integrationLatency".to_owned(), json!(latency));
    Ok(context)
}

/// Runs `$connect`, if configured: the subprotocol it answered, or the refusal.
async fn run_connect(
    api: &Api,
    handshake: &Handshake,
    peer: &Peer,
) -> Result<Option<HeaderValue>, Refusal> {
    let Some(connect) = api.routes.connect.clone() else {
        return Ok(None);
    };
    let id = &peer.connection_id;
    let event = build_event(peer, CONNECT, "CONNECT", &api.options);
    let event = with_handshake(event, handshake);
    let response = match invoke_route(connect, &event).await {
        Ok(response) => response,
        Err(failure) => {
            tracing::error!("WS CONNECT {id}: $connect {failure}");
            return Err(Refusal::Gateway(StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    let status = u16::try_from(response.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok());
    match status {
        Some(status) if status.is_success() => {}
        Some(status) if status.as_u16() >= 300 => {
            return Err(Refusal::Route(status));
        }
        _ => {
            tracing::error!(
                "WS CONNECT {id}: $connect answered the invalid status {}",
                response.status_code
            );
            return Err(Refusal::Gateway(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
    Ok(response
        .headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .or_else(|| response.multi_value_headers.get(SEC_WEBSOCKET_PROTOCOL))
        .cloned())
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/$connect`.
fn method_arn(options: &WsApiOptions) -> String {
    format!(
        "arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{}/{}/{CONNECT}",
        options.api_id, options.stage
    )
}

/// IAM's verdict on invoking `method_arn`: some Allow statement covers it and no Deny does.
fn policy_allows(policy: &ApiGatewayCustomAuthorizerPolicy, method_arn: &str) -> bool {
    let covers = |statement: &IamPolicyStatement| {
        let action = statement
            .action
            .iter()
            .any(|action| wildcard_match(&action.to_ascii_lowercase(), "execute-api:invoke"));
        let resource = statement
            .resource
            .iter()
            .any(|resource| wildcard_match(resource, method_arn));
        action && resource
    };
    let mut allowed = false;
    for statement in policy.statement.iter().filter(|s| covers(s)) {
        match statement.effect {
            IamPolicyEffect::Allow => allowed = true,
            _ => return false,
        }
    }
    allowed
}

/// IAM's wildcards: `*` any run of characters, `?` any one.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// The REQUEST authorizer's event, exactly as API Gateway sends it. Built as JSON, since
/// `ApiGatewayCustomAuthorizerRequestTypeRequest` has no field for most of the WebSocket
/// `requestContext` (connectionId, eventType, ...): the handler's typed event drops them,
/// as it would in Lambda.
pub fn authorizer_event(handshake: &Handshake, options: &WsApiOptions) -> Value {
    let now = Utc::now();
    let request_id = new_id();
    let headers = forwarded_headers(handshake, now);
    let (query, multi_query) = query_parameters(handshake.query.as_deref(), ",");
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), json!(handshake.source_ip.to_string()));
    if let Some(agent) = handshake.headers.get(USER_AGENT) {
        identity.insert("userAgent".into(), json!(header_text(agent)));
    }
    json!({
        "type": "REQUEST",
        "methodArn": method_arn(options),
        "headers": single_value_headers(&headers),
        "multiValueHeaders": multi_value_headers(&headers),
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": {
            "routeKey": CONNECT,
            "eventType": "CONNECT",
            "extendedRequestId": request_id,
            "requestTime": now.format(TIME_FORMAT).to_string(),
            "messageDirection": "IN",
            "stage": options.stage,
            "connectedAt": handshake.connected_at.timestamp_millis(),
            "requestTimeEpoch": now.timestamp_millis(),
            "identity": identity,
            "requestId": request_id,
            "domainName": handshake.domain_name,
            "connectionId": handshake.connection_id,
            "apiId": options.api_id,
        },
    })
}

/// The `$connect` event, exactly as API Gateway sends it once the authorizer (if any)
/// allowed the connection with `authorizer` (its context, `principalId`,
/// `integrationLatency`; empty without an authorizer).
pub fn connect_event(
    handshake: &Handshake,
    authorizer: HashMap<String, Value>,
    options: &WsApiOptions,
) -> ApiGatewayWebsocketProxyRequest {
    let peer = handshake.peer(authorizer);
    with_handshake(build_event(&peer, CONNECT, "CONNECT", options), handshake)
}

/// The part every event of a connection shares.
fn build_event(
    peer: &Peer,
    route_key: &str,
    event_type: &str,
    options: &WsApiOptions,
) -> ApiGatewayWebsocketProxyRequest {
    let now = Utc::now();
    // API Gateway's request ids look like its connection ids, and it repeats them as the
    // extended request id.
    let request_id = new_id();

    // The event types are non-exhaustive: start from their defaults and fill them in.
    let mut identity = ApiGatewayRequestIdentity::default();
    identity.source_ip = Some(peer.source_ip.to_string());
    identity.user_agent = peer.user_agent.clone();

    let mut context = ApiGatewayWebsocketProxyRequestContext::default();
    context.route_key = Some(route_key.to_owned());
    context.event_type = Some(event_type.to_owned());
    context.extended_request_id = Some(request_id.clone());
    context.request_time = Some(now.format(TIME_FORMAT).to_string());
    context.message_direction = Some("IN".to_owned());
    context.stage = Some(options.stage.clone());
    context.connected_at = peer.connected_at.timestamp_millis();
    context.request_time_epoch = now.timestamp_millis();
    context.identity = identity;
    context.request_id = Some(request_id);
    context.domain_name = Some(peer.domain_name.clone());
    context.connection_id = Some(peer.connection_id.clone());
    context.apiid = Some(options.api_id.clone());
    context.authorizer.fields = peer.authorizer.clone();

    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.request_context = context;
    event.is_base64_encoded = false;
    event
}

/// `$connect` carries the upgrade request's headers and query string.
fn with_handshake(
    mut event: ApiGatewayWebsocketProxyRequest,
    handshake: &Handshake,
) -> ApiGatewayWebsocketProxyRequest {
    let headers = forwarded_headers(handshake, Utc::now());
    event.headers = HeaderMap::new();
    for name in headers.keys() {
        // REST-style `headers`: the last value of a repeated header.
        if let Some(last) = headers.get_all(name).iter().next_back() {
            event.headers.insert(name.clone(), last.clone());
        }
    }
    event.multi_value_headers = headers;
    let groups = query_groups(handshake.query.as_deref());
    let last: HashMap<String, String> = groups
        .iter()
        .filter_map(|(key, values)| Some((key.clone(), values.last()?.clone())))
        .collect();
    event.query_string_parameters = QueryMap::from(last);
    event.multi_value_query_string_parameters =
        QueryMap::from(groups.into_iter().collect::<HashMap<_, _>>());
    event
}

fn message_event(
    peer: &Peer,
    route_key: &str,
    body: String,
    is_base64_encoded: bool,
    options: &WsApiOptions,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = build_event(peer, route_key, "MESSAGE", options);
    event.request_context.message_id = Some(new_id());
    event.body = Some(body);
    event.is_base64_encoded = is_base64_encoded;
    event
}

fn disconnect_event(
    peer: &Peer,
    code: u16,
    reason: &str,
    options: &WsApiOptions,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = build_event(peer, DISCONNECT, "DISCONNECT", options);
    event.request_context.disconnect_status_code = Some(i64::from(code));
    event.request_context.disconnect_reason = Some(reason.to_owned());
    // What API Gateway sends with `$disconnect`: the host and three empty headers.
    let mut headers = HeaderMap::new();
    insert_text(&mut headers, HOST, &peer.domain_name);
    for name in ["x-api-key", "x-forwarded-for", "x-restapi"] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(""));
    }
    event.headers = headers.clone();
    event.multi_value_headers = headers;
    event
}

/// The event as API Gateway sends it: the serialized type minus what the WebSocket API
/// never sends (REST-only fields, which serialize as nulls, and empty maps), with one
/// value per `queryStringParameters` key.
pub fn event_json(event: &ApiGatewayWebsocketProxyRequest) -> serde_json::Result<Value> {
    let mut json = gateway_common::event_json(event, |_, value| {
        value.as_object().is_some_and(Map::is_empty)
    })?;
    if let Some(Value::Object(query)) = json.get_mut("queryStringParameters") {
        for value in query.values_mut() {
            if let Value::Array(values) = value {
                *value = values.pop().unwrap_or_default();
            }
        }
    }
    Ok(json)
}

/// The upgrade request's headers as API Gateway forwards them: without the hop-by-hop
/// `Connection` and `Upgrade`, plus the forwarding and trace headers it adds.
fn forwarded_headers(handshake: &Handshake, now: DateTime<Utc>) -> HeaderMap {
    let mut headers = handshake.headers.clone();
    headers.remove(CONNECTION);
    headers.remove(UPGRADE);
    add_forwarding_headers(
        &mut headers,
        &handshake.domain_name,
        handshake.source_ip,
        now.timestamp(),
    );
    headers
}

fn single_value_headers(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .keys()
        .filter_map(|name| {
            let last = headers.get_all(name).iter().next_back()?;
            Some((name.to_string(), json!(header_text(last))))
        })
        .collect()
}

fn multi_value_headers(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .keys()
        .map(|name| {
            let values: Vec<Value> = headers
                .get_all(name)
                .iter()
                .map(|value| json!(header_text(value)))
                .collect();
            (name.to_string(), Value::Array(values))
        })
        .collect()
}

/// The query string's decoded values by key, in order.
fn query_groups(query: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let parsed: QueryMap = query
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|never| match never {});
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in parsed.iter() {
        groups
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    groups
}

/// `queryStringParameters` (repeated values joined with `separator`) and
/// `multiValueQueryStringParameters`.
fn query_parameters(query: Option<&str>, separator: &str) -> (Value, Value) {
    let groups = query_groups(query);
    let single: Map<String, Value> = groups
        .iter()
        .map(|(key, values)| (key.clone(), json!(values.join(separator))))
        .collect();
    let multi: Map<String, Value> = groups
        .into_iter()
        .map(|(key, values)| (key, json!(values)))
        .collect();
    (Value::Object(single), Value::Object(multi))
}

/// A connection, request or message id in API Gateway's style: 16 characters of base64
/// ending in `=`, e.g. `L0SM9cOFvHcCIhw=`, here without `+` and `/` so that it is safe in
/// a path once percent-encoded.
fn new_id() -> String {
    loop {
        let id = BASE64.encode(rand::random::<[u8; 11]>());
        if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'=') {
            return id;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invocations
// ---------------------------------------------------------------------------------------

/// Why an invocation produced no usable response.
enum Failure {
    /// The handler returned an error.
    Handler(lambda_runtime::Error),
    Panicked(String),
    /// The event or the response did not survive the trip through JSON.
    Invalid(serde_json::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handler(error) => write!(f, "failed: {error}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::Invalid(error) => write!(
                f,
                "event or response is not valid JSON for its type: {error}"
            ),
        }
    }
}

/// The Lambda side of one invocation: the event JSON in, the response through JSON out,
/// the handler in its own task so that a panic fails this invocation only.
async fn invoke<E, R>(
    handler: impl FnOnce(E) -> BoxFuture<'static, Result<R, lambda_runtime::Error>> + Send + 'static,
    event: Value,
) -> Result<R, Failure>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let event: E = serde_json::from_value(event).map_err(Failure::Invalid)?;
    let output = match tokio::spawn(async move { handler(event).await }).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(Failure::Handler(error)),
        Err(join_error) => return Err(Failure::Panicked(panic_message(join_error))),
    };
    let output = serde_json::to_value(&output).map_err(Failure::Invalid)?;
    serde_json::from_value(output).map_err(Failure::Invalid)
}

async fn invoke_route(
    handler: RouteHandler,
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Failure> {
    let json = event_json(event).map_err(Failure::Invalid)?;
    invoke(move |event| handler(event), json).await
}

// ---------------------------------------------------------------------------------------
// An open connection
// ---------------------------------------------------------------------------------------

/// One event for a connection's route handlers, delivered in order.
struct Delivery {
    handler: Option<RouteHandler>,
    event: ApiGatewayWebsocketProxyRequest,
}

async fn open(api: Arc<Api>, peer: Peer, socket: WebSocket) {
    let (commands, inbox) = mpsc::unbounded_channel();
    let connection = Arc::new(Connection {
        peer,
        last_active: Mutex::new(Utc::now()),
        commands: commands.clone(),
    });
    let id = connection.peer.connection_id.clone();
    api.lock().insert(id, Arc::clone(&connection));
    let (events, queue) = mpsc::unbounded_channel();
    tokio::spawn(deliver(queue, commands));
    run(api, connection, socket, inbox, events).await;
}

/// The socket's life: client frames to route handlers, posts to the client, limits.
async fn run(
    api: Arc<Api>,
    connection: Arc<Connection>,
    mut socket: WebSocket,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Delivery>,
) {
    let options = &api.options;
    let peer = &connection.peer;
    let end_of_life = tokio::time::Instant::now() + options.max_lifetime;
    let mut last_activity = tokio::time::Instant::now();
    let touch = |last_activity: &mut tokio::time::Instant| {
        *last_activity = tokio::time::Instant::now();
        connection.touch();
    };

    // (code, reason) for `$disconnect`, and whether we still owe the client a close frame.
    let (code, reason, close_first): (u16, String, bool) = loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    touch(&mut last_activity);
                    let route_key = select_route(&api.routes, &text);
                    let handler = route(&api.routes, &route_key);
                    let event = message_event(peer, &route_key, text.to_string(), false, options);
                    tracing::info!("WS MESSAGE {} {route_key}", peer.connection_id);
                    let _ = events.send(Delivery { handler, event });
                }
                Some(Ok(Message::Binary(bytes))) => {
                    touch(&mut last_activity);
                    let handler = api.routes.default.clone();
                    let event = message_event(peer, DEFAULT, BASE64.encode(&bytes), true, options);
                    tracing::info!("WS MESSAGE {} {DEFAULT}", peer.connection_id);
                    let _ = events.send(Delivery { handler, event });
                }
                // Pings are answered by the socket itself (on its next read, just below).
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => touch(&mut last_activity),
                Some(Ok(Message::Close(frame))) => break match frame {
                    Some(frame) => (frame.code, frame.reason.to_string(), false),
                    None => (NO_STATUS.0, NO_STATUS.1.to_owned(), false),
                },
                Some(Err(error)) if is_too_big(&error) => {
                    break (TOO_BIG.0, TOO_BIG.1.to_owned(), true);
                }
                Some(Err(error)) => {
                    tracing::debug!("WS {}: the socket failed: {error}", peer.connection_id);
                    break (ABNORMAL.0, ABNORMAL.1.to_owned(), false);
                }
                None => break (ABNORMAL.0, ABNORMAL.1.to_owned(), false),
            },
            command = inbox.recv() => match command {
                Some(Command::Send(message, done)) => {
                    if socket.send(message).await.is_err() {
                        break (ABNORMAL.0, ABNORMAL.1.to_owned(), false);
                    }
                    touch(&mut last_activity);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Some(Command::Close(done)) => {
                    close(&mut socket, NORMAL).await;
                    let _ = done.send(());
                    break (NORMAL.0, NORMAL.1.to_owned(), false);
                }
                None => break (ABNORMAL.0, ABNORMAL.1.to_owned(), false),
            },
            () = tokio::time::sleep_until(last_activity + options.idle_timeout) => {
                break (GOING_AWAY.0, GOING_AWAY.1.to_owned(), true);
            }
            () = tokio::time::sleep_until(end_of_life) => {
                break (GOING_AWAY.0, GOING_AWAY.1.to_owned(), true);
            }
        }
    };

    // Gone for the management API at once; posts still queued are answered 410.
    api.lock().remove(&peer.connection_id);
    drop(inbox);
    if close_first {
        close(&mut socket, (code, reason_text(code))).await;
    }
    queue_disconnect(&api, peer, &events, code, &reason);
    drop(events);
    // Let the close handshake finish (the socket answers the client's close frame on its
    // next read), then drop the TCP connection.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

fn reason_text(code: u16) -> &'static str {
    [NORMAL, GOING_AWAY, NO_STATUS, ABNORMAL, TOO_BIG]
        .iter()
        .find(|(known, _)| *known == code)
        .map_or("", |(_, reason)| reason)
}

async fn close(socket: &mut WebSocket, (code, reason): (u16, &'static str)) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// A frame or message over the limits. axum hides tungstenite's error type, whose
/// `Error::Capacity` displays as "Space limit exceeded: ...".
fn is_too_big(error: &axum::Error) -> bool {
    error.to_string().starts_with("Space limit exceeded")
}

fn queue_disconnect(
    api: &Api,
    peer: &Peer,
    events: &mpsc::UnboundedSender<Delivery>,
    code: u16,
    reason: &str,
) {
    tracing::info!("WS DISCONNECT {} {code}", peer.connection_id);
    let event = disconnect_event(peer, code, reason, &api.options);
    let handler = api.routes.disconnect.clone();
    let _ = events.send(Delivery { handler, event });
}

/// `$request.body.action`: the action when the body is a JSON object whose `action` names
/// a configured route, `$default` otherwise.
fn select_route(routes: &WsRoutes, body: &str) -> String {
    let action = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|json| json.get("action")?.as_str().map(str::to_owned));
    match action {
        Some(action) if routes.named.contains_key(&action) => action,
        _ => DEFAULT.to_owned(),
    }
}

fn route(routes: &WsRoutes, route_key: &str) -> Option<RouteHandler> {
    if route_key == DEFAULT {
        routes.default.clone()
    } else {
        routes.named.get(route_key).cloned()
    }
}

/// Runs a connection's events one at a time, in order. As API Gateway does, a message that
/// no route takes, or whose integration fails, gets an error frame back.
async fn deliver(
    mut queue: mpsc::UnboundedReceiver<Delivery>,
    commands: mpsc::UnboundedSender<Command>,
) {
    while let Some(Delivery { handler, event }) = queue.recv().await {
        let context = &event.request_context;
        let route_key = context.route_key.clone().unwrap_or_default();
        let is_message = context.event_type.as_deref() == Some("MESSAGE");
        let connection_id = context.connection_id.clone().unwrap_or_default();
        let request_id = context.request_id.clone().unwrap_or_default();
        let answer = match handler {
            None if is_message => "Forbidden",
            None => continue,
            Some(handler) => match invoke_route(handler, &event).await {
                // No route responses are configured: the client gets nothing.
                Ok(_) => continue,
                Err(failure) => {
                    tracing::error!("WS {connection_id} {route_key}: the handler {failure}");
                    if !is_message {
                        continue;
                    }
                    "Internal server error"
                }
            },
        };
        // API Gateway's own frame, spacing included.
        let frame = format!(
            r#"{{"message": "{answer}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}"#
        );
        let _ = commands.send(Command::Send(Message::Text(frame.into()), None));
    }
}

// ---------------------------------------------------------------------------------------
// The management API
// ---------------------------------------------------------------------------------------

/// `POST /@connections/{id}`: the body to the client, as a text frame when it is UTF-8.
async fn post_to_connection(
    State(api): State<Arc<Api>>,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let id = path.get("connection_id").cloned().unwrap_or_default();
    let Ok(data) = read_body(&headers, body, api.options.max_message_bytes).await else {
        return payload_too_large();
    };
    let Some(connection) = api.connection(&id) else {
        return gone();
    };
    let message = match Utf8Bytes::try_from(data.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(data),
    };
    // API Gateway answers once the frame is queued, not once the client has read it: a
    // slow reader must not hold up the poster (a broadcast would wait on its slowest member).
    if connection
        .commands
        .send(Command::Send(message, None))
        .is_err()
    {
        return gone();
    }
    with_request_id(StatusCode::OK.into_response())
}

/// `GET /@connections/{id}`: when it connected, who it is, when it was last active.
async fn get_connection(
    State(api): State<Arc<Api>>,
    Path(path): Path<HashMap<String, String>>,
) -> Response {
    let id = path.get("connection_id").cloned().unwrap_or_default();
    let Some(connection) = api.connection(&id) else {
        return gone();
    };
    let peer = &connection.peer;
    let mut identity = Map::new();
    identity.insert("SourceIp".into(), json!(peer.source_ip.to_string()));
    if let Some(agent) = &peer.user_agent {
        identity.insert("UserAgent".into(), json!(agent));
    }
    let body = json!({
        "ConnectedAt": iso_time(peer.connected_at),
        "Identity": identity,
        "LastActiveAt": iso_time(connection.last_active()),
    });
    with_request_id(
        (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

/// `DELETE /@connections/{id}`: closes the socket (1000), which fires `$disconnect`.
async fn delete_connection(
    State(api): State<Arc<Api>>,
    Path(path): Path<HashMap<String, String>>,
) -> Response {
    let id = path.get("connection_id").cloned().unwrap_or_default();
    let Some(connection) = api.connection(&id) else {
        return gone();
    };
    let (done, closed) = oneshot::channel();
    if connection.commands.send(Command::Close(done)).is_err() || closed.await.is_err() {
        return gone();
    }
    with_request_id(StatusCode::NO_CONTENT.into_response())
}

/// The management API's timestamps, e.g. `2024-02-09T18:23:28.396Z`.
fn iso_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// API Gateway's 410 for a connection that is unknown, not yet open or closed: no body,
/// the error's name in `x-amzn-ErrorType` (where the AWS SDKs read `GoneException`).
fn gone() -> Response {
    let mut response = with_request_id(StatusCode::GONE.into_response());
    response.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static("GoneException"),
    );
    response
}

fn payload_too_large() -> Response {
    let mut response = with_request_id(gateway_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload too large",
    ));
    response.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static("PayloadTooLargeException"),
    );
    response
}

/// Every answer, the handshake's included, is named by a fresh UUID.
fn with_request_id(response: Response) -> Response {
    gateway_common::with_request_id(response, REQUEST_ID_HEADER, &uuid(rand::random()))
}
