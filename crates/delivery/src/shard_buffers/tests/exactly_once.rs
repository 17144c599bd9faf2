//! The exactly-once property of the flush protocol, over one shard: a first owner, successors
//! that take its lease at arbitrary steps, zombies that carry on after losing their lease, and
//! crashes, with their steps interleaved in an arbitrary order. Every lease write goes through
//! the real fencing code ([`LeaseKeeper`] over [`MemoryLeaseTable`]); objects are partitioned
//! NDJSON or Parquet, with error output, active-partition limits (least-recently-used cuts or
//! the error output), memory-pressure flushes, memory-budget compaction and, in some cases, the
//! source record backup (each record as read, in `backup/` objects). Records come in
//! groups that share one position, as the outputs of one Kinesis record do (the log events of
//! a CloudWatch Logs envelope, the records a transform makes from one input); the shell ticks
//! and flushes only between groups (between batches).
//!
//! Asserted: every record ends in exactly one object, in the place its kind decides, and, with
//! the backup on, in exactly one backup object; every
//! rewrite of a key holds the same bytes (the same rows, for a Parquet object whose buffer was
//! compacted in one of the writes: compaction changes the row-group layout, see
//! [`ParquetObjectEncoder::compact`](kinesink_parquet_writer::ParquetObjectEncoder::compact));
//! the lease ends checkpointed at the last record with no flush intent left.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use futures::executor::block_on;
use kinesink_lease_coordination::{
    Checkpoint, Lease, LeaseError, LeaseKeeper, LeaseTable, MemoryLeaseTable,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;

const SHARD: &str = "shardId-000000000007";
const COUNTRIES: [&str; 4] = ["DE", "FR", "IT", "ES"];
const SCHEMA: &str = "id string, country string, n int, note string";

/// What a generated record is, which decides where it must land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// JSON with its partition key: a data object of its country.
    Good,
    /// Not JSON: `metadata-extraction-failed`.
    NotJson,
    /// JSON without the partition key: `metadata-extraction-failed`.
    NoKey,
    /// `n` is not an int: `format-conversion-failed` with Parquet, data with NDJSON.
    BadValue,
    /// Failed before partitioning (e.g. a corrupt aggregate): `processing-failed`.
    Failed,
}

struct ShardRecord {
    id: String,
    /// Shared by the records of one group (the outputs of one Kinesis record: log events of a
    /// CloudWatch Logs envelope, records a transform made from one input).
    position: SequencePosition,
    /// Whether this record starts its group (the shell steps only between groups).
    starts_group: bool,
    kind: Kind,
    country: &'static str,
    event: BufferEvent,
    /// Whether what was made of it was dropped (a transform with no output): its `event` is
    /// never sent, it is only in the backup.
    dropped: bool,
    /// On the first record of a group: the Kinesis record as read, holding every record of the
    /// group, for the source backup (sent before the group when the backup is on).
    source: Option<BufferEvent>,
}

impl std::fmt::Debug for ShardRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = match &self.event {
            BufferEvent::Record(r) => r.data.len(),
            BufferEvent::Failed(r) => r.raw_data.len(),
            _ => 0,
        };
        write!(
            f,
            "{} at {} {:?}{} {} {bytes} B",
            self.id,
            self.position.sequence_number,
            self.kind,
            if self.dropped { " dropped" } else { "" },
            self.country
        )
    }
}

