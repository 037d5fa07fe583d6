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
//!
//! The handshake is in `handshake`, the events' JSON in `events`, an open connection's
//! socket in `socket`, the `@connections` API in `management`, and running a handler as
//! Lambda does in `invoke`; what they share is here.

mod events;
mod handshake;
mod invoke;
mod management;
mod socket;

pub use events::{authorizer_event, connect_event, event_json};
pub use handshake::Handshake;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use axum::{Router, extract::ws::Message, response::Response, routing::post};
use chat_core::domain::Dialect;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use self::management::{delete_connection, get_connection, post_to_connection};
use crate::gateway_common::{self, uuid};

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
    /// How long each `POST @connections/{id}` takes before it delivers and answers: zero
    /// by default; benchmarks set it to play API Gateway's round trip from a Lambda.
    pub management_delay: Duration,
    /// Sees every text frame of every connection, both ways (tests check them).
    pub frame_tap: Option<FrameTap>,
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
            management_delay: Duration::ZERO,
            frame_tap: None,
        }
    }
}

/// Which way a tapped frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameDirection {
    /// A text frame the client sent.
    FromClient,
    /// A text frame delivered to the client: a post to `@connections`, or API Gateway's
    /// own `{"message": "Internal server error", ...}`.
    ToClient,
}

/// Called with every text frame of every connection and the connection's dialect (its
/// `?dialect=`, else `default_dialect`), on the connection's own task and in order. The
/// end-to-end suites validate each frame against `docs/schema/` with it.
#[derive(Clone)]
pub struct FrameTap {
    pub tap: Arc<TapFn>,
    /// The dialect of a connection that names none (`WS_DIALECT`).
    pub default_dialect: Dialect,
}

pub type TapFn = dyn Fn(FrameDirection, Dialect, &str) + Send + Sync;

impl FrameTap {
    pub fn new(tap: impl Fn(FrameDirection, Dialect, &str) + Send + Sync + 'static) -> Self {
        Self {
            tap: Arc::new(tap),
            default_dialect: Dialect::default(),
        }
    }
}

impl std::fmt::Debug for FrameTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameTap")
            .field("default_dialect", &self.default_dialect)
            .finish_non_exhaustive()
    }
}

/// API Gateway names every answer's request in this header (a UUID).
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

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
    /// The handshake's raw query string (a frame tap reads `dialect` from it).
    query: Option<String>,
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
        .fallback(handshake::handshake)
        .with_state(api)
}

/// Every answer, the handshake's included, is named by a fresh UUID.
fn with_request_id(response: Response) -> Response {
    gateway_common::with_request_id(response, REQUEST_ID_HEADER, &uuid(rand::random()))
}
