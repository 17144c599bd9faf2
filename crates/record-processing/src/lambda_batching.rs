//! Which records go into which invocation of the Lambda processor: a pure state machine, one
//! per shard, cutting batches so that a replay from the same checkpoint invokes the function
//! with the same batches (same records, same recordIds, same bytes).
//!
//! ## What is counted
//! A batch's size is the exact size of its request ([`crate::lambda_event::request_size`]:
//! base64 data, JSON, envelope, the invocation id counted at its longest), not its raw bytes:
//! Lambda's 6 MB limit is on that payload, so one measure keeps every request under it. With
//! `buffer_size_bytes` 1 MiB, a batch holds about 750 KiB of record bytes.
//!
//! ## Cuts
//! Records come in shard order; records sharing a position (the outputs of one Kinesis record)
//! come one after another and are held together until the next position (or a `Tick`/`Flush`),
//! then join the open batch as a group. Cuts are of four kinds:
//! 1. **Size** (deterministic): a group that would take the batch's request past
//!    `buffer_size_bytes` starts a new batch. A batch is over that limit only when it is one
//!    group on its own.
//! 2. **Payload limit** (deterministic): a group whose records together exceed
//!    `max_payload_bytes` is split at a record boundary, the only case where records of one
//!    position land in two batches. A record too large for any request is never sent: it comes
//!    out as [`BatchAction::Refuse`] (`Lambda.RequestTooLargeException`), in its place in
//!    shard order (the batch before it is cut first).
//! 3. **Time** (not reproducible, so recorded first, like the flush protocol's intents in
//!    `delivery::shard_buffers`): on a `Tick` after the open batch's first record has waited
//!    `buffer_interval_ms`, the batch is sealed and [`BatchAction::RecordCut`] asks the shell to
//!    store its last position with the fenced lease write. Only after
//!    [`BatchEvent::CutRecorded`] is the batch invoked. Records keep coming meanwhile into the
//!    next batch; what is cut after it is withheld until then, so actions stay in shard order.
//! 4. **Flush** (deterministic by the caller): [`BatchEvent::Flush`] cuts at once, for a cut the
//!    caller has already made reproducible (the shard's recorded flush intent, shard end).
//!
//! ## Replay
//! A new owner resumes at the checkpoint with empty state and [`LambdaResume`]: the time cuts
//! recorded since the checkpoint (reproduced exactly: the batch is cut after the last record
//! of that position) and a horizon, the last position of any batch the earlier owner may have
//! invoked. It makes no time cut of its own while a recorded cut lies ahead, nor while the open
//! batch starts at or before the horizon. Size and payload cuts depend only on the records
//! since the previous cut, so every batch the earlier owner invoked is invoked again with the
//! same records and recordIds. Without the horizon, batches up to the last recorded cut are
//! still the same; after it a replay's own time cut may fall elsewhere.

use std::collections::VecDeque;
use std::sync::Arc;

use kinesink_sequence_position::SequencePosition;

use crate::error_codes::LAMBDA_REQUEST_TOO_LARGE;
use crate::lambda_event::{
    InvocationId, LambdaEnvelope, LambdaInputRecord, MAX_INVOKE_PAYLOAD_BYTES, assemble_request,
    encode_record, request_overhead, request_size,
};
use crate::lambda_record_id::RecordId;
use crate::lambda_response::LambdaFailure;

/// When batches are cut (Firehose's `BufferSizeInMBs` and `BufferIntervalInSeconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaBatchLimits {
    /// Cut before a batch's request would pass this many bytes (0.2 to 3 MiB in Firehose; the
    /// configuration checks the range). Deterministic.
    pub buffer_size_bytes: usize,
    /// Cut (after recording the cut) once a batch's first record has waited this long; 0: at
    /// every tick.
    pub buffer_interval_ms: u64,
    /// No request is larger: [`MAX_INVOKE_PAYLOAD_BYTES`] (smaller only in tests).
    pub max_payload_bytes: usize,
}

impl LambdaBatchLimits {
    /// Firehose's hints, with Lambda's payload limit.
    #[must_use]
    pub fn new(buffer_size_bytes: usize, buffer_interval_ms: u64) -> Self {
        Self {
            buffer_size_bytes,
            buffer_interval_ms,
            max_payload_bytes: MAX_INVOKE_PAYLOAD_BYTES,
        }
    }
}

