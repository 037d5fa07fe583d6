//! The metrics port as CloudWatch's Embedded Metric Format: each event one JSON line on
//! stdout, which Lambda sends to CloudWatch Logs and CloudWatch turns into metrics (no
//! PutMetricData call, no added latency, no extra permission).

use std::sync::{Arc, OnceLock};

use chat_core::metrics::{Metric, Metrics, Sample};
use serde_json::{Map, Value, json};

/// The namespace the metrics are published in unless `METRICS_NAMESPACE` names another.
pub const DEFAULT_NAMESPACE: &str = "ServerlessChat";

/// Writes samples as EMF documents, each dimensioned by the function that recorded them.
pub struct EmbeddedMetrics {
    namespace: String,
    function: String,
    write: Box<dyn Fn(&str) + Send + Sync>,
}

impl EmbeddedMetrics {
    /// The deployed function's metrics: in Lambda (where `AWS_LAMBDA_FUNCTION_NAME` is
    /// set) to stdout; elsewhere `None`, so the local server's output stays its logs.
    pub fn from_env() -> Option<Self> {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok()?;
        let namespace = std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        Some(Self::new(namespace, function, |line| println!("{line}")))
    }

    pub fn new(
        namespace: impl Into<String>,
        function: impl Into<String>,
        write: impl Fn(&str) + Send + Sync + 'static,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            function: function.into(),
            write: Box::new(write),
        }
    }

    /// The EMF document of one event: every metric it has, a metric given several values
    /// as their list (EMF takes up to 100 a metric; an event has a handful).
    pub fn document(&self, samples: &[Sample], unix_millis: u64) -> Value {
        let mut document = Map::new();
        let mut declared = Vec::new();
        for metric in Metric::ALL {
            let values: Vec<f64> = samples
                .iter()
                .filter(|sample| sample.metric == metric)
                .map(|sample| sample.value)
                .collect();
            let value = match values.as_slice() {
                [] => continue,
                [one] => json!(one),
                many => json!(many),
            };
            declared.push(json!({"Name": metric.name(), "Unit": metric.unit().as_str()}));
            document.insert(metric.name().to_owned(), value);
        }
        document.insert("Function".to_owned(), json!(self.function));
        document.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": unix_millis,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": declared,
                }],
            }),
        );
        Value::Object(document)
    }
}

impl Metrics for EmbeddedMetrics {
    fn record(&self, samples: &[Sample]) {
        if samples.is_empty() {
            return;
        }
        let now = chat_core::domain::Timestamp::now().unix_millis();
        (self.write)(&self.document(samples, now).to_string());
    }
}

/// The deployment's metrics, for the adapters built without a handle on them (a throttled
/// request is found deep in an SDK error). Installed once at cold start.
static DEPLOYED: OnceLock<Arc<dyn Metrics>> = OnceLock::new();

/// Makes `metrics` the one the adapters report to; a second call changes nothing.
pub fn install(metrics: Arc<dyn Metrics>) {
    let _ = DEPLOYED.set(metrics);
}

/// Counts a request a dependency refused as throttled, once the SDK's retries are spent.
pub(crate) fn count_throttle() {
    if let Some(metrics) = DEPLOYED.get() {
        metrics.record(&[Sample::count(Metric::Throttles, 1)]);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn an_event_is_one_emf_document_declaring_each_metric_it_has_with_its_unit() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let written = lines.clone();
        let metrics = EmbeddedMetrics::new("Chat", "chat-message", move |line| {
            written.lock().expect("lines").push(line.to_owned())
        });
        metrics.record(&[
            Sample::count(Metric::MessagesPosted, 1),
            Sample::count(Metric::FanOutSize, 3),
            Sample::duration(Metric::FanOutDuration, std::time::Duration::from_millis(12)),
            Sample::count(Metric::GoneConnections, 1),
            Sample::count(Metric::GoneConnections, 2),
        ]);
        metrics.record(&[]);
        let lines = lines.lock().expect("lines");
        assert_eq!(lines.len(), 1, "one line an event, none for no samples");
        let document: Value = serde_json::from_str(&lines[0]).expect("JSON");
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Chat");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "MessagesPosted", "Unit": "Count"},
                {"Name": "FanOutSize", "Unit": "Count"},
                {"Name": "FanOutDuration", "Unit": "Milliseconds"},
                {"Name": "GoneConnections", "Unit": "Count"},
            ])
        );
        assert!(document["_aws"]["Timestamp"].as_u64().is_some());
        assert_eq!(document["Function"], "chat-message");
        assert_eq!(document["MessagesPosted"], 1.0);
        assert_eq!(document["FanOutSize"], 3.0);
        assert_eq!(document["FanOutDuration"], 12.0);
        assert_eq!(document["GoneConnections"], json!([1.0, 2.0]));
    }
}
