use kinesink_record_processing::lambda_event::{
    MAX_INVOCATION_ID_BYTES, encode_record, request_overhead, request_size,
};
use kinesink_record_processing::lambda_record_id::RecordId;

use super::*;

fn envelope() -> LambdaEnvelope {
    LambdaEnvelope {
        delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/d".into(),
        source_kinesis_stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s".into(),
        region: "eu-west-1".into(),
        shard_id: "shardId-000000000001".into(),
    }
}

fn user(sequence: u64, sub: u64, text: &str) -> UserRecord {
    UserRecord {
        data: Bytes::from(text.to_owned()),
        partition_key: "pk".into(),
        explicit_hash_key: None,
        position: SequencePosition::new(sequence.to_string(), sub),
        approximate_arrival_ms: 1_000,
    }
}

fn failed(sequence: u64) -> BufferEvent {
    BufferEvent::Failed(FailedRecord {
        raw_data: b"bad".to_vec(),
        partition_key: "pk".into(),
        position: SequencePosition::new(sequence.to_string(), 0),
        approximate_arrival_ms: 1_000,
        error_output_type: PROCESSING_FAILED.into(),
        error_code: "Transform.Failed".into(),
        error_message: "x".into(),
    })
}

/// The size of a request holding one record of `text` at position (`sequence`, 0).
fn request_of(text: &str) -> usize {
    let env = envelope();
    let r = LambdaInputRecord {
        position: SequencePosition::new("1".to_string(), 0),
        data: Bytes::from(text.to_owned()),
        partition_key: "pk".into(),
        approximate_arrival_ms: 1_000,
    };
    request_size(
        request_overhead(&env),
        encode_record(&env, &RecordId::new(&r.position, 0), &r).len(),
        1,
    )
}

/// What the stage gives the buffers, as text: `R<seq>:<data>`, `F<seq>`, `P<seq>` (passed),
/// `T` (tick), `D` (drain); `I<n>` for an invocation of n records, `X<seq>` for a flush asked.
fn described(actions: &[StageAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            StageAction::Invoke(b) => format!("I{}", b.records.len()),
            StageAction::FlushAt(p) => format!("X{}", p.sequence_number),
            StageAction::Buffers(e) => match e {
                BufferEvent::LambdaRecord { record: r, .. } => format!(
                    "R{}:{}",
                    r.position.sequence_number,
                    String::from_utf8_lossy(&r.data)
                ),
                BufferEvent::Failed(f) => {
                    format!("F{}:{}", f.position.sequence_number, f.error_code)
                }
                BufferEvent::Passed(p) => format!("P{}", p.sequence_number),
                BufferEvent::Tick => "T".into(),
                BufferEvent::Drain => "D".into(),
                other => format!("{other:?}"),
            },
        })
        .collect()
}

fn ok(text: &str) -> RecordOutcome {
    RecordOutcome::Ok {
        data: text.as_bytes().to_vec(),
        partition_keys: None,
    }
}

#[test]
fn nothing_passes_a_record_waiting_for_its_batch_and_a_time_cut_is_asked_for_before_it_is_made() {
    let mut stage = LambdaStage::new(envelope(), 1 << 20, 1_000, None);
    assert!(
        described(&stage.step(0, StageEvent::Input(BufferEvent::Record(user(1, 0, "a")))))
            .is_empty()
    );
    assert!(
        described(&stage.step(0, StageEvent::Input(failed(2)))).is_empty(),
        "a failure after a waiting record waits with it"
    );
    assert!(
        described(&stage.step(0, StageEvent::Input(BufferEvent::Record(user(3, 0, "b")))))
            .is_empty()
    );
    assert_eq!(
        described(&stage.step(999, StageEvent::Tick)),
        ["T"],
        "not waited long enough"
    );
    assert_eq!(
        described(&stage.step(1_000, StageEvent::Tick)),
        ["X3", "T"],
        "the cut is asked for at the last position given, and not made yet"
    );
    assert_eq!(stage.held_events(), 3);
    assert_eq!(
        described(&stage.step(
            1_000,
            StageEvent::FlushRecorded(SequencePosition::new("3".to_string(), 0))
        )),
        ["I2"],
        "once recorded, the batch is invoked"
    );
    assert_eq!(
        described(&stage.step(1_000, StageEvent::Invoked(vec![ok("A"), ok("B")]))),
        ["R1:A", "F2:Transform.Failed", "R3:B", "P3"]
    );
    assert!(stage.is_empty());
}

#[test]
fn a_refused_flush_is_asked_for_again_at_the_next_tick_and_records_keep_being_batched() {
    let mut stage = LambdaStage::new(envelope(), 1 << 20, 0, None);
    stage.step(0, StageEvent::Input(BufferEvent::Record(user(1, 0, "a"))));
    assert_eq!(described(&stage.step(5, StageEvent::Tick)), ["X1", "T"]);
    assert!(described(&stage.step(5, StageEvent::FlushRefused)).is_empty());
    stage.step(6, StageEvent::Input(BufferEvent::Record(user(2, 0, "b"))));
    assert_eq!(described(&stage.step(7, StageEvent::Tick)), ["X2", "T"]);
}