/// What an earlier owner of the shard left for a replay (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaResume {
    /// Time cuts recorded after the checkpoint, in shard order.
    pub cuts: Vec<SequencePosition>,
    /// The last position of any batch the earlier owner may have invoked.
    pub horizon: Option<SequencePosition>,
}

/// An input to [`LambdaBatcher::step`].
#[derive(Debug, Clone)]
pub enum BatchEvent {
    /// A record, in shard order; records sharing a position come one after another.
    Record(LambdaInputRecord),
    /// Time passed. Comes only between positions.
    Tick,
    /// Cut now, at the last record given: a cut the caller has made reproducible. Comes only
    /// between positions.
    Flush,
    /// The cut asked for by [`BatchAction::RecordCut`] is stored.
    CutRecorded(SequencePosition),
}

/// Why a batch ended where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// The next group would have taken it past `buffer_size_bytes`.
    Size,
    /// Its last group was split: together its records exceed `max_payload_bytes`.
    PayloadLimit,
    /// The next record is refused as too large (it comes next, as [`BatchAction::Refuse`]).
    BeforeRefusedRecord,
    /// Its first record waited `buffer_interval_ms`; the cut was recorded before the invoke.
    Time,
    /// An earlier owner's recorded time cut, reproduced.
    RecordedCut,
    /// [`BatchEvent::Flush`].
    Flush,
}

/// A record in a batch, with the `recordId` it is sent under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchedRecord {
    /// Its id: from its position and its index among the records sharing that position.
    pub record_id: RecordId,
    /// The record.
    pub record: LambdaInputRecord,
}

/// One invocation's records. Guarantees: at least one record; shard order; its request is
/// at most [`LambdaBatch::payload_bytes`] long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaBatch {
    /// The records, in shard order.
    pub records: Vec<BatchedRecord>,
    /// The request's size with the longest invocation id (an upper bound for any id).
    pub payload_bytes: usize,
    /// Why it was cut here.
    pub cut: CutReason,
    entries: Vec<Vec<u8>>,
    envelope: Arc<LambdaEnvelope>,
}

impl LambdaBatch {
    /// The request for one attempt (the same bytes for every attempt with the same id).
    #[must_use]
    pub fn request(&self, invocation_id: &InvocationId) -> Vec<u8> {
        assemble_request(
            &self.envelope,
            invocation_id,
            self.entries.iter().map(Vec::as_slice),
        )
    }

    /// The ids sent, in order: what [`crate::lambda_response::decode_response`] reads a
    /// response against.
    #[must_use]
    pub fn record_ids(&self) -> Vec<RecordId> {
        self.records.iter().map(|r| r.record_id.clone()).collect()
    }

    /// Position of the last record.
    #[must_use]
    pub fn last(&self) -> &SequencePosition {
        &self.records[self.records.len() - 1].record.position
    }
}

/// A record no request can carry: it goes to the error output (`processing-failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    /// The record and the id it would have had.
    pub record: BatchedRecord,
    /// `Lambda.RequestTooLargeException`, with its size.
    pub failure: LambdaFailure,
}

/// Something the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAction {
    /// Store this time cut with the fenced lease write; then send [`BatchEvent::CutRecorded`].
    RecordCut(SequencePosition),
    /// Invoke the function with this batch (retrying per [`crate::lambda_retry`]).
    Invoke(LambdaBatch),
    /// Send this record to the error output.
    Refuse(RefusedRecord),
}

#[derive(Debug, Default)]
struct Pending {
    records: Vec<BatchedRecord>,
    entries: Vec<Vec<u8>>,
    entry_bytes: usize,
    since_ms: u64,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn push(&mut self, record: BatchedRecord, entry: Vec<u8>, now_ms: u64) {
        if self.records.is_empty() {
            self.since_ms = now_ms;
        }
        self.entry_bytes += entry.len();
        self.records.push(record);
        self.entries.push(entry);
    }
}

#[derive(Debug)]
struct SealedByTime {
    at: SequencePosition,
    batch: LambdaBatch,
}

