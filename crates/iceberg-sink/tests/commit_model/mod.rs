//! The world of the commit-protocol property test: the shards' records and their
//! deterministic files, the table in its catalog (fenced load, snapshot swap), the lease table,
//! and the checks every commit must pass.

use std::collections::BTreeMap;
use std::fmt;

use kinesink_iceberg_sink::commit_protocol::{ExpectedPositions, StagedFile};
use kinesink_iceberg_sink::table_position::{
    ShardPositions, committed_positions, decode_position, shard_of_key, summary_properties,
};
use kinesink_sequence_position::SequencePosition;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod worker;

pub(crate) use worker::{Faults, NO_FAULTS, Worker};

pub(crate) const NAME: &str = "events";
/// Sequence numbers beyond u128, as Kinesis writes them.
pub(crate) const SEQ: &str = "49590338271490256608559692538361571095921575989136";
pub(crate) const TICK_MS: u64 = 10_000;

/// One shard's records, cut into files at fixed segment boundaries.
pub(crate) struct ShardData {
    pub(crate) id: String,
    positions: Vec<SequencePosition>,
    /// Whether each record goes to this table (else to the error output: in no file here).
    in_table: Vec<bool>,
    /// Index past the last record of each segment (a possible flush point).
    segment_ends: Vec<usize>,
    /// The files of each segment.
    segment_files: Vec<Vec<StagedFile>>,
    /// The records of each file, by key.
    file_records: BTreeMap<String, Vec<usize>>,
}

impl fmt::Debug for ShardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} records, segments end at {:?}, files {:?}",
            self.id,
            self.positions.len(),
            self.segment_ends,
            self.file_records.values().collect::<Vec<_>>()
        )
    }
}

impl ShardData {
    /// `segments`: per segment, its partition count and, per record, (a choice of partition or
    /// the error output, whether it starts a new Kinesis record rather than continuing an
    /// aggregate).
    pub(crate) fn new(index: usize, segments: &[(usize, Vec<(u8, bool)>)]) -> Self {
        let id = format!("shardId-{index:012}");
        let (mut positions, mut in_table, mut segment_ends, mut segment_files) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut file_records = BTreeMap::new();
        let (mut seq, mut sub) = (1000u64 * (index as u64 + 1), 0u64);
        for (parts, records) in segments {
            let mut partitions: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
            for &(choice, new_record) in records {
                if new_record || positions.is_empty() {
                    (seq, sub) = (seq + 1, 0);
                } else {
                    sub += 1;
                }
                let i = positions.len();
                positions.push(SequencePosition::new(format!("{SEQ}{seq:06}"), sub));
                let partition = choice % (*parts as u8 + 1);
                in_table.push(partition < *parts as u8);
                if partition < *parts as u8 {
                    partitions.entry(partition).or_default().push(i);
                }
            }
            segment_ends.push(positions.len());
            let files = partitions
                .into_values()
                .map(|records| {
                    let (first, last) = (
                        &positions[records[0]],
                        &positions[records[records.len() - 1]],
                    );
                    let key = format!(
                        "{NAME}-{id}-{}-{}",
                        first.sequence_number, first.sub_sequence_number
                    );
                    file_records.insert(key.clone(), records.clone());
                    StagedFile {
                        key,
                        shard_id: id.clone(),
                        first: first.clone(),
                        last: last.clone(),
                        records: records.len() as u64,
                        bytes: 10 * records.len() as u64,
                    }
                })
                .collect();
            segment_files.push(files);
        }
        Self {
            id,
            positions,
            in_table,
            segment_ends,
            segment_files,
            file_records,
        }
    }

    /// The last record of segment `s`.
    pub(crate) fn segment_end(&self, s: usize) -> &SequencePosition {
        &self.positions[self.segment_ends[s] - 1]
    }

    /// The first segment after `position` (always a segment end, or none).
    pub(crate) fn segment_after(&self, position: Option<&SequencePosition>) -> usize {
        position.map_or(0, |p| {
            (0..self.segment_ends.len())
                .take_while(|s| self.segment_end(*s) <= p)
                .count()
        })
    }

    pub(crate) fn last(&self) -> &SequencePosition {
        self.positions.last().expect("at least one record")
    }
}

#[derive(Debug)]
pub(crate) struct LeaseRow {
    owner: usize,
    counter: u64,
    checkpoint: Option<SequencePosition>,
}

/// What happened in a run, to show the runs reach the situations they are about.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) commits: u64,
    pub(crate) summary_only_commits: u64,
    pub(crate) fenced: u64,
    pub(crate) conflicts_reported: u64,
    pub(crate) conflicts_retried: u64,
    pub(crate) lost_responses: u64,
    pub(crate) dropped_files: u64,
    pub(crate) zombie_commits_fenced: u64,
    pub(crate) zombie_commits_applied: u64,
    pub(crate) steals: u64,
    pub(crate) restarts: u64,
}

impl Seen {
    pub(crate) fn add(&mut self, o: &Seen) {
        self.commits += o.commits;
        self.summary_only_commits += o.summary_only_commits;
        self.fenced += o.fenced;
        self.conflicts_reported += o.conflicts_reported;
        self.conflicts_retried += o.conflicts_retried;
        self.lost_responses += o.lost_responses;
        self.dropped_files += o.dropped_files;
        self.zombie_commits_fenced += o.zombie_commits_fenced;
        self.zombie_commits_applied += o.zombie_commits_applied;
        self.steals += o.steals;
        self.restarts += o.restarts;
    }
}

