//! Cutting an open buffer into a [`ReadyObject`]: where it goes (data or error prefix), its
//! deterministic key, and its encoded body.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::object_key::ObjectKey;

impl ShardBuffers {
    /// Cuts the open buffer `id` into an object: its prefix (from the oldest arrival time
    /// inside), its key (from its first record) and its encoded body, with a ticket to report
    /// it durable.
    pub(super) fn cut(&mut self, id: &PartitionId) -> Result<ReadyObject, BufferError> {
        let b = self
            .open
            .remove(id)
            .expect("cut is only called for open buffers");
        if self.open.is_empty() {
            // Every buffer is empty: a replay from here counts from zero too.
            self.appended_since_bound = 0;
        }
        let seed = format!(
            "{}/{}/{}",
            self.layout.shard_id, b.first.sequence_number, b.first.sub_sequence_number
        );
        let error_output_type = match id {
            PartitionId::Error(t) => Some(t.clone()),
            PartitionId::Data(_) | PartitionId::Table(_) | PartitionId::Backup => None,
        };
        let (prefix, extension, is_error_output) = match id {
            PartitionId::Data(keys) => {
                let inputs = PrefixInputs {
                    partition_keys: keys,
                    oldest_arrival_ms: b.oldest_arrival_ms,
                    error_output_type: None,
                    random_string_seed: seed.as_bytes(),
                };
                let prefix = match self.layout.prefixes.data().evaluate(&inputs) {
                    Ok(p) => p,
                    // Checked per record with its own arrival time; should the oldest record's time
                    // still fail, the object goes under the error prefix rather than nowhere.
                    Err(_) => self.error_prefix(
                        error_codes::PROCESSING_FAILED_OUTPUT_TYPE,
                        b.oldest_arrival_ms,
                        &seed,
                    )?,
                };
                (prefix, self.layout.extension.clone(), false)
            }
            PartitionId::Table(partition) => (
                partition.path().to_owned(),
                self.layout.extension.clone(),
                false,
            ),
            PartitionId::Error(output_type) => (
                self.error_prefix(output_type, b.oldest_arrival_ms, &seed)?,
                self.layout.error_codec.file_extension().to_owned(),
                true,
            ),
            PartitionId::Backup => (
                self.backup_prefix(b.oldest_arrival_ms, &seed)?,
                self.backup_extension(),
                false,
            ),
        };
        // Backup objects carry `-backup` after the name, so no prefix (equal to the data or the
        // error prefix, or evaluating alike) can give one the key of another object.
        let name = if *id == PartitionId::Backup {
            format!("{}-backup", self.layout.name)
        } else {
            self.layout.name.clone()
        };
        let key = ObjectKey { name, extension }.render(&prefix, &self.layout.shard_id, &b.first);
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.pending.insert(ticket);
        let record_count = b.encoder.record_count();
        let body = b.encoder.finish().map_err(|e| BufferError::Encode {
            key: key.clone(),
            message: e.to_string(),
        })?;
        Ok(ReadyObject {
            key,
            record_count,
            body,
            is_error_output,
            error_output_type,
            is_backup: *id == PartitionId::Backup,
            table_partition: match id {
                PartitionId::Table(partition) => Some(partition.clone()),
                _ => None,
            },
            first: b.first,
            last: b.last,
            oldest_arrival_ms: b.oldest_arrival_ms,
            ticket: FlushTicket(ticket),
        })
    }
}
