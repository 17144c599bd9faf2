//! Firehose's default prefix when none is configured: `YYYY/MM/dd/HH/` in UTC.

use chrono::{DateTime, Utc};

/// The prefix Firehose uses when no custom prefix is set: `YYYY/MM/dd/HH/`, UTC.
///
/// Guarantees: the hour is taken from the instant passed in (the OLDEST record's approximate
/// arrival time of the object), never from a clock; the output always ends in `/`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyPrefix;

/// The error for an instant outside what a calendar date can express.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("timestamp {0} ms since the epoch is out of the representable range")]
pub struct PrefixTimeError(pub i64);

impl LegacyPrefix {
    /// Evaluates the prefix for an instant given in milliseconds since the Unix epoch.
    ///
    /// # Errors
    /// [`PrefixTimeError`] when the instant cannot be expressed as a date (beyond year 262143).
    pub fn evaluate(self, oldest_arrival_ms: i64) -> Result<String, PrefixTimeError> {
        let t: DateTime<Utc> = DateTime::from_timestamp_millis(oldest_arrival_ms)
            .ok_or(PrefixTimeError(oldest_arrival_ms))?;
        Ok(t.format("%Y/%m/%d/%H/").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefix_is_the_utc_hour_of_the_given_instant() {
        // 1_700_000_000 s is 2023-11-14T22:13:20Z.
        assert_eq!(
            LegacyPrefix.evaluate(1_700_000_000_000).unwrap(),
            "2023/11/14/22/"
        );
        // One millisecond before midnight UTC on 2026-01-01 is still the last hour of 2025.
        assert_eq!(
            LegacyPrefix.evaluate(1_767_225_599_999).unwrap(),
            "2025/12/31/23/"
        );
        assert_eq!(
            LegacyPrefix.evaluate(1_767_225_600_000).unwrap(),
            "2026/01/01/00/"
        );
    }

    #[test]
    fn instants_before_1970_format_with_four_digit_years() {
        assert_eq!(LegacyPrefix.evaluate(-1).unwrap(), "1969/12/31/23/");
    }

    #[test]
    fn an_unrepresentable_instant_is_an_error_not_a_panic() {
        assert_eq!(
            LegacyPrefix.evaluate(i64::MAX),
            Err(PrefixTimeError(i64::MAX))
        );
    }

    proptest! {
        #[test]
        fn every_instant_in_an_hour_maps_to_the_same_prefix(hour in 0i64..1_000_000, offset in 0i64..3_600_000) {
            let start = hour * 3_600_000;
            prop_assert_eq!(LegacyPrefix.evaluate(start).unwrap(), LegacyPrefix.evaluate(start + offset).unwrap());
            prop_assert_ne!(LegacyPrefix.evaluate(start).unwrap(), LegacyPrefix.evaluate(start + 3_600_000).unwrap());
        }
    }
}
