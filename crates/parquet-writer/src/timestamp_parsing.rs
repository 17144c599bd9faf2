//! Timestamps and dates from JSON, following the OpenX JSON SerDe's dispatch rules.
//!
//! A timestamp given as text (or a JSON number, read through its text as OpenX does) is:
//! - a date-time when it contains `:` — ISO-8601 `2026-11-22T10:00:00.123Z` (1–9 fractional
//!   digits, `Z` or `±hh:mm` offset, `T` or space between date and time) or Hive's
//!   `yyyy-MM-dd HH:mm:ss[.fffffffff]` / `yyyy-MM-ddTHH:mm:ss[.f…]` without offset, read as UTC;
//! - fractional epoch seconds when it contains `.` (`1700000000.25`);
//! - otherwise an integer: epoch milliseconds when it has 13 or more characters (OpenX compares
//!   with the length of `1454612111000`), epoch seconds when shorter.
//!
//! Values are microseconds since the epoch; digits below a microsecond are truncated.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

use crate::decimal_text::{DecimalTextError, parse_scaled_decimal};

/// Why a timestamp or date could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeTextError {
    /// Not one of the accepted forms.
    Unrecognised,
    /// A recognised form whose value does not fit (e.g. epoch seconds beyond year 294,000).
    OutOfRange,
}

/// OpenX: an integer with at least this many characters is epoch milliseconds.
const MILLIS_MIN_CHARS: usize = "1454612111000".len();

/// Microseconds since the epoch for timestamp text, by the rules in the module docs.
#[inline]
pub(crate) fn timestamp_micros_from_text(text: &str) -> Result<i64, TimeTextError> {
    if text.contains(':') {
        date_time_micros(text)
    } else if text.contains('.') {
        fractional_seconds_micros(text)
    } else {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimeTextError::Unrecognised);
        }
        let value: i64 = text.parse().map_err(|_| TimeTextError::OutOfRange)?;
        epoch_integer_micros(value, text.len())
    }
}

/// Microseconds for a JSON integer, read as its decimal text would be.
pub(crate) fn timestamp_micros_from_integer(value: i64) -> Result<i64, TimeTextError> {
    let chars = if value < 0 { 1 } else { 0 } + decimal_digits(value.unsigned_abs());
    epoch_integer_micros(value, chars)
}

/// Microseconds for a JSON number written with a fraction or exponent: epoch seconds.
pub(crate) fn timestamp_micros_from_float(value: f64) -> Result<i64, TimeTextError> {
    if !value.is_finite() {
        return Err(TimeTextError::OutOfRange);
    }
    // Shortest round-trip text, then exact decimal arithmetic (no float scaling error).
    fractional_seconds_micros(&format!("{value}"))
}

fn decimal_digits(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn epoch_integer_micros(value: i64, chars: usize) -> Result<i64, TimeTextError> {
    let per_unit = if chars >= MILLIS_MIN_CHARS {
        1_000
    } else {
        1_000_000
    };
    value.checked_mul(per_unit).ok_or(TimeTextError::OutOfRange)
}

fn fractional_seconds_micros(text: &str) -> Result<i64, TimeTextError> {
    // Truncate (not round) below a microsecond, like the date-time forms: drop extra digits.
    let truncated = truncate_fraction(text, 6);
    match parse_scaled_decimal(&truncated, 38, 6) {
        Ok(micros) => i64::try_from(micros).map_err(|_| TimeTextError::OutOfRange),
        Err(DecimalTextError::OutOfRange) => Err(TimeTextError::OutOfRange),
        Err(DecimalTextError::Syntax) => Err(TimeTextError::Unrecognised),
    }
}

/// `text` with at most `keep` digits after the decimal point (exponent forms are left alone).
fn truncate_fraction(text: &str, keep: usize) -> std::borrow::Cow<'_, str> {
    if text.contains(['e', 'E']) {
        return text.into();
    }
    match text.find('.') {
        Some(dot) if text.len() - dot - 1 > keep => {
            text.get(..=dot + keep).map_or(text.into(), Into::into)
        }
        _ => text.into(),
    }
}

/// The common layouts — `yyyy-MM-ddTHH:mm:ss[.f…]` with `T` or space, then `Z`, `+00:00` or
/// nothing — read digit by digit (the calendar checks stay chrono's). chrono's format-driven
/// parsers cost several times more, on the hottest column of a typical record; anything else
/// (offsets, leap seconds, odd spacing) returns `None` and goes to chrono.
#[inline]
fn canonical_utc_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digit = |i: usize| -> Option<u32> {
        let d = b[i].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let two = |i: usize| -> Option<u32> { Some(digit(i)? * 10 + digit(i + 1)?) };
    let year = i32::try_from(two(0)? * 100 + two(2)?).ok()?;
    let mut rest = &b[19..];
    let mut micros = 0u32;
    if let Some((b'.', fraction)) = rest.split_first() {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        for (k, c) in fraction[..digits.min(6)].iter().enumerate() {
            micros += u32::from(c - b'0') * 10u32.pow(5 - u32::try_from(k).ok()?);
        }
        rest = &fraction[digits..];
    }
    if !matches!(rest, b"" | b"Z" | b"z" | b"+00:00") {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, two(5)?, two(8)?)?;
    let time = NaiveTime::from_hms_micro_opt(two(11)?, two(14)?, two(17)?, micros)?;
    Some(date.and_time(time).and_utc().timestamp_micros())
}

