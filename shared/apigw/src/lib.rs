//! API Gateway glue the functions share, with no AWS SDK: the authorizer's context carried
//! to every later event, the caller and connection an event names, the Management API
//! endpoint it came through, and bare responses.

use std::collections::HashMap;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use chat_core::compose::Services;
use chat_core::domain::{ConnectionId, Principal, ValidationError};
use chat_core::service::ChatService;
use serde_json::Value;

/// The authorizer's context: what later events know of the caller without a lookup.
/// API Gateway allows only strings, numbers and booleans there, so absent means absent.
pub fn principal_context(principal: &Principal) -> HashMap<String, Value> {
    let mut context = HashMap::from([
        (
            "user_id".to_owned(),
            Value::from(principal.user_id.as_str()),
        ),
        ("role".to_owned(), Value::from(principal.role.as_str())),
    ]);
    if let Some(name) = &principal.name {
        context.insert("name".to_owned(), Value::from(name.as_str()));
    }
    if let Some(org) = &principal.org {
        context.insert("org".to_owned(), Value::from(org.as_str()));
    }
    context
}

/// The caller of a WebSocket event, from the context the authorizer returned.
pub fn event_principal(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<Principal, ValidationError> {
    let fields = &event.request_context.authorizer.fields;
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let user = text("user_id")
        .ok_or_else(|| ValidationError::new("user_id", "is missing from the authorizer context"))?;
    Principal::from_claims(user, text("role"), text("name"), text("org"))
}

/// The connection an event came from.
pub fn event_connection(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<ConnectionId, ValidationError> {
    let id = event
        .request_context
        .connection_id
        .as_deref()
        .unwrap_or_default();
    ConnectionId::parse(id)
}

/// The management API's URL for the API an event came through.
pub fn event_endpoint(event: &ApiGatewayWebsocketProxyRequest) -> String {
    let context = &event.request_context;
    endpoint_for(
        context.domain_name.as_deref().unwrap_or("localhost"),
        context.stage.as_deref().unwrap_or("$default"),
    )
}

/// A response with only a status (and an optional header).
pub fn status_response(
    status: u16,
    header: Option<(&'static str, &str)>,
) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.body = None::<Body>;
    if let Some((name, value)) = header
        && let Ok(value) = value.parse()
    {
        response.headers.insert(name, value);
    }
    response
}

/// The Management API's URL of a WebSocket API: `https://{domain}/{stage}` (locally
/// `http://127.0.0.1:3001`).
pub fn endpoint_for(domain_name: &str, stage: &str) -> String {
    let scheme = if domain_name.starts_with("127.0.0.1") || domain_name.starts_with("localhost") {
        "http"
    } else {
        "https"
    };
    match stage {
        "" | "$default" => format!("{scheme}://{domain_name}"),
        stage => format!("{scheme}://{domain_name}/{stage}"),
    }
}

/// The service for the API an event came through (or the configured endpoint).
pub trait EventServices {
    fn for_event(&self, event: &ApiGatewayWebsocketProxyRequest) -> ChatService;

    /// The Management API endpoint posts for this event go through.
    fn endpoint_of(&self, event: &ApiGatewayWebsocketProxyRequest) -> String;
}

impl EventServices for Services {
    fn for_event(&self, event: &ApiGatewayWebsocketProxyRequest) -> ChatService {
        self.for_origin(&event_endpoint(event))
    }

    fn endpoint_of(&self, event: &ApiGatewayWebsocketProxyRequest) -> String {
        self.endpoint_for_origin(&event_endpoint(event)).to_owned()
    }
}

/// Names the session an event turned out to be about in the invocation's log span (the
/// event itself names only the connection).
pub fn log_session(session: impl std::fmt::Display) {
    tracing::Span::current().record("session_id", tracing::field::display(session));
}

/// Names how an event ended, when it was refused (an error code), in the invocation's log
/// span; an event that ends without it went as asked.
pub fn log_outcome(outcome: &str) {
    tracing::Span::current().record("outcome", outcome);
}

/// The log span of one invocation: what it is (`route`: a WebSocket route key, `job:...`,
/// `authorize`) and the connection it is about, with room for the session and the outcome
/// the handler finds ([`log_session`], [`log_outcome`]). The runtime's own span around it
/// carries the request id. Never a token, never content.
pub fn invocation_span(route: &str, connection: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "invocation",
        route,
        connection_id = tracing::field::Empty,
        session_id = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    if let Some(connection) = connection {
        span.record("connection_id", connection);
    }
    span
}

/// The span of a WebSocket event: its route and connection.
pub fn websocket_span(event: &ApiGatewayWebsocketProxyRequest) -> tracing::Span {
    let context = &event.request_context;
    invocation_span(
        context.route_key.as_deref().unwrap_or_default(),
        context.connection_id.as_deref(),
    )
}

/// Runs one invocation inside `span`, then writes its one summary line: latency and
/// whether it failed (the span adds route, connection, session and outcome).
pub async fn observed<T, E: std::fmt::Display>(
    span: tracing::Span,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    use tracing::Instrument;
    async move {
        let started = std::time::Instant::now();
        let result = work.await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => tracing::info!(latency_ms, "handled"),
            Err(error) => tracing::warn!(latency_ms, %error, "failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// The span of an asynchronous job (a bot reply, a welcome, an indexing): `job:` and its
/// name as the route, with the session or connection it is for.
pub fn job_span(job: &chat_core::ports::Job) -> tracing::Span {
    use chat_core::ports::Job;
    let name = match job {
        Job::Welcome { .. } => "job:welcome",
        Job::BotReply { .. } => "job:bot_reply",
        Job::IndexDocument { .. } => "job:index_document",
        Job::IndexLibraryDocument { .. } => "job:index_library_document",
    };
    let connection = match job {
        Job::Welcome { connection_id, .. } => Some(connection_id.as_str()),
        _ => None,
    };
    let span = invocation_span(name, connection);
    if let Job::BotReply { session_id, .. } = job {
        span.record("session_id", tracing::field::display(session_id));
    }
    span
}
