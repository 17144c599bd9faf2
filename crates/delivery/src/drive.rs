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
}

/// Feeds `event` to `buffers` at `now_ms`, performs each action they ask for with `performer`
/// (in the order asked), and feeds each completion back, first in first out, until they ask for
/// nothing more.
///
/// Guarantees: every action asked for is performed exactly once and its completion fed back
/// before this returns (unless the performer defers it: `None`), unless the performer or the
/// buffers fail (then nothing more is performed).
///
/// # Errors
/// [`DriveError::Buffers`] from [`ShardBuffers::step`], [`DriveError::Perform`] from the
/// performer.
pub async fn drive<P: PerformActions>(
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
        for action in buffers.step(now_ms, event)? {
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
