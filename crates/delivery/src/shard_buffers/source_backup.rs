//! The source record backup (`destination.backup_prefix`, Firehose's `S3BackupMode`
//! `Enabled`): each record as read goes, besides what is made of it, into one backup buffer
//! of the shard. That buffer is cut by the same flush protocol as every other (size cuts,
//! shard-wide flushes at recorded intents), so backup objects are named and cut alike on every
//! replay and the backup holds each record exactly once.
//!
//! Backup objects hold the records byte for byte as read: framed and compressed like the data
//! objects when the format is `ndjson` or `raw`; newline-delimited and compressed like the
//! error output when it is Parquet. They are named like data objects with `-backup` after the
//! delivery name (`<name>-backup-<shard>-<first seq>-<first sub><ext>`), under the backup
//! prefix (evaluated with the oldest arrival time inside): no backup prefix, not even one equal
//! to the data prefix, can make a backup object take another object's key.

#[allow(clippy::wildcard_imports)]
use super::*;

impl ShardBuffers {
    /// Adds a record as read to the backup buffer (nothing without a backup prefix). A record
    /// whose arrival time the backup prefix cannot place goes to the error output
    /// (`processing-failed`) instead: nothing is lost.
    pub(super) fn add_source(
        &mut self,
        now_ms: u64,
        record: &UserRecord,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        let prefixes = Arc::clone(&self.layout.prefixes);
        let Some(backup) = prefixes.backup() else {
            return Ok(());
        };
        let empty = PartitionKeys::empty();
        let inputs = PrefixInputs {
            partition_keys: &empty,
            oldest_arrival_ms: record.approximate_arrival_ms,
            error_output_type: None,
            random_string_seed: b"",
        };
        self.prefix_scratch.clear();
        let refused = match backup.evaluate_into(&inputs, &mut self.prefix_scratch) {
            Ok(()) => match self.add_to(
                now_ms,
                PartitionId::Backup,
                &record.position,
                record.approximate_arrival_ms,
                &record.data,
                None,
                actions,
            )? {
                Ok(()) => return Ok(()),
                Err(failure) => (failure.error_code(), failure.message().to_owned()),
            },
            Err(e) => (e.error_code(), format!("backup prefix: {e}")),
        };
        let failed = FailedRecord {
            raw_data: record.data.to_vec(),
            partition_key: record.partition_key.clone(),
            position: record.position.clone(),
            approximate_arrival_ms: record.approximate_arrival_ms,
            error_output_type: error_codes::PROCESSING_FAILED_OUTPUT_TYPE.to_owned(),
            error_code: refused.0.to_owned(),
            error_message: refused.1,
        };
        self.add_failed(now_ms, &failed, actions)
    }

    /// The encoder of a backup object: the data objects' framing and compression for record
    /// formats, newline-delimited records compressed like the error output for Parquet.
    pub(super) fn backup_encoder(&self) -> ObjectEncoder {
        let (framing, codec) = match &self.layout.format {
            ObjectFormat::Records { framing, codec } => (*framing, *codec),
            ObjectFormat::Parquet(_) => (RecordFraming::NewlineDelimited, self.layout.error_codec),
        };
        ObjectEncoder::Records(Box::new(RecordEncoder::new(framing, codec)))
    }

    /// The file extension of backup objects (see [`Self::backup_encoder`]).
    pub(super) fn backup_extension(&self) -> String {
        match &self.layout.format {
            ObjectFormat::Records { .. } => self.layout.extension.clone(),
            ObjectFormat::Parquet(_) => self.layout.error_codec.file_extension().to_owned(),
        }
    }

    /// The evaluated backup prefix of an object whose oldest record arrived at
    /// `oldest_arrival_ms`.
    pub(super) fn backup_prefix(
        &self,
        oldest_arrival_ms: i64,
        seed: &str,
    ) -> Result<String, BufferError> {
        let backup = self
            .layout
            .prefixes
            .backup()
            .expect("backup buffers exist only with a backup prefix");
        keyless_prefix(backup, oldest_arrival_ms, None, seed).map_err(BufferError::BackupPrefix)
    }
}