fn shard_records(specs: &[(u8, usize, usize, bool, bool)], countries: usize) -> Vec<ShardRecord> {
    let mut group = 0u64;
    let mut records: Vec<ShardRecord> = specs
        .iter()
        .enumerate()
        .map(|(i, &(kind, country, size, joins_previous, dropped))| {
            let starts_group = i == 0 || !joins_previous;
            if i > 0 && starts_group {
                group += 1;
            }
            let kind = match kind {
                0..=13 => Kind::Good,
                14 => Kind::NotJson,
                15 => Kind::NoKey,
                16 | 17 => Kind::BadValue,
                _ => Kind::Failed,
            };
            let id = format!("<r{i}>");
            let country = COUNTRIES[country % countries];
            let note = "x".repeat(size * 1500);
            let seq = 100 + group;
            let arrival = T1100 + i as i64;
            let data = match kind {
                Kind::Good | Kind::Failed => {
                    format!(r#"{{"id":"{id}","country":"{country}","n":{i},"note":"{note}"}}"#)
                }
                Kind::NotJson => format!("not json {id} {note}"),
                Kind::NoKey => format!(r#"{{"id":"{id}","note":"{note}"}}"#),
                Kind::BadValue => {
                    format!(r#"{{"id":"{id}","country":"{country}","n":"lots","note":"{note}"}}"#)
                }
            };
            let source = BufferEvent::Source(record(
                seq,
                &if kind == Kind::Failed {
                    format!("corrupt aggregate {id} ")
                } else {
                    data.clone()
                },
                arrival,
            ));
            let event = if kind == Kind::Failed {
                BufferEvent::Failed(FailedRecord {
                    raw_data: format!("corrupt aggregate {id} ").into_bytes(),
                    partition_key: "pk".into(),
                    position: pos(seq),
                    approximate_arrival_ms: arrival,
                    error_output_type: error_codes::PROCESSING_FAILED_OUTPUT_TYPE.into(),
                    error_code: "Deaggregation.Failed".into(),
                    error_message: "corrupt".into(),
                })
            } else {
                BufferEvent::Record(record(seq, &data, arrival))
            };
            ShardRecord {
                id,
                position: pos(seq),
                starts_group,
                kind,
                country,
                event,
                dropped: dropped && kind != Kind::Failed,
                source: Some(source),
            }
        })
        .collect();
    // One record as read per group, holding the group's records (as one CloudWatch Logs
    // envelope holds its log events), on the group's first record.
    let mut first = 0;
    for i in 1..=records.len() {
        if i < records.len() && !records[i].starts_group {
            continue;
        }
        let texts: Vec<Vec<u8>> = records[first..i]
            .iter_mut()
            .map(|r| match r.source.take() {
                Some(BufferEvent::Source(u)) => u.data.to_vec(),
                _ => unreachable!("every record has its text until here"),
            })
            .collect();
        let head = &records[first];
        let mut whole = record(0, "", T1100 + first as i64);
        whole.position = head.position.clone();
        whole.data = texts.join(&b" | "[..]).into();
        records[first].source = Some(BufferEvent::Source(whole));
        first = i;
    }
    records
}

/// What an owner does between records besides reading them.
#[derive(Debug, Clone)]
enum Step {
    Event(BufferEvent),
    /// Memory-budget compaction ([`ShardBuffers::compact`]).
    Compact,
}

/// The extra steps an owner takes before the record at each index (and a drain at the end);
/// only before a record that starts a group, as the shell steps only between batches.
#[derive(Debug, Clone, Default)]
struct Timing {
    ticks: BTreeSet<usize>,
    flushes: BTreeSet<usize>,
    compactions: BTreeSet<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// A fenced lease write was refused: the shell stops and drops its buffers.
    Fenced,
    /// Stopped for good (kill -9).
    Crashed,
    /// Drained, everything checkpointed.
    Finished,
}

/// One owner's state machine and the shell around it, stepped one action (or event) at a time.
struct Owner {
    keeper: LeaseKeeper,
    buffers: ShardBuffers,
    steps: VecDeque<Step>,
    queue: VecDeque<BufferAction>,
    now: u64,
    /// First records of the Parquet buffers this owner compacted (data buffers only: error and
    /// backup buffers are never compacted, and one may start at the same position).
    compacted: BTreeSet<SequencePosition>,
    state: State,
}

/// The lease's resume state, as the worker builds it.
fn resume_from(lease: &Lease) -> ResumeState {
    ResumeState {
        checkpoint: match &lease.checkpoint {
            Checkpoint::Sequence(position) => Some(position.clone()),
            _ => None,
        },
        flush_intent: lease.flush_intent.clone(),
        horizon: lease.flush_horizon.clone(),
    }
}

impl Owner {
    /// Takes the lease (at its current counter) and resumes from it.
    fn take_over(
        table: &Arc<dyn LeaseTable>,
        id: &str,
        layout: &ObjectLayout,
        limits: BufferLimits,
        records: &[ShardRecord],
        timing: &Timing,
    ) -> Self {
        let keeper = LeaseKeeper::new(table.clone(), id);
        let counter = block_on(table.list()).unwrap()[0].counter;
        let lease = block_on(keeper.take(SHARD, counter))
            .unwrap()
            .expect("nobody else takes the lease meanwhile");
        let resume = resume_from(&lease);
        let mut steps = VecDeque::new();
        for (i, r) in records.iter().enumerate() {
            if r.starts_group && timing.ticks.contains(&i) {
                steps.push_back(Step::Event(BufferEvent::Tick));
            }
            if r.starts_group && timing.flushes.contains(&i) {
                steps.push_back(Step::Event(BufferEvent::Flush));
            }
            if timing.compactions.contains(&i) {
                steps.push_back(Step::Compact);
            }
            if resume.checkpoint.as_ref().is_none_or(|c| r.position > *c) {
                if let Some(source) = r
                    .source
                    .as_ref()
                    .filter(|_| layout.prefixes.backup().is_some())
                {
                    steps.push_back(Step::Event(source.clone()));
                }
                if !r.dropped {
                    steps.push_back(Step::Event(r.event.clone()));
                }
            }
        }
        steps.push_back(Step::Event(BufferEvent::Drain));
        Self {
            keeper,
            buffers: ShardBuffers::new(layout.clone(), limits, resume),
            steps,
            queue: VecDeque::new(),
            now: 0,
            compacted: BTreeSet::new(),
            state: State::Running,
        }
    }

    /// Performs one action, or feeds the next step when no action is queued.
    fn step(&mut self, sink: &mut Sink) -> Result<(), TestCaseError> {
        let Some(action) = self.queue.pop_front() else {
            match self.steps.pop_front() {
                None => self.state = State::Finished,
                Some(Step::Compact) => {
                    for b in self.buffers.open.values() {
                        if b.encoder.compactable_bytes() > 0 {
                            self.compacted.insert(b.first.clone());
                        }
                    }
                    self.buffers.compact();
                }
                Some(Step::Event(event)) => {
                    self.now += 1_000_000;
                    self.queue
                        .extend(self.buffers.step(self.now, event).unwrap());
                }
            }
            return Ok(());
        };
        let refused = |r: Result<(), LeaseError>| match r {
            Ok(()) => Ok(false),
            Err(LeaseError::Lost { .. }) => Ok(true),
            Err(e) => Err(TestCaseError::fail(format!("lease table: {e}"))),
        };
        let next = match action {
            BufferAction::Write(o) => {
                let compacted =
                    !o.is_error_output && !o.is_backup && self.compacted.contains(&o.first);
                sink.write(o.key, o.body, compacted)?;
                BufferEvent::ObjectDurable(o.ticket)
            }
            BufferAction::RecordProgress {
                horizon,
                flush_intent,
            } => {
                let written = self
                    .keeper
                    .record_progress(SHARD, &horizon, flush_intent.as_ref());
                if refused(block_on(written))? {
                    self.state = State::Fenced;
                    return Ok(());
                }
                BufferEvent::ProgressRecorded
            }
            BufferAction::Checkpoint(at) => {
                let checkpoint = Checkpoint::Sequence(at.clone());
                if refused(block_on(self.keeper.checkpoint(SHARD, &checkpoint)))? {
                    self.state = State::Fenced;
                    return Ok(());
                }
                BufferEvent::CheckpointWritten(at)
            }
        };
        self.queue
            .extend(self.buffers.step(self.now, next).unwrap());
        Ok(())
    }
}

/// The destination: the last write of each key, whether its buffer was compacted.
#[derive(Default)]
struct Sink {
    objects: BTreeMap<String, (Vec<u8>, bool)>,
}

impl Sink {
    /// Stores an object; a rewrite of a key must hold the same bytes (the same rows when a
    /// compacted buffer made either write).
    fn write(&mut self, key: String, body: Vec<u8>, compacted: bool) -> Result<(), TestCaseError> {
        if let Some((earlier, earlier_compacted)) = self.objects.get(&key) {
            if compacted || *earlier_compacted {
                prop_assert!(key.ends_with(".parquet"), "{}", key);
                prop_assert_eq!(
                    parquet_rows(earlier),
                    parquet_rows(&body),
                    "{} rewritten with other rows",
                    key
                );
            } else {
                prop_assert!(
                    *earlier == body,
                    "{} rewritten with other bytes ({} then {} bytes)",
                    key,
                    earlier.len(),
                    body.len()
                );
            }
        }
        self.objects.insert(key, (body, compacted));
        Ok(())
    }
}

/// The rows of a Parquet object (every column as text).
pub(super) fn parquet_rows(body: &[u8]) -> Vec<Vec<String>> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(body),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow_cast_to_strings(c.as_ref()))
            .collect();
        rows.extend((0..batch.num_rows()).map(|r| columns.iter().map(|c| c[r].clone()).collect()));
    }
    rows
}

