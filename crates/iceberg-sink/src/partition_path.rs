//! The Hive-style path of a partition (`event_type=click/ts_day=2023-11-14`), as Iceberg
//! Java's `PartitionSpec.partitionToPath` writes it: `name=value` per field joined by `/`,
//! each value as the transform's `toHumanString`, names and values escaped by Java's
//! `URLEncoder.encode(_, "UTF-8")`.
//!
//! Written here, not taken from iceberg-rust: 0.10.1's `PartitionSpec::partition_to_path`
//! escapes nothing (a `/` in a value makes another directory level, and `=` is ambiguous),
//! prints year, month and hour partitions as bare ordinals (`ts_hour=472000` where Java
//! writes `2023-11-14-16`), timestamps as `2023-11-14 10:00:00` and binary as hex (Java:
//! ISO `2023-11-14T10:00`, base64), and panics on a spec that does not fit the schema.
//! Dates, decimals, integers, UUIDs and strings use iceberg-rust's own `Datum` display, the
//! escaping is `form_urlencoded`'s (the WHATWG form encoding: the same unreserved set as
//! Java's `URLEncoder`, space as `+`, everything else `%XX` of its UTF-8 bytes).

use base64::Engine;
use iceberg::spec::{Datum, PrimitiveLiteral, PrimitiveType, Transform};

/// Java's `Transform.toHumanString` of a partition value: `null` for no value (and always
/// for void); year `2023`, month `2023-11`, day `2023-11-14`, hour `2023-11-14-16` (UTC);
/// timestamps ISO-8601 as Java's `LocalDateTime` / `OffsetDateTime` print them
/// (`2023-11-14T10:00`, seconds and fraction only when non-zero, `Z` for timestamptz);
/// binary and fixed as base64; floats and doubles as Java's `toString`; strings as they are;
/// other values as iceberg-rust displays them.
///
/// Guarantees: for one transform and one result type, distinct values give distinct strings
/// (floats and doubles print as Java's `Float.toString` / `Double.toString` do, every NaN
/// as `NaN`).
#[must_use]
pub fn human_string(transform: &Transform, value: Option<&Datum>) -> String {
    let Some(value) = value else {
        return "null".to_string();
    };
    match (transform, value.literal()) {
        (Transform::Void, _) => "null".to_string(),
        (Transform::Year, PrimitiveLiteral::Int(year)) => format!("{:04}", 1970 + i64::from(*year)),
        (Transform::Month, PrimitiveLiteral::Int(month)) => {
            let month = i64::from(*month);
            format!(
                "{:04}-{:02}",
                1970 + month.div_euclid(12),
                month.rem_euclid(12) + 1
            )
        }
        (Transform::Hour, PrimitiveLiteral::Int(hour)) => {
            let hour = i64::from(*hour);
            format!(
                "{}-{:02}",
                date_of_day(hour.div_euclid(24)),
                hour.rem_euclid(24)
            )
        }
        _ => value_string(value),
    }
}

