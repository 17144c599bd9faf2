//! From a Kinesis record to buffer events, in Firehose's order: KPL deaggregation,
//! decompression, CloudWatch Logs message extraction, sub-record splitting, the jq transform;
//! and skipping what a resumed shard already delivered. Pure: no I/O, no clock.
//!
//! Records made from one user record (the log events of one envelope, the objects of one JSON
//! split) keep its position; the buffers never cut an object between two records of one
//! position, so a checkpoint or an object's first record never falls inside such a group.

use std::sync::Arc;

use kinesink_partitioning::JqTransform;
use kinesink_partitioning::error_codes::PROCESSING_FAILED_OUTPUT_TYPE as PROCESSING_FAILED;
use kinesink_partitioning::error_codes::TRANSFORM_FAILED;
use kinesink_record_deaggregation::{
    KinesisRecord, SUB_RECORD_POSITIONS_PER_USER_RECORD, SubRecordFormat, UserRecord, deaggregate,
    may_be_aggregate, split_sub_records,
};
use kinesink_record_processing::cloudwatch_logs::{Envelope, extract_messages};
use kinesink_record_processing::error_codes::{
    CLOUDWATCH_LOGS_INVALID_ENVELOPE, DECOMPRESSION_FAILED, DECOMPRESSION_FAILED_OUTPUT_TYPE,
};
use kinesink_record_processing::{MAX_DECOMPRESSED_BYTES, Processors};
use kinesink_sequence_position::SequencePosition;

use crate::shard_buffers::{BufferEvent, FailedRecord};

/// Turns Kinesis records into [`BufferEvent`]s.
///
/// Guarantees: every user record whose position is after the resume point becomes exactly one
/// `Record` or `Failed` event, in shard order; nothing is dropped except records at or before
/// the resume point (already durable before a restart).
#[derive(Debug, Clone)]
pub struct RecordPipeline {
    kpl: bool,
    split: Option<SubRecordFormat>,
    processors: Processors,
    transform: Option<Arc<JqTransform>>,
    backup: bool,
    resume_after: Option<SequencePosition>,
    control_messages_dropped: u64,
    empty_data_messages: u64,
    transform_dropped: u64,
}

impl RecordPipeline {
    /// A pipeline with the configured unpacking (`kpl`: KPL deaggregation; `split`: Firehose
    /// sub-record splitting, none when `None`), skipping records at or before `resume_after`.
    #[must_use]
    pub fn new(
        kpl: bool,
        split: Option<SubRecordFormat>,
        resume_after: Option<SequencePosition>,
    ) -> Self {
        Self {
            kpl,
            split,
            processors: Processors::default(),
            transform: None,
            backup: false,
            resume_after,
            control_messages_dropped: 0,
            empty_data_messages: 0,
            transform_dropped: 0,
        }
    }

    /// The same pipeline running `processors` between KPL deaggregation and splitting. Not
    /// with sub-record splitting and CloudWatch Logs extraction together: splitting numbers
    /// sub-records from each record's own position, so the log events of one envelope would
    /// repeat positions (the configuration refuses the pair).
    #[must_use]
    pub fn with_processors(mut self, processors: Processors) -> Self {
        debug_assert!(
            !(processors.cloudwatch_logs_message_extraction && self.split.is_some()),
            "CloudWatch Logs extraction with sub-record splitting repeats positions"
        );
        self.processors = processors;
        self
    }

    /// The same pipeline running `transform` (`processing.transform`) on each record after
    /// splitting: each output becomes a record at the input's position; no output drops it.
    #[must_use]
    pub fn with_transform(mut self, transform: Option<Arc<JqTransform>>) -> Self {
        self.transform = transform;
        self
    }

    /// The same pipeline also sending each record as read (after KPL deaggregation, before any
    /// other step) as a [`BufferEvent::Source`], ahead of the events made from it, for the
    /// source record backup (`destination.backup_prefix`). An aggregate that cannot be unpacked
    /// is backed up as the Kinesis record it is.
    #[must_use]
    pub fn with_backup(mut self, backup: bool) -> Self {
        self.backup = backup;
        self
    }

