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
    KinesisRecord, SubRecordFormat, UserRecord, deaggregate, may_be_aggregate, split_sub_records,
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
                self.push_failed(
                    user,
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
            Err(e) => self.push_failed(
                user,
                CLOUDWATCH_LOGS_INVALID_ENVELOPE,
                e.to_string(),
                PROCESSING_FAILED,
                out,
            ),
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
mod tests {
    use super::*;
    use kinesink_record_deaggregation::{AggregationLimits, Aggregator};

    fn kinesis(seq: &str, data: Vec<u8>) -> KinesisRecord {
        KinesisRecord {
            data,
            partition_key: "pk".into(),
            sequence_number: seq.into(),
            approximate_arrival_ms: 1,
        }
    }

    fn aggregate(payloads: &[&str]) -> Vec<u8> {
        let mut agg = Aggregator::new(AggregationLimits::default()).unwrap();
        for p in payloads {
            assert!(agg.add("pk", None, p.as_bytes()).unwrap().is_none());
        }
        agg.finish().unwrap().data
    }

    fn records(events: &[BufferEvent]) -> Vec<(String, u64, String)> {
        events
            .iter()
            .filter_map(|e| match e {
                BufferEvent::Record(r) => Some((
                    r.position.sequence_number.to_string(),
                    r.position.sub_sequence_number,
                    String::from_utf8(r.data.to_vec()).unwrap(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn kpl_aggregates_become_one_event_per_user_record() {
        let mut p = RecordPipeline::new(true, None, None);
        let mut out = Vec::new();
        p.process(kinesis("10", aggregate(&["a", "b", "c"])), &mut out);
        p.process(kinesis("11", b"plain".to_vec()), &mut out);
        assert_eq!(
            records(&out),
            vec![
                ("10".into(), 0, "a".into()),
                ("10".into(), 1, "b".into()),
                ("10".into(), 2, "c".into()),
                ("11".into(), 0, "plain".into())
            ]
        );
    }

    #[test]
    fn a_restart_mid_aggregate_skips_exactly_the_user_records_already_checkpointed() {
        let mut p = RecordPipeline::new(true, None, Some(SequencePosition::new("10", 1)));
        let mut out = Vec::new();
        p.process(kinesis("10", aggregate(&["a", "b", "c"])), &mut out);
        p.process(kinesis("11", b"d".to_vec()), &mut out);
        assert_eq!(
            records(&out),
            vec![("10".into(), 2, "c".into()), ("11".into(), 0, "d".into())]
        );
    }

    #[test]
    fn an_aggregate_that_cannot_be_unpacked_goes_to_the_error_output_with_its_raw_bytes() {
        use md5::Digest;
        // Right magic and right MD5 around bytes that are not an AggregatedRecord protobuf.
        let body = vec![0xFFu8, 0xFF, 0xFF];
        let mut data = vec![0xF3, 0x89, 0x9A, 0xC2];
        data.extend_from_slice(&body);
        data.extend_from_slice(&md5::Md5::digest(&body));
        let mut p = RecordPipeline::new(true, None, None);
        let mut out = Vec::new();
        p.process(kinesis("12", data.clone()), &mut out);
        match out.as_slice() {
            [BufferEvent::Failed(f)] => {
                assert_eq!(f.raw_data, data);
                assert_eq!(f.error_code, "Deaggregation.Failed");
                assert_eq!(f.error_output_type, "processing-failed");
            }
            other => panic!("expected one failure, got {other:?}"),
        }
    }

    #[test]
    fn with_kpl_off_an_aggregate_is_delivered_as_one_opaque_record() {
        let data = aggregate(&["a", "b"]);
        let mut p = RecordPipeline::new(false, None, None);
        let mut out = Vec::new();
        p.process(kinesis("10", data.clone()), &mut out);
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], BufferEvent::Record(r) if r.data == data));
    }

    #[test]
    fn json_splitting_delivers_each_object_and_sends_garbage_to_the_error_output() {
        let mut p = RecordPipeline::new(false, Some(SubRecordFormat::Json), None);
        let mut out = Vec::new();
        p.process(kinesis("20", br#"{"a":1}{"a":2}"#.to_vec()), &mut out);
        p.process(kinesis("21", b"not json".to_vec()), &mut out);
        let recs = records(&out);
        assert_eq!(
            recs.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
            vec![r#"{"a":1}"#, r#"{"a":2}"#]
        );
        assert!(
            out.iter()
                .any(|e| matches!(e, BufferEvent::Failed(f) if f.raw_data == b"not json"))
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn envelope(kind: &str, messages: &[&str]) -> Vec<u8> {
        let events: Vec<serde_json::Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 1, "message": m}))
            .collect();
        serde_json::json!({"messageType": kind, "owner": "1", "logGroup": "g", "logStream": "s",
            "subscriptionFilters": ["f"], "logEvents": events})
        .to_string()
        .into_bytes()
    }

    fn cloudwatch_logs() -> Processors {
        Processors {
            decompression: kinesink_record_processing::Decompression::Gzip,
            cloudwatch_logs_message_extraction: true,
        }
    }

    fn failures(events: &[BufferEvent]) -> Vec<(&str, &str, &[u8])> {
        events
            .iter()
            .filter_map(|e| match e {
                BufferEvent::Failed(f) => Some((
                    f.error_output_type.as_str(),
                    f.error_code.as_str(),
                    f.raw_data.as_slice(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gzip_cloudwatch_logs_envelopes_become_one_record_per_log_event_at_their_records_position() {
        let mut p = RecordPipeline::new(true, None, None).with_processors(cloudwatch_logs());
        let mut out = Vec::new();
        p.process(
            kinesis("30", gzip(&envelope("DATA_MESSAGE", &["a", "b"]))),
            &mut out,
        );
        p.process(
            kinesis("31", gzip(&envelope("CONTROL_MESSAGE", &["health"]))),
            &mut out,
        );
        p.process(
            kinesis("32", gzip(&envelope("DATA_MESSAGE", &["c"]))),
            &mut out,
        );
        assert_eq!(
            records(&out),
            vec![
                ("30".into(), 0, "a".into()),
                ("30".into(), 0, "b".into()),
                ("32".into(), 0, "c".into())
            ]
        );
        assert_eq!(p.take_control_messages_dropped(), 1);
        assert_eq!(p.take_control_messages_dropped(), 0);
        assert_eq!(p.take_empty_data_messages(), 0);
    }

    #[test]
    fn a_data_message_without_log_events_delivers_nothing_and_is_counted() {
        let mut p = RecordPipeline::new(false, None, Some(SequencePosition::new("40", 0)))
            .with_processors(cloudwatch_logs());
        let mut out = Vec::new();
        for seq in ["40", "41", "42"] {
            p.process(kinesis(seq, gzip(&envelope("DATA_MESSAGE", &[]))), &mut out);
        }
        p.process(
            kinesis("43", gzip(&envelope("DATA_MESSAGE", &["d"]))),
            &mut out,
        );
        assert_eq!(records(&out), vec![("43".into(), 0, "d".into())]);
        assert_eq!(
            p.take_empty_data_messages(),
            2,
            "the two after the resume point, not the one at it"
        );
        assert_eq!(p.take_empty_data_messages(), 0);
    }

    #[test]
    fn undecodable_bytes_go_to_decompression_failed_with_their_compressed_bytes_and_bad_envelopes_to_processing_failed()
     {
        let mut p = RecordPipeline::new(false, None, None).with_processors(cloudwatch_logs());
        let mut out = Vec::new();
        p.process(kinesis("40", b"not gzip".to_vec()), &mut out);
        let not_an_envelope = gzip(b"{\"hello\":1}");
        p.process(kinesis("41", not_an_envelope), &mut out);
        assert_eq!(
            failures(&out),
            vec![
                (
                    "decompression-failed",
                    "Decompression.Failed",
                    &b"not gzip"[..]
                ),
                (
                    "processing-failed",
                    "CloudWatchLogs.InvalidEnvelope",
                    &b"{\"hello\":1}"[..]
                ),
            ]
        );
        assert!(records(&out).is_empty());
    }

    #[test]
    fn processors_run_on_each_user_record_after_kpl_deaggregation() {
        let mut agg = Aggregator::new(AggregationLimits::default()).unwrap();
        let first = gzip(&envelope("DATA_MESSAGE", &[r#"{"x":1}"#, r#"{"x":2}"#]));
        assert!(agg.add("pk", None, &first).unwrap().is_none());
        assert!(agg.add("pk", None, &gzip(b"{}")).unwrap().is_none());
        let third = gzip(&envelope("DATA_MESSAGE", &["z"]));
        assert!(agg.add("pk", None, &third).unwrap().is_none());
        let aggregate = agg.finish().unwrap().data;
        let mut p = RecordPipeline::new(true, None, None).with_processors(cloudwatch_logs());
        let mut out = Vec::new();
        p.process(kinesis("50", aggregate), &mut out);
        assert_eq!(
            records(&out),
            vec![
                ("50".into(), 0, r#"{"x":1}"#.into()),
                ("50".into(), 0, r#"{"x":2}"#.into()),
                ("50".into(), 2, "z".into())
            ]
        );
        // The second user record decompresses to `{}`, which is not an envelope.
        assert_eq!(
            failures(&out),
            vec![(
                "processing-failed",
                "CloudWatchLogs.InvalidEnvelope",
                &b"{}"[..]
            )]
        );
        assert!(
            matches!(&out[2], BufferEvent::Failed(f) if f.position == SequencePosition::new("50", 1))
        );
    }

    #[test]
    fn a_restart_skips_every_log_event_of_an_envelope_already_checkpointed() {
        let mut p = RecordPipeline::new(false, None, Some(SequencePosition::new("60", 0)))
            .with_processors(cloudwatch_logs());
        let mut out = Vec::new();
        p.process(
            kinesis("60", gzip(&envelope("DATA_MESSAGE", &["a", "b"]))),
            &mut out,
        );
        p.process(
            kinesis("61", gzip(&envelope("CONTROL_MESSAGE", &[]))),
            &mut out,
        );
        p.process(
            kinesis("62", gzip(&envelope("DATA_MESSAGE", &["c", "d"]))),
            &mut out,
        );
        assert_eq!(
            records(&out),
            vec![("62".into(), 0, "c".into()), ("62".into(), 0, "d".into())]
        );
        assert_eq!(p.take_control_messages_dropped(), 1);
    }

    fn transform(program: &str) -> Option<Arc<JqTransform>> {
        Some(Arc::new(JqTransform::compile(program).unwrap()))
    }

    #[test]
    fn the_transform_makes_zero_one_or_many_records_at_the_inputs_position_and_errors_go_to_processing_failed()
     {
        let mut p = RecordPipeline::new(false, None, None)
            .with_transform(transform(r#"select(.keep) | .items[] | {sku: .}"#));
        let mut out = Vec::new();
        p.process(
            kinesis("70", br#"{"keep":true,"items":["a","b"]}"#.to_vec()),
            &mut out,
        );
        p.process(
            kinesis("71", br#"{"keep":false,"items":["c"]}"#.to_vec()),
            &mut out,
        );
        p.process(
            kinesis("72", br#"{"keep":true,"items":["d"]}"#.to_vec()),
            &mut out,
        );
        p.process(kinesis("73", b"not json".to_vec()), &mut out);
        p.process(
            kinesis("74", br#"{"keep":true,"items":5}"#.to_vec()),
            &mut out,
        );
        assert_eq!(
            records(&out),
            vec![
                ("70".into(), 0, r#"{"sku":"a"}"#.into()),
                ("70".into(), 0, r#"{"sku":"b"}"#.into()),
                ("72".into(), 0, r#"{"sku":"d"}"#.into())
            ]
        );
        let failed = failures(&out);
        assert_eq!(failed.len(), 2);
        assert_eq!(
            failed[0],
            ("processing-failed", "Transform.Failed", &b"not json"[..])
        );
        assert_eq!(failed[1].2, br#"{"keep":true,"items":5}"#);
        assert!(
            out.iter().any(
                |e| matches!(e, BufferEvent::Failed(f) if f.error_message.contains("not JSON"))
            )
        );
        assert_eq!(p.take_transform_dropped(), 1);
    }

    #[test]
    fn the_transform_runs_after_splitting_on_each_sub_record() {
        let mut p = RecordPipeline::new(false, Some(SubRecordFormat::Json), None)
            .with_transform(transform("{n: (.a * 10)}"));
        let mut out = Vec::new();
        p.process(kinesis("80", br#"{"a":1}{"a":2}"#.to_vec()), &mut out);
        assert_eq!(
            records(&out),
            vec![
                ("80".into(), 0, r#"{"n":10}"#.into()),
                ("80".into(), 1, r#"{"n":20}"#.into())
            ]
        );
    }
}
