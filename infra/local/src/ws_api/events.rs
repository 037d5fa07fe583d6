//! The events: the API Gateway event JSON each handler receives, as API Gateway builds it.

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::{
    apigw::{
        ApiGatewayRequestIdentity, ApiGatewayWebsocketProxyRequest,
        ApiGatewayWebsocketProxyRequestContext,
    },
    query_map::QueryMap,
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use http::{
    HeaderMap, HeaderName, HeaderValue,
    header::{CONNECTION, HOST, UPGRADE, USER_AGENT},
};
use serde_json::{Map, Value, json};

use super::handshake::{Handshake, method_arn};
use super::{CONNECT, DISCONNECT, Peer, WsApiOptions};
use crate::gateway_common::{self, TIME_FORMAT, add_forwarding_headers, header_text, insert_text};

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
pub(super) fn build_event(
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
pub(super) fn with_handshake(
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

pub(super) fn message_event(
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

pub(super) fn disconnect_event(
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
pub(super) fn new_id() -> String {
    loop {
        let id = BASE64.encode(rand::random::<[u8; 11]>());
        if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'=') {
            return id;
        }
    }
}
