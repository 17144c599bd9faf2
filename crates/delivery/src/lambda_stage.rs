//! The Lambda processor between the transform and the buffers: a pure state machine, one per
//! shard, that batches records with [`LambdaBatcher`], asks for each batch to be invoked, and
//! feeds the outcomes on to the buffers in shard order.
//!
//! ## Exactly once: how batches are cut, and why no new lease state is needed
//! A replay from a checkpoint must invoke the function with the same batches, and the buffers
//! must cut objects at the same records. Batches are cut only
//! - by content: size (the exact request bytes) and Lambda's payload limit, which depend only
//!   on the records since the previous cut; and
//! - at shard-wide flush points whose intent is recorded in the lease before the cut.
//!
//! A time cut (the open batch's oldest record waited `buffer_interval_s`) is made a shard-wide
//! flush: the stage asks the buffers to record a flush intent at the last position it was given
//! ([`StageAction::FlushAt`], recorded by the buffers' own
//! [`crate::BufferAction::RecordProgress`], the fenced lease write of every flush intent), and
//! cuts its batch only when told the intent is stored ([`StageEvent::FlushRecorded`]). The
//! buffers cut every object at the same position once they are given it. A new owner reads the
//! intent from the lease as every flush intent, and gives it to the batcher as a recorded cut
//! ([`LambdaResume::cuts`]): both cut there again. The batcher's own time cut
//! ([`kinesink_record_processing::lambda_batching::BatchAction::RecordCut`]) is not used: it
//! would need a second recorded position per shard (lease row, DynamoDB and memory tables,
//! progress objects) for nothing the flush intent does not already give. The price: a Lambda
//! time cut also flushes the shard's objects, so with a Lambda interval shorter than the
//! buffers' one a quiet shard writes objects at the Lambda interval.
//!
//! Nothing reaches the buffers out of order or ahead of a record still waiting for its batch:
//! every input event takes a slot in shard order, and slots are released from the front only
//! when answered, and never part of one position's events (records sharing a position may
//! fall into two batches at Lambda's payload limit). So the buffers' last position, hence any
//! flush point and checkpoint, is always at a batch boundary and behind every record still
//! waiting: a replay from it starts a fresh batch exactly where the first run's batch began.
//! After each release the stage tells the buffers the position passed
//! ([`crate::BufferEvent::Passed`]), so records the function dropped still move the checkpoint.
//!
//! A time cut is only asked for when the buffers can record it (no flush under way, no earlier
//! owner's flush point ahead: [`crate::ShardBuffers::can_flush_at`]); otherwise it is asked again
//! at the next tick, while records keep being batched by size.

use std::collections::VecDeque;

use bytes::Bytes;
use kinesink_partitioning::error_codes::PROCESSING_FAILED_OUTPUT_TYPE as PROCESSING_FAILED;
use kinesink_record_deaggregation::UserRecord;
use kinesink_record_processing::lambda_batching::{
    BatchAction, BatchEvent, LambdaBatch, LambdaBatchLimits, LambdaBatcher, LambdaResume,
};
use kinesink_record_processing::lambda_event::{LambdaEnvelope, LambdaInputRecord};
use kinesink_record_processing::lambda_response::{LambdaFailure, RecordOutcome};
use kinesink_sequence_position::SequencePosition;

use crate::shard_buffers::{BufferEvent, FailedRecord};

/// An input to [`LambdaStage::step`].
#[derive(Debug)]
pub enum StageEvent {
    /// An event from the record pipeline (`Record`, `Failed`, `Source`), in shard order.
    Input(BufferEvent),
    /// Time passed (between positions): cut the open batch by time if it waited long enough,
    /// then tick the buffers.
    Tick,
    /// Flush everything (shutdown, shard end): cut the open batch at a recorded flush point,
    /// then drain the buffers.
    Drain,
    /// Flush now (memory pressure): like [`StageEvent::Drain`] without draining.
    Flush,
    /// The function's outcomes for the oldest batch asked for with [`StageAction::Invoke`]
    /// and not yet answered, one per record, in the batch's order.
    Invoked(Vec<RecordOutcome>),
    /// The buffers recorded the flush intent asked for by [`StageAction::FlushAt`].
    FlushRecorded(SequencePosition),
    /// The buffers could not record it now ([`crate::ShardBuffers::can_flush_at`] was false).
    FlushRefused,
}

