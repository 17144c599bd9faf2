//! Properties of JSON → Parquet conversion over random schemas and records that mostly fit:
//! it never panics, a refused record leaves no trace, and the parsed-value and bytes paths agree.

mod common;

use std::sync::Arc;

use common::read_parquet;
use common::strategies::{record_for, table_schema};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};
use proptest::prelude::*;

fn schema_and_records() -> impl Strategy<Value = (TableSchema, Vec<serde_json::Value>)> {
    table_schema().prop_flat_map(|schema| {
        let records = proptest::collection::vec(record_for(&schema), 0..12);
        (Just(schema), records)
    })
}

fn new_encoder(schema: &TableSchema, options: ParquetOptions) -> ParquetObjectEncoder {
    ParquetObjectEncoder::new(
        Arc::new(schema.clone()),
        Arc::new(SerdeOptions::default()),
        options,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn refused_records_leave_no_trace_and_accepted_ones_read_back_in_order(
        (schema, records) in schema_and_records()
    ) {
        // Small row groups, so refusals also happen next to row-group boundaries.
        let mut all = new_encoder(&schema, ParquetOptions { max_row_group_rows: 2, ..ParquetOptions::default() });
        let mut accepted_only = new_encoder(&schema, ParquetOptions::default());
        let mut accepted = 0;
        for record in &records {
            let before = all.record_count();
            match all.append_json(record) {
                Ok(()) => {
                    accepted += 1;
                    accepted_only.append_json(record).unwrap();
                }
                Err(failure) => {
                    prop_assert_eq!(all.record_count(), before);
                    prop_assert!(!failure.message().is_empty());
                }
            }
        }
        prop_assert_eq!(all.record_count(), accepted);
        let all = read_parquet(all.finish().unwrap());
        prop_assert_eq!(all.num_rows(), accepted);
        prop_assert_eq!(all, read_parquet(accepted_only.finish().unwrap()));
    }

    #[test]
    fn the_bytes_path_accepts_and_refuses_exactly_what_the_value_path_does(
        (schema, records) in schema_and_records()
    ) {
        let mut by_value = new_encoder(&schema, ParquetOptions::default());
        let mut by_bytes = new_encoder(&schema, ParquetOptions::default());
        for record in &records {
            // The value the pipeline would have: parsed from the same bytes (serde_json's float
            // parsing is not an exact round trip of the generated f64, so parse both from text).
            let text = serde_json::to_vec(record).unwrap();
            let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
            let value_outcome = by_value.append_json(&parsed).map_err(|e| e.kind());
            let bytes_outcome = by_bytes.append_bytes(&text).map_err(|e| e.kind());
            prop_assert_eq!(value_outcome, bytes_outcome, "{}", String::from_utf8_lossy(&text));
        }
        prop_assert_eq!(read_parquet(by_value.finish().unwrap()), read_parquet(by_bytes.finish().unwrap()));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_add_a_row_when_refused(
        schema in table_schema(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut enc = new_encoder(&schema, ParquetOptions::default());
        let outcome = enc.append_bytes(&bytes);
        prop_assert_eq!(enc.record_count() > 0, outcome.is_ok());
        let rows = read_parquet(enc.finish().unwrap()).num_rows();
        prop_assert_eq!(rows > 0, outcome.is_ok());
    }
}
