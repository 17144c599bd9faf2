use super::*;

const INTERVAL: u64 = 60_000;
const S1: &str = "shardId-000000000001";
const S2: &str = "shardId-000000000002";
/// Sequence numbers beyond u128, as Kinesis writes them.
const SEQ: &str = "4959033827149025660855969253836157109592157598913658";

fn pos(n: u64) -> SequencePosition {
    SequencePosition::new(format!("{SEQ}{n:04}"), 0)
}

fn file(shard: &str, first: u64, last: u64) -> StagedFile {
    StagedFile {
        key: format!("s-{shard}-{SEQ}{first:04}-0"),
        shard_id: shard.into(),
        first: pos(first),
        last: pos(last),
        records: last - first + 1,
        bytes: 100,
    }
}

fn taken(shard: &str, committed: Option<u64>) -> CommitEvent {
    CommitEvent::ShardTaken {
        shard: shard.into(),
        committed: committed.map(pos),
    }
}

fn durable(shard: &str, up_to: u64, files: Vec<StagedFile>) -> CommitEvent {
    CommitEvent::FilesDurable {
        shard: shard.into(),
        up_to: pos(up_to),
        files,
    }
}

fn ack(shard: &str, up_to: u64) -> CommitAction {
    CommitAction::Ack {
        shard: shard.into(),
        up_to: pos(up_to),
    }
}

fn commit(
    files: Vec<StagedFile>,
    summary: &[(&str, u64)],
    expect: &[(&str, Option<u64>)],
) -> CommitAction {
    CommitAction::Commit {
        files,
        summary: summary
            .iter()
            .map(|(s, p)| ((*s).into(), pos(*p)))
            .collect(),
        expect: expect
            .iter()
            .map(|(s, p)| ((*s).into(), p.map(pos)))
            .collect(),
    }
}

fn positions(p: &[(&str, u64)]) -> ShardPositions {
    p.iter().map(|(s, n)| ((*s).into(), pos(*n))).collect()
}

/// A protocol holding S1 (committed at 10) and S2 (nothing committed yet).
fn two_shards() -> CommitProtocol {
    let mut p = CommitProtocol::new(INTERVAL);
    assert!(p.step(0, taken(S1, Some(10))).is_empty());
    assert!(p.step(0, taken(S2, None)).is_empty());
    p
}

#[test]
fn one_commit_covers_every_shard_and_acks_follow_its_confirmation() {
    let mut p = two_shards();
    assert!(
        p.step(1, durable(S1, 20, vec![file(S1, 11, 18), file(S1, 12, 20)]))
            .is_empty()
    );
    assert!(p.step(2, durable(S2, 5, vec![file(S2, 1, 5)])).is_empty());
    assert_eq!(
        p.step(3, CommitEvent::Tick),
        vec![commit(
            vec![file(S1, 11, 18), file(S1, 12, 20), file(S2, 1, 5)],
            &[(S1, 20), (S2, 5)],
            &[(S1, Some(10)), (S2, None)],
        )]
    );
    assert!(p.is_committing());
    assert_eq!(
        p.step(4, CommitEvent::Committed),
        vec![ack(S1, 20), ack(S2, 5)]
    );
    assert!(!p.is_committing());
    assert_eq!(p.committed_position(S1), Some(&pos(20)));
    assert_eq!(p.committed_position(S2), Some(&pos(5)));
}

#[test]
fn ticks_commit_at_most_once_per_interval() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    assert_eq!(p.step(1_000, CommitEvent::Tick).len(), 1);
    p.step(2_000, CommitEvent::Committed);
    p.step(3_000, durable(S1, 30, vec![file(S1, 21, 30)]));
    assert!(
        p.step(60_999, CommitEvent::Tick).is_empty(),
        "interval not over"
    );
    assert_eq!(
        p.step(61_000, CommitEvent::Tick),
        vec![commit(
            vec![file(S1, 21, 30)],
            &[(S1, 30)],
            &[(S1, Some(20))]
        )]
    );
}

#[test]
fn a_tick_with_nothing_pending_does_not_use_up_the_interval() {
    let mut p = two_shards();
    assert!(p.step(1_000, CommitEvent::Tick).is_empty());
    p.step(2_000, durable(S1, 20, vec![]));
    assert_eq!(p.step(3_000, CommitEvent::Tick).len(), 1);
}

