//! Timestamps: RFC 3339 UTC with milliseconds on the wire, so they sort as text too.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_unix_millis(Utc::now().timestamp_millis().max(0).unsigned_abs())
    }

    pub fn from_unix_millis(millis: u64) -> Self {
        let millis = i64::try_from(millis).unwrap_or(i64::MAX);
        Self(
            Utc.timestamp_millis_opt(millis)
                .single()
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    pub fn unix_millis(&self) -> u64 {
        self.0.timestamp_millis().max(0).unsigned_abs()
    }

    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        DateTime::parse_from_rfc3339(value)
            .map(|t| Self::from_unix_millis(t.timestamp_millis().max(0).unsigned_abs()))
            .map_err(|_| ValidationError::new("timestamp", "must be an RFC 3339 time"))
    }

    /// The next whole second (or this one, if already whole): what a store that keeps
    /// seconds, like DynamoDB's TTL, can hold exactly.
    pub fn ceil_to_second(&self) -> Self {
        Self::from_unix_millis(self.unix_millis().div_ceil(1_000) * 1_000)
    }

    /// As Python's `datetime.isoformat()` writes a naive UTC time, e.g.
    /// `2025-10-01T20:00:00.123000`: what the seed systems' clients were written against.
    pub fn naive_iso(&self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }

    /// The wall-clock time `offset_minutes` east of UTC, for a person to read, e.g.
    /// `Wednesday 2026-12-02 13:14 (UTC+05:30)`.
    pub fn local_time(&self, offset_minutes: i32) -> String {
        let local = self.0 + chrono::Duration::minutes(i64::from(offset_minutes));
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let offset = offset_minutes.unsigned_abs();
        format!(
            "{} (UTC{sign}{:02}:{:02})",
            local.format("%A %Y-%m-%d %H:%M"),
            offset / 60,
            offset % 60
        )
    }

    pub fn plus(&self, duration: Duration) -> Self {
        Self::from_unix_millis(self.unix_millis().saturating_add(millis(duration)))
    }

    /// `duration` earlier, or the epoch.
    pub fn minus(&self, duration: Duration) -> Self {
        Self::from_unix_millis(self.unix_millis().saturating_sub(millis(duration)))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_read_as_a_person_would_in_that_offset() {
        let noon = Timestamp::from_unix_millis(1_764_676_800_000); // 2025-12-02T12:00:00Z
        assert_eq!(noon.local_time(0), "Tuesday 2025-12-02 12:00 (UTC+00:00)");
        assert_eq!(noon.local_time(330), "Tuesday 2025-12-02 17:30 (UTC+05:30)");
        assert_eq!(noon.local_time(-780), "Monday 2025-12-01 23:00 (UTC-13:00)");
    }

    #[test]
    fn timestamps_print_as_rfc3339_utc_with_milliseconds() {
        let t = Timestamp::from_unix_millis(1_763_781_353_007);
        assert_eq!(t.to_string(), "2025-11-22T03:15:53.007Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        assert_eq!(
            t.plus(Duration::from_secs(1)).unix_millis(),
            1_763_781_354_007
        );
    }
}
