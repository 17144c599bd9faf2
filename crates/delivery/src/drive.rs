//! The one loop that runs a shard's buffers: feed an event, perform what they ask, feed each
//! completion back. `kinesink run` performs the actions against S3 and the lease table,
//! `kinesink dry-run` against a directory with no lease; both go through [`drive`], so a preview
//! takes the same steps in the same order as a run.

use std::collections::VecDeque;

use crate::shard_buffers::{BufferAction, BufferError, BufferEvent, ShardBuffers};

/// Why [`drive`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriveError<E> {
    /// The buffers refused an event (an encoding or prefix failure).
    #[error(transparent)]
    Buffers(#[from] BufferError),
    /// Performing an action failed.
    #[error("{0}")]
    Perform(E),
}

/// Performs what a shard's buffers ask for (see [`drive`]).
pub trait PerformActions {
    /// Why an action could not be performed.
    type Error;

    /// Performs `action` and returns the event that reports its completion
    /// ([`BufferEvent::ObjectDurable`], [`BufferEvent::ProgressRecorded`],
    /// [`BufferEvent::CheckpointWritten`]), or `None` when the completion comes later: the
    /// shell then feeds it itself with a later [`drive`] call (a table destination's checkpoint
    /// waits for the table's next commit while the shard reads on).
    fn perform(
        &mut self,
        action: BufferAction,
    ) -> impl std::future::Future<Output = Result<Option<BufferEvent>, Self::Error>> + Send;

    /// Performs `writes`, each a [`BufferAction::Write`] asked for in one step (the objects of
    /// one flush: independent of one another, and nothing is checkpointed before all are
    /// durable), and returns their completions in the same order. The default performs them
    /// one after the other; a performer may run them concurrently (a shutdown with thousands of
    /// open partitions then takes as long as the slowest writes, not their sum).
    fn perform_writes(
        &mut self,
        writes: Vec<BufferAction>,
    ) -> impl std::future::Future<Output = Result<Vec<Option<BufferEvent>>, Self::Error>> + Send
    where
        Self: Send,
    {
        async move {
            let mut done = Vec::with_capacity(writes.len());
            for write in writes {
                done.push(self.perform(write).await?);
            }
            Ok(done)
        }
    }
}

/// Feeds `event` to `buffers` at `now_ms`, performs each action they ask for with `performer`
/// (in the order asked; object writes asked for one after the other in one step together,
/// through [`PerformActions::perform_writes`]), and feeds each completion back, first in first
/// out, until they ask for nothing more.
///
/// Guarantees: every action asked for is performed exactly once and its completion fed back
/// before this returns (unless the performer defers it: `None`), unless the performer or the
/// buffers fail (then nothing more is performed).
///
/// # Errors
/// [`DriveError::Buffers`] from [`ShardBuffers::step`], [`DriveError::Perform`] from the
/// performer.
pub async fn drive<P: PerformActions + Send>(
    buffers: &mut ShardBuffers,
    now_ms: u64,
    event: BufferEvent,
    performer: &mut P,
) -> Result<(), DriveError<P::Error>> {
    // The first event is not queued: most records ask for nothing, and then no queue is ever
    // allocated.
    let mut next = Some(event);
    let mut queue = VecDeque::new();
    while let Some(event) = next.take().or_else(|| queue.pop_front()) {
        let mut actions = buffers.step(now_ms, event)?.into_iter().peekable();
        while let Some(action) = actions.next() {
            let is_write = |a: &BufferAction| matches!(a, BufferAction::Write(_));
            if is_write(&action) && actions.peek().is_some_and(is_write) {
                let mut writes = vec![action];
                while let Some(write) = actions.next_if(is_write) {
                    writes.push(write);
                }
                let done = performer
                    .perform_writes(writes)
                    .await
                    .map_err(DriveError::Perform)?;
                queue.extend(done.into_iter().flatten());
                continue;
            }
            if let Some(done) = performer
                .perform(action)
                .await
                .map_err(DriveError::Perform)?
            {
                queue.push_back(done);
            }
        }
    }
    Ok(())
}
