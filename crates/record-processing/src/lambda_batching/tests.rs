use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::lambda_event::MAX_INVOCATION_ID_BYTES;

fn envelope() -> LambdaEnvelope {
    LambdaEnvelope {
        delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/d".into(),
        source_kinesis_stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s".into(),
        region: "eu-west-1".into(),
        shard_id: "shardId-000000000001".into(),
    }
}

fn record(sequence: u64, sub: u64, len: usize) -> LambdaInputRecord {
    LambdaInputRecord {
        position: SequencePosition::new(sequence.to_string(), sub),
        data: Bytes::from(vec![b'x'; len]),
        partition_key: "pk".into(),
        approximate_arrival_ms: 1_000,
    }
}

/// The size of one request holding records of `len` bytes (ids `<seq>-0-0`, seq one digit).
fn one_record_request(len: usize) -> usize {
    let env = envelope();
    let r = record(1, 0, len);
    request_size(
        request_overhead(&env),
        encode_record(&env, &RecordId::new(&r.position, 0), &r).len(),
        1,
    )
}

fn batcher(buffer: usize, interval: u64, max_payload: usize) -> LambdaBatcher {
    LambdaBatcher::new(
        envelope(),
        LambdaBatchLimits {
            buffer_size_bytes: buffer,
            buffer_interval_ms: interval,
            max_payload_bytes: max_payload,
        },
        LambdaResume::default(),
    )
}

fn invoked(actions: &[BatchAction]) -> Vec<Vec<String>> {
    actions
        .iter()
        .filter_map(|a| match a {
            BatchAction::Invoke(b) => {
                Some(b.records.iter().map(|r| r.record_id.to_string()).collect())
            }
            _ => None,
        })
        .collect()
}

fn feed(
    b: &mut LambdaBatcher,
    now: u64,
    records: impl IntoIterator<Item = LambdaInputRecord>,
) -> Vec<BatchAction> {
    records
        .into_iter()
        .flat_map(|r| b.step(now, BatchEvent::Record(r)))
        .collect()
}

#[test]
fn batches_are_cut_by_request_size_and_their_size_is_exact() {
    let per = one_record_request(100);
    let overhead = request_overhead(&envelope());
    // Three records fit (overhead + 3 entries + 2 commas), four do not.
    let buffer = overhead + 3 * (per - overhead) + 2;
    let mut b = batcher(buffer, 60_000, MAX_INVOKE_PAYLOAD_BYTES);
    let mut actions = feed(&mut b, 0, (1..=7).map(|s| record(s, 0, 100)));
    actions.extend(b.step(0, BatchEvent::Flush));
    assert_eq!(
        invoked(&actions),
        vec![
            vec!["1-0-0", "2-0-0", "3-0-0"],
            vec!["4-0-0", "5-0-0", "6-0-0"],
            vec!["7-0-0"]
        ]
    );
    let BatchAction::Invoke(first) = &actions[0] else {
        panic!()
    };
    assert_eq!((first.cut, first.payload_bytes), (CutReason::Size, buffer));
    let longest = InvocationId::new("x".repeat(MAX_INVOCATION_ID_BYTES)).unwrap();
    assert_eq!(first.request(&longest).len(), buffer);
    let BatchAction::Invoke(last) = &actions[2] else {
        panic!()
    };
    assert_eq!(last.cut, CutReason::Flush);
    assert_eq!(b.buffered_records(), 0);
}

#[test]
fn records_sharing_a_position_are_kept_together_and_numbered() {
    let per = one_record_request(100);
    let mut b = batcher(per * 2, 60_000, MAX_INVOKE_PAYLOAD_BYTES);
    let mut actions = feed(
        &mut b,
        0,
        [
            record(1, 0, 100),
            record(2, 0, 100),
            record(2, 0, 100),
            record(2, 0, 100),
            record(3, 0, 100),
        ],
    );
    actions.extend(b.step(0, BatchEvent::Flush));
    // Position 2's three records would not fit after record 1, nor in the limit at all: they
    // start a batch of their own and stay together, over the size limit.
    assert_eq!(
        invoked(&actions),
        vec![
            vec!["1-0-0"],
            vec!["2-0-0", "2-0-1", "2-0-2"],
            vec!["3-0-0"]
        ]
    );
    let BatchAction::Invoke(group) = &actions[1] else {
        panic!()
    };
    assert!(group.payload_bytes > per * 2);
}

