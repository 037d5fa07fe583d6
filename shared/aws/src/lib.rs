//! The AWS adapters: DynamoDB as the store, S3 as the blob store, API Gateway's Management
//! API as the pusher, Lambda's asynchronous invoke as the invoker, and the API Gateway glue
//! the Lambda functions share. AWS types (attribute maps, SDK errors, events) stay in here.

pub mod apigateway;
pub mod dynamodb;
pub mod lambda;
pub mod metrics;
pub mod production;
pub mod s3;

pub use apigateway::ApiGatewayPusher;
pub use dynamodb::DynamoStore;
pub use lambda::LambdaInvoker;
pub use s3::S3BlobStore;

/// Jittered exponential backoff before retry `attempt` (1, 2, ...): 40, 80, 160 ms and so
/// on, each scaled by 0.5..1.5 so that clients retrying together spread out.
pub(crate) async fn backoff(attempt: u32) {
    let base = 20u64 << attempt.min(6);
    let jittered = base / 2 + rand::random_range(0..=base);
    tokio::time::sleep(std::time::Duration::from_millis(jittered)).await;
}

pub use chat_aws_base::sdk_timeouts;
