//! An open connection: frames in, posts out, limits, timers, `$disconnect`, ordered delivery.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chat_core::domain::Dialect;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;

use super::events::{disconnect_event, message_event};
use super::invoke::invoke_route;
use super::{
    ABNORMAL, Api, Command, Connection, DEFAULT, FrameDirection, GOING_AWAY, NO_STATUS, NORMAL,
    Peer, RouteHandler, TOO_BIG, WsRoutes,
};

/// How long a closing socket waits for the client's close frame before dropping it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// One event for a connection's route handlers, delivered in order.
pub(super) struct Delivery {
    handler: Option<RouteHandler>,
    event: ApiGatewayWebsocketProxyRequest,
}

pub(super) async fn open(api: Arc<Api>, peer: Peer, socket: WebSocket) {
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
    // The dialect is the handshake's: read once, not per frame.
    let tapped = options
        .frame_tap
        .as_ref()
        .map(|frame_tap| (frame_tap, dialect(peer, frame_tap.default_dialect)));
    let tap = |direction, text: &str| {
        if let Some((frame_tap, dialect)) = tapped {
            (frame_tap.tap)(direction, dialect, text);
        }
    };

    // (code, reason) for `$disconnect`, and whether we still owe the client a close frame.
    let (code, reason, close_first): (u16, String, bool) = loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    touch(&mut last_activity);
                    tap(FrameDirection::FromClient, &text);
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
                    if let Message::Text(text) = &message {
                        tap(FrameDirection::ToClient, text);
                    }
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

/// The connection's `?dialect=`, as `$connect` reads it (a handshake naming an unknown one
/// was refused), else `default`.
fn dialect(peer: &Peer, default: Dialect) -> Dialect {
    peer.query
        .iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("dialect="))
        .and_then(|name| Dialect::parse(name).ok())
        .unwrap_or(default)
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

pub(super) fn queue_disconnect(
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
pub(super) async fn deliver(
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