/// Java's `URLEncoder.encode(text, "UTF-8")`: ASCII letters, digits and `.-*_` kept, space
/// as `+`, every other byte of the UTF-8 text as `%XX` (upper-case hex).
///
/// Guarantees: injective, and the result is ASCII without `/`, `=`, space or control
/// characters: safe as one object-key path segment.
#[must_use]
pub fn escaped(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The Hive-style path of a partition: `escaped(name)=escaped(human_string)` per field, in
/// order, joined by `/`; the empty string for no fields (unpartitioned).
///
/// Guarantees: deterministic; no leading or trailing `/`; one path segment per field. A null
/// value and the string `"null"` both print `null` (as in Java): use [`partition_id`] to tell
/// partitions apart.
#[must_use]
pub fn partition_path<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a Transform, Option<&'a Datum>)>,
) -> String {
    fields
        .into_iter()
        .map(|(name, transform, value)| {
            format!(
                "{}={}",
                escaped(name),
                escaped(&human_string(transform, value))
            )
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An identifier of a partition, for keying buffers: the [`partition_path`], except that a
/// null value is written as the bare escaped field name (no `=`), which no value can produce.
///
/// Guarantees: for one spec, equal tuples give equal ids and distinct tuples distinct ids
/// (given [`human_string`]'s guarantee).
#[must_use]
pub fn partition_id<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a Transform, Option<&'a Datum>)>,
) -> String {
    fields
        .into_iter()
        .map(|(name, transform, value)| match value {
            None => escaped(name),
            Some(_) => format!(
                "{}={}",
                escaped(name),
                escaped(&human_string(transform, value))
            ),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Java's `Identity.toHumanString` of a value by its type (`TransformUtil`).
fn value_string(value: &Datum) -> String {
    match (value.data_type(), value.literal()) {
        (PrimitiveType::String, PrimitiveLiteral::String(text)) => text.clone(),
        (_, PrimitiveLiteral::Binary(bytes)) => {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
        (PrimitiveType::Time, PrimitiveLiteral::Long(micros)) => {
            time_of_day(micros.rem_euclid(MICROS_PER_DAY) * 1_000)
        }
        (PrimitiveType::Timestamp, PrimitiveLiteral::Long(micros)) => {
            timestamp(i128::from(*micros) * 1_000)
        }
        (PrimitiveType::Timestamptz, PrimitiveLiteral::Long(micros)) => {
            format!("{}Z", timestamp(i128::from(*micros) * 1_000))
        }
        (PrimitiveType::TimestampNs, PrimitiveLiteral::Long(nanos)) => {
            timestamp(i128::from(*nanos))
        }
        (PrimitiveType::TimestamptzNs, PrimitiveLiteral::Long(nanos)) => {
            format!("{}Z", timestamp(i128::from(*nanos)))
        }
        (_, PrimitiveLiteral::Float(v)) => java_floating(f64::from(v.0), format!("{:e}", v.0)),
        (_, PrimitiveLiteral::Double(v)) => java_floating(v.0, format!("{:e}", v.0)),
        _ => value.to_string(),
    }
}

/// Java's `Double.toString` / `Float.toString` (JDK 19+, shortest digits) of `value`, given
/// Rust's shortest scientific form of it (`{:e}`, which has the same digits): plain decimal
/// with at least one fraction digit for 10^-3 <= |v| < 10^7 (`100.0`, `0.001`), otherwise
/// `d.ddddE±n` (`1.0E7`, `1.5E-4`); `NaN`, `Infinity`, `-Infinity`, `-0.0` as Java prints them.
fn java_floating(value: f64, scientific: String) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if value == 0.0 {
        return format!("{sign}0.0");
    }
    if (-3..7).contains(&exponent) {
        let point = exponent + 1;
        let (whole, fraction) = if point <= 0 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            ("0".to_string(), format!("{zeros}{digits}"))
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            let padded = format!("{digits:0<point$}");
            (padded[..point].to_string(), padded[point..].to_string())
        };
        let fraction = if fraction.is_empty() {
            "0".to_string()
        } else {
            fraction
        };
        format!("{sign}{whole}.{fraction}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// `yyyy-MM-dd` of a day since 1970-01-01 (iceberg-rust's date display).
fn date_of_day(day: i64) -> String {
    match i32::try_from(day) {
        Ok(day) => Datum::date(day).to_string(),
        Err(_) => format!("day {day}"),
    }
}

/// Java's `LocalDateTime.toString` of nanoseconds since the epoch (UTC).
fn timestamp(nanos: i128) -> String {
    let day = nanos.div_euclid(NANOS_PER_DAY);
    let of_day = nanos.rem_euclid(NANOS_PER_DAY);
    let day = i64::try_from(day).unwrap_or(i64::MAX);
    let of_day = i64::try_from(of_day).unwrap_or(0);
    format!("{}T{}", date_of_day(day), time_of_day(of_day))
}

/// Java's `LocalTime.toString` of nanoseconds into a day: `HH:mm`, then `:ss` if seconds
/// or a fraction, then `.SSS`, `.SSSSSS` or `.SSSSSSSSS`, the shortest that is exact.
fn time_of_day(nanos: i64) -> String {
    let (hour, minute) = (nanos / 3_600_000_000_000, nanos / 60_000_000_000 % 60);
    let (second, fraction) = (nanos / 1_000_000_000 % 60, nanos % 1_000_000_000);
    let mut text = format!("{hour:02}:{minute:02}");
    if second > 0 || fraction > 0 {
        text.push_str(&format!(":{second:02}"));
    }
    if fraction > 0 {
        if fraction % 1_000_000 == 0 {
            text.push_str(&format!(".{:03}", fraction / 1_000_000));
        } else if fraction % 1_000 == 0 {
            text.push_str(&format!(".{:06}", fraction / 1_000));
        } else {
            text.push_str(&format!(".{fraction:09}"));
        }
    }
    text
}

#[cfg(test)]
mod tests;
