//! The `disconnect` Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_aws::production::run_route(|services, event| async move {
        disconnect::handle(&services, event).await
    })
    .await
}