fn arrow_cast_to_strings(column: &dyn arrow_array::Array) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    match column.data_type() {
        arrow_schema::DataType::Int32 => column
            .as_primitive::<Int32Type>()
            .iter()
            .map(|v| format!("{v:?}"))
            .collect(),
        arrow_schema::DataType::Int64 => column
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| format!("{v:?}"))
            .collect(),
        _ => column
            .as_string::<i32>()
            .iter()
            .map(|v| format!("{v:?}"))
            .collect(),
    }
}

/// The record id (`<r7>`) in a text.
/// Every `<rN>` in a text, in order (a record as read holds its group's records).
fn ids_in(text: &str) -> Vec<String> {
    text.split('<')
        .skip(1)
        .filter_map(|rest| rest.split_once('>').map(|(id, _)| format!("<{id}>")))
        .collect()
}

fn id_in(text: &str) -> String {
    let (start, end) = (text.find('<').unwrap(), text.find('>').unwrap());
    text[start..=end].to_owned()
}

/// Where each record id landed: (data partition `country=XX` or error output type) per copy.
fn placements(sink: &Sink) -> BTreeMap<String, Vec<String>> {
    use base64::Engine;
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, (body, _)) in &sink.objects {
        // `country=XX`, the error output type, or `backup`.
        let place = key
            .split('/')
            .nth(if key.starts_with("err/") { 1 } else { 0 });
        let place = place.unwrap().to_owned();
        if key.ends_with(".parquet") {
            for row in parquet_rows(body) {
                found.entry(id_in(&row[0])).or_default().push(place.clone());
            }
            continue;
        }
        for line in gunzip(body).lines() {
            if key.starts_with("backup/") {
                for id in ids_in(line) {
                    found.entry(id).or_default().push(place.clone());
                }
                continue;
            }
            let id = if key.starts_with("err/") {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(value["rawData"].as_str().unwrap())
                    .unwrap();
                id_in(&String::from_utf8_lossy(&raw))
            } else {
                id_in(line)
            };
            found.entry(id).or_default().push(place.clone());
        }
    }
    found
}

