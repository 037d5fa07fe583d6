//! `$default` (and any named route): one client frame in, the use case run, frames out.
//! A bad frame gets an `error` frame and the connection stays open; nothing is stored.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_apigw::{
    EventServices, event_connection, event_principal, log_outcome, log_session, status_response,
};
use chat_core::compose::Services;
use chat_core::domain::{Connection, ConnectionId, Dialect};
use chat_core::metrics::Metric;
use chat_core::ports::error_chain;
use chat_core::protocol::{ClientFrame, CloseCode, ErrorCode, FrameError, ServerFrame};
use chat_core::service::{ChatService, ConnectionSender, ServiceError};
use lambda_runtime::Error;

pub async fn handle(
    services: &Services,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let id = event_connection(&event)?;
    let service = services.for_event(&event);
    let frame = frame_of(&event);
    // A typing frame reads nothing first: its one write says who the connection is and
    // where it is bound.
    if let (Ok(ClientFrame::Typing { is_typing }), Ok(principal)) =
        (&frame, event_principal(&event))
    {
        if let Err(error) = service.typing(&id, &principal.user_id, *is_typing).await {
            let connection = service.connection(&id).await.ok();
            Refusal::service(&error)
                .send(&service, &id, connection)
                .await;
        }
        return Ok(status_response(200, None));
    }
    // Who sent it (and so the dialect every answer is written in) and their send bucket,
    // in one read; the authorizer named the user.
    let sender = match event_principal(&event) {
        Ok(principal) => service.connection_sender(&id, &principal.user_id).await,
        Err(_) => Err(ServiceError::Unauthorized("the frame carries no caller")),
    };
    let outcome = match (frame, &sender) {
        (Err(error), _) => Err(Refusal::frame(&error)),
        (Ok(_), Err(error)) => Err(Refusal::service(error)),
        (Ok(frame), Ok(sender)) => {
            if let Some(session) = sender.connection.session_id {
                log_session(session);
            }
            run(&service, sender, frame).await
        }
    };
    if let Err(refusal) = outcome {
        refusal
            .send(&service, &id, sender.ok().map(|s| s.connection))
            .await;
    }
    Ok(status_response(200, None))
}

fn frame_of(event: &ApiGatewayWebsocketProxyRequest) -> Result<ClientFrame, FrameError> {
    if event.is_base64_encoded {
        // Binary frames carry no JSON; the contract's frames are text.
        return Err(FrameError::NotJson);
    }
    ClientFrame::parse(event.body.as_deref().unwrap_or_default())
}

/// Where a failure of ours is answered (with an `error` frame), its whole cause is logged.
fn log_fault(error: &ServiceError) {
    if error.is_server_fault() {
        tracing::error!(error = %error_chain(error), "a frame failed");
    }
}

/// An `error` frame for the sender, whether the connection must then close, and the
/// metric the refusal counts in (moderation, rate limits).
struct Refusal {
    frame: ServerFrame,
    close: bool,
    metric: Option<Metric>,
}

impl Refusal {
    fn frame(error: &FrameError) -> Self {
        Self {
            frame: ServerFrame::from_frame_error(error),
            close: false,
            metric: None,
        }
    }

    fn service(error: &ServiceError) -> Self {
        log_fault(error);
        // A validation failure of a frame's field is a bad frame, as the contract names it.
        let code = match error {
            ServiceError::Invalid(_) => ErrorCode::InvalidFrame,
            ServiceError::RateLimited {
                retry_after,
                closes,
                ..
            } => {
                let mut frame = ServerFrame::rate_limited(error.to_string(), *retry_after);
                if *closes {
                    // Kept sending after the refusals: closed, as a policy violation.
                    if let ServerFrame::Error { close_code, .. } = &mut frame {
                        *close_code = Some(CloseCode::POLICY_VIOLATION);
                    }
                }
                return Self {
                    frame,
                    close: *closes,
                    metric: error.refusal_metric(),
                };
            }
            other => other.code(),
        };
        Self {
            frame: ServerFrame::error(code, error.to_string()),
            close: false,
            metric: error.refusal_metric(),
        }
    }

