//! `$connect`: records the connection (bound to `?session_id`, or `?chat_id`, when given),
//! answers the `bearer` subprotocol when the client offered it, and starts the welcome job,
//! which this same function runs when invoked with it.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_apigw::{
    EventServices, event_connection, event_principal, log_outcome, log_session, status_response,
};
use chat_core::compose::Services;
use chat_core::domain::{Dialect, SessionId, ValidationError};
use chat_core::ports::{Invoker, Job, error_chain};
use chat_core::service::ServiceError;
use lambda_runtime::Error;

pub struct App {
    pub services: Services,
    pub invoker: Arc<dyn Invoker>,
    /// The dialect of a client that names none (`WS_DIALECT`).
    pub dialect: Dialect,
}

/// What this function is invoked with: API Gateway's `$connect`, or its own welcome job.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Job(Job),
    Connect(Box<ApiGatewayWebsocketProxyRequest>),
}

pub async fn handle_connect(
    app: &App,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let (Ok(principal), Ok(connection)) = (event_principal(&event), event_connection(&event))
    else {
        tracing::warn!("a $connect event without the authorizer's context or a connection id");
        return Ok(status_response(401, None));
    };
    let (Ok(session), Ok(dialect)) = (session_of(&event), query(&event, "dialect", Dialect::parse))
    else {
        return Ok(status_response(400, None));
    };
    let dialect = dialect.unwrap_or(app.dialect);
    if let Some(session) = session {
        log_session(session);
    }
    let service = app.services.for_event(&event);
    let opened = match service
        .open_connection(principal, connection.clone(), session, dialect)
        .await
    {
        Ok(opened) => opened,
        Err(error) => {
            if error.is_server_fault() {
                tracing::error!(error = %error_chain(&error), "cannot open the connection");
            }
            log_outcome(error.code().as_str());
            if let Some(metric) = error.refusal_metric() {
                service.count_metric(metric);
            }
            return Ok(status_response(refusal_status(&error), None));
        }
    };
    if opened.session_id.is_some() {
        let endpoint = app.services.endpoint_of(&event);
        let job = Job::Welcome {
            connection_id: connection,
            endpoint,
        };
        if let Err(error) = app.invoker.invoke(&job).await {
            // The socket still opens; the client can ask with a join frame.
            tracing::error!(error = %error_chain(&error), "cannot start the welcome");
        }
    }
    Ok(status_response(
        200,
        offered_bearer(&event).map(|p| ("Sec-WebSocket-Protocol", p)),
    ))
}

pub async fn handle_job(app: &App, job: Job) -> Result<(), Error> {
    match job {
        Job::Welcome {
            connection_id,
            endpoint,
        } => {
            app.services
                .for_endpoint(&endpoint)
                .welcome(&connection_id)
                .await
                // The runtime logs what the invocation failed with: the whole cause.
                .map_err(|error| error_chain(&error))?;
        }
        other => return Err(format!("connect does not run {other:?}").into()),
    }
    Ok(())
}

/// A query parameter of the handshake, parsed; absent or empty is `None`.
fn query<T>(
    event: &ApiGatewayWebsocketProxyRequest,
    name: &str,
    parse: fn(&str) -> Result<T, ValidationError>,
) -> Result<Option<T>, ValidationError> {
    event
        .query_string_parameters
        .first(name)
        .filter(|value| !value.is_empty())
        .map(parse)
        .transpose()
}

/// The session the handshake names, in `?session_id=` or, as seed 001's URL
/// (`/chat/ws/{chat_id}`) names it, `?chat_id=`; both may be given if they agree.
fn session_of(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<Option<SessionId>, ValidationError> {
    let session = query(event, "session_id", SessionId::parse)?;
    let chat = query(event, "chat_id", SessionId::parse)?;
    match (session, chat) {
        (Some(session), Some(chat)) if session != chat => Err(ValidationError::new(
            "chat_id",
            "names another session than session_id",
        )),
        (session, chat) => Ok(session.or(chat)),
    }
}

/// The handshake's status for a refused connection (the contract's 403, 404, 410, ...):
/// the status REST answers the same error with.
fn refusal_status(error: &ServiceError) -> u16 {
    error.code().http_status()
}

/// The `bearer` entry of `Sec-WebSocket-Protocol`, spelled as the client offered it:
/// browsers drop a socket whose answer is not one of the protocols they offered.
fn offered_bearer(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event
        .headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|protocol| protocol.eq_ignore_ascii_case("bearer"))
}
