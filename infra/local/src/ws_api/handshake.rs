//! The handshake: the upgrade, the `$connect` authorizer and route, the subprotocol.

use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Instant};

use aws_lambda_events::{
    apigw::{ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse},
    iam::{IamPolicyEffect, IamPolicyStatement},
};
use axum::{
    extract::{FromRequestParts, State, ws::WebSocketUpgrade},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{SEC_WEBSOCKET_PROTOCOL, USER_AGENT},
    request::Parts,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::events::{authorizer_event, build_event, new_id, with_handshake};
use super::invoke::{Failure, invoke, invoke_route};
use super::socket::{deliver, open, queue_disconnect};
use super::{ABNORMAL, Api, CONNECT, Peer, WsApiOptions, with_request_id};
use crate::gateway_common::{ACCOUNT_ID, domain_name, gateway_error, header_text, source_ip};

const REGION: &str = "us-east-1";

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

    pub(super) fn peer(&self, authorizer: HashMap<String, Value>) -> Peer {
        Peer {
            connection_id: self.connection_id.clone(),
            connected_at: self.connected_at,
            source_ip: self.source_ip,
            user_agent: self
                .headers
                .get(USER_AGENT)
                .map(|agent| header_text(agent).into_owned()),
            domain_name: self.domain_name.clone(),
            query: self.query.clone(),
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

pub(super) async fn handshake(
    State(api): State<Arc<Api>>,
    request: axum::extract::Request,
) -> Response {
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
pub(super) fn method_arn(options: &WsApiOptions) -> String {
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
