//! A table's partition spec as the record path's [`TablePartitioner`]: each record's partition
//! from its source columns, read exactly as its Parquet file holds them.

use std::sync::Arc;

use iceberg::spec::{PartitionSpec, Schema};
use kinesink_delivery::{TablePartition, TablePartitionFailure, TablePartitioner};
use kinesink_parquet_writer::{
    FORMAT_CONVERSION_FAILED_OUTPUT_TYPE, ParsedJsonRecord, SerdeOptions, TableSchema,
};

use crate::partition_source::{PartitionSourceError, PartitionSources};
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
/// writer's own code and message.
#[derive(Debug)]
pub struct IcebergPartitioner {
    sources: PartitionSources,
    values: PartitionValues,
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
        Ok(Self { sources, values })
    }
}

impl TablePartitioner for IcebergPartitioner {
    fn partition_of(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<TablePartition, TablePartitionFailure> {
        let sources = self.sources.read(record).map_err(|e| match e {
            PartitionSourceError::Conversion(cf) => TablePartitionFailure {
                error_output_type: FORMAT_CONVERSION_FAILED_OUTPUT_TYPE.to_owned(),
                error_code: cf.error_code().to_owned(),
                message: cf.message().to_owned(),
            },
            other => failure(other.to_string()),
        })?;
        let partition = self
            .values
            .partition(&sources)
            .map_err(|e| failure(e.to_string()))?;
        let path: Arc<str> = if self.values.is_unpartitioned() {
            DATA_DIRECTORY.into()
        } else {
            format!("{DATA_DIRECTORY}{}/", partition.path()).into()
        };
        Ok(TablePartition::new(path, Arc::new(partition)))
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
