//! `$disconnect`: forgets the connection and tells its session, however the socket ended.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_apigw::{EventServices, event_connection, status_response};
use chat_core::compose::Services;
use chat_core::ports::error_chain;
use lambda_runtime::Error;

pub async fn handle(
    services: &Services,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let connection = event_connection(&event)?;
    tracing::info!(
        connection = %connection,
        status = ?event.request_context.disconnect_status_code,
        reason = ?event.request_context.disconnect_reason,
        "disconnected"
    );
    services
        .for_event(&event)
        .close_connection(&connection)
        .await
        // The runtime logs what the invocation failed with: the whole cause.
        .map_err(|error| error_chain(&error))?;
    Ok(status_response(200, None))
}
