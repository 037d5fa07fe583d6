//! The REST API as one axum `Router`. The `sessions` function runs [`sessions`], the
//! `uploads` function [`uploads`] (the three file routes the template sends it), each
//! inside Lambda through `lambda_http`; [`app`] is both together. The local server runs
//! the same two routers behind its own API Gateway, through the same event conversion as
//! Lambda.
//!
//! Handlers parse, call the service and map; extractors ([`extract`]) turn every bad
//! input into the API's error body ([`error`]); answers are typed ([`reply`]). [`openapi`]
//! describes it all, from the handlers' annotations.

mod bodies;
mod chatbots;
pub mod error;
pub mod extract;
mod library;
mod openapi;
pub mod reply;
mod seeds;
mod sessions;
pub mod uploads;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use chat_core::auth::Authenticator;
use chat_core::compose::Services;
use chat_core::config::Config;
use chat_core::ports::{Clock, KeySetFetcher};
use chat_core::service::ChatService;
use http::{HeaderName, Request};
use tower_http::LatencyUnit;
use tower_http::normalize_path::NormalizePath;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use chatbots::parse_chatbot_file;
pub use error::ApiError;
pub use extract::MAX_BODY_BYTES;
pub use openapi::{openapi, openapi_json};

/// What the handlers need, built once per cold start.
pub struct State {
    /// The chat service, posting through the WebSocket API's Management API.
    pub chat: ChatService,
    pub authenticator: Arc<Authenticator>,
    pub clock: Arc<dyn Clock>,
}

impl State {
    /// The state of a REST API posting through `endpoint`, verifying tokens as `config`
    /// says (`key_sets` fetches an identity provider's keys).
    pub fn new(
        config: &Config,
        services: &Services,
        endpoint: &str,
        key_sets: Arc<dyn KeySetFetcher>,
    ) -> Arc<Self> {
        Arc::new(Self {
            chat: services.for_endpoint(endpoint),
            authenticator: Arc::new(Authenticator::new(config.auth_config(), key_sets)),
            clock: services.clock(),
        })
    }
}

/// The routes of the `sessions` function: everything but the file routes, and seed 004's
/// upload as well, in case its slashed path (`/chat/upload-file/`) reaches this function
/// through the `$default` route rather than the upload route.
pub fn sessions(state: Arc<State>) -> Router {
    edges(sessions::routes().merge(seeds::upload_routes()), state)
}

/// The routes of the `uploads` function: [`uploads::ROUTES`].
pub fn uploads(state: Arc<State>) -> Router {
    edges(uploads::routes(), state)
}

/// The whole REST API.
pub fn app(state: Arc<State>) -> Router {
    edges(sessions::routes().merge(uploads::routes()), state)
}

/// Names every request and its answer (`x-request-id`, kept when the client sent one).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every route shares: the 404 of no route, the JSON body limit, a request id, a
/// tracing span per request, and paths with a trailing slash served as without one.
fn edges(routes: Router<Arc<State>>, state: Arc<State>) -> Router {
    let routes = routes
        .fallback(|| async { ApiError::NoRoute })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|id| id.to_str().ok())
                        .unwrap_or_default();
                    // The path only: the query may hold what logs must not.
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = request.uri().path(),
                        request_id = id,
                        outcome = tracing::field::Empty,
                    )
                })
                // One line a request at info: its status and latency, in the request's span.
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                ),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_refusals,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, Ulids))
        .with_state(state);
    // Outside the router: it must rewrite the path before routing sees it.
    Router::new()
        .fallback_service(NormalizePath::trim_trailing_slash(routes))
        .layer(axum::middleware::from_fn(answer_preflight))
}

/// Counts each refusal an answer carries (moderation, rate limits: [`ApiError`] marks
/// them) in the service's metrics, once, where it is answered.
async fn count_refusals(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    if let Some(metric) = response.extensions().get::<chat_core::metrics::Metric>() {
        state.chat.count_metric(*metric);
    }
    response
}

/// Browsers' CORS preflights. The HTTP API's `$default` and `ANY` routes pass `OPTIONS`
/// to the functions (API Gateway answers a preflight itself only where no route takes
/// it), so every path answers one with 204 before routing, whatever methods it has;
/// API Gateway adds the CORS headers its configuration names, as it does to every answer.
async fn answer_preflight(
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.method() == http::Method::OPTIONS {
        return axum::response::IntoResponse::into_response(http::StatusCode::NO_CONTENT);
    }
    next.run(request).await
}

/// `methods` answering any other method with 405 and `Allow: allow`.
fn allow(allow: &'static str, methods: MethodRouter<Arc<State>>) -> MethodRouter<Arc<State>> {
    methods.fallback(move || async move { ApiError::MethodNotAllowed { allow } })
}

/// Request ids that sort by time, like the rest of the API's ids.
#[derive(Clone, Copy)]
struct Ulids;

impl MakeRequestId for Ulids {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        ulid::Ulid::new()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}
