//! Records that share a position (the outputs of one Kinesis record: the log events of a
//! CloudWatch Logs envelope, the records a transform makes from one input) are never cut apart:
//! not by a size cut, not by a least-recently-used cut, not by a new owner replaying an intent.
//! The property test in `exactly_once` runs such groups through owners, zombies and crashes.

use super::*;

fn lru_layout(max_active: usize) -> ObjectLayout {
    ObjectLayout {
        partition_limit: PartitionLimit {
            max_active,
            action: PartitionLimitAction::FlushLeastRecentlyUsed,
        },
        ..partitioned_layout()
    }
}

fn country(seq: u64, country: &str) -> BufferEvent {
    BufferEvent::Record(record(
        seq,
        &format!(r#"{{"country":"{country}","seq":{seq}}}"#),
        T1100,
    ))
}

#[test]
fn records_of_one_position_are_never_cut_apart_and_the_next_position_starts_a_new_object() {
    // The log events of one CloudWatch Logs envelope share the position of their record: an
    // object cut between them would let a second object start at the same position (the same
    // key) and a checkpoint fall inside the group.
    let mut b = size_cut_at_10_bytes(ResumeState::default());
    for event in ["aaaa", "bbbb", "cccc", "dddd"] {
        assert!(
            b.step(0, BufferEvent::Record(record(7, event, T1100)))
                .unwrap()
                .is_empty(),
            "no cut inside position 7"
        );
    }
    let actions = b
        .step(0, BufferEvent::Record(record(8, "e", T1100)))
        .unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::RecordProgress { horizon, .. }] if *horizon == pos(7)),
        "{actions:?}"
    );
    let out = writes(b.step(0, BufferEvent::ProgressRecorded).unwrap());
    assert_eq!(gunzip(&out[0].body), "aaaa\nbbbb\ncccc\ndddd\n");
    assert_eq!(out[0].record_count, 4);
}

#[test]
fn a_new_owner_resuming_at_an_intent_several_records_share_cuts_after_the_last_of_them() {
    let resume = ResumeState {
        checkpoint: Some(pos(1)),
        flush_intent: Some(pos(3)),
        horizon: None,
    };
    // The next position after the group ends it ...
    let mut b = buffers(layout(), 0, resume.clone());
    for (seq, data) in [(2, "two"), (3, "three-a"), (3, "three-b"), (3, "three-c")] {
        let out = writes(
            b.step(0, BufferEvent::Record(record(seq, data, T1100)))
                .unwrap(),
        );
        assert!(
            out.is_empty(),
            "no cut inside the group at 3: {:?}",
            out.len()
        );
    }
    let out = writes(
        b.step(0, BufferEvent::Record(record(4, "four", T1100)))
            .unwrap(),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(gunzip(&out[0].body), "two\nthree-a\nthree-b\nthree-c\n");
    // ... and so does the end of the batch (a tick, a memory flush or a drain).
    for end in [BufferEvent::Tick, BufferEvent::Flush, BufferEvent::Drain] {
        let mut b = buffers(layout(), 0, resume.clone());
        for (seq, data) in [(2, "two"), (3, "three-a"), (3, "three-b")] {
            b.step(0, BufferEvent::Record(record(seq, data, T1100)))
                .unwrap();
        }
        let out = writes(b.step(0, end.clone()).unwrap());
        assert_eq!(out.len(), 1, "{end:?}");
        assert_eq!(gunzip(&out[0].body), "two\nthree-a\nthree-b\n", "{end:?}");
        assert!(!b.replaying_intent(), "{end:?}");
    }
}

#[test]
fn a_least_recently_used_cut_never_cuts_a_buffer_holding_the_current_position() {
    let mut b = buffers(lru_layout(1), 60_000, ResumeState::default());
    // One Kinesis record at 7 whose outputs go to three partitions, back and forth.
    for c in ["DE", "FR", "DE", "IT"] {
        let actions = b.step(0, country(7, c)).unwrap();
        assert!(
            actions.is_empty(),
            "no cut inside position 7 ({c}): {actions:?}"
        );
    }
    assert_eq!(
        b.open_partitions(),
        3,
        "the limit is exceeded inside one position"
    );
    // The next position's new partition cuts back down to the limit, oldest first.
    let actions = b.step(0, country(8, "ES")).unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::RecordProgress { horizon, .. }] if *horizon == pos(7)),
        "{actions:?}"
    );
    let out = writes(b.step(0, BufferEvent::ProgressRecorded).unwrap());
    let cut: Vec<_> = out
        .iter()
        .map(|o| (o.key.split('/').next().unwrap(), gunzip(&o.body)))
        .collect();
    assert_eq!(
        cut,
        [
            ("country=FR", "{\"country\":\"FR\",\"seq\":7}\n".to_owned()),
            (
                "country=DE",
                "{\"country\":\"DE\",\"seq\":7}\n{\"country\":\"DE\",\"seq\":7}\n".to_owned()
            ),
            ("country=IT", "{\"country\":\"IT\",\"seq\":7}\n".to_owned()),
        ]
    );
    assert_eq!(b.open_partitions(), 1);
    let keys: BTreeSet<_> = out.iter().map(|o| o.key.clone()).collect();
    assert_eq!(keys.len(), 3, "every object has its own key");
}
