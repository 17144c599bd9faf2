//! Data files of one table: each data object of the record path written once under the table's
//! location, and its data-file entry made from the bytes the table will reference.

use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::{DataFile, Schema, Struct};
use kinesink_delivery::{ObjectContents, ObjectSink, PutOutcome, ReadyObject, write_once};

use crate::commit_protocol::StagedFile;
use crate::data_file_stats::file_stats_of_parquet;
use crate::error::{IcebergErrorClass, IcebergSinkError};
use crate::record_partitioner::partition_of_object;
use crate::table_target::TableTarget;

/// Writes one table's data files and makes their entries.
///
/// Guarantees: a data object is written once under `<table location>/<object key>` (a key that
/// already holds the same records is not written again: a replay or a zombie wrote it); the
/// entry's size, counts and bounds are those of the bytes stored under the key, read back when
/// another writer's copy is there (its row groups may differ from ours).
#[derive(Clone)]
pub struct TableFiles {
    sink: Arc<dyn ObjectSink>,
    file_io: FileIO,
    location: String,
    schema: Schema,
    spec_id: i32,
}

impl std::fmt::Debug for TableFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableFiles")
            .field("sink", &self.sink.describe())
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl TableFiles {
    /// The data files of `target`, written through `sink`, which must be rooted at the table's
    /// location ([`TableTarget::location`]) with conditional writes.
    #[must_use]
    pub fn new(target: &TableTarget, sink: Arc<dyn ObjectSink>) -> Self {
        let metadata = target.table.metadata();
        Self {
            sink,
            file_io: target.table.file_io().clone(),
            location: target.location(),
            schema: metadata.current_schema().as_ref().clone(),
            spec_id: target.spec_id,
        }
    }

    /// Writes `object` (a data object of this table, from `shard_id`) and returns what the
    /// commit protocol and the commit need of it.
    ///
    /// # Errors
    /// A transient [`IcebergSinkError`] when storage fails; a permanent one when the object is
    /// not a data file of this table or its bytes are not a Parquet file of the table's schema.
    pub async fn write(
        &self,
        shard_id: &str,
        object: &ReadyObject,
    ) -> Result<(StagedFile, DataFile), IcebergSinkError> {
        let operation = format!("write data file {}/{}", self.location, object.key);
        let partition = match &object.table_partition {
            None if object.is_error_output || object.is_backup => {
                return Err(IcebergSinkError::permanent(
                    &operation,
                    "not a data file of the table (an error-output or backup object)",
                ));
            }
            None => Struct::empty(),
            Some(p) => partition_of_object(p)
                .ok_or_else(|| {
                    IcebergSinkError::permanent(&operation, "its partition is not an Iceberg one")
                })?
                .values()
                .clone(),
        };
        let contents = ObjectContents {
            last: object.last.clone(),
            records: object.record_count as u64,
        };
        let placement = write_once(&*self.sink, &object.key, &object.body, &contents)
            .await
            .map_err(|e| IcebergSinkError {
                operation: operation.clone(),
                message: e.to_string(),
                class: IcebergErrorClass::Transient,
                source: None,
            })?;
        let path = format!("{}/{}", self.location, placement.key);
        let stats = match placement.outcome {
            PutOutcome::Written => file_stats_of_parquet(&object.body, &self.schema),
            PutOutcome::AlreadyWritten { .. } => {
                let stored = self
                    .file_io
                    .new_input(&path)
                    .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?
                    .read()
                    .await
                    .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?;
                file_stats_of_parquet(&stored, &self.schema)
            }
        }
        .map_err(|e| IcebergSinkError::permanent(&operation, e.to_string()))?;
        let staged = StagedFile {
            key: path.clone(),
            shard_id: shard_id.to_owned(),
            first: object.first.clone(),
            last: object.last.clone(),
            records: stats.record_count,
            bytes: stats.file_size_in_bytes,
        };
        let entry = stats
            .into_data_file(path, partition, self.spec_id)
            .map_err(|e| IcebergSinkError::permanent(&operation, e.to_string()))?;
        Ok((staged, entry))
    }
}
