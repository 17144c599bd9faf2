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
        out.iter()
            .any(|e| matches!(e, BufferEvent::Failed(f) if f.error_message.contains("not JSON")))
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

#[test]
fn with_backup_each_record_as_read_goes_before_what_is_made_of_it_once_and_after_the_resume_point()
{
    use md5::Digest;
    let mut p = RecordPipeline::new(true, None, Some(SequencePosition::new("10", 0)))
        .with_processors(cloudwatch_logs())
        .with_backup(true);
    let mut out = Vec::new();
    let envelope = gzip(&envelope("DATA_MESSAGE", &["a", "b"]));
    p.process(kinesis("10", envelope.clone()), &mut out);
    assert!(out.is_empty(), "at the resume point: already backed up");
    p.process(kinesis("11", envelope.clone()), &mut out);
    let body = vec![0xFFu8, 0xFF, 0xFF];
    let mut corrupt = vec![0xF3, 0x89, 0x9A, 0xC2];
    corrupt.extend_from_slice(&body);
    corrupt.extend_from_slice(&md5::Md5::digest(&body));
    p.process(kinesis("12", corrupt.clone()), &mut out);
    p.process(kinesis("13", b"not gzip".to_vec()), &mut out);
    let shape: Vec<(&str, String, Vec<u8>)> = out
        .iter()
        .map(|e| match e {
            BufferEvent::Source(r) => ("source", r.position.to_string(), r.data.to_vec()),
            BufferEvent::Record(r) => ("record", r.position.to_string(), r.data.to_vec()),
            BufferEvent::Failed(f) => ("failed", f.position.to_string(), f.raw_data.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("source", "11/0".into(), envelope),
            ("record", "11/0".into(), b"a".to_vec()),
            ("record", "11/0".into(), b"b".to_vec()),
            ("source", "12/0".into(), corrupt.clone()),
            ("failed", "12/0".into(), corrupt),
            ("source", "13/0".into(), b"not gzip".to_vec()),
            ("failed", "13/0".into(), b"not gzip".to_vec()),
        ]
    );
}

#[test]
fn without_backup_no_record_as_read_is_sent() {
    let mut p = RecordPipeline::new(true, None, None).with_processors(cloudwatch_logs());
    let mut out = Vec::new();
    p.process(
        kinesis("11", gzip(&envelope("DATA_MESSAGE", &["a"]))),
        &mut out,
    );
    assert!(
        out.iter().all(|e| !matches!(e, BufferEvent::Source(_))),
        "{out:?}"
    );
    assert_eq!(records(&out).len(), 1);
}

#[test]
fn with_kpl_and_splitting_every_event_keeps_the_shards_order_backup_copies_and_failures_included() {
    // u0 splits into two records, u1 does not decompress, u2's only record is dropped by the
    // transform: its backup copy is the last event of the batch.
    let mut agg = Aggregator::new(AggregationLimits::default()).unwrap();
    for payload in [
        gzip(br#"{"a":1}{"a":2}"#),
        b"not gzip".to_vec(),
        gzip(br#"{"drop":true}"#),
    ] {
        assert!(agg.add("pk", None, &payload).unwrap().is_none());
    }
    let mut p = RecordPipeline::new(true, Some(SubRecordFormat::Json), None)
        .with_processors(Processors {
            decompression: kinesink_record_processing::Decompression::Gzip,
            cloudwatch_logs_message_extraction: false,
        })
        .with_transform(transform("select(.drop | not)"))
        .with_backup(true);
    let mut out = Vec::new();
    p.process(kinesis("60", agg.finish().unwrap().data), &mut out);
    let shape: Vec<(&str, u64)> = out
        .iter()
        .map(|e| match e {
            BufferEvent::Source(r) => ("source", r.position.sub_sequence_number),
            BufferEvent::Record(r) => ("record", r.position.sub_sequence_number),
            BufferEvent::Failed(f) => ("failed", f.position.sub_sequence_number),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("source", 0),
            ("record", 0),
            ("record", 1),
            ("source", 1000),
            ("failed", 1000),
            ("source", 2000),
        ]
    );
}
