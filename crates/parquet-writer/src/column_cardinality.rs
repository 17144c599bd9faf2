//! Which top-level columns are high-cardinality, judged from a sample of a row group.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

/// Values sampled per column. Not fewer: with 256, a column of 500 distinct values among
/// thousands of rows (customer ids of the sample events) looked 80% distinct and lost its
/// dictionary, making the objects 6% larger (1,024 see it as 42% distinct).
const SAMPLE_SIZE: usize = 1024;
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

/// Distinct fraction of the first [`SAMPLE_SIZE`] non-null values; stops early once more than
/// [`DISTINCT_RATIO`] of a full sample are distinct (the answer is then known).
fn sample<T: std::hash::Hash + Eq>(values: impl Iterator<Item = Option<T>>) -> Option<f64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a small positive count
    let enough = (DISTINCT_RATIO * SAMPLE_SIZE as f64) as usize + 1;
    let mut seen =
        HashSet::with_capacity_and_hasher(SAMPLE_SIZE, foldhash::fast::FixedState::default());
    let mut sampled = 0;
    for v in values.flatten().take(SAMPLE_SIZE) {
        sampled += 1;
        seen.insert(v);
        if seen.len() >= enough {
            return Some(1.0);
        }
    }
    ratio(seen.len(), sampled)
}

fn distinct_ratio(array: &dyn Array) -> Option<f64> {
    match array.data_type() {
        DataType::Utf8 => sample(array.as_string::<i32>().iter()),
        DataType::Binary => sample(array.as_binary::<i32>().iter()),
        DataType::Int16 => sample(array.as_primitive::<Int16Type>().iter()),
        DataType::Int32 => sample(array.as_primitive::<Int32Type>().iter()),
        DataType::Date32 => sample(array.as_primitive::<Date32Type>().iter()),
        DataType::Int64 => sample(array.as_primitive::<Int64Type>().iter()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            sample(array.as_primitive::<TimestampMicrosecondType>().iter())
        }
        DataType::Float32 => sample(
            array
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(f32::to_bits)),
        ),
        DataType::Float64 => sample(
            array
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(f64::to_bits)),
        ),
        DataType::Decimal128(..) => sample(array.as_primitive::<Decimal128Type>().iter()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn mostly_distinct_columns_are_named_and_repetitive_ones_are_not() {
        let n = 2_000;
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("id-{i}")),
        ));
        let kinds: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| ["a", "b", "c"][i % 3]),
        ));
        let times: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i as i64 * 7)));
        // Of the first 1,024 values, 640 distinct (62%: named) and 400 distinct (39%: not).
        let customers: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n).map(|i| (i % 640) as i64),
        ));
        let pages: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n).map(|i| (i % 400) as i64),
        ));
        let named = high_cardinality_columns(&batch(vec![
            ("id", ids),
            ("kind", kinds),
            ("ts", times),
            ("customer", customers),
            ("page", pages),
        ]));
        assert_eq!(named, ["id", "ts", "customer"]);
    }

    #[test]
    fn small_or_mostly_null_columns_are_not_judged() {
        let few: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..63).map(|i| format!("v{i}")),
        ));
        assert!(high_cardinality_columns(&batch(vec![("few", few)])).is_empty());
        let sparse: ArrayRef = Arc::new(StringArray::from_iter(
            (0..1_000).map(|i| (i % 20 == 0).then(|| format!("v{i}"))),
        ));
        assert!(
            high_cardinality_columns(&batch(vec![("sparse", sparse)])).is_empty(),
            "50 non-null values are too few to judge"
        );
    }
}
