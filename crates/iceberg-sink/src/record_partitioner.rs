//! A table's partition spec as the record path's [`TablePartitioner`]: each record's partition
//! from its source columns, read exactly as its Parquet file holds them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use iceberg::spec::{Datum, PartitionSpec, Schema};
use kinesink_delivery::{TablePartition, TablePartitionFailure, TablePartitioner};
use kinesink_parquet_writer::{
    FORMAT_CONVERSION_FAILED_OUTPUT_TYPE, ObjectFormat, ParsedJsonRecord, SerdeOptions, TableSchema,
};

use crate::partition_source::{PartitionSourceError, PartitionSources, SourceValues};
use crate::partition_values::{Partition, PartitionValues, PartitionValuesError};

/// Error code of a record whose partition values cannot be computed (its source value passed
/// conversion but the transform refused it).
pub const PARTITION_FAILED_ERROR_CODE: &str = "Iceberg.PartitionValueFailed";

/// The directory of data files under a table's location, as Iceberg writers name it.
pub const DATA_DIRECTORY: &str = "data/";

/// Places records in the partitions of one table's spec.
///
/// Guarantees: a record's [`TablePartition`] has the path `data/<partition path>/` (`data/`
/// when unpartitioned), the partition's Hive-style path as Iceberg Java writes it, and carries
/// its [`Partition`] (downcast the values to it); the same record always gets the same one.
/// A source value that does not convert goes to `format-conversion-failed` with the Parquet
/// writer's own code and message. A partition seen before is handed out again (a clone of the
/// same `TablePartition`), not named anew for each record; at most [`KNOWN_PARTITIONS`] are
/// kept. A record whose source values were seen before is placed by its sources' key alone
/// (no conversion, transform or tuple lookup), until more than [`SOURCE_KEYS`] keys were seen:
/// sources of that many values (a timestamp, an id) are then read and transformed for every
/// record, as the key would rarely be seen again.
#[derive(Debug)]
pub struct IcebergPartitioner {
    sources: PartitionSources,
    values: PartitionValues,
    /// Partitions made so far, by their tuple.
    known: RwLock<KnownPartitions>,
    /// Partitions by their records' source key ([`PartitionSources::write_key`]).
    by_source: RwLock<HashMap<Box<[u8]>, TablePartition, foldhash::fast::RandomState>>,
    /// Whether records are looked up by their source key (off for good once [`SOURCE_KEYS`]
    /// keys were seen).
    source_keys: AtomicBool,
    /// The table id and format its partitions are placed in ([`IcebergPartitioner::place_in`]).
    placement: std::sync::OnceLock<(Arc<str>, ObjectFormat)>,
}

/// Partitions made so far by their tuple, hashed with foldhash (looked up once per record;
/// SipHash's resistance to chosen keys buys nothing for at most [`KNOWN_PARTITIONS`] tuples
/// that are cleared when full).
type KnownPartitions = HashMap<Vec<Option<Datum>>, TablePartition, foldhash::fast::RandomState>;

/// Partitions a partitioner keeps to hand out again (past that, it starts over: a table with
/// more live partitions only loses the reuse, never a record).
pub const KNOWN_PARTITIONS: usize = 4096;

/// Source keys a partitioner keeps before it stops looking records up by them.
pub const SOURCE_KEYS: usize = 1024;

/// Source keys longer than this are not kept (their records are read and transformed).
const LONGEST_SOURCE_KEY: usize = 256;

