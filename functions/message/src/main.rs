//! The `message` Lambda: `$default` and any named routes of the WebSocket API.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_aws::production::run_route(|services, event| async move {
        message::handle(&services, event).await
    })
    .await
}
