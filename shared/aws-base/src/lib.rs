//! What every deployed function's AWS side starts from, the authorizer's included: the
//! SDK configuration of the function's own credentials and region, the timeouts every
//! client gets, and the configuration's stored values (Secrets Manager). Kept apart from
//! chat-aws so that a function that needs no table, bucket or socket links none of them.

pub mod stored;

/// The AWS configuration of the function's own credentials and region, loaded once.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Timeouts every AWS request gets, set on each client an adapter builds, so no call can
/// hang a Lambda until its own timeout.
pub fn sdk_timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(3))
        .operation_timeout(std::time::Duration::from_secs(8))
        .build()
}
