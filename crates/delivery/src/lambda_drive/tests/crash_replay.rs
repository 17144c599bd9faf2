//! The Lambda processor through crashes at any point: a property test replaying shards from
//! the lease a crashed owner left (its checkpoint, flush intent and horizon).

use super::*;

/// The lease as the worker keeps it: what a new owner resumes from.
#[derive(Debug, Clone, Default)]
struct Lease {
    checkpoint: Option<SequencePosition>,
    flush_intent: Option<SequencePosition>,
    horizon: Option<SequencePosition>,
}

/// Performs actions like [`Journal`], keeps the lease, and dies after `budget` actions.
struct CrashingJournal {
    sink: Arc<MemorySink>,
    lease: Lease,
    budget: usize,
}

impl PerformActions for CrashingJournal {
    type Error = String;

    async fn perform(&mut self, action: BufferAction) -> Result<Option<BufferEvent>, String> {
        if self.budget == 0 {
            return Err("crashed".into());
        }
        self.budget -= 1;
        Ok(Some(match action {
            BufferAction::Write(o) => {
                let contents = ObjectContents {
                    last: o.last.clone(),
                    records: o.record_count as u64,
                };
                write_once(&*self.sink, &o.key, &o.body, &contents)
                    .await
                    .map_err(|e| e.to_string())?;
                BufferEvent::ObjectDurable(o.ticket)
            }
            BufferAction::RecordProgress {
                horizon,
                flush_intent,
            } => {
                self.lease.horizon = self.lease.horizon.take().max(Some(horizon));
                if flush_intent.is_some() {
                    self.lease.flush_intent = flush_intent;
                }
                BufferEvent::ProgressRecorded
            }
            BufferAction::Checkpoint(p) => {
                self.lease.checkpoint = Some(p.clone());
                self.lease.flush_intent = None;
                BufferEvent::CheckpointWritten(p)
            }
        }))
    }
}

/// One shard's input: `(records at one position, ticks after them at these time steps)`.
type Shard = Vec<(Vec<String>, Vec<u64>)>;

fn shard() -> impl Strategy<Value = Shard> {
    proptest::collection::vec(
        (
            proptest::collection::vec(1_usize..60, 1..=3),
            proptest::collection::vec(0_u64..1_500, 0..=2),
        ),
        1..=25,
    )
    .prop_map(|positions| {
        positions
            .into_iter()
            .enumerate()
            .map(|(p, (lens, ticks))| {
                let records = lens
                    .into_iter()
                    .enumerate()
                    .map(|(j, len)| format!("r{p}-{j}-{}", "x".repeat(len)))
                    .collect();
                (records, ticks)
            })
            .collect()
    })
}

/// Runs a shard's records after `lease.checkpoint` through a stage and buffers resumed from
/// `lease`, ticking at the given steps (`ticks: false`: never), until `budget` actions;
/// returns the lease left and the batches invoked (ids).
fn run_shard(
    sink: &Arc<MemorySink>,
    input: &Shard,
    lease: &Lease,
    ticks: bool,
    budget: usize,
) -> (Lease, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let resume = ResumeState {
        checkpoint: lease.checkpoint.clone(),
        flush_intent: lease.flush_intent.clone(),
        horizon: lease.horizon.clone(),
    };
    let stage = LambdaStage::new(
        envelope(),
        lambda_size(),
        1_000,
        resume
            .flush_intent
            .clone()
            .filter(|x| lease.checkpoint.as_ref().is_none_or(|c| x > c)),
    );
    let mut lambda = LambdaShell::new(
        stage,
        Arc::new(function(Arc::clone(&log), "")),
        "f".into(),
        RetryPolicy::default(),
        "shardId-000000000001".into(),
    );
    let mut b = buffers(150, resume);
    let mut journal = CrashingJournal {
        sink: Arc::clone(sink),
        lease: lease.clone(),
        budget,
    };
    let result = futures::executor::block_on(async {
        let mut now = 0;
        for (p, (records, steps)) in input.iter().enumerate() {
            let position = at(p as u64 + 1);
            if lease.checkpoint.as_ref().is_some_and(|c| position <= *c) {
                continue;
            }
            for text in records {
                drive_lambda(
                    &mut lambda,
                    &mut b,
                    now,
                    record(p as u64 + 1, text),
                    &mut journal,
                )
                .await?;
            }
            for step in steps.iter().filter(|_| ticks) {
                now += step;
                drive_lambda(&mut lambda, &mut b, now, StageEvent::Tick, &mut journal).await?;
            }
        }
        drive_lambda(&mut lambda, &mut b, now, StageEvent::Drain, &mut journal).await
    });
    if budget == usize::MAX {
        result.expect("no crash without a budget");
    }
    let invocations = log.lock().unwrap().clone();
    (journal.lease, invocations)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A worker dies after any number of actions; a new owner resumes from the lease it left,
    /// ticking at other times. Every record is delivered exactly once, and every batch the new
    /// owner sends with a record the first owner also sent is one the first owner sent.
    #[test]
    fn a_replay_after_a_crash_anywhere_delivers_every_record_once_with_the_same_batches(
        input in shard(),
        budget in 0_usize..60,
    ) {
        let sink = Arc::new(MemorySink::new());
        let (lease, first) = run_shard(&sink, &input, &Lease::default(), true, budget);
        let (_, second) = run_shard(&sink, &input, &lease, false, usize::MAX);
        let ids = |line: &String| -> Vec<String> {
            line.trim_start_matches("invoke ").split(',').map(str::to_owned).collect()
        };
        let sent_first: Vec<String> = first.iter().flat_map(ids).collect();
        for batch in &second {
            if ids(batch).iter().any(|id| sent_first.contains(id)) {
                prop_assert!(first.contains(batch), "{batch} not among the first owner's {first:?}");
            }
        }
        let mut expected: Vec<String> = input
            .iter()
            .flat_map(|(records, _)| records.iter().map(|t| t.to_uppercase()))
            .collect();
        expected.sort();
        prop_assert_eq!(data_lines(&sink), expected);
    }
}