#[test]
fn flush_points_arriving_during_a_commit_wait_for_the_next_one() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, CommitEvent::Tick);
    assert!(
        p.step(1, durable(S1, 30, vec![file(S1, 21, 30)]))
            .is_empty()
    );
    assert!(
        p.step(INTERVAL * 2, CommitEvent::Tick).is_empty(),
        "one commit in flight"
    );
    assert_eq!(
        p.step(INTERVAL * 2, CommitEvent::Committed),
        vec![ack(S1, 20)]
    );
    assert_eq!(
        p.step(INTERVAL * 2, CommitEvent::Tick),
        vec![commit(
            vec![file(S1, 21, 30)],
            &[(S1, 30)],
            &[(S1, Some(20))]
        )]
    );
}

#[test]
fn a_flush_point_without_files_moves_the_position_by_a_summary_only_commit() {
    let mut p = two_shards();
    p.step(0, durable(S2, 7, vec![]));
    assert_eq!(
        p.step(0, CommitEvent::Tick),
        vec![commit(vec![], &[(S2, 7)], &[(S2, None)])]
    );
    assert_eq!(p.step(1, CommitEvent::Committed), vec![ack(S2, 7)]);
}

#[test]
fn several_flush_points_go_into_one_commit_at_the_last_one_and_are_acked_in_order() {
    let mut p = two_shards();
    p.step(0, durable(S1, 15, vec![file(S1, 11, 15)]));
    p.step(0, durable(S1, 18, vec![]));
    p.step(0, durable(S1, 25, vec![file(S1, 19, 25)]));
    assert_eq!(
        p.step(0, CommitEvent::Tick),
        vec![commit(
            vec![file(S1, 11, 15), file(S1, 19, 25)],
            &[(S1, 25)],
            &[(S1, Some(10))]
        )]
    );
    assert_eq!(
        p.step(0, CommitEvent::Committed),
        vec![ack(S1, 15), ack(S1, 18), ack(S1, 25)]
    );
}

#[test]
fn a_conflict_reloads_and_retries_at_once_with_what_came_since() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, CommitEvent::Tick);
    assert_eq!(
        p.step(1, CommitEvent::Conflict),
        vec![CommitAction::LoadTable]
    );
    p.step(2, durable(S1, 30, vec![file(S1, 21, 30)]));
    // Another worker committed its own shard meanwhile: ours did not move.
    let loaded = positions(&[(S1, 10), ("shardId-000000000009", 99)]);
    assert_eq!(
        p.step(3, CommitEvent::TableLoaded { positions: loaded }),
        vec![commit(
            vec![file(S1, 11, 20), file(S1, 21, 30)],
            &[(S1, 30)],
            &[(S1, Some(10))]
        )]
    );
    assert_eq!(
        p.step(4, CommitEvent::Committed),
        vec![ack(S1, 20), ack(S1, 30)]
    );
}

#[test]
fn a_lost_response_of_an_applied_commit_is_found_in_the_table_and_acked_without_a_second_commit() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, durable(S2, 5, vec![file(S2, 1, 5)]));
    p.step(0, CommitEvent::Tick);
    assert_eq!(
        p.step(1, CommitEvent::CommitOutcomeUnknown),
        vec![CommitAction::LoadTable]
    );
    let loaded = positions(&[(S1, 20), (S2, 5)]);
    assert_eq!(
        p.step(2, CommitEvent::TableLoaded { positions: loaded }),
        vec![
            CommitAction::Drop {
                file: file(S1, 11, 20)
            },
            ack(S1, 20),
            CommitAction::Drop {
                file: file(S2, 1, 5)
            },
            ack(S2, 5),
        ]
    );
    assert!(!p.is_committing());
}

#[test]
fn a_lost_response_of_a_commit_that_did_not_apply_commits_again() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    let first = p.step(0, CommitEvent::Tick);
    p.step(1, CommitEvent::CommitOutcomeUnknown);
    let loaded = positions(&[(S1, 10)]);
    assert_eq!(
        p.step(2, CommitEvent::TableLoaded { positions: loaded }),
        first
    );
}

