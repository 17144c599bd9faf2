//! Statistics of files written by kinesink's Parquet writer with field ids, per Iceberg type.

use std::sync::Arc;

use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};

use super::*;

/// Columns of every type kinesink writes, ids 1.. in order (the Iceberg schema below matches).
const HIVE: &str = "s string, i int, l bigint, dt date, ts timestamp, b boolean,
dec decimal(10,2), wide decimal(30,4), d double, f float, bin binary, empty string, tags array<string>,
small decimal(5,1)";

fn iceberg_schema() -> Schema {
    use PrimitiveType as P;
    let primitive = |id, name: &str, t: P| NestedField::optional(id, name, Type::Primitive(t));
    let fields = vec![
        primitive(1, "s", P::String),
        primitive(2, "i", P::Int),
        primitive(3, "l", P::Long),
        primitive(4, "dt", P::Date),
        primitive(5, "ts", P::Timestamptz),
        primitive(6, "b", P::Boolean),
        primitive(
            7,
            "dec",
            P::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        primitive(
            8,
            "wide",
            P::Decimal {
                precision: 30,
                scale: 4,
            },
        ),
        primitive(9, "d", P::Double),
        primitive(10, "f", P::Float),
        primitive(11, "bin", P::Binary),
        primitive(12, "empty", P::String),
        NestedField::optional(
            13,
            "tags",
            Type::List(iceberg::spec::ListType::new(
                NestedField::list_element(14, Type::Primitive(P::String), false).into(),
            )),
        ),
        primitive(
            15,
            "small",
            P::Decimal {
                precision: 5,
                scale: 1,
            },
        ),
    ];
    Schema::builder()
        .with_fields(fields.into_iter().map(Arc::new))
        .build()
        .unwrap()
}

/// The ids of `schema`'s fields by name path (the writer's view of the Iceberg schema).
fn with_ids(hive: &str, schema: &Schema) -> TableSchema {
    TableSchema::parse_hive(hive)
        .unwrap()
        .with_field_ids(|path| schema.field_id_by_name(&path.join(".")))
        .unwrap()
}

fn write(table: TableSchema, rows_per_group: usize, records: &[String]) -> Vec<u8> {
    let options = ParquetOptions {
        max_row_group_rows: rows_per_group,
        ..ParquetOptions::default()
    };
    let mut encoder =
        ParquetObjectEncoder::new(Arc::new(table), Arc::new(SerdeOptions::default()), options)
            .unwrap();
    for record in records {
        encoder.append_bytes(record.as_bytes()).unwrap();
    }
    encoder.finish().unwrap()
}

fn record(n: i64, s: &str, d: &str) -> String {
    format!(
        r#"{{"s":"{s}","i":{n},"l":{},"dt":"2026-01-{:02}","ts":"2026-01-01T00:00:{:02}Z","b":{},
"dec":"{n}.25","wide":"-{n}.5","small":{n}.5,"d":{d},"f":{n}.5,"bin":"{}","empty":null,"tags":["{s}"]}}"#,
        n * 1_000_000_000_000,
        n + 1,
        n,
        n % 2 == 0,
        if n == 1 { "AAH/" } else { "/w==" },
    )
}

/// Three rows over two row groups: n = 1, 2, 3.
fn three_rows(d: [&str; 3]) -> (Vec<u8>, FileStats) {
    let schema = iceberg_schema();
    let records = vec![
        record(2, "banana", d[0]),
        record(1, "apple", d[1]),
        record(3, "cherry", d[2]),
    ];
    let file = write(with_ids(HIVE, &schema), 2, &records);
    let stats = file_stats_of_parquet(&file, &schema).unwrap();
    (file, stats)
}

