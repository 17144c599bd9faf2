//! Partition routing: which buffer a record goes to (its partition keys and prefix, or the error
//! output), the active-partition limit, and adding it to that buffer (a size cut first when it
//! would not fit).

#[allow(clippy::wildcard_imports)]
use super::*;

impl ShardBuffers {
    /// Partitions, checks the prefix and encodes one user record; whatever fails goes to the
    /// error output instead.
    pub(super) fn add_record(
        &mut self,
        now_ms: u64,
        record: &UserRecord,
        position: &SequencePosition,
        lambda_keys: Option<&std::collections::BTreeMap<String, String>>,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        // The record is parsed once onto the reusable tape (when keys are extracted or objects
        // are Parquet): keys whose values are strings or integers are read from the tape, and
        // Parquet converts the same tape. Anything the tape cannot answer (not JSON, null or
        // missing keys, queries that need jaq) goes through `extract_from_bytes`, which words
        // the failure; `extract_selected` guarantees the same keys as that path.
        let parse =
            self.layout.query.is_some() || matches!(self.layout.format, ObjectFormat::Parquet(_));
        let mut parser = std::mem::take(&mut self.record_parser);
        if let Some(router) = self.layout.table.clone() {
            let outcome = match parser.parse(&record.data) {
                Ok(parsed) => {
                    self.add_to_table(now_ms, record, position, &*router, &parsed, actions)
                }
                Err(cf) => {
                    let failed = failed_record(
                        record,
                        position,
                        FORMAT_CONVERSION_FAILED_OUTPUT_TYPE,
                        cf.error_code(),
                        cf.message().to_owned(),
                    );
                    self.add_failed(now_ms, &failed, actions)
                }
            };
            self.record_parser = parser;
            return outcome;
        }
        let parsed = if parse {
            parser.parse(&record.data).ok()
        } else {
            None
        };
        let keys = if self.layout.prefixes.data().keys_from_lambda() {
            // `!{partitionKeyFromLambda:KEY}`: the function's keys (a missing one fails the
            // prefix below, to the error output, like a key the query did not output).
            PartitionKeys::from_text_values(
                lambda_keys
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
        } else {
            self.partition_keys(record, parsed.as_ref())
        };
        let outcome = match keys {
            Ok(keys) => self.add_keyed(now_ms, record, position, keys, parsed.as_ref(), actions),
            Err(f) => self.add_failed(
                now_ms,
                &failed_record(
                    record,
                    position,
                    f.error_output_type(),
                    f.error_code(),
                    f.to_string(),
                ),
                actions,
            ),
        };
        self.record_parser = parser;
        outcome
    }

    /// The record's partition keys by the layout's query (none without one). A panic while
    /// partitioning (a bug; nothing here changes the buffers) fails this record only: it goes
    /// to the error output with the panic's message.
    pub(super) fn partition_keys(
        &self,
        record: &UserRecord,
        parsed: Option<&ParsedJsonRecord<'_>>,
    ) -> Result<PartitionKeys, kinesink_partitioning::PartitioningFailure> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &self.layout.query {
            None => Ok(PartitionKeys::empty()),
            Some(query) => parsed
                .and_then(|p| query.extract_selected(|paths| p.texts_at_paths(paths)))
                .unwrap_or_else(|| query.extract_from_bytes(&record.data)),
        }))
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(kinesink_partitioning::FailureReason::QueryFailed {
                message: format!("partitioning panicked on this record: {message}"),
            }
            .into())
        })
    }

    /// [`ShardBuffers::add_record`] once the record's partition keys are known.
    pub(super) fn add_keyed(
        &mut self,
        now_ms: u64,
        record: &UserRecord,
        position: &SequencePosition,
        keys: PartitionKeys,
        parsed: Option<&ParsedJsonRecord<'_>>,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        let fail = |output_type: &str, code: &str, message: String| {
            failed_record(record, position, output_type, code, message)
        };
        let id = PartitionId::Data(keys);
        let is_open = self.open.contains_key(&id);
        // Every record's prefix must evaluate with its own arrival time. An open partition's
        // keys were checked when it opened, so a template without a timestamp (whose outcome
        // depends on the keys alone) need not be evaluated again for each of its records.
        let data_prefix = self.layout.prefixes.data();
        if !is_open || data_prefix.reads_arrival_time() {
            self.prefix_scratch.clear();
            let PartitionId::Data(keys) = &id else {
                unreachable!("built as data above")
            };
            let inputs = PrefixInputs {
                partition_keys: keys,
                oldest_arrival_ms: record.approximate_arrival_ms,
                error_output_type: None,
                random_string_seed: b"",
            };
            if let Err(e) = data_prefix.evaluate_into(&inputs, &mut self.prefix_scratch) {
                let failed = fail(
                    error_codes::PROCESSING_FAILED_OUTPUT_TYPE,
                    e.error_code(),
                    e.to_string(),
                );
                return self.add_failed(now_ms, &failed, actions);
            }
        }
        if !is_open && !self.make_room(now_ms, &id, position, record, actions)? {
            return Ok(());
        }
        if let Err(cf) = self.add_to(
            now_ms,
            id,
            position,
            record.approximate_arrival_ms,
            &record.data,
            parsed,
            actions,
        )? {
            let failed = fail(
                FORMAT_CONVERSION_FAILED_OUTPUT_TYPE,
                cf.error_code(),
                cf.message().to_owned(),
            );
            return self.add_failed(now_ms, &failed, actions);
        }
        Ok(())
    }

    pub(super) fn add_failed(
        &mut self,
        now_ms: u64,
        failed: &FailedRecord,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        // Refuse the event (the shard stops, nothing is lost) if even the error prefix cannot be made.
        self.error_prefix(&failed.error_output_type, failed.approximate_arrival_ms, "")?;
        let line = error_record_json(&self.layout.shard_id, failed);
        let id = PartitionId::Error(failed.error_output_type.clone());
        let outcome = self.add_to(
            now_ms,
            id,
            &failed.position,
            failed.approximate_arrival_ms,
            &line,
            None,
            actions,
        )?;
        debug_assert!(
            outcome.is_ok(),
            "error-output encoders never refuse a record"
        );
        Ok(())
    }

    /// Applies the active-partition limit before partition `id` opens: `Ok(true)` when it may
    /// open (least recently used buffers cut first if so configured), `Ok(false)` when the
    /// record went to the error output as `activePartitionExceeded`.
    pub(super) fn make_room(
        &mut self,
        now_ms: u64,
        id: &PartitionId,
        position: &SequencePosition,
        record: &UserRecord,
        actions: &mut Vec<BufferAction>,
    ) -> Result<bool, BufferError> {
        debug_assert!(id.is_data() && !self.open.contains_key(id));
        let active = self.open.keys().filter(|k| k.is_data()).count();
        if active < self.layout.partition_limit.max_active {
            return Ok(true);
        }
        match self.layout.partition_limit.action {
            PartitionLimitAction::ErrorOutput => {
                let message = format!(
                    "the shard already has {active} active partitions (max_active_partitions = {})",
                    self.layout.partition_limit.max_active
                );
                let failed = failed_record(
                    record,
                    position,
                    ACTIVE_PARTITION_EXCEEDED,
                    "DynamicPartitioning.ActivePartitionsLimitExceeded",
                    message,
                );
                self.add_failed(now_ms, &failed, actions)?;
                Ok(false)
            }
            PartitionLimitAction::FlushLeastRecentlyUsed => {
                self.cut_least_recently_used(active, position, actions)?;
                Ok(true)
            }
        }
    }

    /// Makes room for one more partition under `max_active_partitions` by cutting the least
    /// recently used data buffers (`active` are open). A buffer holding a record at `position`
    /// is never cut: the records of one position stay together (a cut between them could later
    /// give two objects one key). So while one Kinesis record's outputs open more partitions
    /// than the limit, the limit is exceeded; the next record's first new partition cuts back
    /// down to it.
    fn cut_least_recently_used(
        &mut self,
        mut active: usize,
        position: &SequencePosition,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        while active >= self.layout.partition_limit.max_active {
            let Some(lru) = self
                .open
                .iter()
                .filter(|(k, b)| k.is_data() && b.last != *position)
                .min_by_key(|(_, b)| b.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let object = self.cut(&lru)?;
            self.emit_size_cut(object, actions);
            active -= 1;
        }
        Ok(())
    }

    pub(super) fn new_encoder(&self, id: &PartitionId) -> ObjectEncoder {
        match id {
            PartitionId::Data(_) => self.layout.format.new_encoder(),
            PartitionId::Table(partition) => partition
                .format()
                .unwrap_or(&self.layout.format)
                .new_encoder(),
            PartitionId::Error(_) => ObjectEncoder::Records(Box::new(RecordEncoder::new(
                RecordFraming::NewlineDelimited,
                self.layout.error_codec,
            ))),
            PartitionId::Backup => self.backup_encoder(),
        }
    }

    /// Appends to a partition's buffer, cutting it first (deterministically) when the record
    /// would take it past the size limit, except between records of one position (the records
    /// made from one user record: log events of one envelope, objects of one JSON split), which
    /// always share an object. `Ok(Err(_))`: the encoder refused the record.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_to(
        &mut self,
        now_ms: u64,
        id: PartitionId,
        position: &SequencePosition,
        arrival_ms: i64,
        data: &[u8],
        parsed: Option<&ParsedJsonRecord<'_>>,
        actions: &mut Vec<BufferAction>,
    ) -> Result<Result<(), kinesink_parquet_writer::ConversionFailure>, BufferError> {
        let record_size = data.len() + 1;
        // One map search in the common case (the partition is open and has room).
        match self.open.get_mut(&id) {
            Some(buffer)
                if buffer.encoder.input_bytes() + record_size <= self.limits.size_bytes
                    || buffer.last == *position =>
            {
                if let Err(cf) = buffer.encoder.append(data, parsed) {
                    return Ok(Err(cf));
                }
                buffer.oldest_arrival_ms = buffer.oldest_arrival_ms.min(arrival_ms);
                buffer.last = position.clone();
                buffer.last_used = self.next_use;
                self.next_use += 1;
            }

            found => {
                if found.is_some() {
                    let object = self.cut(&id)?;
                    self.emit_size_cut(object, actions);
                }
                let mut encoder = self.new_encoder(&id);
                if let Err(cf) = encoder.append(data, parsed) {
                    return Ok(Err(cf));
                }
                self.open.insert(
                    id,
                    OpenBuffer {
                        encoder,
                        last_used: self.next_use,
                        opened_at_ms: now_ms,
                        oldest_arrival_ms: arrival_ms,
                        first: position.clone(),
                        last: position.clone(),
                    },
                );
                self.next_use += 1;
            }
        }
        self.bound_unencoded_rows(record_size);
        Ok(Ok(()))
    }
}