#[test]
fn fenced_by_a_position_past_the_flush_point_drops_the_files_and_acks() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 15), file(S1, 12, 20)]));
    p.step(0, CommitEvent::Tick);
    assert_eq!(
        p.step(
            1,
            CommitEvent::Fenced {
                positions: positions(&[(S1, 40)])
            }
        ),
        vec![
            CommitAction::Drop {
                file: file(S1, 11, 15)
            },
            CommitAction::Drop {
                file: file(S1, 12, 20)
            },
            ack(S1, 20),
        ]
    );
    assert_eq!(p.committed_position(S1), Some(&pos(40)));
    // Later flush points already in the table are acked without a commit too.
    assert_eq!(
        p.step(2, durable(S1, 40, vec![file(S1, 21, 40)])),
        vec![
            CommitAction::Drop {
                file: file(S1, 21, 40)
            },
            ack(S1, 40)
        ]
    );
    assert!(p.step(INTERVAL * 5, CommitEvent::Tick).is_empty());
}

#[test]
fn fenced_partway_drops_the_files_at_or_below_the_position_and_commits_the_rest_against_it() {
    let mut p = two_shards();
    p.step(0, durable(S1, 15, vec![file(S1, 11, 15)]));
    p.step(0, durable(S1, 30, vec![file(S1, 16, 22), file(S1, 23, 30)]));
    p.step(0, durable(S2, 5, vec![file(S2, 1, 5)]));
    p.step(0, CommitEvent::Tick);
    let fenced = positions(&[(S1, 22)]);
    assert_eq!(
        p.step(1, CommitEvent::Fenced { positions: fenced }),
        vec![
            CommitAction::Drop {
                file: file(S1, 11, 15)
            },
            ack(S1, 15),
            CommitAction::Drop {
                file: file(S1, 16, 22)
            },
            commit(
                vec![file(S1, 23, 30), file(S2, 1, 5)],
                &[(S1, 30), (S2, 5)],
                &[(S1, Some(22)), (S2, None)]
            ),
        ]
    );
    assert_eq!(
        p.step(2, CommitEvent::Committed),
        vec![ack(S1, 30), ack(S2, 5)]
    );
}

#[test]
fn a_file_across_the_table_position_is_never_committed_and_stops_its_shard_only() {
    let mut p = two_shards();
    p.step(0, durable(S1, 30, vec![file(S1, 11, 30)]));
    p.step(0, durable(S2, 5, vec![file(S2, 1, 5)]));
    p.step(0, CommitEvent::Tick);
    let actions = p.step(
        1,
        CommitEvent::Fenced {
            positions: positions(&[(S1, 20)]),
        },
    );
    assert_eq!(
        actions,
        vec![
            CommitAction::StopShard {
                shard: S1.into(),
                reason: StopReason::StraddlesCommittedPosition {
                    key: file(S1, 11, 30).key,
                    first: pos(11),
                    last: pos(30),
                    committed: pos(20),
                },
            },
            commit(vec![file(S2, 1, 5)], &[(S2, 5)], &[(S2, None)]),
        ]
    );
    if let CommitAction::StopShard { reason, .. } = &actions[0] {
        let text = reason.to_string();
        assert!(
            text.contains("twice") && text.contains("cut points"),
            "{text}"
        );
    }
    // The stopped shard is forgotten: its later files are refused.
    assert_eq!(
        p.step(2, durable(S1, 40, vec![])),
        vec![CommitAction::StopShard {
            shard: S1.into(),
            reason: StopReason::NotHeld
        }]
    );
}

#[test]
fn a_flush_point_the_table_already_holds_at_take_is_acked_without_a_commit() {
    let mut p = CommitProtocol::new(INTERVAL);
    p.step(0, taken(S1, Some(50)));
    assert_eq!(
        p.step(0, durable(S1, 50, vec![file(S1, 41, 50)])),
        vec![
            CommitAction::Drop {
                file: file(S1, 41, 50)
            },
            ack(S1, 50)
        ]
    );
    assert!(p.step(0, CommitEvent::Tick).is_empty());
}

#[test]
fn a_table_position_that_went_back_stops_the_shard() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, CommitEvent::Tick);
    p.step(1, CommitEvent::Conflict);
    let actions = p.step(
        2,
        CommitEvent::TableLoaded {
            positions: ShardPositions::new(),
        },
    );
    assert_eq!(
        actions,
        vec![CommitAction::StopShard {
            shard: S1.into(),
            reason: StopReason::PositionWentBack {
                expected: Some(pos(10)),
                found: None
            },
        }]
    );
}