#[test]
fn a_group_larger_than_the_payload_limit_is_split_at_a_record_boundary() {
    let per = one_record_request(100);
    let max = per * 2; // two records of 100 bytes fit in one request, three do not
    let mut b = batcher(max, 60_000, max);
    let mut actions = feed(&mut b, 0, (0..5).map(|_| record(9, 0, 100)));
    actions.extend(b.step(0, BatchEvent::Flush));
    assert_eq!(
        invoked(&actions),
        vec![
            vec!["9-0-0", "9-0-1"],
            vec!["9-0-2", "9-0-3"],
            vec!["9-0-4"]
        ]
    );
    for a in &actions {
        let BatchAction::Invoke(batch) = a else {
            panic!()
        };
        assert!(batch.payload_bytes <= max);
    }
    let BatchAction::Invoke(first) = &actions[0] else {
        panic!()
    };
    assert_eq!(first.cut, CutReason::PayloadLimit);
}

#[test]
fn a_record_too_large_for_any_request_is_refused_in_its_place() {
    let max = one_record_request(1_000);
    let mut b = batcher(max, 60_000, max);
    let mut actions = feed(
        &mut b,
        0,
        [record(1, 0, 10), record(2, 0, 1_003), record(3, 0, 10)],
    );
    actions.extend(b.step(0, BatchEvent::Flush));
    assert_eq!(actions.len(), 3);
    let BatchAction::Invoke(before) = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (before.records.len(), before.cut),
        (1, CutReason::BeforeRefusedRecord)
    );
    let BatchAction::Refuse(refused) = &actions[1] else {
        panic!()
    };
    assert_eq!(refused.record.record_id.as_str(), "2-0-0");
    assert_eq!(
        refused.failure.error_code,
        "Lambda.RequestTooLargeException"
    );
    assert!(
        refused
            .failure
            .error_message
            .contains("Record 2-0-0 is 1003 bytes"),
        "{}",
        refused.failure.error_message
    );
    assert!(
        matches!(&actions[2], BatchAction::Invoke(b) if b.records[0].record_id.as_str() == "3-0-0")
    );
}

#[test]
fn a_time_cut_is_recorded_before_its_batch_is_invoked_and_later_batches_wait_for_it() {
    let per = one_record_request(100);
    let mut b = batcher(per, 1_000, MAX_INVOKE_PAYLOAD_BYTES);
    assert!(feed(&mut b, 0, [record(1, 0, 100)]).is_empty());
    assert!(
        b.step(999, BatchEvent::Tick).is_empty(),
        "not waited long enough"
    );
    assert_eq!(
        b.step(1_000, BatchEvent::Tick),
        vec![BatchAction::RecordCut(SequencePosition::new("1", 0))]
    );
    // Records keep coming; a size cut happens meanwhile and is withheld.
    assert!(feed(&mut b, 1_001, [record(2, 0, 100), record(3, 0, 100)]).is_empty());
    assert!(
        b.step(2_500, BatchEvent::Tick).is_empty(),
        "one time cut at a time"
    );
    assert_eq!(b.buffered_records(), 3);
    assert!(
        b.step(
            2_600,
            BatchEvent::CutRecorded(SequencePosition::new("7", 0))
        )
        .is_empty(),
        "not the cut asked for"
    );
    let actions = b.step(
        2_600,
        BatchEvent::CutRecorded(SequencePosition::new("1", 0)),
    );
    assert_eq!(invoked(&actions), vec![vec!["1-0-0"], vec!["2-0-0"]]);
    let BatchAction::Invoke(timed) = &actions[0] else {
        panic!()
    };
    assert_eq!(timed.cut, CutReason::Time);
    // The open batch (record 3) has waited since 1_001.
    assert_eq!(
        b.step(2_601, BatchEvent::Tick),
        vec![BatchAction::RecordCut(SequencePosition::new("3", 0))]
    );
}