/// The batching of one shard's records for the Lambda processor (see the module docs).
///
/// Guarantees: every record given ends up in exactly one [`BatchAction::Invoke`] batch or one
/// [`BatchAction::Refuse`], and the actions list them in shard order; no request exceeds
/// `max_payload_bytes`; a batch exceeds `buffer_size_bytes` only when it holds one position's
/// records alone; a time cut is invoked only after it was recorded; the same records with the
/// same [`LambdaResume`] give the same batches (see Replay).
#[derive(Debug)]
pub struct LambdaBatcher {
    envelope: Arc<LambdaEnvelope>,
    overhead: usize,
    limits: LambdaBatchLimits,
    open: Pending,
    group: Pending,
    last_position: Option<SequencePosition>,
    next_index: u32,
    recorded_cuts: VecDeque<SequencePosition>,
    horizon: Option<SequencePosition>,
    sealed: Option<SealedByTime>,
    withheld: Vec<BatchAction>,
}

impl LambdaBatcher {
    /// An empty batcher for the shard named in `envelope`, resuming with `resume`.
    #[must_use]
    pub fn new(envelope: LambdaEnvelope, limits: LambdaBatchLimits, resume: LambdaResume) -> Self {
        let overhead = request_overhead(&envelope);
        Self {
            envelope: Arc::new(envelope),
            overhead,
            limits,
            open: Pending::default(),
            group: Pending::default(),
            last_position: None,
            next_index: 0,
            recorded_cuts: resume.cuts.into(),
            horizon: resume.horizon,
            sealed: None,
            withheld: Vec::new(),
        }
    }

    /// Records given but not yet in an emitted action (held, in the open batch, or withheld
    /// behind a cut being recorded).
    #[must_use]
    pub fn buffered_records(&self) -> usize {
        let withheld: usize = self
            .withheld
            .iter()
            .map(|a| match a {
                BatchAction::Invoke(b) => b.records.len(),
                BatchAction::Refuse(_) => 1,
                BatchAction::RecordCut(_) => 0,
            })
            .sum();
        let sealed = self.sealed.as_ref().map_or(0, |s| s.batch.records.len());
        self.open.records.len() + self.group.records.len() + withheld + sealed
    }

