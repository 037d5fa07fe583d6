//! What the bot's replies cost each user, counted per UTC day.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Cursor, Timestamp, UserId, ValidationError};

/// A calendar day in UTC, written `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    /// The UTC day `at` falls on.
    pub fn of(at: Timestamp) -> Self {
        let millis = i64::try_from(at.unix_millis()).unwrap_or(i64::MAX);
        Self(
            chrono::DateTime::from_timestamp_millis(millis)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
                .date_naive(),
        )
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .filter(|_| value.len() == 10)
            .map(Self)
            .ok_or_else(|| ValidationError::new("day", "must be a date, YYYY-MM-DD"))
    }

    /// When the next day starts: when a limit counted per day opens again.
    pub fn next_starts_at(&self) -> Timestamp {
        let next = self.0.succ_opt().unwrap_or(NaiveDate::MAX);
        let millis = next
            .and_hms_opt(0, 0, 0)
            .map_or(i64::MAX, |start| start.and_utc().timestamp_millis());
        Timestamp::from_unix_millis(millis.max(0).unsigned_abs())
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A user's bot replies on one day and the tokens they came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub user_id: UserId,
    pub day: Day,
    pub tokens: u64,
    pub replies: u64,
}

impl Usage {
    /// Nothing used yet.
    pub fn none(user_id: UserId, day: Day) -> Self {
        Self {
            user_id,
            day,
            tokens: 0,
            replies: 0,
        }
    }

    /// Where a page of a day's usage ends, to pass back for the next.
    pub fn cursor(&self) -> Cursor {
        Cursor::encode(self.user_id.as_str())
    }

    /// The user a page's cursor says the next page starts after.
    pub fn after_cursor(cursor: &Cursor) -> Result<UserId, ValidationError> {
        UserId::parse(&cursor.decode()?)
            .map_err(|_| ValidationError::new("cursor", "is not a cursor this API returned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_utc_date_and_the_next_starts_at_midnight() {
        let late = Timestamp::parse("2026-12-02T23:59:59.900Z").expect("a time");
        let day = Day::of(late);
        assert_eq!(day.to_string(), "2026-12-02");
        assert_eq!(
            day.next_starts_at(),
            Timestamp::parse("2026-12-03T00:00:00Z").expect("a time")
        );
        assert_eq!(Day::parse("2026-12-02"), Ok(day));
    }

    #[test]
    fn a_day_is_written_year_month_day_and_nothing_else() {
        for bad in [
            "2026-13-01",
            "2026-2-1",
            "02/12/2026",
            "",
            "2026-12-02T00:00",
        ] {
            assert_eq!(Day::parse(bad).map_err(|e| e.field), Err("day"), "{bad:?}");
        }
    }
}