#[inline]
fn date_time_micros(text: &str) -> Result<i64, TimeTextError> {
    if let Some(micros) = canonical_utc_micros(text) {
        return Ok(micros);
    }
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Ok(with_offset.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(naive.and_utc().timestamp_micros());
        }
    }
    Err(TimeTextError::Unrecognised)
}

/// Days since 1970-01-01 for date text: `yyyy-MM-dd`, or any accepted date-time text (its UTC
/// calendar day).
pub(crate) fn date_days_from_text(text: &str) -> Result<i32, TimeTextError> {
    const EPOCH: NaiveDate =
        NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a valid date");
    let day = match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(day) => day,
        Err(_) if text.contains(':') => {
            let micros = date_time_micros(text)?;
            DateTime::from_timestamp_micros(micros)
                .ok_or(TimeTextError::OutOfRange)?
                .date_naive()
        }
        Err(_) => return Err(TimeTextError::Unrecognised),
    };
    i32::try_from(day.signed_duration_since(EPOCH).num_days())
        .map_err(|_| TimeTextError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
        let date = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
        let time = NaiveTime::from_hms_micro_opt(h, mi, s, us).unwrap();
        Utc.from_utc_datetime(&date.and_time(time))
            .timestamp_micros()
    }

    #[test]
    fn every_accepted_text_form_reads_as_the_same_instant() {
        let expected = micros(2026, 11, 22, 10, 0, 0, 123_000);
        for text in [
            "2026-11-22T10:00:00.123Z",
            "2026-11-22T10:00:00.123000000Z",
            "2026-11-22 10:00:00.123",
            "2026-11-22T10:00:00.123",
            "2026-11-22T12:00:00.123+02:00",
            "1795341600.123",
            "1795341600123",
        ] {
            assert_eq!(timestamp_micros_from_text(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn short_integers_are_seconds_and_long_ones_milliseconds_as_in_openx() {
        assert_eq!(
            timestamp_micros_from_text("1795341600"),
            Ok(1_795_341_600_000_000)
        );
        assert_eq!(
            timestamp_micros_from_integer(1_795_341_600),
            Ok(1_795_341_600_000_000)
        );
        assert_eq!(
            timestamp_micros_from_integer(1_795_341_600_123),
            Ok(1_795_341_600_123_000)
        );
        assert_eq!(
            timestamp_micros_from_float(1_795_341_600.5),
            Ok(1_795_341_600_500_000)
        );
    }

    #[test]
    fn nanosecond_digits_are_truncated_to_microseconds() {
        assert_eq!(
            timestamp_micros_from_text("2026-11-22T10:00:00.123456789Z"),
            Ok(micros(2026, 11, 22, 10, 0, 0, 123_456))
        );
        assert_eq!(timestamp_micros_from_text("1.0000019"), Ok(1_000_001));
    }

    #[test]
    fn unrecognised_and_out_of_range_texts_are_told_apart() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-22T25:00:00",
            "12ab",
            "1.2.3",
        ] {
            assert_eq!(
                timestamp_micros_from_text(bad),
                Err(TimeTextError::Unrecognised),
                "{bad}"
            );
        }
        assert_eq!(
            timestamp_micros_from_text("9999999999999999999"),
            Err(TimeTextError::OutOfRange)
        );
        assert_eq!(
            timestamp_micros_from_integer(i64::MAX),
            Err(TimeTextError::OutOfRange)
        );
        assert_eq!(
            timestamp_micros_from_text("99999999999999.5"),
            Err(TimeTextError::OutOfRange)
        );
    }

    #[test]
    fn dates_read_plain_days_and_the_utc_day_of_date_times() {
        assert_eq!(date_days_from_text("1970-01-02"), Ok(1));
        assert_eq!(date_days_from_text("1969-12-31"), Ok(-1));
        assert_eq!(date_days_from_text("1970-01-02T23:30:00-01:00"), Ok(2));
        assert_eq!(
            date_days_from_text("02/01/1970"),
            Err(TimeTextError::Unrecognised)
        );
    }

    proptest! {
        #[test]
        fn rfc3339_rendering_of_any_instant_reads_back_exactly(micros in -62_000_000_000_000_000i64..250_000_000_000_000_000) {
            let t = DateTime::from_timestamp_micros(micros).unwrap();
            let text = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            prop_assert_eq!(timestamp_micros_from_text(&text), Ok(micros));
        }

        #[test]
        fn the_digit_by_digit_layouts_agree_with_chrono(
            micros in -62_000_000_000_000_000i64..250_000_000_000_000_000,
            digits in 0usize..=9,
            separator in prop_oneof![Just('T'), Just(' ')],
            zone in prop_oneof![Just(""), Just("Z"), Just("+00:00")],
        ) {
            let t = DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
            let fraction = if digits == 0 { String::new() } else { format!(".{:09}", t.and_utc().timestamp_subsec_nanos())[..=digits].to_owned() };
            let text = format!("{}{separator}{}{fraction}{zone}", t.format("%Y-%m-%d"), t.format("%H:%M:%S"));
            let by_chrono = if zone.is_empty() {
                NaiveDateTime::parse_from_str(&text, &format!("%Y-%m-%d{separator}%H:%M:%S%.f")).unwrap().and_utc().timestamp_micros()
            } else {
                DateTime::parse_from_rfc3339(&text).unwrap().timestamp_micros()
            };
            prop_assert_eq!(canonical_utc_micros(&text), Some(by_chrono));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = canonical_utc_micros(&text);
            let _ = timestamp_micros_from_text(&text);
            let _ = date_days_from_text(&text);
        }
    }
}