/// The table, its catalog and the lease table.
pub(crate) struct World<'a> {
    shards: &'a [ShardData],
    /// Snapshot summaries, oldest first.
    snapshots: Vec<std::collections::HashMap<String, String>>,
    /// Every file the table references, by key.
    files: BTreeMap<String, StagedFile>,
    leases: BTreeMap<String, LeaseRow>,
    pub(crate) seen: Seen,
}

impl<'a> World<'a> {
    /// An empty table and lease table over `shards`.
    pub(crate) fn new(shards: &'a [ShardData]) -> Self {
        Self {
            shards,
            snapshots: Vec::new(),
            files: BTreeMap::new(),
            leases: BTreeMap::new(),
            seen: Seen::default(),
        }
    }

    /// A lease row for `shard`, owned by `owner`, never taken yet.
    pub(crate) fn add_lease(&mut self, shard: &str, owner: usize) {
        self.leases.insert(
            shard.to_owned(),
            LeaseRow {
                owner,
                counter: 0,
                checkpoint: None,
            },
        );
    }

    /// The lease checkpoint of `shard`.
    pub(crate) fn lease_checkpoint(&self, shard: &str) -> Option<&SequencePosition> {
        self.leases.get(shard).and_then(|l| l.checkpoint.as_ref())
    }

    /// The owner of `shard`'s lease.
    pub(crate) fn lease_owner(&self, shard: &str) -> Option<usize> {
        self.leases.get(shard).map(|l| l.owner)
    }

    pub(crate) fn shard(&self, id: &str) -> &ShardData {
        self.shards
            .iter()
            .find(|s| s.id == id)
            .expect("known shard")
    }

    pub(crate) fn positions(&self) -> ShardPositions {
        committed_positions(NAME, self.snapshots.iter().rev()).expect("positions readable")
    }

    pub(crate) fn version(&self) -> usize {
        self.snapshots.len()
    }

    /// The fenced load: the base version, or the positions when they differ from `expect`.
    pub(crate) fn fenced_load(&self, expect: &ExpectedPositions) -> Result<usize, ShardPositions> {
        let positions = self.positions();
        let fence_holds = expect.iter().all(|(s, e)| positions.get(s) == e.as_ref());
        if fence_holds {
            Ok(self.version())
        } else {
            Err(positions)
        }
    }

    /// Whether `worker` holds `shard`'s lease at `counter`.
    pub(crate) fn holds(&self, worker: usize, shard: &str, counter: u64) -> bool {
        self.leases
            .get(shard)
            .is_some_and(|l| l.owner == worker && l.counter == counter)
    }

    /// Applies a commit (the swap won), checking everything a commit must respect.
    pub(crate) fn apply(
        &mut self,
        files: &[StagedFile],
        summary: &ShardPositions,
        expect: &ExpectedPositions,
    ) -> Result<(), TestCaseError> {
        let before = self.positions();
        for (shard, expected) in expect {
            prop_assert_eq!(
                before.get(shard),
                expected.as_ref(),
                "a commit built on stale expectations applied (shard {})",
                shard
            );
        }
        for (shard, to) in summary {
            prop_assert!(
                before.get(shard).is_none_or(|b| b < to),
                "shard {} moved from {:?} to {}: not forward",
                shard,
                before.get(shard),
                to
            );
        }
        for f in files {
            prop_assert!(
                !self.files.contains_key(&f.key),
                "file {} added to the table twice",
                f.key
            );
            prop_assert!(
                before.get(&f.shard_id).is_none_or(|c| f.first > *c),
                "file {} ({}..{}) added at or below the committed position {:?}",
                f.key,
                f.first,
                f.last,
                before.get(&f.shard_id)
            );
            prop_assert!(summary.get(&f.shard_id).is_some_and(|to| f.last <= *to));
            self.files.insert(f.key.clone(), f.clone());
        }
        let mut properties = summary_properties(NAME, summary);
        properties.insert("added-data-files".into(), files.len().to_string());
        self.snapshots.push(properties);
        self.seen.commits += 1;
        if files.is_empty() {
            self.seen.summary_only_commits += 1;
        }
        for shard in summary.keys() {
            self.check_coverage(shard)?;
        }
        self.check_newest_is_largest()
    }

    /// The committed position (the newest value along the snapshots) is also the largest value
    /// ever committed for each shard: the reading `committed_positions` documents is safe.
    fn check_newest_is_largest(&self) -> Result<(), TestCaseError> {
        let mut largest = ShardPositions::new();
        for summary in &self.snapshots {
            for (key, value) in summary {
                if let Some(shard) = shard_of_key(NAME, key) {
                    let position = decode_position(value).expect("written by the test");
                    let entry = largest.entry(shard.to_owned()).or_insert(position.clone());
                    if *entry < position {
                        *entry = position;
                    }
                }
            }
        }
        prop_assert_eq!(self.positions(), largest);
        Ok(())
    }

    /// The files committed for `shard` hold each of its table records up to its position
    /// exactly once, and none after it.
    pub(crate) fn check_coverage(&self, shard: &str) -> Result<(), TestCaseError> {
        let data = self.shard(shard);
        let position = self.positions().get(shard).cloned();
        let mut copies = vec![0u32; data.positions.len()];
        for f in self.files.values().filter(|f| f.shard_id == shard) {
            for &r in &data.file_records[&f.key] {
                copies[r] += 1;
            }
        }
        for (r, p) in data.positions.iter().enumerate() {
            let committed = position.as_ref().is_some_and(|c| p <= c);
            let expected = u32::from(committed && data.in_table[r]);
            prop_assert_eq!(
                copies[r],
                expected,
                "record {} of {} (position {:?}) is in {} committed files",
                r,
                shard,
                position,
                copies[r]
            );
        }
        Ok(())
    }
}