/// Everything one case needs.
#[derive(Debug)]
struct Case {
    records: Vec<ShardRecord>,
    layout: ObjectLayout,
    limits: BufferLimits,
    /// Timing of the first owner and of each successor.
    timings: Vec<Timing>,
    /// (global step at which a successor takes the lease, whether the owner it replaces keeps
    /// running as a zombie rather than crashing).
    takeovers: Vec<(usize, bool)>,
    /// Which running owner moves at each step.
    schedule: Vec<u8>,
}

/// Runs a case and checks where every record landed.
fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
    block_on(table.create_if_missing(&Lease::new(SHARD, vec![], Checkpoint::TrimHorizon))).unwrap();
    let mut sink = Sink::default();
    let start = |n: usize| {
        Owner::take_over(
            &table,
            &format!("owner-{n}"),
            &case.layout,
            case.limits,
            &case.records,
            &case.timings[n.min(case.timings.len() - 1)],
        )
    };
    let mut owners = vec![start(0)];
    let mut takeovers = case.takeovers.iter().copied().peekable();
    let mut step = 0;
    loop {
        while let Some((_, zombie)) = takeovers.next_if(|(at, _)| *at <= step) {
            let current = owners.last_mut().expect("one owner at least");
            if !zombie && current.state == State::Running {
                current.state = State::Crashed;
            }
            owners.push(start(owners.len()));
        }
        let running: Vec<usize> = (0..owners.len())
            .filter(|o| owners[*o].state == State::Running)
            .collect();
        if running.is_empty() && takeovers.peek().is_none() {
            break;
        }
        if !running.is_empty() {
            let choice = usize::from(case.schedule[step % case.schedule.len()]);
            owners[running[choice % running.len()]].step(&mut sink)?;
        }
        step += 1;
        prop_assert!(step < 1_000_000, "the owners never finish");
    }
    let last = owners.last().unwrap();
    prop_assert_eq!(
        last.state,
        State::Finished,
        "the last owner is never fenced"
    );
    let lease = block_on(table.list()).unwrap().remove(0);
    let backup = case.layout.prefixes.backup().is_some();
    // Where the last event sent is: a dropped record sends nothing, but its group's record as
    // read is sent with the backup on.
    let last_position = case
        .records
        .iter()
        .rev()
        .find(|r| !r.dropped || backup)
        .map(|r| r.position.clone());
    prop_assert_eq!(resume_from(&lease).checkpoint, last_position);
    prop_assert_eq!(lease.flush_intent, None);

    let parquet = matches!(case.layout.format, ObjectFormat::Parquet(_));
    let lru = case.layout.partition_limit.action == PartitionLimitAction::FlushLeastRecentlyUsed;
    let mut found = placements(&sink);
    for r in &case.records {
        let mut places = found.remove(&r.id).unwrap_or_default();
        let backed_up = places.iter().filter(|p| *p == "backup").count();
        prop_assert_eq!(
            backed_up,
            usize::from(backup),
            "record {} backed up {} times (backup on: {})",
            &r.id,
            backed_up,
            backup
        );
        places.retain(|p| p != "backup");
        if r.dropped {
            prop_assert!(
                places.is_empty(),
                "dropped record {} found in {:?}",
                &r.id,
                places
            );
            continue;
        }
        let data = format!("country={}", r.country);
        let expected: &[&str] = match r.kind {
            Kind::Good => &[&data, ACTIVE_PARTITION_EXCEEDED],
            Kind::BadValue if parquet => &[
                FORMAT_CONVERSION_FAILED_OUTPUT_TYPE,
                ACTIVE_PARTITION_EXCEEDED,
            ],
            Kind::BadValue => &[&data, ACTIVE_PARTITION_EXCEEDED],
            Kind::NotJson | Kind::NoKey => &[error_codes::METADATA_EXTRACTION_FAILED_OUTPUT_TYPE],
            Kind::Failed => &[error_codes::PROCESSING_FAILED_OUTPUT_TYPE],
        };
        let expected = if lru { &expected[..1] } else { expected };
        prop_assert!(
            places.len() == 1 && expected.contains(&places[0].as_str()),
            "record {} ({:?}) found in {:?}, expected once in one of {:?}; objects {:?}",
            r.id,
            r.kind,
            places,
            expected,
            sink.objects.keys().collect::<Vec<_>>()
        );
    }
    prop_assert!(found.is_empty(), "records nobody wrote: {:?}", found);
    Ok(())
}