thread_local! {
    /// The source key of the record being placed (reused: no allocation per record).
    static SOURCE_KEY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Why a spec cannot place records.
#[derive(Debug, thiserror::Error)]
pub enum PartitionerError {
    /// The spec's transforms do not apply to the schema.
    #[error(transparent)]
    Values(#[from] PartitionValuesError),
    /// A source column cannot be read from the records.
    #[error(transparent)]
    Sources(#[from] PartitionSourceError),
}

impl IcebergPartitioner {
    /// The partitioner of `spec` over the table's `schema`, reading source values from
    /// records as `table_schema` (the writer's schema of the table) converts them.
    ///
    /// # Errors
    /// [`PartitionerError`] naming the partition field or source column that does not fit.
    pub fn new(
        spec: &PartitionSpec,
        schema: &Schema,
        table_schema: &TableSchema,
        options: &SerdeOptions,
    ) -> Result<Self, PartitionerError> {
        let values = PartitionValues::new(spec, schema)?;
        let sources = PartitionSources::new(&values, schema, table_schema, options)?;
        Ok(Self {
            sources,
            values,
            known: RwLock::new(HashMap::default()),
            by_source: RwLock::new(HashMap::default()),
            source_keys: AtomicBool::new(true),
            placement: std::sync::OnceLock::new(),
        })
    }

    /// Places every partition made from now on in table `id`, written in `format` (the
    /// table's route has the same `id` allocation, so the record path takes the partitions as
    /// they are instead of placing each record's anew). Set once; later calls change nothing.
    pub fn place_in(&self, id: Arc<str>, format: ObjectFormat) {
        let _ = self.placement.set((id, format));
    }

    /// The partition of `record` by its source key, or by its values when the key is unknown
    /// (then kept under the key, while keys are kept).
    fn partition_by_source_key(
        &self,
        record: &ParsedJsonRecord<'_>,
        key: &mut Vec<u8>,
    ) -> Result<TablePartition, TablePartitionFailure> {
        key.clear();
        if !self.sources.write_key(record, key) || key.len() > LONGEST_SOURCE_KEY {
            return self.partition_by_values(record);
        }
        if let Some(partition) = self
            .by_source
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key.as_slice())
        {
            return Ok(partition.clone());
        }
        let partition = self.partition_by_values(record)?;
        let mut by_source = self
            .by_source
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if by_source.len() >= SOURCE_KEYS {
            self.source_keys.store(false, Ordering::Relaxed);
            *by_source = HashMap::default();
        } else {
            by_source.insert(key.as_slice().into(), partition.clone());
        }
        Ok(partition)
    }

    /// The partition of `record` from its source values, transformed.
    fn partition_by_values(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<TablePartition, TablePartitionFailure> {
        let mut values = SourceValues::new();
        self.sources
            .read_into(record, &mut values)
            .map_err(|e| match e {
                PartitionSourceError::Conversion(cf) => TablePartitionFailure {
                    error_output_type: FORMAT_CONVERSION_FAILED_OUTPUT_TYPE.to_owned(),
                    error_code: cf.error_code().to_owned(),
                    message: cf.message().to_owned(),
                },
                other => failure(other.to_string()),
            })?;
        self.values
            .transform_in_place(&mut values)
            .map_err(|e| failure(e.to_string()))?;
        if let Some(partition) = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&values[..])
        {
            return Ok(partition.clone());
        }
        let values = values.into_vec();
        let id = self.values.id_of(&values);
        let partition = self.values.named(values.clone(), id);
        let path: Arc<str> = if self.values.is_unpartitioned() {
            DATA_DIRECTORY.into()
        } else {
            format!("{DATA_DIRECTORY}{}/", partition.path()).into()
        };
        let made = TablePartition::new(path, Arc::new(partition));
        let made = match self.placement.get() {
            Some((id, format)) => made.in_table(Arc::clone(id), Some(format.clone())),
            None => made,
        };
        let mut known = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= KNOWN_PARTITIONS {
            known.clear();
        }
        known.insert(values, made.clone());
        Ok(made)
    }
}

impl TablePartitioner for IcebergPartitioner {
    fn partition_of(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<TablePartition, TablePartitionFailure> {
        if !self.source_keys.load(Ordering::Relaxed) {
            return self.partition_by_values(record);
        }
        SOURCE_KEY.with_borrow_mut(|key| self.partition_by_source_key(record, key))
    }
}

fn failure(message: String) -> TablePartitionFailure {
    TablePartitionFailure {
        error_output_type: FORMAT_CONVERSION_FAILED_OUTPUT_TYPE.to_owned(),
        error_code: PARTITION_FAILED_ERROR_CODE.to_owned(),
        message,
    }
}

/// The [`Partition`] a data object of this partitioner carries.
#[must_use]
pub fn partition_of_object(partition: &TablePartition) -> Option<&Partition> {
    partition.values().downcast_ref::<Partition>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_partition_spec;
    use crate::schema_mapping::{iceberg_schema_of, table_schema_of};
    use kinesink_parquet_writer::JsonRecordParser;

    fn partitioner() -> IcebergPartitioner {
        partitioner_of(
            "event_id string, event_type string, ts timestamp",
            "event_type, day(ts)",
        )
    }

    fn partitioner_of(hive: &str, spec: &str) -> IcebergPartitioner {
        let hive = TableSchema::parse_hive(hive).expect("hive schema");
        let schema = iceberg_schema_of(&hive).expect("iceberg schema");
        let spec = parse_partition_spec(spec)
            .expect("spec text")
            .bind(schema.clone())
            .expect("spec");
        let writer = table_schema_of(&schema).expect("writer schema");
        IcebergPartitioner::new(&spec, &schema, &writer, &SerdeOptions::default())
            .expect("partitioner")
    }

    fn partition_of(partitioner: &IcebergPartitioner, record: &str) -> TablePartition {
        let mut parser = JsonRecordParser::new();
        let parsed = parser.parse(record.as_bytes()).expect("JSON");
        partitioner.partition_of(&parsed).expect("a partition")
    }

    #[test]
    fn a_partition_seen_before_is_handed_out_again_with_the_same_path_and_tuple() {
        let partitioner = partitioner();
        let first = partition_of(
            &partitioner,
            r#"{"event_id":"a","event_type":"click","ts":"2026-12-03T10:00:00Z"}"#,
        );
        // Another record of the same partition (same type, same day).
        let again = partition_of(
            &partitioner,
            r#"{"event_id":"b","event_type":"click","ts":"2026-12-03T23:59:59Z"}"#,
        );
        let other = partition_of(
            &partitioner,
            r#"{"event_id":"c","event_type":"click","ts":"2026-12-04T00:00:00Z"}"#,
        );
        assert_eq!(first.path(), "data/event_type=click/ts_day=2026-12-03/");
        assert_eq!(again.path(), first.path());
        assert!(
            Arc::ptr_eq(first.values(), again.values()),
            "the known partition is reused, not made again"
        );
        assert_eq!(
            partition_of_object(&again).map(Partition::values),
            partition_of_object(&first).map(Partition::values)
        );
        assert_eq!(other.path(), "data/event_type=click/ts_day=2026-12-04/");
        assert_ne!(
            partition_of_object(&other).map(Partition::values),
            partition_of_object(&first).map(Partition::values)
        );
    }

    #[test]
    fn past_the_known_partitions_limit_records_still_get_their_own_partition() {
        let partitioner = partitioner();
        for n in 0..(KNOWN_PARTITIONS + 10) {
            let record =
                format!(r#"{{"event_id":"e","event_type":"t{n}","ts":"2026-12-03T10:00:00Z"}}"#);
            let partition = partition_of(&partitioner, &record);
            assert_eq!(
                partition.path(),
                format!("data/event_type=t{n}/ts_day=2026-12-03/")
            );
        }
        assert!(partitioner.known.read().expect("lock").len() <= KNOWN_PARTITIONS);
    }

    /// What a record's placement says: its path and tuple, or its failure.
    fn placed(result: Result<TablePartition, TablePartitionFailure>) -> String {
        match result {
            Ok(p) => format!(
                "{} {:?}",
                p.path(),
                partition_of_object(&p).map(Partition::values)
            ),
            Err(f) => format!("{f:?}"),
        }
    }

    /// A record: an event type among few (other spellings, numbers, null, absent), a small
    /// number, a timestamp among few.
    fn keyed_record() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let event_type = prop::sample::select(vec![
            r#""event_type":"click""#,
            r#""event_type":"cl\u0069ck""#,
            r#""Event_Type":"view""#,
            r#""event_type":"v\u00e9rifi\u00e9""#,
            r#""event_type":1"#,
            r#""event_type":1.0"#,
            r#""event_type":true"#,
            r#""event_type":null"#,
            r#""event_type":[1]"#,
            r#""event_type":{"a":1}"#,
            r#""other":"x""#,
        ]);
        let n = prop::sample::select(vec![
            r#""n":1"#,
            r#""n":2"#,
            r#""n":-7"#,
            r#""n":"3""#,
            r#""n":1.5"#,
            r#""n":"x""#,
            r#""n":null"#,
            r#""m":1"#,
        ]);
        let ts = prop::sample::select(vec![
            r#""ts":"2026-12-04T05:00:00Z""#,
            r#""ts":"2026-12-04 23:59:59""#,
            r#""ts":"2026-12-05T00:00:00Z""#,
            r#""ts":"not a time""#,
            r#""ts":1764824400000"#,
            r#""u":1"#,
        ]);
        (event_type, n, ts, any::<bool>()).prop_map(|(e, n, ts, flip)| {
            if flip {
                format!("{{{ts},{n},{e}}}")
            } else {
                format!("{{{e},{n},{ts}}}")
            }
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Placing records by their source keys (the cache) gives every record the partition,
        /// or the failure, its source values give it.
        #[test]
        fn records_placed_by_their_source_keys_get_the_partitions_their_values_give(
            records in proptest::collection::vec(keyed_record(), 1..48)
        ) {
            for spec in ["event_type", "event_type, bucket(4, n)", "truncate(2, event_type), day(ts)", "n"] {
                let cached = partitioner_of("event_type string, n bigint, ts timestamp", spec);
                let by_values = partitioner_of("event_type string, n bigint, ts timestamp", spec);
                for text in records.iter().chain(&records) {
                    let mut parser = JsonRecordParser::new();
                    let parsed = parser.parse(text.as_bytes()).expect("JSON");
                    proptest::prop_assert_eq!(
                        placed(cached.partition_of(&parsed)),
                        placed(by_values.partition_by_values(&parsed)),
                        "spec {}, record {}", spec, text
                    );
                }
            }
        }
    }

    #[test]
    fn records_seen_again_are_placed_by_their_source_key() {
        let partitioner = partitioner_of("event_type string", "event_type");
        let first = partition_of(&partitioner, r#"{"event_type":"click"}"#);
        let again = partition_of(&partitioner, r#"{"x":1,"event_type":"click"}"#);
        assert!(Arc::ptr_eq(first.values(), again.values()));
        assert_eq!(partitioner.by_source.read().expect("lock").len(), 1);
        // A failure is not kept: the record fails again, the same way.
        let numbers = partitioner_of("n bigint", "n");
        let mut parser = JsonRecordParser::new();
        let bad = parser.parse(br#"{"n":"x"}"#).expect("JSON");
        let failed = placed(numbers.partition_of(&bad));
        assert!(failed.contains("TablePartitionFailure"), "{failed}");
        assert_eq!(placed(numbers.partition_of(&bad)), failed);
        assert!(numbers.by_source.read().expect("lock").is_empty());
    }

    #[test]
    fn a_source_of_many_values_stops_the_source_keys_and_records_keep_their_partitions() {
        let partitioner = partitioner_of("event_id string, ts timestamp", "day(ts)");
        for n in 0..(SOURCE_KEYS + 10) {
            let (hour, minute, second) = (n / 3600 % 24, n / 60 % 60, n % 60);
            let record = format!(r#"{{"ts":"2026-12-04T{hour:02}:{minute:02}:{second:02}Z"}}"#);
            assert_eq!(
                partition_of(&partitioner, &record).path(),
                "data/ts_day=2026-12-04/"
            );
        }
        assert!(!partitioner.source_keys.load(Ordering::Relaxed));
        assert!(partitioner.by_source.read().expect("lock").is_empty());
        // Still placed, now by values.
        assert_eq!(
            partition_of(&partitioner, r#"{"ts":"2026-12-05T00:00:00Z"}"#).path(),
            "data/ts_day=2026-12-05/"
        );
    }

    #[test]
    fn a_long_source_key_is_not_kept() {
        let partitioner = partitioner_of("event_type string", "event_type");
        let long = "x".repeat(LONGEST_SOURCE_KEY);
        let partition = partition_of(&partitioner, &format!(r#"{{"event_type":"{long}"}}"#));
        assert_eq!(partition.path(), format!("data/event_type={long}/"));
        assert!(partitioner.by_source.read().expect("lock").is_empty());
    }
}