/// Something the shell must do, in order (each completion fed back before the next action).
#[derive(Debug)]
pub enum StageAction {
    /// Invoke the function with this batch (retrying per the policy), then send
    /// [`StageEvent::Invoked`].
    Invoke(LambdaBatch),
    /// Feed this event to the buffers.
    Buffers(BufferEvent),
    /// Give the buffers [`BufferEvent::FlushAt`] if they can record it now, and answer
    /// [`StageEvent::FlushRecorded`] once recorded, or [`StageEvent::FlushRefused`].
    FlushAt(SequencePosition),
}

/// Counts of what the function did with records, since the last [`LambdaStage::take_counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LambdaCounts {
    /// Records returned `Ok`.
    pub ok_records: u64,
    /// Their bytes, as returned.
    pub ok_bytes: u64,
    /// Records returned `Dropped`.
    pub dropped: u64,
    /// Records sent to the error output (every Lambda failure code).
    pub failed: u64,
}

#[derive(Debug)]
enum Slot {
    /// A record waiting for its batch's answer.
    Awaiting(UserRecord),
    /// Answered (or never sent): the events to give the buffers (none for a dropped record).
    Ready {
        position: SequencePosition,
        event: Option<BufferEvent>,
    },
}

impl Slot {
    fn position(&self) -> &SequencePosition {
        match self {
            Self::Awaiting(r) => &r.position,
            Self::Ready { position, .. } => position,
        }
    }
}

/// The Lambda processor's state for one shard (see the module docs).
///
/// Guarantees: every input event is given to the buffers exactly once (a record as its
/// function output, or as a failed record with its bytes as received, or not at all when the
/// function dropped it, counted), in shard order; nothing is given ahead of a record whose
/// batch was not answered; a batch is cut by time only after its cut was recorded.
#[derive(Debug)]
pub struct LambdaStage {
    batcher: LambdaBatcher,
    interval_ms: u64,
    slots: VecDeque<Slot>,
    /// Offsets (from the slots' front) of records given to the batcher and not in an emitted
    /// batch yet, in order; kept as absolute numbers.
    unbatched: VecDeque<u64>,
    /// Absolute number of `slots[0]`.
    front: u64,
    in_flight: VecDeque<Vec<u64>>,
    last_given: Option<SequencePosition>,
    flush_asked: Option<SequencePosition>,
    drain_after_flush: Option<BufferEvent>,
    counts: LambdaCounts,
}

impl LambdaStage {
    /// A stage for the shard named in `envelope`, batching by `buffer_size_bytes` and cutting
    /// by time after `interval_ms`, resuming with the flush intent an earlier owner recorded
    /// after the checkpoint (if any).
    #[must_use]
    pub fn new(
        envelope: LambdaEnvelope,
        buffer_size_bytes: usize,
        interval_ms: u64,
        recorded_intent: Option<SequencePosition>,
    ) -> Self {
        let limits = LambdaBatchLimits::new(buffer_size_bytes, u64::MAX);
        Self::with_limits(envelope, limits, interval_ms, recorded_intent)
    }

    /// [`LambdaStage::new`] with every limit given (a smaller payload limit in tests).
    #[must_use]
    pub fn with_limits(
        envelope: LambdaEnvelope,
        limits: LambdaBatchLimits,
        interval_ms: u64,
        recorded_intent: Option<SequencePosition>,
    ) -> Self {
        let limits = LambdaBatchLimits {
            buffer_interval_ms: u64::MAX,
            ..limits
        };
        let resume = LambdaResume {
            cuts: recorded_intent.into_iter().collect(),
            horizon: None,
        };
        Self {
            batcher: LambdaBatcher::new(envelope, limits, resume),
            interval_ms,
            slots: VecDeque::new(),
            unbatched: VecDeque::new(),
            front: 0,
            in_flight: VecDeque::new(),
            last_given: None,
            flush_asked: None,
            drain_after_flush: None,
            counts: LambdaCounts::default(),
        }
    }

    /// Whether no event is held (everything given was passed on to the buffers).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Events held (records waiting for their batch, and what follows them).
    #[must_use]
    pub fn held_events(&self) -> usize {
        self.slots.len()
    }

