//! What a failed DynamoDB request means to the store: SDK errors become `StoreError`s
//! here, and only here are error codes read.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use chat_core::ports::{StoreError, StoreResult};

/// A conditional write whose condition did not hold.
pub(super) struct ConditionFailed;

/// Why a TransactWriteItems did not commit.
pub(super) enum TransactionFailure {
    /// The conditions of these items (by index) did not hold. Empty when the endpoint did
    /// not say which: some emulators leave the reasons out, and the caller re-reads.
    ConditionsFailed(Vec<usize>),
    /// It lost a race with another transaction touching the same items: worth a retry.
    Raced,
    /// Anything else: `sdk_failure` says what.
    Failed,
}

pub(super) fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(err.to_string().into())
}

/// The outcome of a conditional write: `Err(ConditionFailed)` when its condition did not
/// hold, any other failure mapped by `sdk_failure`.
pub(super) fn conditional<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> StoreResult<Result<T, ConditionFailed>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Ok(output)),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
            Ok(Err(ConditionFailed))
        }
        Err(err) => Err(sdk_failure(operation, err)),
    }
}

pub(super) fn transaction_failure<R>(
    err: &SdkError<TransactWriteItemsError, R>,
) -> TransactionFailure {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return if err.code() == Some("TransactionConflictException") {
            TransactionFailure::Raced
        } else {
            TransactionFailure::Failed
        };
    };
    let codes: Vec<Option<&str>> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code())
        .collect();
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, code)| *code == &Some("ConditionalCheckFailed"))
        .map(|(index, _)| index)
        .collect();
    if !failed.is_empty() || codes.is_empty() {
        TransactionFailure::ConditionsFailed(failed)
    } else if codes.contains(&Some("TransactionConflict")) {
        TransactionFailure::Raced
    } else {
        TransactionFailure::Failed
    }
}

/// Maps an SDK failure onto the port's errors, keeping the detail for the logs.
pub(super) fn sdk_failure<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let throttled = matches!(
        err.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
        )
    );
    if throttled {
        crate::metrics::count_throttle();
    }
    let retryable = throttled
        || matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
        )
        || matches!(
            err.code(),
            Some("InternalServerError" | "ServiceUnavailable")
        );
    let detail = format!("{operation}: {}", DisplayErrorContext(&err));
    // Logged where the error is answered; here only for tracing retries.
    tracing::debug!(operation, retryable, error = %detail, "DynamoDB request failed");
    if retryable {
        StoreError::Unavailable(detail.into())
    } else {
        StoreError::Internal(detail.into())
    }
}
