//! The Management API: `POST/GET/DELETE /@connections/{id}`, answered as the real service does.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{
        Path, State,
        ws::{Message, Utf8Bytes},
    },
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header::CONTENT_TYPE};
use serde_json::{Map, json};
use tokio::sync::oneshot;

use super::{Api, Command, with_request_id};
use crate::gateway_common::{gateway_error, read_body};

/// `POST /@connections/{id}`: the body to the client, as a text frame when it is UTF-8.
pub(super) async fn post_to_connection(
    State(api): State<Arc<Api>>,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let id = path.get("connection_id").cloned().unwrap_or_default();
    let Ok(data) = read_body(&headers, body, api.options.max_message_bytes).await else {
        return payload_too_large();
    };
    if !api.options.management_delay.is_zero() {
        tokio::time::sleep(api.options.management_delay).await;
    }
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
pub(super) async fn get_connection(
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
pub(super) async fn delete_connection(
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
