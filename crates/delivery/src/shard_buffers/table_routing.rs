//! Table routing: a table destination's record goes to the table its routing keys name (the
//! partition query's `destinationDatabaseName` / `destinationTableName`, Firehose's keys for
//! Iceberg), to that table's partition, and to the buffer of both; a record that cannot go to
//! its table goes to the error output.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::table_partition::{
    DESTINATION_DATABASE_KEY, DESTINATION_TABLE_KEY, RouteError, TableRouter,
};

impl ShardBuffers {
    /// [`ShardBuffers::add_record`] for a table destination: the record's table, its partition
    /// in the table, then its buffer (refusals of any go to the error output).
    pub(super) fn add_to_table(
        &mut self,
        now_ms: u64,
        record: &UserRecord,
        position: &SequencePosition,
        router: &dyn TableRouter,
        parsed: &ParsedJsonRecord<'_>,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        let fail = |output_type: &str, code: &str, message: String| {
            failed_record(record, position, output_type, code, message)
        };
        let keys = match self.partition_keys(record, Some(parsed)) {
            Ok(keys) => keys,
            Err(f) => {
                let failed = fail(f.error_output_type(), f.error_code(), f.to_string());
                return self.add_failed(now_ms, &failed, actions);
            }
        };
        let routed = match router.route(
            keys.get(DESTINATION_DATABASE_KEY),
            keys.get(DESTINATION_TABLE_KEY),
        ) {
            Ok(routed) => routed,
            Err(RouteError::Record(f)) => {
                let failed = fail(&f.error_output_type, &f.error_code, f.message);
                return self.add_failed(now_ms, &failed, actions);
            }
            Err(RouteError::Unavailable(message)) => {
                return Err(BufferError::TableUnavailable(message));
            }
        };
        let partition = match routed.partitioner.partition_of(parsed) {
            Ok(partition) => partition.placed_in(&routed),
            Err(f) => {
                let failed = fail(&f.error_output_type, &f.error_code, f.message);
                return self.add_failed(now_ms, &failed, actions);
            }
        };
        let id = PartitionId::Table(partition);
        if !self.open.contains_key(&id)
            && !self.make_room(now_ms, &id, position, record, actions)?
        {
            return Ok(());
        }
        let added = self.add_to(
            now_ms,
            id,
            position,
            record.approximate_arrival_ms,
            &record.data,
            Some(parsed),
            actions,
        )?;
        if let Err(cf) = added {
            let failed = fail(
                FORMAT_CONVERSION_FAILED_OUTPUT_TYPE,
                cf.error_code(),
                cf.message().to_owned(),
            );
            return self.add_failed(now_ms, &failed, actions);
        }
        Ok(())
    }
}
