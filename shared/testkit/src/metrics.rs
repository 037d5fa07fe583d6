//! A metrics port that keeps what it is given, for tests to read.

use std::sync::Mutex;

use chat_core::metrics::{Metric, Metrics, Sample};

/// Keeps every sample, for tests to read.
#[derive(Debug, Default)]
pub struct RecordedMetrics {
    events: Mutex<Vec<Vec<Sample>>>,
}

impl RecordedMetrics {
    /// Every event recorded so far, forgetting them.
    pub fn take(&self) -> Vec<Vec<Sample>> {
        std::mem::take(&mut *self.lock())
    }

    /// The sum of `metric`'s values so far.
    pub fn total(&self, metric: Metric) -> f64 {
        self.lock()
            .iter()
            .flatten()
            .filter(|sample| sample.metric == metric)
            .map(|sample| sample.value)
            .sum()
    }

    /// How many values `metric` was given so far.
    pub fn samples(&self, metric: Metric) -> usize {
        self.lock()
            .iter()
            .flatten()
            .filter(|sample| sample.metric == metric)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Sample>>> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Metrics for RecordedMetrics {
    fn record(&self, samples: &[Sample]) {
        self.lock().push(samples.to_vec());
    }
}
