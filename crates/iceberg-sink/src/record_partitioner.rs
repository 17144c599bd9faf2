//! A table's partition spec as the record path's [`TablePartitioner`]: each record's partition
//! from its source columns, read exactly as its Parquet file holds them.

use std::collections::HashMap;
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
/// kept.
#[derive(Debug)]
pub struct IcebergPartitioner {
    sources: PartitionSources,
    values: PartitionValues,
    /// Partitions made so far, by their tuple.
    known: RwLock<KnownPartitions>,
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
            placement: std::sync::OnceLock::new(),
        })
    }

    /// Places every partition made from now on in table `id`, written in `format` (the
    /// table's route has the same `id` allocation, so the record path takes the partitions as
    /// they are instead of placing each record's anew). Set once; later calls change nothing.
    pub fn place_in(&self, id: Arc<str>, format: ObjectFormat) {
        let _ = self.placement.set((id, format));
    }
}

impl TablePartitioner for IcebergPartitioner {
    fn partition_of(
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
        let hive = TableSchema::parse_hive("event_id string, event_type string, ts timestamp")
            .expect("hive schema");
        let schema = iceberg_schema_of(&hive).expect("iceberg schema");
        let spec = parse_partition_spec("event_type, day(ts)")
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
}
