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
