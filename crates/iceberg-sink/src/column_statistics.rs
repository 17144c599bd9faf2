//! One Parquet column chunk's minimum and maximum as Iceberg values of its field's type.

use iceberg::spec::{Datum, PrimitiveType};
use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescriptor;

/// A chunk's bounds: its minimum and maximum non-null value, when its statistics hold them.
pub(crate) type ChunkBounds = (Option<Datum>, Option<Datum>);

/// The minimum and maximum of a chunk of `column` as `field_type` values.
///
/// Guarantees: each value is the statistic read as the Parquet physical and logical type the
/// column declares, converted to `field_type` without loss (an `int` column may fill a
/// `long` field, a `float` one a `double`); a statistic that cannot be such a value (another
/// physical type, a timestamp unit or decimal scale that differs from the field's, bytes that
/// are not UTF-8 for a string) is an error naming both types. Strings and binary are not
/// truncated here.
pub(crate) fn chunk_bounds(
    statistics: &Statistics,
    field_type: &PrimitiveType,
    column: &ColumnDescriptor,
) -> Result<ChunkBounds, String> {
    use PrimitiveType as P;
    let mismatch = || {
        format!(
            "{} statistics{} do not fit an Iceberg {field_type} field",
            statistics.physical_type(),
            column
                .logical_type_ref()
                .map(|t| format!(" of logical type {t:?}"))
                .unwrap_or_default(),
        )
    };
    let unit_is = |expected: TimeUnit| match column.logical_type_ref() {
        Some(LogicalType::Timestamp(t) | LogicalType::Time(t)) => t.unit == expected,
        _ => true,
    };
    let decimal_scale_is = |scale: u32| i64::from(column.type_scale()) == i64::from(scale);
    match (field_type, statistics) {
        (P::Boolean, Statistics::Boolean(s)) => Ok(both(s, |v| Ok(Datum::bool(*v)))?),
        (P::Int, Statistics::Int32(s)) => Ok(both(s, |v| Ok(Datum::int(*v)))?),
        (P::Date, Statistics::Int32(s)) => Ok(both(s, |v| Ok(Datum::date(*v)))?),
        (P::Long, Statistics::Int32(s)) => Ok(both(s, |v| Ok(Datum::long(i64::from(*v))))?),
        (P::Long, Statistics::Int64(s)) => Ok(both(s, |v| Ok(Datum::long(*v)))?),
        (P::Float, Statistics::Float(s)) => Ok(both(s, |v| Ok(Datum::float(*v)))?),
        (P::Double, Statistics::Float(s)) => Ok(both(s, |v| Ok(Datum::double(f64::from(*v))))?),
        (P::Double, Statistics::Double(s)) => Ok(both(s, |v| Ok(Datum::double(*v)))?),
        (P::Time, Statistics::Int64(s)) if unit_is(TimeUnit::MICROS) => Ok(both(s, |v| {
            Datum::time_micros(*v).map_err(|e| e.to_string())
        })?),
        (P::Timestamp, Statistics::Int64(s)) if unit_is(TimeUnit::MICROS) => {
            Ok(both(s, |v| Ok(Datum::timestamp_micros(*v)))?)
        }
        (P::Timestamptz, Statistics::Int64(s)) if unit_is(TimeUnit::MICROS) => {
            Ok(both(s, |v| Ok(Datum::timestamptz_micros(*v)))?)
        }
        (P::TimestampNs, Statistics::Int64(s)) if unit_is(TimeUnit::NANOS) => {
            Ok(both(s, |v| Ok(Datum::timestamp_nanos(*v)))?)
        }
        (P::TimestamptzNs, Statistics::Int64(s)) if unit_is(TimeUnit::NANOS) => {
            Ok(both(s, |v| Ok(Datum::timestamptz_nanos(*v)))?)
        }
        (P::String, Statistics::ByteArray(s)) => Ok(both(s, |v| {
            v.as_utf8()
                .map(Datum::string)
                .map_err(|_| "string statistics that are not UTF-8".to_owned())
        })?),
        (P::Binary, Statistics::ByteArray(s)) => {
            Ok(both(s, |v| Ok(Datum::binary(v.data().iter().copied())))?)
        }
        (P::Fixed(_) | P::Uuid, Statistics::FixedLenByteArray(s)) => Ok(both(s, |v| {
            Datum::try_from_bytes(v.data(), field_type.clone()).map_err(|e| e.to_string())
        })?),
        (P::Decimal { scale, .. }, _) if decimal_scale_is(*scale) => {
            decimal_bounds(statistics, field_type).ok_or_else(mismatch)?
        }
        _ => Err(mismatch()),
    }
}

/// The bounds of a decimal column stored as any of Parquet's four decimal representations
/// (`None` for another physical type).
fn decimal_bounds(
    statistics: &Statistics,
    field_type: &PrimitiveType,
) -> Option<Result<ChunkBounds, String>> {
    // Iceberg's single-value form of a decimal is the unscaled value's big-endian two's
    // complement, which Parquet's byte-array decimals already are.
    let from_unscaled = |unscaled: i128| {
        Datum::try_from_bytes(&unscaled.to_be_bytes(), field_type.clone())
            .map_err(|e| e.to_string())
    };
    let from_bytes =
        |bytes: &[u8]| Datum::try_from_bytes(bytes, field_type.clone()).map_err(|e| e.to_string());
    Some(match statistics {
        Statistics::Int32(s) => both(s, |v| from_unscaled(i128::from(*v))),
        Statistics::Int64(s) => both(s, |v| from_unscaled(i128::from(*v))),
        Statistics::ByteArray(s) => both(s, |v| from_bytes(v.data())),
        Statistics::FixedLenByteArray(s) => both(s, |v| from_bytes(v.data())),
        _ => return None,
    })
}

/// `statistics`' minimum and maximum, each converted by `convert` when present.
fn both<T>(
    statistics: &ValueStatistics<T>,
    convert: impl Fn(&T) -> Result<Datum, String>,
) -> Result<ChunkBounds, String> {
    Ok((
        statistics.min_opt().map(&convert).transpose()?,
        statistics.max_opt().map(&convert).transpose()?,
    ))
}