    /// The seeds' first frame failing: their clients expect the socket to close with a code.
    fn closing(error: &ServiceError) -> Self {
        log_fault(error);
        let close_code = match error {
            ServiceError::NotFound(_) | ServiceError::Invalid(_) => CloseCode::INVALID_SESSION_ID,
            ServiceError::SessionEnded => CloseCode::SESSION_ENDED,
            _ => CloseCode::UNAUTHORIZED,
        };
        Self {
            frame: ServerFrame::error_closing(error.code(), error.to_string(), close_code),
            close: true,
            metric: error.refusal_metric(),
        }
    }

    /// To the connection in its dialect; in the contract's when it could not be found.
    async fn send(self, service: &ChatService, id: &ConnectionId, connection: Option<Connection>) {
        if let ServerFrame::Error { code, .. } = &self.frame {
            log_outcome(code.as_str());
        }
        if let Some(metric) = self.metric {
            service.count_metric(metric);
        }
        let dialect = connection.map_or(Dialect::Canonical, |c| c.dialect);
        if let Err(error) = service.reply_in(id, dialect, &self.frame).await {
            tracing::warn!(error = %error_chain(&error), "cannot send an error frame");
        }
        if self.close {
            service.disconnect(id).await;
        }
    }
}

async fn run(
    service: &ChatService,
    sender: &ConnectionSender,
    frame: ClientFrame,
) -> Result<(), Refusal> {
    let connection = &sender.connection;
    let refuse = |error: ServiceError| Refusal::service(&error);
    match frame {
        ClientFrame::Ping => service
            .reply(connection, &ServerFrame::Pong)
            .await
            .map_err(refuse),
        ClientFrame::Join { session_id } => service
            .join_connection(connection, session_id)
            .await
            .map(|_| ())
            .map_err(refuse),
        ClientFrame::JoinAs {
            user_id,
            session_id,
        } => {
            if user_id != connection.principal.user_id {
                return Err(Refusal::closing(&ServiceError::Forbidden(
                    "user_id is not the token's user",
                )));
            }
            service
                .join_connection(connection, session_id)
                .await
                .map(|_| ())
                .map_err(|e| Refusal::closing(&e))
        }
        ClientFrame::Resume {
            session_id,
            after_seq,
        } => service
            .resume_connection(connection, session_id, after_seq)
            .await
            .map(|_| ())
            .map_err(refuse),
        ClientFrame::Leave => service
            .leave_connection(connection)
            .await
            .map(|_| ())
            .map_err(refuse),
        ClientFrame::Typing { is_typing } => {
            let user = &connection.principal.user_id;
            service
                .typing(&connection.id, user, is_typing)
                .await
                .map(|_| ())
                .map_err(refuse)
        }
        ClientFrame::History { before, limit } => service
            .send_history(connection, before, limit)
            .await
            .map_err(refuse),
        ClientFrame::Stop => service
            .stop_reply(connection)
            .await
            .map(|_| ())
            .map_err(refuse),
        ClientFrame::Send(send) => service
            .post_from(sender, send)
            .await
            .map(|_| ())
            .map_err(refuse),
        ClientFrame::Edit { .. }
        | ClientFrame::Delete { .. }
        | ClientFrame::React { .. }
        | ClientFrame::Unreact { .. } => change_message(service, connection, frame)
            .await
            .map_err(refuse),
    }
}

/// Edits, deletions and reactions: the service checks who may, and broadcasts the change.
async fn change_message(
    service: &ChatService,
    connection: &Connection,
    frame: ClientFrame,
) -> Result<(), ServiceError> {
    let session = ChatService::bound_session(connection)?;
    let caller = &connection.principal;
    match frame {
        ClientFrame::Edit {
            message_id,
            content,
        } => {
            service
                .edit_message(caller, session, message_id, &content)
                .await?
        }
        ClientFrame::Delete { message_id } => {
            service.delete_message(caller, session, message_id).await?
        }
        ClientFrame::React {
            message_id,
            reaction,
        } => {
            service
                .react(caller, session, message_id, &reaction, true)
                .await?
        }
        ClientFrame::Unreact {
            message_id,
            reaction,
        } => {
            service
                .react(caller, session, message_id, &reaction, false)
                .await?
        }
        _ => return Ok(()),
    };
    Ok(())
}
