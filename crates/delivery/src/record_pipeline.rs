//! From a Kinesis record to buffer events: KPL deaggregation, Firehose sub-record splitting,
//! and skipping what a resumed shard already delivered. Pure: no I/O, no clock.

use kinesink_partitioning::error_codes::PROCESSING_FAILED_OUTPUT_TYPE as PROCESSING_FAILED;
use kinesink_record_deaggregation::{
    KinesisRecord, SubRecordFormat, UserRecord, deaggregate, may_be_aggregate, split_sub_records,
};
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
    resume_after: Option<SequencePosition>,
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
            resume_after,
        }
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
        if self.split.is_none() && !(self.kpl && may_be_aggregate(&record.data)) {
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
    }

    fn push_record(&mut self, user: UserRecord, out: &mut Vec<BufferEvent>) {
        if self.keep(&user.position) {
            out.push(BufferEvent::Record(user));
        }
    }
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
}