#[test]
fn counts_sizes_and_split_offsets_cover_every_row_group() {
    let (file, stats) = three_rows(["1.0", "2.0", "3.0"]);
    assert_eq!(stats.record_count, 3);
    assert_eq!(stats.file_size_in_bytes, file.len() as u64);
    let footer = parquet_footer(&file).unwrap();
    assert_eq!(footer.num_row_groups(), 2);
    assert_eq!(stats.split_offsets.len(), 2);
    assert_eq!(
        stats.split_offsets[0], 4,
        "the first row group starts after `PAR1`"
    );
    assert!(stats.split_offsets[0] < stats.split_offsets[1]);
    for id in 1..=12 {
        assert_eq!(stats.value_counts[&id], 3, "field {id}");
        assert!(stats.column_sizes[&id] > 0, "field {id}");
    }
    assert_eq!(stats.null_value_counts[&1], 0);
    assert_eq!(stats.null_value_counts[&12], 3);
    // The list element column is counted but gets no bounds (inside a repeated group).
    assert_eq!(stats.value_counts[&14], 3);
    assert!(!stats.lower_bounds.contains_key(&14));
    assert!(
        !stats.column_sizes.contains_key(&13),
        "no column of its own"
    );
}

#[test]
fn integer_date_timestamp_boolean_and_decimal_bounds_are_the_minimum_and_maximum() {
    let (_, stats) = three_rows(["1.0", "2.0", "3.0"]);
    let bounds = |id: i32| {
        (
            stats.lower_bounds[&id].clone(),
            stats.upper_bounds[&id].clone(),
        )
    };
    assert_eq!(bounds(2), (Datum::int(1), Datum::int(3)));
    assert_eq!(
        bounds(3),
        (
            Datum::long(1_000_000_000_000_i64),
            Datum::long(3_000_000_000_000_i64)
        )
    );
    assert_eq!(
        bounds(4),
        (
            Datum::date_from_str("2026-01-02").unwrap(),
            Datum::date_from_str("2026-01-04").unwrap()
        )
    );
    assert_eq!(
        bounds(5),
        (
            Datum::timestamptz_from_str("2026-01-01T00:00:01Z").unwrap(),
            Datum::timestamptz_from_str("2026-01-01T00:00:03Z").unwrap()
        )
    );
    assert_eq!(bounds(6), (Datum::bool(false), Datum::bool(true)));
    let decimal = |text: &str, precision, scale| {
        Datum::try_from_bytes(
            &Datum::decimal_from_str(text).unwrap().to_bytes().unwrap(),
            PrimitiveType::Decimal { precision, scale },
        )
        .unwrap()
    };
    // decimal(5,1) is stored as INT32, decimal(10,2) as INT64, decimal(30,4) as fixed-length
    // bytes.
    assert_eq!(bounds(15), (decimal("1.5", 5, 1), decimal("3.5", 5, 1)));
    assert_eq!(bounds(7), (decimal("1.25", 10, 2), decimal("3.25", 10, 2)));
    assert_eq!(
        bounds(8),
        (decimal("-3.5000", 30, 4), decimal("-1.5000", 30, 4))
    );
    assert_eq!(bounds(1), (Datum::string("apple"), Datum::string("cherry")));
    assert_eq!(
        bounds(11),
        (Datum::binary([0x00, 0x01, 0xFF]), Datum::binary([0xFF]))
    );
}

#[test]
fn a_column_of_only_nulls_has_counts_but_no_bounds() {
    let (_, stats) = three_rows(["1.0", "2.0", "3.0"]);
    assert_eq!(stats.null_value_counts[&12], 3);
    assert!(!stats.lower_bounds.contains_key(&12));
    assert!(!stats.upper_bounds.contains_key(&12));
}

#[test]
fn double_bounds_are_kept_only_when_no_value_is_nan() {
    let (_, clean) = three_rows(["1.5", "-2.5", "3.5"]);
    assert_eq!(clean.nan_value_counts[&9], 0);
    assert_eq!(clean.lower_bounds[&9], Datum::double(-2.5));
    assert_eq!(clean.upper_bounds[&9], Datum::double(3.5));
    assert_eq!(clean.lower_bounds[&10], Datum::float(1.5));

    let (_, with_nan) = three_rows(["1.5", "\"NaN\"", "3.5"]);
    assert_eq!(with_nan.nan_value_counts[&9], 1);
    assert!(!with_nan.lower_bounds.contains_key(&9));
    assert!(!with_nan.upper_bounds.contains_key(&9));
    assert!(with_nan.lower_bounds.contains_key(&10), "float had no NaN");
}