    /// Bytes this stage holds: the records waiting for their batch's answer, the events behind
    /// them, and the request entries of batches not invoked yet. The shard counts them in its
    /// memory budget usage; a flush of the shard empties the stage.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        let events: usize = self
            .slots
            .iter()
            .map(|slot| match slot {
                Slot::Awaiting(record) => record.data.len(),
                Slot::Ready { event, .. } => event.as_ref().map_or(0, event_bytes),
            })
            .sum();
        events + self.batcher.held_bytes()
    }

    /// What the function did since the last call (for metrics).
    pub fn take_counts(&mut self) -> LambdaCounts {
        std::mem::take(&mut self.counts)
    }

    /// Advances the stage at time `now_ms` (used only to age the open batch).
    pub fn step(&mut self, now_ms: u64, event: StageEvent) -> Vec<StageAction> {
        let mut actions = Vec::new();
        match event {
            StageEvent::Input(event) => self.input(now_ms, event, &mut actions),
            StageEvent::Tick => {
                self.batch(now_ms, BatchEvent::Tick, &mut actions);
                let waited = self
                    .batcher
                    .waiting_since_ms()
                    .is_some_and(|since| now_ms.saturating_sub(since) >= self.interval_ms);
                if waited {
                    self.ask_flush(&mut actions);
                }
                actions.push(StageAction::Buffers(BufferEvent::Tick));
            }
            StageEvent::Drain => self.cut_then(now_ms, BufferEvent::Drain, &mut actions),
            StageEvent::Flush => self.cut_then(now_ms, BufferEvent::Flush, &mut actions),
            StageEvent::Invoked(outcomes) => self.answered(outcomes, &mut actions),
            StageEvent::FlushRecorded(at) => {
                if self.flush_asked.as_ref() == Some(&at) {
                    self.flush_asked = None;
                    self.batch(now_ms, BatchEvent::Flush, &mut actions);
                    if let Some(then) = self.drain_after_flush.take() {
                        actions.push(StageAction::Buffers(then));
                    }
                }
            }
            StageEvent::FlushRefused => {
                self.flush_asked = None;
                if let Some(then) = self.drain_after_flush.take() {
                    actions.push(StageAction::Buffers(then));
                }
            }
        }
        actions
    }

    /// Cuts the open batch at a recorded flush point (when it holds records), then gives the
    /// buffers `then` (`Drain` or `Flush`).
    fn cut_then(&mut self, now_ms: u64, then: BufferEvent, actions: &mut Vec<StageAction>) {
        self.batch(now_ms, BatchEvent::Tick, actions);
        if self.batcher.buffered_records() > 0 && self.flush_asked.is_none() {
            self.drain_after_flush = Some(then);
            self.ask_flush(actions);
        } else {
            actions.push(StageAction::Buffers(then));
        }
    }

    fn ask_flush(&mut self, actions: &mut Vec<StageAction>) {
        if self.flush_asked.is_some() {
            return;
        }
        if let Some(at) = self.last_given.clone() {
            self.flush_asked = Some(at.clone());
            actions.push(StageAction::FlushAt(at));
        }
    }

    fn input(&mut self, now_ms: u64, event: BufferEvent, actions: &mut Vec<StageAction>) {
        debug_assert!(
            self.flush_asked.is_none(),
            "no event while a flush intent is being recorded"
        );
        let (position, slot) = match event {
            BufferEvent::Record(record) => {
                let position = record.position.clone();
                let number = self.front + self.slots.len() as u64;
                let input = LambdaInputRecord {
                    position: record.position.clone(),
                    data: record.data.clone(),
                    partition_key: record.partition_key.clone(),
                    approximate_arrival_ms: record.approximate_arrival_ms,
                };
                self.slots.push_back(Slot::Awaiting(record));
                self.unbatched.push_back(number);
                self.last_given = Some(position);
                self.batch(now_ms, BatchEvent::Record(input), actions);
                return;
            }
            BufferEvent::Failed(f) => (f.position.clone(), BufferEvent::Failed(f)),
            BufferEvent::Source(s) => (s.position.clone(), BufferEvent::Source(s)),
            other => {
                // Not an input: pass on (the shell sends control events through step's others).
                actions.push(StageAction::Buffers(other));
                return;
            }
        };
        self.last_given = Some(position.clone());
        self.slots.push_back(Slot::Ready {
            position,
            event: Some(slot),
        });
        self.release(actions);
    }

    /// Steps the batcher and turns its actions into the shell's.
    fn batch(&mut self, now_ms: u64, event: BatchEvent, actions: &mut Vec<StageAction>) {
        for action in self.batcher.step(now_ms, event) {
            match action {
                BatchAction::Invoke(batch) => {
                    let numbers: Vec<u64> = (0..batch.records.len())
                        .map(|_| self.unbatched.pop_front().expect("one slot per record"))
                        .collect();
                    self.in_flight.push_back(numbers);
                    actions.push(StageAction::Invoke(batch));
                }
                BatchAction::Refuse(refused) => {
                    let number = self.unbatched.pop_front().expect("one slot per record");
                    self.settle(number, RecordOutcome::Failed(refused.failure));
                }
                BatchAction::RecordCut(_) => {
                    unreachable!("the stage's batcher makes no time cut of its own")
                }
            }
        }
        self.release(actions);
    }

    fn answered(&mut self, outcomes: Vec<RecordOutcome>, actions: &mut Vec<StageAction>) {
        let Some(numbers) = self.in_flight.pop_front() else {
            debug_assert!(false, "an answer without an invocation");
            return;
        };
        assert_eq!(numbers.len(), outcomes.len(), "one outcome per record sent");
        for (number, outcome) in numbers.into_iter().zip(outcomes) {
            self.settle(number, outcome);
        }
        self.release(actions);
    }

    fn settle(&mut self, number: u64, outcome: RecordOutcome) {
        let index = usize::try_from(number - self.front).expect("a held slot");
        let slot = &mut self.slots[index];
        let Slot::Awaiting(record) = slot else {
            unreachable!("each record is answered once")
        };
        let position = record.position.clone();
        let event = match outcome {
            RecordOutcome::Ok {
                data,
                partition_keys,
            } => {
                self.counts.ok_records += 1;
                self.counts.ok_bytes += data.len() as u64;
                Some(BufferEvent::LambdaRecord {
                    record: UserRecord {
                        data: Bytes::from(data),
                        ..record.clone()
                    },
                    partition_keys: partition_keys.unwrap_or_default(),
                })
            }
            RecordOutcome::Dropped => {
                self.counts.dropped += 1;
                None
            }
            RecordOutcome::Failed(LambdaFailure {
                error_code,
                error_message,
            }) => {
                self.counts.failed += 1;
                Some(BufferEvent::Failed(FailedRecord {
                    raw_data: record.data.to_vec(),
                    partition_key: record.partition_key.clone(),
                    position: position.clone(),
                    approximate_arrival_ms: record.approximate_arrival_ms,
                    error_output_type: PROCESSING_FAILED.to_owned(),
                    error_code: error_code.into_owned(),
                    error_message,
                }))
            }
        };
        *slot = Slot::Ready { position, event };
    }

    /// Gives the buffers every answered event at the front, except those sharing a position
    /// with a record still waiting; then tells them the last position passed.
    fn release(&mut self, actions: &mut Vec<StageAction>) {
        let waiting_at = self.slots.iter().find_map(|s| match s {
            Slot::Awaiting(r) => Some(r.position.clone()),
            Slot::Ready { .. } => None,
        });
        let mut passed = None;
        while let Some(front) = self.slots.front() {
            let held = matches!(front, Slot::Awaiting(_))
                || waiting_at.as_ref().is_some_and(|w| front.position() >= w);
            if held {
                break;
            }
            let Some(Slot::Ready { position, event }) = self.slots.pop_front() else {
                unreachable!("checked above")
            };
            self.front += 1;
            if let Some(event) = event {
                actions.push(StageAction::Buffers(event));
            }
            passed = Some(position);
        }
        if let Some(at) = passed {
            actions.push(StageAction::Buffers(BufferEvent::Passed(at)));
        }
    }
}

/// The record bytes an event holds.
fn event_bytes(event: &BufferEvent) -> usize {
    match event {
        BufferEvent::Record(r)
        | BufferEvent::Source(r)
        | BufferEvent::LambdaRecord { record: r, .. } => r.data.len(),
        BufferEvent::Failed(f) => f.raw_data.len() + f.error_message.len(),
        _ => 0,
    }
}

#[cfg(test)]
#[path = "lambda_stage/tests.rs"]
mod tests;
