//! What the service counts for operators: the port a deployment's metrics go through
//! (CloudWatch's Embedded Metric Format in Lambda, nothing locally). A sample names no
//! user, session or content: it is a number for a dashboard or an alarm.

use std::time::Duration;

/// The metrics the service and its adapters record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// A message stored and broadcast (sent over a socket, over REST, or a bot reply).
    MessagesPosted,
    /// The connections a stored message was sent to.
    FanOutSize,
    /// The time from a stored message's broadcast starting to its last post answered.
    FanOutDuration,
    /// Connections the Management API answered 410 Gone for, and so forgotten.
    GoneConnections,
    /// Requests a dependency (DynamoDB, the Management API) still refused as throttled
    /// after the SDK's retries.
    Throttles,
    /// Requests refused because the moderator refused their content.
    ModerationRefusals,
    /// Requests refused by a rate limit.
    RateLimitRefusals,
    /// The tokens of a bot reply (the model's count, else an estimate).
    BotTokens,
    /// The time from the message a bot answers being stored to the reply's first chunk.
    TimeToFirstChunk,
}

/// How a metric's values are measured, as CloudWatch names units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

impl Metric {
    pub const ALL: [Self; 9] = [
        Self::MessagesPosted,
        Self::FanOutSize,
        Self::FanOutDuration,
        Self::GoneConnections,
        Self::Throttles,
        Self::ModerationRefusals,
        Self::RateLimitRefusals,
        Self::BotTokens,
        Self::TimeToFirstChunk,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessagesPosted => "MessagesPosted",
            Self::FanOutSize => "FanOutSize",
            Self::FanOutDuration => "FanOutDuration",
            Self::GoneConnections => "GoneConnections",
            Self::Throttles => "Throttles",
            Self::ModerationRefusals => "ModerationRefusals",
            Self::RateLimitRefusals => "RateLimitRefusals",
            Self::BotTokens => "BotTokens",
            Self::TimeToFirstChunk => "TimeToFirstChunk",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Self::FanOutDuration | Self::TimeToFirstChunk => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }
}

/// One value of one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub metric: Metric,
    pub value: f64,
}

impl Sample {
    pub fn count(metric: Metric, n: usize) -> Self {
        Self {
            metric,
            // Counts this service makes are far below 2^53.
            value: n as f64,
        }
    }

    pub fn duration(metric: Metric, elapsed: Duration) -> Self {
        Self {
            metric,
            value: elapsed.as_secs_f64() * 1000.0,
        }
    }
}

/// Where samples go. Samples recorded together belong to one event (a message stored, a
/// reply finished) and are written together.
pub trait Metrics: Send + Sync {
    fn record(&self, samples: &[Sample]);
}

/// Records nothing: the local server and tests that do not look.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn record(&self, _: &[Sample]) {}
}