#[test]
fn long_strings_are_truncated_to_sixteen_code_points_with_an_incremented_upper_bound() {
    let schema = iceberg_schema();
    let long = "ü".repeat(20);
    let records = vec![record(1, &long, "1.0"), record(2, "a", "1.0")];
    let file = write(with_ids(HIVE, &schema), 10, &records);
    let stats = file_stats_of_parquet(&file, &schema).unwrap();
    assert_eq!(stats.lower_bounds[&1], Datum::string("a"));
    assert_eq!(
        stats.upper_bounds[&1],
        Datum::string(format!("{}ý", "ü".repeat(15)))
    );
}

#[test]
fn a_column_without_a_field_id_is_refused_by_name() {
    let schema = iceberg_schema();
    let plain = TableSchema::parse_hive(HIVE).unwrap();
    let file = write(plain, 10, &[record(1, "a", "1.0")]);
    let refused = file_stats_of_parquet(&file, &schema).unwrap_err();
    assert!(
        matches!(&refused, DataFileStatsError::MissingFieldId { column } if column == "s"),
        "{refused}"
    );
}

#[test]
fn statistics_that_do_not_fit_the_field_type_are_refused_naming_both() {
    let mut fields: Vec<_> = iceberg_schema().as_struct().fields().to_vec();
    // Field 2 (`i`, an INT32 column) claimed to be a string.
    fields[1] = Arc::new(NestedField::optional(
        2,
        "i",
        Type::Primitive(PrimitiveType::String),
    ));
    let wrong = Schema::builder().with_fields(fields).build().unwrap();
    let file = write(
        with_ids(HIVE, &iceberg_schema()),
        10,
        &[record(1, "a", "1.0")],
    );
    let refused = file_stats_of_parquet(&file, &wrong).unwrap_err();
    let DataFileStatsError::StatisticsTypeMismatch {
        column,
        field_id,
        reason,
    } = &refused
    else {
        panic!("{refused}")
    };
    assert_eq!((column.as_str(), *field_id), ("i", 2));
    assert!(
        reason.contains("INT32") && reason.contains("string"),
        "{reason}"
    );
}

#[test]
fn an_unknown_field_id_or_bytes_that_are_not_parquet_are_refused() {
    let schema = iceberg_schema();
    let file = write(with_ids(HIVE, &schema), 10, &[record(1, "a", "1.0")]);
    let fewer = Schema::builder()
        .with_fields(vec![Arc::new(NestedField::optional(
            1,
            "s",
            Type::Primitive(PrimitiveType::String),
        ))])
        .build()
        .unwrap();
    let refused = file_stats_of_parquet(&file, &fewer).unwrap_err();
    assert!(
        matches!(
            refused,
            DataFileStatsError::UnknownFieldId { field_id: 2, .. }
        ),
        "{refused}"
    );
    for bytes in [&b"PAR1"[..], &file[..file.len() - 1]] {
        assert!(matches!(
            file_stats_of_parquet(bytes, &schema),
            Err(DataFileStatsError::Footer(_))
        ));
    }
}

#[test]
fn the_data_file_entry_carries_the_path_partition_and_statistics() {
    let (_, stats) = three_rows(["1.0", "2.0", "3.0"]);
    let expected = stats.clone();
    let entry = stats
        .into_data_file("file:///t/data/a.parquet".into(), Struct::empty(), 0)
        .unwrap();
    assert_eq!(entry.content_type(), DataContentType::Data);
    assert_eq!(entry.file_format(), DataFileFormat::Parquet);
    assert_eq!(entry.file_path(), "file:///t/data/a.parquet");
    assert_eq!(entry.record_count(), 3);
    assert_eq!(entry.file_size_in_bytes(), expected.file_size_in_bytes);
    assert_eq!(entry.lower_bounds(), &expected.lower_bounds);
    assert_eq!(entry.upper_bounds(), &expected.upper_bounds);
    assert_eq!(entry.null_value_counts(), &expected.null_value_counts);
    assert_eq!(
        entry.split_offsets(),
        Some(expected.split_offsets.as_slice())
    );
}
