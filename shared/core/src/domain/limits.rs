//! Rate limits, as arithmetic on what the store keeps: a token bucket as the generic cell
//! rate algorithm (one number per bucket, its theoretical arrival time), and fixed windows
//! (a counter per window, expiring by TTL). Nothing here counts in memory: Lambda
//! instances share only the table.

use std::time::Duration;

use super::{Timestamp, ValidationError};

/// A bucket of `burst` sends, refilled at one per `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub burst: u32,
    pub interval: Duration,
}

/// A bucket's state: the time (Unix milliseconds) at which it would be full again.
pub type ArrivalTime = u64;

/// A refused send, and when the next one would be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Bucket {
    /// `burst` sends, then `per_second` a second.
    pub fn new(burst: u32, per_second: f64) -> Result<Self, ValidationError> {
        if burst == 0 || !per_second.is_finite() || per_second <= 0.0 {
            return Err(ValidationError::new(
                "rate",
                "needs a burst of at least 1 and a positive rate",
            ));
        }
        Ok(Self {
            burst,
            interval: Duration::from_secs_f64(1.0 / per_second),
        })
    }

    fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The state after one more send at `now` from `state` (none: a full bucket), or the
    /// refusal.
    pub fn take(&self, state: Option<ArrivalTime>, now: Timestamp) -> Result<ArrivalTime, Limited> {
        let now = now.unix_millis();
        let interval = self.interval_ms();
        let next = state.unwrap_or(0).max(now).saturating_add(interval);
        let allowed_until = now.saturating_add(interval.saturating_mul(u64::from(self.burst)));
        if next <= allowed_until {
            Ok(next)
        } else {
            Err(Limited {
                retry_after: Duration::from_millis(next - allowed_until),
            })
        }
    }

    /// When a bucket in `state` is full again, so its record may expire.
    pub fn full_at(state: ArrivalTime) -> Timestamp {
        Timestamp::from_unix_millis(state)
    }
}

/// At most `limit` events per `period`, counted in fixed windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub period: Duration,
}

impl Window {
    pub fn new(limit: u32, period: Duration) -> Result<Self, ValidationError> {
        if limit == 0 || period.is_zero() {
            return Err(ValidationError::new(
                "rate",
                "needs a limit of at least 1 and a period",
            ));
        }
        Ok(Self { limit, period })
    }

    fn period_ms(&self) -> u64 {
        u64::try_from(self.period.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The window `now` falls in: its number (part of the counter's key) and when it ends.
    pub fn at(&self, now: Timestamp) -> (u64, Timestamp) {
        let period = self.period_ms();
        let index = now.unix_millis() / period;
        let ends = index.saturating_add(1).saturating_mul(period);
        (index, Timestamp::from_unix_millis(ends))
    }

    /// The refusal of an event in a full window that ends at `ends`.
    pub fn refusal(ends: Timestamp, now: Timestamp) -> Limited {
        Limited {
            retry_after: Duration::from_millis(
                ends.unix_millis().saturating_sub(now.unix_millis()).max(1),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_unix_millis(millis)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_one_per_interval() {
        let bucket = Bucket::new(3, 1.0).expect("a bucket");
        let mut state = None;
        for _ in 0..3 {
            state = Some(bucket.take(state, at(10_000)).expect("within the burst"));
        }
        let refused = bucket
            .take(state, at(10_000))
            .expect_err("the burst is spent");
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        let later = bucket.take(state, at(11_000)).expect("one refilled");
        assert_eq!(
            bucket.take(Some(later), at(11_000)).map(|_| ()),
            Err(Limited {
                retry_after: Duration::from_secs(1)
            })
        );
        // A long pause refills it whole, and no more.
        let mut rested = Some(later);
        for _ in 0..3 {
            rested = Some(bucket.take(rested, at(60_000)).expect("full again"));
        }
        assert!(bucket.take(rested, at(60_000)).is_err());
    }

    #[test]
    fn a_half_rate_bucket_refills_every_two_seconds() {
        let bucket = Bucket::new(1, 0.5).expect("a bucket");
        let state = bucket.take(None, at(0)).expect("the first");
        assert_eq!(
            bucket.take(Some(state), at(1_000)).map(|_| ()),
            Err(Limited {
                retry_after: Duration::from_secs(1)
            })
        );
        assert!(bucket.take(Some(state), at(2_000)).is_ok());
    }

    #[test]
    fn a_window_is_numbered_and_says_when_it_ends() {
        let window = Window::new(10, Duration::from_secs(60)).expect("a window");
        assert_eq!(window.at(at(61_000)), (1, at(120_000)));
        assert_eq!(
            Window::refusal(at(120_000), at(100_000)).retry_after,
            Duration::from_secs(20)
        );
    }

    #[test]
    fn empty_limits_are_refused() {
        assert!(Bucket::new(0, 1.0).is_err());
        assert!(Bucket::new(1, 0.0).is_err());
        assert!(Bucket::new(1, f64::NAN).is_err());
        assert!(Window::new(0, Duration::from_secs(1)).is_err());
    }
}