#[test]
fn interval_zero_cuts_at_every_tick_with_records_and_empty_ticks_do_nothing() {
    let mut b = batcher(MAX_INVOKE_PAYLOAD_BYTES, 0, MAX_INVOKE_PAYLOAD_BYTES);
    assert!(b.step(0, BatchEvent::Tick).is_empty());
    assert!(b.step(0, BatchEvent::Flush).is_empty());
    feed(&mut b, 5, [record(1, 0, 1)]);
    assert_eq!(
        b.step(5, BatchEvent::Tick),
        vec![BatchAction::RecordCut(SequencePosition::new("1", 0))]
    );
}

#[test]
fn a_replay_reproduces_recorded_cuts_and_makes_none_of_its_own_before_them_or_the_horizon() {
    let env = envelope();
    let r = record(1, 0, 10);
    let entry = encode_record(&env, &RecordId::new(&r.position, 0), &r).len();
    let four = request_size(request_overhead(&env), 4 * entry, 4);
    let resume = LambdaResume {
        cuts: vec![SequencePosition::new("2", 0)],
        horizon: Some(SequencePosition::new("4", 0)),
    };
    let mut b = LambdaBatcher::new(env, LambdaBatchLimits::new(four, 0), resume);
    let mut actions = Vec::new();
    for s in 1..=5 {
        actions.extend(feed(&mut b, s, [record(s, 0, 10), record(s, 0, 10)]));
        actions.extend(b.step(s, BatchEvent::Tick));
    }
    // Cut after the last record of 2 (reproduced: no time cut while it lies ahead), none by
    // time while the open batch starts at or before the horizon 4 (it is cut by size when 5
    // comes), and a time cut again for the batch starting at 5.
    assert_eq!(
        invoked(&actions),
        vec![
            vec!["1-0-0", "1-0-1", "2-0-0", "2-0-1"],
            vec!["3-0-0", "3-0-1", "4-0-0", "4-0-1"]
        ]
    );
    let cuts: Vec<CutReason> = actions
        .iter()
        .filter_map(|a| {
            if let BatchAction::Invoke(b) = a {
                Some(b.cut)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(cuts, vec![CutReason::RecordedCut, CutReason::Size]);
    assert_eq!(
        actions.last(),
        Some(&BatchAction::RecordCut(SequencePosition::new("5", 1 - 1)))
    );
}

#[test]
fn a_recorded_cut_at_a_position_that_does_not_come_again_cuts_before_the_next_one() {
    let resume = LambdaResume {
        cuts: vec![SequencePosition::new("2", 5)],
        horizon: None,
    };
    let mut b = LambdaBatcher::new(
        envelope(),
        LambdaBatchLimits::new(MAX_INVOKE_PAYLOAD_BYTES, 60_000),
        resume,
    );
    let mut actions = feed(&mut b, 0, [record(1, 0, 1), record(3, 0, 1)]);
    actions.extend(b.step(0, BatchEvent::Flush));
    assert_eq!(invoked(&actions), vec![vec!["1-0-0"], vec!["3-0-0"]]);
}

/// A shard's records as groups of one position (`lens`), with the time passing after each.
#[derive(Debug, Clone)]
struct Shard {
    groups: Vec<(Vec<usize>, u64)>,
    buffer: usize,
    max_payload: usize,
    interval: u64,
}

fn any_shard() -> impl Strategy<Value = Shard> {
    let len = prop_oneof![8 => 0usize..200, 1 => 200usize..1_600];
    let group = (proptest::collection::vec(len, 1..5), 0u64..700);
    (
        proptest::collection::vec(group, 1..40),
        400usize..1_500,
        0usize..1_500,
        0u64..2_000,
    )
        .prop_map(|(groups, buffer, extra, interval)| Shard {
            groups,
            buffer,
            max_payload: buffer + extra,
            interval,
        })
}

fn records_of(shard: &Shard) -> Vec<LambdaInputRecord> {
    let mut out = Vec::new();
    for (g, (lens, _)) in shard.groups.iter().enumerate() {
        for &len in lens {
            out.push(record(100 + g as u64, 0, len));
        }
    }
    out
}

struct Run {
    actions: Vec<BatchAction>,
    recorded: Vec<SequencePosition>,
}

/// Runs the shard through a batcher, recording every cut at once; stops after `stop_after`
/// groups (a crash) or drains at the end. `tick_shift` moves every tick (another run's timing).
fn run(shard: &Shard, resume: LambdaResume, stop_after: usize, tick_shift: u64) -> Run {
    let limits = LambdaBatchLimits {
        buffer_size_bytes: shard.buffer,
        buffer_interval_ms: shard.interval,
        max_payload_bytes: shard.max_payload,
    };
    let mut b = LambdaBatcher::new(envelope(), limits, resume);
    let (mut actions, mut recorded, mut now) = (Vec::new(), Vec::new(), 0);
    let mut handle = |b: &mut LambdaBatcher,
                      now: u64,
                      step: Vec<BatchAction>,
                      actions: &mut Vec<BatchAction>| {
        for a in step {
            if let BatchAction::RecordCut(at) = &a {
                recorded.push(at.clone());
                let more = b.step(now, BatchEvent::CutRecorded(at.clone()));
                actions.push(a);
                actions.extend(more);
            } else {
                actions.push(a);
            }
        }
    };
    for (g, (lens, wait)) in shard.groups.iter().enumerate().take(stop_after) {
        for &len in lens {
            let step = b.step(now, BatchEvent::Record(record(100 + g as u64, 0, len)));
            handle(&mut b, now, step, &mut actions);
        }
        now += (wait + tick_shift * (g as u64 % 3)) % 2_000;
        let step = b.step(now, BatchEvent::Tick);
        handle(&mut b, now, step, &mut actions);
    }
    if stop_after >= shard.groups.len() {
        let step = b.step(now, BatchEvent::Flush);
        handle(&mut b, now, step, &mut actions);
        assert_eq!(b.buffered_records(), 0);
    }
    Run { actions, recorded }
}

fn batches(actions: &[BatchAction]) -> Vec<&LambdaBatch> {
    actions
        .iter()
        .filter_map(|a| {
            if let BatchAction::Invoke(b) = a {
                Some(b)
            } else {
                None
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_record_comes_out_once_in_order_within_the_limits(shard in any_shard()) {
        let records = records_of(&shard);
        let out = run(&shard, LambdaResume::default(), usize::MAX, 0);
        let mut seen = Vec::new();
        let mut batches_of: BTreeMap<SequencePosition, Vec<usize>> = BTreeMap::new();
        let overhead = request_overhead(&envelope());
        for (n, action) in out.actions.iter().enumerate() {
            match action {
                BatchAction::Invoke(batch) => {
                    prop_assert!(!batch.records.is_empty());
                    prop_assert!(batch.payload_bytes <= shard.max_payload);
                    let one_position = batch.records.iter().all(|r| r.record.position == batch.records[0].record.position);
                    prop_assert!(batch.payload_bytes <= shard.buffer || one_position, "over the buffer size with several positions");
                    prop_assert_eq!(batch.request(&InvocationId::new("x".repeat(MAX_INVOCATION_ID_BYTES)).unwrap()).len(), batch.payload_bytes);
                    for r in &batch.records {
                        seen.push(r.record.clone());
                        batches_of.entry(r.record.position.clone()).or_default().push(n);
                    }
                }
                BatchAction::Refuse(refused) => {
                    prop_assert!(request_size(overhead, encode_record(&envelope(), &refused.record.record_id, &refused.record.record).len(), 1) > shard.max_payload);
                    seen.push(refused.record.record.clone());
                    batches_of.entry(refused.record.record.position.clone()).or_default().push(n);
                }
                BatchAction::RecordCut(_) => {}
            }
        }
        prop_assert_eq!(&seen, &records);
        // A position's records share one batch unless together they exceed the payload limit or
        // one of them is refused.
        for (g, (lens, _)) in shard.groups.iter().enumerate() {
            let position = SequencePosition::new((100 + g as u64).to_string(), 0);
            let mut places = batches_of[&position].clone();
            places.dedup();
            if places.len() > 1 {
                let entries: usize = lens.iter().map(|&l| encode_record(&envelope(), &RecordId::new(&position, 0), &record(100 + g as u64, 0, l)).len()).sum();
                prop_assert!(request_size(overhead, entries, lens.len()) > shard.max_payload, "group {g} split");
            }
        }
    }

    #[test]
    fn a_replay_invokes_the_batches_the_first_run_invoked(shard in any_shard(), crash in 0usize..45, shift in 1u64..900) {
        let first = run(&shard, LambdaResume::default(), crash, 0);
        let invoked_first = batches(&first.actions);
        let resume = LambdaResume {
            cuts: first.recorded.clone(),
            horizon: invoked_first.last().map(|b| b.last().clone()),
        };
        let replay = run(&shard, resume, usize::MAX, shift);
        let invoked_replay = batches(&replay.actions);
        prop_assert!(invoked_replay.len() >= invoked_first.len());
        for (a, b) in invoked_first.iter().zip(&invoked_replay) {
            prop_assert_eq!(a.record_ids(), b.record_ids());
            let id = InvocationId::new("same").unwrap();
            prop_assert_eq!(a.request(&id), b.request(&id));
        }
        // Without the horizon, the batches up to the last recorded cut are still the same.
        if let Some(last_cut) = first.recorded.last() {
            let without = run(&shard, LambdaResume { cuts: first.recorded.clone(), horizon: None }, usize::MAX, shift);
            let covered: Vec<_> = invoked_first.iter().filter(|b| b.last() <= last_cut).collect();
            prop_assert!(!covered.is_empty());
            for (a, b) in covered.iter().zip(batches(&without.actions)) {
                prop_assert_eq!(a.record_ids(), b.record_ids());
            }
        }
        // The same timing gives the same actions, to the byte.
        prop_assert_eq!(&run(&shard, LambdaResume::default(), crash, 0).actions, &first.actions);
    }
}

#[test]
fn waiting_since_is_the_arrival_of_the_oldest_record_not_yet_in_an_emitted_batch() {
    // Room for exactly two records of 10 bytes: the third starts a new batch.
    let two = 2 * one_record_request(10) - request_overhead(&envelope()) + 1;
    let mut b = batcher(two, u64::MAX, MAX_INVOKE_PAYLOAD_BYTES);
    assert_eq!(b.waiting_since_ms(), None);
    b.step(100, BatchEvent::Record(record(1, 0, 10)));
    assert_eq!(b.waiting_since_ms(), Some(100));
    b.step(200, BatchEvent::Record(record(2, 0, 10)));
    let cut = b.step(300, BatchEvent::Record(record(3, 0, 10)));
    assert_eq!(
        cut,
        Vec::new(),
        "two records fit: the size cut comes with the next group"
    );
    let cut = b.step(400, BatchEvent::Record(record(4, 0, 10)));
    assert_eq!(invoked(&cut).len(), 1);
    assert_eq!(
        b.waiting_since_ms(),
        Some(300),
        "the batch after a size cut ages from its own first record"
    );
    let flushed = b.step(500, BatchEvent::Flush);
    assert_eq!(
        invoked(&flushed),
        vec![vec!["3-0-0".to_owned(), "4-0-0".to_owned()]]
    );
    assert_eq!(b.waiting_since_ms(), None);
}