#[test]
fn a_shard_released_during_a_commit_is_not_acked() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, durable(S2, 5, vec![]));
    p.step(0, CommitEvent::Tick);
    assert!(
        p.step(1, CommitEvent::ShardReleased { shard: S1.into() })
            .is_empty()
    );
    assert_eq!(p.step(2, CommitEvent::Committed), vec![ack(S2, 5)]);
}

#[test]
fn a_shard_taken_again_during_a_commit_starts_afresh() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, CommitEvent::Tick);
    p.step(1, CommitEvent::ShardReleased { shard: S1.into() });
    p.step(1, taken(S1, Some(10)));
    assert!(p.step(2, CommitEvent::Committed).is_empty());
    assert_eq!(p.committed_position(S1), Some(&pos(10)));
}

#[test]
fn flush_points_out_of_order_or_with_foreign_files_are_refused() {
    let refused = |p: &mut CommitProtocol, event| match p.step(0, event).as_slice() {
        [
            CommitAction::StopShard {
                reason: StopReason::InvalidFlushPoint { detail, .. },
                ..
            },
        ] => detail.clone(),
        other => panic!("not refused: {other:?}"),
    };
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![]));
    assert!(refused(&mut p, durable(S1, 20, vec![])).contains("previous flush point"));
    let mut p = two_shards();
    assert!(refused(&mut p, durable(S1, 20, vec![file(S2, 11, 20)])).contains("of shard"));
    let mut p = two_shards();
    assert!(refused(&mut p, durable(S1, 20, vec![file(S1, 11, 21)])).contains("not within"));
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![]));
    assert!(refused(&mut p, durable(S1, 30, vec![file(S1, 20, 30)])).contains("starts at"));
}

#[test]
fn files_of_a_shard_not_held_or_unusable_shard_ids_stop_the_shard() {
    let mut p = CommitProtocol::new(INTERVAL);
    assert_eq!(
        p.step(0, durable(S1, 5, vec![])),
        vec![CommitAction::StopShard {
            shard: S1.into(),
            reason: StopReason::NotHeld
        }]
    );
    assert_eq!(
        p.step(0, taken("odd.shard", None)),
        vec![CommitAction::StopShard {
            shard: "odd.shard".into(),
            reason: StopReason::UnusableShardId
        }]
    );
    assert!(p.step(0, CommitEvent::Tick).is_empty());
}

#[test]
fn draining_commits_at_once_and_after_every_commit_whatever_the_interval() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, CommitEvent::Tick);
    p.step(1, CommitEvent::Committed);
    p.step(2, durable(S1, 30, vec![]));
    assert_eq!(
        p.step(3, CommitEvent::Drain),
        vec![commit(vec![], &[(S1, 30)], &[(S1, Some(20))])]
    );
    p.step(4, durable(S2, 5, vec![]));
    assert_eq!(
        p.step(5, CommitEvent::Committed),
        vec![ack(S1, 30), commit(vec![], &[(S2, 5)], &[(S2, None)])]
    );
}

#[test]
fn outcomes_and_loads_out_of_turn_change_nothing() {
    let mut p = two_shards();
    for event in [
        CommitEvent::Committed,
        CommitEvent::Conflict,
        CommitEvent::CommitOutcomeUnknown,
        CommitEvent::Fenced {
            positions: positions(&[(S1, 99)]),
        },
    ] {
        assert!(p.step(0, event).is_empty());
    }
    assert_eq!(p.committed_position(S1), Some(&pos(10)));
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    p.step(0, CommitEvent::Tick);
    // A load answered while a commit is under way says nothing about that commit.
    assert!(
        p.step(
            1,
            CommitEvent::TableLoaded {
                positions: positions(&[(S1, 20)])
            }
        )
        .is_empty()
    );
    assert_eq!(p.step(2, CommitEvent::Committed), vec![ack(S1, 20)]);
}

#[test]
fn a_load_while_idle_acks_pending_flush_points_the_table_holds() {
    let mut p = two_shards();
    p.step(0, durable(S1, 20, vec![file(S1, 11, 20)]));
    assert_eq!(
        p.step(
            1,
            CommitEvent::TableLoaded {
                positions: positions(&[(S1, 25)])
            }
        ),
        vec![
            CommitAction::Drop {
                file: file(S1, 11, 20)
            },
            ack(S1, 20)
        ]
    );
}
