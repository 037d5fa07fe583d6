//! Counts the requests a client sends, by operation, and the bytes their answers bring:
//! how the cost of each store operation is measured (`infra/bench.sh`), and a hook for
//! production metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    /// The answers' bodies, by their `content-length`.
    bytes_read: Arc<Mutex<u64>>,
}

impl RequestCounter {
    /// The requests sent since the last call, by operation, and resets the counts.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The bytes of the answers received since the last call, and resets the count.
    pub fn take_bytes(&self) -> u64 {
        std::mem::take(&mut *self.bytes_read.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_owned();
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let length = context
            .response()
            .headers()
            .get("content-length")
            .and_then(|length| length.parse::<u64>().ok())
            .unwrap_or(0);
        *self.bytes_read.lock().unwrap_or_else(|p| p.into_inner()) += length;
        Ok(())
    }
}