fn timing() -> impl Strategy<Value = Timing> {
    let at = |n| proptest::collection::btree_set(0usize..50, 0..n);
    (at(10), at(6), at(12)).prop_map(|(ticks, flushes, compactions)| Timing {
        ticks,
        flushes,
        compactions,
    })
}

prop_compose! {
    fn case()(
        specs in proptest::collection::vec(
            (
                0u8..20,
                0usize..4,
                1usize..12,
                proptest::bool::weighted(0.3),
                proptest::bool::weighted(0.1),
            ),
            1..50,
        ),
        countries in 1usize..=4,
        parquet_format in any::<bool>(),
        backup in any::<bool>(),
        max_active in 1usize..=4,
        lru in any::<bool>(),
        size_limit in prop_oneof![3_000usize..40_000, 40_000usize..300_000],
        timings in proptest::collection::vec(timing(), 1..4),
        takeovers in proptest::collection::vec((0usize..100, 0u8..4), 0..4),
        schedule in proptest::collection::vec(any::<u8>(), 1..64),
    ) -> Case {
        let mut takeovers: Vec<(usize, bool)> =
            takeovers.into_iter().map(|(at, z)| (at, z != 0)).collect();
        takeovers.sort_unstable();
        let prefixes = partitioned_layout()
            .prefixes
            .as_ref()
            .clone()
            .with_backup(backup.then_some("backup/"))
            .unwrap();
        let base = ObjectLayout {
            prefixes: Arc::new(prefixes),
            partition_limit: PartitionLimit {
                max_active,
                action: if lru {
                    PartitionLimitAction::FlushLeastRecentlyUsed
                } else {
                    PartitionLimitAction::ErrorOutput
                },
            },
            ..partitioned_layout()
        };
        Case {
            records: shard_records(&specs, countries),
            layout: if parquet_format { parquet(base, SCHEMA) } else { base },
            limits: BufferLimits { size_bytes: size_limit, interval_ms: 1 },
            timings,
            takeovers,
            schedule,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Owners, successors, zombies and crashes in arbitrary interleavings: every record lands
    /// exactly once where its kind decides, and every rewrite of a key holds the same bytes.
    #[test]
    fn interleaved_owners_zombies_and_crashes_leave_every_record_exactly_once_with_identical_rewrites(
        case in case()
    ) {
        run_case(&case)?;
    }
}
