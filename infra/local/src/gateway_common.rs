//! What the HTTP API and the WebSocket API do alike as API Gateway: the request's domain
//! and client, the headers it adds, its own answers, and events as JSON.

use std::{
    borrow::Cow,
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

use axum::{
    BoxError,
    extract::ConnectInfo,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE, HOST},
    request::Parts,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde_json::Value;

/// The account id in local events: AWS's documentation example, also moto's default.
pub const ACCOUNT_ID: &str = "123456789012";
/// API Gateway's request time format (`time`, `requestTime`), e.g.
/// `22/Nov/2026:03:15:53 +0000`.
pub const TIME_FORMAT: &str = "%d/%b/%Y:%H:%M:%S %z";

/// The client's address; the loopback address when the router is served without connect
/// info.
pub fn source_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |ConnectInfo(peer)| {
            peer.ip()
        })
}

/// The Host header, or the URI's authority (HTTP/2), or the loopback address.
pub fn domain_name(parts: &Parts) -> String {
    parts
        .headers
        .get(HOST)
        .map(|host| header_text(host).into_owned())
        .or_else(|| parts.uri.authority().map(ToString::to_string))
        .unwrap_or_else(|| Ipv4Addr::LOCALHOST.to_string())
}

pub fn host_and_port(domain_name: &str) -> (&str, Option<&str>) {
    match domain_name.rsplit_once(':') {
        // A bracketed IPv6 address without a port ends with `]`.
        Some((host, port)) if !port.ends_with(']') => (host.trim_matches(['[', ']']), Some(port)),
        _ => (domain_name.trim_matches(['[', ']']), None),
    }
}

/// Adds the forwarding and trace headers API Gateway adds to the request's headers.
pub fn add_forwarding_headers(
    headers: &mut HeaderMap,
    domain_name: &str,
    source_ip: IpAddr,
    epoch_seconds: i64,
) {
    let forwarded_for = match headers.get("x-forwarded-for") {
        Some(earlier) => format!("{}, {source_ip}", header_text(earlier)),
        None => source_ip.to_string(),
    };
    insert_text(
        headers,
        HeaderName::from_static("x-forwarded-for"),
        &forwarded_for,
    );
    let port = host_and_port(domain_name).1.unwrap_or("80");
    insert_text(headers, HeaderName::from_static("x-forwarded-port"), port);
    // Plain HTTP and `ws://` locally; lambda_http builds the request's URI scheme from this.
    insert_text(
        headers,
        HeaderName::from_static("x-forwarded-proto"),
        "http",
    );
    let trace = HeaderName::from_static("x-amzn-trace-id");
    if !headers.contains_key(&trace) {
        // X-Ray's format: version, epoch seconds in hex, 96 bits of randomness in hex.
        let random = rand::random::<u128>() & ((1u128 << 96) - 1);
        let root = format!("Root=1-{epoch_seconds:08x}-{random:024x}");
        insert_text(headers, trace, &root);
    }
}

/// 128 bits in a UUID's text form, e.g. `0f8fad5b-d9cb-469f-a165-70867728950e`.
pub fn uuid(bits: u128) -> String {
    let id = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
}

/// Why a request body was not read.
pub enum BodyError {
    TooLarge,
    Unreadable(BoxError),
}

/// Reads the whole body (API Gateway buffers it too), refusing one over the limit early
/// when Content-Length announces it, and as soon as it is exceeded otherwise.
pub async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(error) => Err(BodyError::Unreadable(error)),
    }
}

/// API Gateway's own error answers: `{"message": "..."}` as JSON.
pub fn gateway_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// Names the answer's request in `header`, as API Gateway does on every answer (each API
/// in its own header).
pub fn with_request_id(mut response: Response, header: &'static str, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(header), value);
    }
    response
}

/// An event as API Gateway sends it: serialized, without nulls (fields the type has but
/// API Gateway does not send) and without the top-level fields `unsent` picks.
pub fn event_json(
    event: &impl Serialize,
    unsent: impl Fn(&str, &Value) -> bool,
) -> serde_json::Result<Value> {
    let mut json = serde_json::to_value(event)?;
    strip_nulls(&mut json);
    if let Some(fields) = json.as_object_mut() {
        fields.retain(|key, value| !unsent(key, value));
    }
    Ok(json)
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            fields.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Header values as text: events are JSON, so bytes that are not UTF-8 become U+FFFD.
pub fn header_text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

pub fn insert_text(headers: &mut HeaderMap, name: HeaderName, text: &str) {
    // Text taken from valid header values stays valid; anything else is left out.
    if let Ok(value) = HeaderValue::from_str(text) {
        headers.insert(name, value);
    }
}

/// What a handler's panic said, for the log.
pub fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|message| (*message).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".to_owned()),
        Err(error) => error.to_string(),
    }
}
