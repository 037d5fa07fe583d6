//! Lambda's asynchronous invocation as the `Invoker`: the job runs in its own invocation,
//! after the caller has answered, with no integration timeout over it.

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use super::sdk_timeouts;
use chat_core::ports::{InvokeError, Invoker, Job};

#[derive(Clone, Debug)]
pub struct LambdaInvoker {
    client: Client,
    function_name: String,
}

impl LambdaInvoker {
    /// Invokes `function_name` (a name or ARN) with each job as its event.
    pub fn new(sdk_config: &aws_config::SdkConfig, function_name: impl Into<String>) -> Self {
        let config = aws_sdk_lambda::config::Builder::from(sdk_config)
            .timeout_config(sdk_timeouts())
            .build();
        Self {
            client: Client::from_conf(config),
            function_name: function_name.into(),
        }
    }
}

#[async_trait]
impl Invoker for LambdaInvoker {
    async fn invoke(&self, job: &Job) -> Result<(), InvokeError> {
        let payload = serde_json::to_vec(job).map_err(|e| InvokeError(Box::new(e)))?;
        self.client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| InvokeError(DisplayErrorContext(&e).to_string().into()))
    }
}
