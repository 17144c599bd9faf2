//! Events from a stage that holds records before the buffers (the Lambda processor): positions
//! passed without a record, and shard-wide flushes at a position not yet given.
//!
//! A stage that batches records (Lambda) gives the buffers a record only once its batch is
//! answered, so the buffers' last record read lags the shard. Two events keep the flush
//! protocol whole with such a stage:
//! - [`super::BufferEvent::Passed`]: every event up to a position was given, even when its last
//!   records were dropped by the stage. The position becomes the last read, so it can be a
//!   flush point and a checkpoint (a stream whose records are all dropped still moves on) and
//!   an earlier owner's flush intent there is reached.
//! - [`super::BufferEvent::FlushAt`]: a shard-wide flush at a position the stage has read but
//!   the buffers not yet: its intent is recorded exactly like a time flush's (the same
//!   [`super::BufferAction::RecordProgress`]), and every buffer is cut once the position is
//!   passed, exactly as a new owner reproduces an earlier owner's intent. The stage cuts its
//!   own batch there only after the intent is recorded, so a replay cuts both at the same
//!   place.

use std::collections::BTreeMap;

use kinesink_record_deaggregation::UserRecord;
use kinesink_sequence_position::SequencePosition;

use super::{BufferAction, BufferError, Flush, PendingProgress, ShardBuffers};

impl ShardBuffers {
    /// Whether a [`super::BufferEvent::FlushAt`] would be recorded now: no flush under way, no
    /// progress being recorded, and no earlier owner's flush point ahead.
    #[must_use]
    pub fn can_flush_at(&self) -> bool {
        self.flush == Flush::Idle && self.progress.is_none() && !self.replaying_intent()
    }

    /// The last position given (records, failures, or [`super::BufferEvent::Passed`]).
    #[must_use]
    pub fn last_read(&self) -> Option<&SequencePosition> {
        self.last_read.as_ref()
    }

    /// A record (with the Lambda processor's keys, when it went through it).
    pub(super) fn record(
        &mut self,
        now_ms: u64,
        record: &UserRecord,
        lambda_keys: Option<&BTreeMap<String, String>>,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        let position = record.position.clone();
        self.before_record(&position, actions)?;
        self.add_record(now_ms, record, &position, lambda_keys, actions)?;
        self.after_record(position);
        Ok(())
    }

    pub(super) fn pass(
        &mut self,
        position: SequencePosition,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        if self.last_read.as_ref().is_none_or(|l| position > *l) {
            self.before_record(&position, actions)?;
            self.after_record(position);
        }
        self.cut_at_reached_intent(actions)
    }

    pub(super) fn flush_at(&mut self, at: SequencePosition, actions: &mut Vec<BufferAction>) {
        if !self.can_flush_at() || self.last_read.as_ref().is_some_and(|l| at < *l) {
            return;
        }
        self.progress = Some(PendingProgress {
            horizon: at.clone(),
            flush_intent: Some(at.clone()),
            withheld: Vec::new(),
        });
        actions.push(BufferAction::RecordProgress {
            horizon: at.clone(),
            flush_intent: Some(at),
        });
    }

    /// A shard-wide flush intent is recorded: cut every buffer now when it is at the last
    /// position given, or once it is passed (as an earlier owner's intent is reproduced).
    pub(super) fn cut_at_recorded_intent(
        &mut self,
        at: SequencePosition,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        if self.last_read.as_ref() == Some(&at) {
            self.cut_everything(at, actions)
        } else {
            self.replay_intent = Some(at);
            Ok(())
        }
    }
}