#[test]
fn dropped_records_pass_their_position_and_failures_keep_the_bytes_sent() {
    let mut stage = LambdaStage::new(envelope(), 1 << 20, 0, None);
    stage.step(0, StageEvent::Input(BufferEvent::Record(user(1, 0, "a"))));
    stage.step(0, StageEvent::Input(BufferEvent::Record(user(2, 0, "b"))));
    stage.step(0, StageEvent::Tick);
    let invoked = stage.step(
        0,
        StageEvent::FlushRecorded(SequencePosition::new("2".to_string(), 0)),
    );
    assert_eq!(described(&invoked), ["I2"]);
    let failure = LambdaFailure {
        error_code: "Lambda.ProcessingFailedStatus".into(),
        error_message: "no".into(),
    };
    let given = stage.step(
        0,
        StageEvent::Invoked(vec![RecordOutcome::Dropped, RecordOutcome::Failed(failure)]),
    );
    assert_eq!(
        described(&given),
        ["F2:Lambda.ProcessingFailedStatus", "P2"]
    );
    let StageAction::Buffers(BufferEvent::Failed(f)) = &given[0] else {
        panic!("a failed record")
    };
    assert_eq!(
        f.raw_data, b"b",
        "the record's bytes as sent to the function"
    );
    assert_eq!(f.error_output_type, "processing-failed");
    assert_eq!(
        stage.take_counts(),
        LambdaCounts {
            ok_records: 0,
            ok_bytes: 0,
            dropped: 1,
            failed: 1
        }
    );
}

#[test]
fn records_of_one_position_split_by_the_payload_limit_are_released_only_together() {
    // Room for one record of this size per request: two records of one position make two
    // batches (the only case where a position spans batches).
    let one = request_of("aaaaaaaaaa");
    let limits = LambdaBatchLimits {
        buffer_size_bytes: one,
        buffer_interval_ms: u64::MAX,
        max_payload_bytes: one + MAX_INVOCATION_ID_BYTES,
    };
    let mut stage = LambdaStage::with_limits(envelope(), limits, u64::MAX, None);
    stage.step(
        0,
        StageEvent::Input(BufferEvent::Record(user(1, 0, "aaaaaaaaaa"))),
    );
    let second = stage.step(
        0,
        StageEvent::Input(BufferEvent::Record(user(1, 0, "bbbbbbbbbb"))),
    );
    assert_eq!(
        described(&second),
        ["I1"],
        "the first record's batch is cut at the payload limit"
    );
    assert!(
        described(&stage.step(0, StageEvent::Invoked(vec![ok("A")]))).is_empty(),
        "its answer waits: the position's other record is not answered yet"
    );
    let drained = stage.step(0, StageEvent::Drain);
    assert_eq!(described(&drained), ["X1"]);
    assert_eq!(
        described(&stage.step(
            0,
            StageEvent::FlushRecorded(SequencePosition::new("1".to_string(), 0))
        )),
        ["I1", "D"]
    );
    assert_eq!(
        described(&stage.step(0, StageEvent::Invoked(vec![ok("B")]))),
        ["R1:A", "R1:B", "P1"]
    );
}

#[test]
fn a_too_large_record_goes_to_the_error_output_in_its_place() {
    let one = request_of("aaaaaaaaaa");
    let limits = LambdaBatchLimits {
        buffer_size_bytes: one,
        buffer_interval_ms: u64::MAX,
        max_payload_bytes: one + MAX_INVOCATION_ID_BYTES,
    };
    let mut stage = LambdaStage::with_limits(envelope(), limits, u64::MAX, None);
    stage.step(
        0,
        StageEvent::Input(BufferEvent::Record(user(1, 0, "aaaaaaaaaa"))),
    );
    let big = "z".repeat(200);
    let actions = stage.step(0, StageEvent::Input(BufferEvent::Record(user(2, 0, &big))));
    assert_eq!(described(&actions), ["I1"]);
    assert_eq!(
        described(&stage.step(0, StageEvent::Invoked(vec![ok("A")]))),
        ["R1:A", "F2:Lambda.RequestTooLargeException", "P2"]
    );
}

#[test]
fn a_replay_cuts_its_batch_at_the_recorded_intent_without_asking_again() {
    let intent = SequencePosition::new("2".to_string(), 0);
    let mut stage = LambdaStage::new(envelope(), 1 << 20, u64::MAX, Some(intent));
    stage.step(0, StageEvent::Input(BufferEvent::Record(user(1, 0, "a"))));
    stage.step(0, StageEvent::Input(BufferEvent::Record(user(2, 0, "b"))));
    let third = stage.step(0, StageEvent::Input(BufferEvent::Record(user(3, 0, "c"))));
    assert_eq!(
        described(&third),
        ["I2"],
        "cut after the intent's position, as recorded"
    );
}

#[test]
fn the_bytes_of_records_waiting_for_the_function_are_held_until_their_answer_is_passed_on() {
    let mut stage = LambdaStage::new(envelope(), 1 << 20, 1_000, None);
    assert_eq!(stage.held_bytes(), 0);
    let big = "x".repeat(10_000);
    stage.step(0, StageEvent::Input(BufferEvent::Record(user(1, 0, &big))));
    stage.step(0, StageEvent::Input(failed(2)));
    // The record itself, the failure behind it, and the record's base64 entry in the open batch.
    let held = stage.held_bytes();
    assert!(
        held >= 10_000 + 3 + 13_336,
        "held {held}: the record, the failure and the request entry"
    );
    stage.step(1_000, StageEvent::Tick);
    stage.step(
        1_000,
        StageEvent::FlushRecorded(SequencePosition::new("2".to_string(), 0)),
    );
    // Invoked: the entry went with the batch; the record still waits for its answer.
    let waiting = stage.held_bytes();
    assert!((10_000..held).contains(&waiting), "waiting {waiting}");
    let passed = described(&stage.step(1_000, StageEvent::Invoked(vec![ok("A")])));
    assert_eq!(passed, ["R1:A", "F2:Transform.Failed", "P2"]);
    assert_eq!(stage.held_bytes(), 0, "nothing held once passed on");
}