    /// Whether any record processor runs (decompression, CloudWatch Logs extraction, the
    /// transform): what the processing metrics measure.
    #[must_use]
    pub fn runs_processors(&self) -> bool {
        !self.processors.is_off() || self.transform.is_some()
    }

    /// Records the transform dropped (no output) since the last call (for a metric).
    pub fn take_transform_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.transform_dropped)
    }

    /// CloudWatch Logs `CONTROL_MESSAGE` envelopes dropped since the last call (for a metric).
    pub fn take_control_messages_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.control_messages_dropped)
    }

    /// CloudWatch Logs `DATA_MESSAGE` envelopes without a log event since the last call (for a
    /// metric: such a record delivers nothing, and is counted rather than passed over).
    pub fn take_empty_data_messages(&mut self) -> u64 {
        std::mem::take(&mut self.empty_data_messages)
    }

    fn keep(&mut self, position: &SequencePosition) -> bool {
        match &self.resume_after {
            Some(after) if position <= after => false,
            Some(_) => {
                self.resume_after = None;
                true
            }
            None => true,
        }
    }

    /// Appends the events for one Kinesis record to `out`.
    pub fn process(&mut self, record: KinesisRecord, out: &mut Vec<BufferEvent>) {
        if self.split.is_none()
            && self.processors.is_off()
            && self.transform.is_none()
            && !self.backup
            && !(self.kpl && may_be_aggregate(&record.data))
        {
            // The common case, a plain record: one event, no intermediate list.
            self.push_record(UserRecord::from_plain(record), out);
            return;
        }
        let user_records = if self.kpl {
            match deaggregate(record) {
                Ok(records) => records,
                Err(failure) => {
                    let position = SequencePosition::new(failure.record.sequence_number.clone(), 0);
                    if self.keep(&position) {
                        if self.backup {
                            out.push(BufferEvent::Source(UserRecord::from_plain(
                                failure.record.clone(),
                            )));
                        }
                        out.push(BufferEvent::Failed(FailedRecord {
                            error_code: failure.error_code().to_owned(),
                            error_message: failure.reason(),
                            raw_data: failure.record.data,
                            partition_key: failure.record.partition_key,
                            position,
                            approximate_arrival_ms: failure.record.approximate_arrival_ms,
                            error_output_type: PROCESSING_FAILED.to_owned(),
                        }));
                    }
                    return;
                }
            }
        } else {
            vec![UserRecord::from_plain(record)]
        };
        for user in user_records {
            self.process_user_record(user, out);
        }
    }

    /// Decompression, then CloudWatch Logs message extraction, then splitting, of one user
    /// record (after KPL deaggregation).
    fn process_user_record(&mut self, user: UserRecord, out: &mut Vec<BufferEvent>) {
        // Events about the whole user record (its backup copy, a failure before splitting) go
        // where its first sub-record goes: with splitting, sub-records are numbered
        // `k * SUB_RECORD_POSITIONS_PER_USER_RECORD + j`, and user record k's own position would
        // fall behind the sub-records of the user records before it.
        if self.backup {
            let whole = self.whole_record_position(&user.position);
            if self.keep(&whole) {
                out.push(BufferEvent::Source(UserRecord {
                    position: whole,
                    ..user.clone()
                }));
            }
        }
        let user = match self
            .processors
            .decompression
            .apply(&user.data, MAX_DECOMPRESSED_BYTES)
        {
            Ok(None) => user,
            Ok(Some(bytes)) => UserRecord {
                data: bytes.into(),
                ..user
            },
            Err(e) => {
                let position = self.whole_record_position(&user.position);
                self.push_failed(
                    UserRecord { position, ..user },
                    DECOMPRESSION_FAILED,
                    e.to_string(),
                    DECOMPRESSION_FAILED_OUTPUT_TYPE,
                    out,
                );
                return;
            }
        };
        if !self.processors.cloudwatch_logs_message_extraction {
            self.split(user, out);
            return;
        }
        match extract_messages(&user.data) {
            Ok(Envelope::Control) => {
                if self.keep(&user.position) {
                    self.control_messages_dropped += 1;
                }
            }
            Ok(Envelope::Data(messages)) if messages.is_empty() => {
                if self.keep(&user.position) {
                    self.empty_data_messages += 1;
                }
            }
            Ok(Envelope::Data(messages)) => {
                for (message, user) in with_each_output(messages, user) {
                    self.split(
                        UserRecord {
                            data: message.into(),
                            ..user
                        },
                        out,
                    );
                }
            }
            Err(e) => {
                let position = self.whole_record_position(&user.position);
                self.push_failed(
                    UserRecord { position, ..user },
                    CLOUDWATCH_LOGS_INVALID_ENVELOPE,
                    e.to_string(),
                    PROCESSING_FAILED,
                    out,
                );
            }
        }
    }

    /// The position of events about a whole user record at `position` (see
    /// `process_user_record`): unchanged without splitting.
    fn whole_record_position(&self, position: &SequencePosition) -> SequencePosition {
        match self.split {
            Some(_) => SequencePosition::new(
                Arc::clone(&position.sequence_number),
                position
                    .sub_sequence_number
                    .saturating_mul(SUB_RECORD_POSITIONS_PER_USER_RECORD),
            ),
            None => position.clone(),
        }
    }

    fn push_failed(
        &mut self,
        user: UserRecord,
        error_code: &str,
        error_message: String,
        error_output_type: &str,
        out: &mut Vec<BufferEvent>,
    ) {
        if self.keep(&user.position) {
            out.push(BufferEvent::Failed(FailedRecord {
                error_code: error_code.to_owned(),
                error_message,
                raw_data: user.data.to_vec(),
                partition_key: user.partition_key,
                position: user.position,
                approximate_arrival_ms: user.approximate_arrival_ms,
                error_output_type: error_output_type.to_owned(),
            }));
        }
    }

    /// Firehose's sub-record splitting (when configured) of one record.
    fn split(&mut self, user: UserRecord, out: &mut Vec<BufferEvent>) {
        match &self.split {
            None => self.push_record(user, out),
            Some(format) => {
                let outcome = split_sub_records(user, format);
                for sub in outcome.sub_records {
                    self.push_record(sub, out);
                }
                for f in outcome.failures {
                    let position = f.record.position.clone();
                    if self.keep(&position) {
                        out.push(BufferEvent::Failed(FailedRecord {
                            error_code: f.error_code().to_owned(),
                            error_message: f.reason(),
                            raw_data: f.record.data.to_vec(),
                            partition_key: f.record.partition_key,
                            position,
                            approximate_arrival_ms: f.record.approximate_arrival_ms,
                            error_output_type: PROCESSING_FAILED.to_owned(),
                        }));
                    }
                }
            }
        }
    }

    /// One record after splitting: through the transform, if any, into the buffers.
    fn push_record(&mut self, user: UserRecord, out: &mut Vec<BufferEvent>) {
        if !self.keep(&user.position) {
            return;
        }
        let Some(transform) = &self.transform else {
            out.push(BufferEvent::Record(user));
            return;
        };
        match transform.run(&user.data) {
            Ok(outputs) if outputs.is_empty() => self.transform_dropped += 1,
            Ok(outputs) => {
                for (output, user) in with_each_output(outputs, user) {
                    out.push(BufferEvent::Record(UserRecord {
                        data: output.into(),
                        ..user
                    }));
                }
            }
            Err(e) => {
                self.push_failed(
                    user,
                    TRANSFORM_FAILED,
                    e.to_string(),
                    PROCESSING_FAILED,
                    out,
                );
            }
        }
    }
}

/// Pairs each output of one record with the record's fields: cloned for every output but the
/// last, which gets them moved (most records make one output: no copy of the partition key).
fn with_each_output<T>(
    outputs: Vec<T>,
    record: UserRecord,
) -> impl Iterator<Item = (T, UserRecord)> {
    let last = outputs.len().saturating_sub(1);
    let mut record = Some(record);
    outputs.into_iter().enumerate().map(move |(i, output)| {
        let fields = if i == last {
            record.take()
        } else {
            record.clone()
        };
        (output, fields.expect("taken only for the last output"))
    })
}

#[cfg(test)]
mod tests;