    /// Bytes of the request entries held for batches not handed out yet (the open batch, the
    /// records of its last position, a batch sealed by time until its cut is recorded, and
    /// withheld actions): what this batcher adds to the records' own bytes in memory.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        let in_batch = |b: &LambdaBatch| b.entries.iter().map(Vec::len).sum::<usize>();
        self.open.entry_bytes
            + self.group.entry_bytes
            + self.sealed.as_ref().map_or(0, |s| in_batch(&s.batch))
            + self
                .withheld
                .iter()
                .map(|a| match a {
                    BatchAction::Invoke(b) => in_batch(b),
                    BatchAction::Refuse(_) | BatchAction::RecordCut(_) => 0,
                })
                .sum::<usize>()
    }

    /// When the oldest record not yet in an emitted batch was given (`None`: there is none):
    /// what a shell that makes its own time cuts (through [`BatchEvent::Flush`] after
    /// recording them) ages. A batch cut by size restarts the clock at its successor's first
    /// record.
    #[must_use]
    pub fn waiting_since_ms(&self) -> Option<u64> {
        [&self.open, &self.group]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.since_ms)
            .min()
    }

    /// Advances the state machine at wall-clock time `now_ms` (used only to age batches).
    pub fn step(&mut self, now_ms: u64, event: BatchEvent) -> Vec<BatchAction> {
        let mut actions = Vec::new();
        match event {
            BatchEvent::Record(record) => self.add_record(now_ms, record, &mut actions),
            BatchEvent::Tick => {
                self.close_group(true, &mut actions);
                self.maybe_cut_by_time(now_ms, &mut actions);
            }
            BatchEvent::Flush => {
                self.close_group(true, &mut actions);
                self.cut(CutReason::Flush, &mut actions);
            }
            BatchEvent::CutRecorded(at) => {
                if self.sealed.as_ref().is_some_and(|s| s.at == at) {
                    let sealed = self.sealed.take().expect("checked above");
                    actions.push(BatchAction::Invoke(sealed.batch));
                    actions.append(&mut self.withheld);
                }
            }
        }
        actions
    }

    fn add_record(
        &mut self,
        now_ms: u64,
        record: LambdaInputRecord,
        actions: &mut Vec<BatchAction>,
    ) {
        let index = if self.last_position.as_ref() == Some(&record.position) {
            self.next_index
        } else {
            self.close_group(true, actions);
            self.last_position = Some(record.position.clone());
            0
        };
        self.next_index = index.saturating_add(1);
        let record_id = RecordId::new(&record.position, index);
        let entry = encode_record(&self.envelope, &record_id, &record);
        let alone = request_size(self.overhead, entry.len(), 1);
        let record = BatchedRecord { record_id, record };
        if alone > self.limits.max_payload_bytes {
            self.close_group(false, actions);
            self.cut(CutReason::BeforeRefusedRecord, actions);
            let failure = LambdaFailure {
                error_code: LAMBDA_REQUEST_TOO_LARGE.into(),
                error_message: format!(
                    "Record {} is {} bytes ({alone} bytes as a request alone), too large for Lambda's {}-byte invoke payload limit: it was not sent.",
                    record.record_id,
                    record.record.data.len(),
                    self.limits.max_payload_bytes
                ),
            };
            self.emit(
                BatchAction::Refuse(RefusedRecord { record, failure }),
                actions,
            );
            return;
        }
        let with_it = request_size(
            self.overhead,
            self.group.entry_bytes + entry.len(),
            self.group.records.len() + 1,
        );
        if with_it > self.limits.max_payload_bytes {
            self.close_group(false, actions);
            self.cut(CutReason::PayloadLimit, actions);
        }
        self.group.push(record, entry, now_ms);
    }

    /// Moves the held group into the open batch, cutting before it by size or a recorded cut.
    /// `complete`: no more records of its position follow (a recorded cut may fall after it).
    fn close_group(&mut self, complete: bool, actions: &mut Vec<BatchAction>) {
        if self.group.is_empty() {
            return;
        }
        let position = self.group.records[0].record.position.clone();
        if self.recorded_cuts.front().is_some_and(|c| *c < position) {
            while self.recorded_cuts.front().is_some_and(|c| *c < position) {
                self.recorded_cuts.pop_front();
            }
            self.cut(CutReason::RecordedCut, actions);
        }
        let together = request_size(
            self.overhead,
            self.open.entry_bytes + self.group.entry_bytes,
            self.open.records.len() + self.group.records.len(),
        );
        if !self.open.is_empty() && together > self.limits.buffer_size_bytes {
            self.cut(CutReason::Size, actions);
        }
        let group = std::mem::take(&mut self.group);
        if self.open.is_empty() {
            self.open.since_ms = group.since_ms;
        }
        self.open.entry_bytes += group.entry_bytes;
        self.open.records.extend(group.records);
        self.open.entries.extend(group.entries);
        if complete && self.recorded_cuts.front() == Some(&position) {
            self.recorded_cuts.pop_front();
            self.cut(CutReason::RecordedCut, actions);
        }
    }

    fn maybe_cut_by_time(&mut self, now_ms: u64, actions: &mut Vec<BatchAction>) {
        let Some(first) = self.open.records.first() else {
            return;
        };
        let allowed = self.sealed.is_none()
            && self.recorded_cuts.is_empty()
            && self
                .horizon
                .as_ref()
                .is_none_or(|h| first.record.position > *h);
        if allowed && now_ms.saturating_sub(self.open.since_ms) >= self.limits.buffer_interval_ms {
            let batch = self.take_open(CutReason::Time);
            let at = batch.last().clone();
            actions.push(BatchAction::RecordCut(at.clone()));
            self.sealed = Some(SealedByTime { at, batch });
        }
    }

    fn take_open(&mut self, cut: CutReason) -> LambdaBatch {
        let open = std::mem::take(&mut self.open);
        LambdaBatch {
            payload_bytes: request_size(self.overhead, open.entry_bytes, open.records.len()),
            records: open.records,
            cut,
            entries: open.entries,
            envelope: Arc::clone(&self.envelope),
        }
    }

    fn cut(&mut self, reason: CutReason, actions: &mut Vec<BatchAction>) {
        if !self.open.is_empty() {
            let batch = self.take_open(reason);
            self.emit(BatchAction::Invoke(batch), actions);
        }
    }

    /// Emits now, or after the time cut being recorded (actions stay in shard order).
    fn emit(&mut self, action: BatchAction, actions: &mut Vec<BatchAction>) {
        if self.sealed.is_some() {
            self.withheld.push(action);
        } else {
            actions.push(action);
        }
    }
}

#[cfg(test)]
#[path = "lambda_batching/tests.rs"]
mod tests;
