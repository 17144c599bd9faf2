//! Which top-level columns are high-cardinality, judged from a sample of a row group.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

/// Values sampled per column.
const SAMPLE_SIZE: usize = 4096;
/// A column whose sampled non-null values are more than this fraction distinct is "high-cardinality".
const DISTINCT_RATIO: f64 = 0.5;
/// Columns with fewer sampled values than this are too small to judge (a dictionary is cheap there).
const MIN_SAMPLE: usize = 64;

/// Names of the top-level primitive columns of `batch` whose first values are mostly distinct.
///
/// Guarantees: never names a nested, boolean or small (fewer than 64 non-null sampled values) column.
pub(crate) fn high_cardinality_columns(batch: &RecordBatch) -> Vec<String> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(_, array)| distinct_ratio(array.as_ref()).is_some_and(|r| r > DISTINCT_RATIO))
        .map(|(field, _)| field.name().clone())
        .collect()
}

#[allow(clippy::cast_precision_loss)] // counts ≤ SAMPLE_SIZE
fn ratio(distinct: usize, sampled: usize) -> Option<f64> {
    (sampled >= MIN_SAMPLE).then(|| distinct as f64 / sampled as f64)
}

fn sample_bits<T, F: Fn(&T) -> u128>(values: impl Iterator<Item = Option<T>>, key: F) -> Option<f64> {
    let mut seen = HashSet::with_capacity(SAMPLE_SIZE);
    let mut sampled = 0;
    for v in values.flatten().take(SAMPLE_SIZE) {
        sampled += 1;
        seen.insert(key(&v));
    }
    ratio(seen.len(), sampled)
}

#[allow(clippy::cast_sign_loss)] // bit patterns only need to be distinct
fn distinct_ratio(array: &dyn Array) -> Option<f64> {
    match array.data_type() {
        DataType::Utf8 => {
            let mut seen = HashSet::with_capacity(SAMPLE_SIZE);
            let mut sampled = 0;
            for v in array.as_string::<i32>().iter().flatten().take(SAMPLE_SIZE) {
                sampled += 1;
                seen.insert(v);
            }
            ratio(seen.len(), sampled)
        }
        DataType::Binary => {
            let mut seen = HashSet::with_capacity(SAMPLE_SIZE);
            let mut sampled = 0;
            for v in array.as_binary::<i32>().iter().flatten().take(SAMPLE_SIZE) {
                sampled += 1;
                seen.insert(v);
            }
            ratio(seen.len(), sampled)
        }
        DataType::Int16 => sample_bits(array.as_primitive::<Int16Type>().iter(), |v| *v as u128),
        DataType::Int32 => sample_bits(array.as_primitive::<Int32Type>().iter(), |v| *v as u128),
        DataType::Date32 => sample_bits(array.as_primitive::<Date32Type>().iter(), |v| *v as u128),
        DataType::Int64 => sample_bits(array.as_primitive::<Int64Type>().iter(), |v| *v as u128),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            sample_bits(array.as_primitive::<TimestampMicrosecondType>().iter(), |v| *v as u128)
        }
        DataType::Float32 => sample_bits(array.as_primitive::<Float32Type>().iter(), |v| u128::from(v.to_bits())),
        DataType::Float64 => sample_bits(array.as_primitive::<Float64Type>().iter(), |v| u128::from(v.to_bits())),
        DataType::Decimal128(..) => sample_bits(array.as_primitive::<Decimal128Type>().iter(), |v| *v as u128),
        _ => None,
    }
}
