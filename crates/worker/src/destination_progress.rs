//! The worker's side of each shard's progress object in the destination (the lease table is a
//! cache of it): claimed when a lease is taken, rewritten with compare-and-swap before every
//! fenced lease write, read to recreate a lost lease row.

use std::sync::Arc;
use std::time::Duration;

use kinesink_delivery::{
    DestinationHealth, ProgressCondition, ProgressStore, ProgressTag, ProgressWrite, SinkError,
    SinkErrorClass, WriteRetry, progress_key,
};
use kinesink_lease_coordination::{Checkpoint, Lease, ShardProgress};
use tokio_util::sync::CancellationToken;

/// Why progress could not be stored.
#[derive(Debug)]
pub enum ProgressFailure {
    /// Another worker claimed or changed the object, or it was deleted (`leases reset`): this
    /// worker no longer owns the shard and must write nothing more for it.
    Superseded,
    /// Stopped or lost while waiting to retry.
    Cancelled,
    /// The destination refused for the whole retry duration, or the object is unreadable.
    Failed(String),
}

/// Retries of one progress-object read or write: fast backoff for transient failures, the slow
/// fixed pace for permanent refusals (reported through `health`, which `/readyz` follows).
struct ProgressRetry<'a> {
    retry: WriteRetry,
    first_failure: Option<std::time::Instant>,
    health: &'a DestinationHealth,
    shard_id: &'a str,
}

impl<'a> ProgressRetry<'a> {
    fn new(retry_duration: Duration, health: &'a DestinationHealth, shard_id: &'a str) -> Self {
        Self {
            retry: WriteRetry::new(retry_duration),
            first_failure: None,
            health,
            shard_id,
        }
    }

    /// The pause before the next attempt after `error` (of `class`); `None`: give up.
    fn after(&mut self, error: &str, class: SinkErrorClass) -> Option<Duration> {
        let failing_for = self
            .first_failure
            .get_or_insert_with(std::time::Instant::now)
            .elapsed();
        if class == SinkErrorClass::Permanent {
            metrics::counter!(kinesink_metric_names::DESTINATION_REFUSALS).increment(1);
            if self.health.refused(self.shard_id, error) {
                tracing::error!(shard_id = %self.shard_id, error = %error, "the destination refuses the shard's progress object for a reason waiting does not fix; retrying every {} s until it is fixed (up to destination.retry_duration_s), worker unready", kinesink_delivery::PERMANENT_RETRY_PACE.as_secs());
            }
        }
        let pause = self.retry.next_pause(failing_for, class)?;
        Some(match class {
            SinkErrorClass::Permanent => pause,
            SinkErrorClass::Transient => pause.mul_f64(0.5 + rand::random::<f64>() / 2.0),
        })
    }

    fn succeeded(&self) {
        if self.health.accepted(self.shard_id) {
            tracing::info!(shard_id = %self.shard_id, "the destination accepts the shard's progress object again");
        }
    }
}

/// Reads the stored progress of a shard (no claim): what a lost lease row is recreated from.
///
/// # Errors
/// The destination failed, or the object is unreadable.
pub async fn stored_progress(
    store: &dyn ProgressStore,
    name: &str,
    shard_id: &str,
) -> Result<Option<ShardProgress>, String> {
    let key = progress_key(name, shard_id);
    match store.read_progress(&key).await.map_err(|e| e.to_string())? {
        None => Ok(None),
        Some((bytes, _)) => ShardProgress::decode(shard_id, &bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

/// Stores `checkpoint` (with no flush intent or horizon) as a shard's progress: `leases reset`,
/// so the progress kept in the destination does not overrule the reset lease row. A holder of
/// the object is superseded (its next write fails). An unreadable object is replaced.
///
/// # Errors
/// The destination failed, or the object changed while it was being reset (try again).
pub async fn reset_progress(
    store: &dyn ProgressStore,
    name: &str,
    shard_id: &str,
    checkpoint: &Checkpoint,
) -> Result<(), String> {
    let key = progress_key(name, shard_id);
    let (version, condition) = match store.read_progress(&key).await.map_err(|e| e.to_string())? {
        None => (0, ProgressCondition::Absent),
        Some((bytes, tag)) => (
            ShardProgress::decode(shard_id, &bytes).map_or(0, |p| p.version),
            ProgressCondition::Unchanged(tag),
        ),
    };
    let mut reset = ShardProgress::of_lease(&Lease::new(shard_id, Vec::new(), checkpoint.clone()));
    reset.version = version + 1;
    reset.writer = "kinesink leases reset".to_owned();
    match store
        .write_progress(&key, reset.encode(), &condition)
        .await
        .map_err(|e| e.to_string())?
    {
        ProgressWrite::Written(_) => Ok(()),
        ProgressWrite::Conflict => Err(format!(
            "the progress object {key} changed while resetting it; try again"
        )),
    }
}

/// This worker's hold on one shard's progress object.
///
/// Guarantees: every write is conditional on the version this worker wrote last, so after
/// another worker claimed the object none of this worker's writes lands (it gets
/// [`ProgressFailure::Superseded`] and must stop the shard); the stored progress only moves
/// forward (see [`ShardProgress`]).
pub struct ProgressObject {
    store: Arc<dyn ProgressStore>,
    key: String,
    current: ShardProgress,
    tag: ProgressTag,
    health: Arc<DestinationHealth>,
}

impl std::fmt::Debug for ProgressObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressObject")
            .field("key", &self.key)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl ProgressObject {
    /// Claims the progress object of a lease just taken by `writer`: reads it, resumes from it
    /// or from the lease row, whichever is further ([`ShardProgress::resume_from`]), and writes
    /// that back as a new version, so any earlier holder's next write fails. Retries destination
    /// errors with backoff for `retry_duration`, and races with another claimer at once.
    ///
    /// # Errors
    /// [`ProgressFailure::Cancelled`] when `cancel` fires first; [`ProgressFailure::Failed`]
    /// when the object is unreadable or the destination failed for the whole retry duration.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim(
        store: Arc<dyn ProgressStore>,
        name: &str,
        lease: &Lease,
        writer: &str,
        retry_duration: Duration,
        health: Arc<DestinationHealth>,
        cancel: &CancellationToken,
    ) -> Result<Self, ProgressFailure> {
        let key = progress_key(name, &lease.shard_id);
        let mut retry = ProgressRetry::new(retry_duration, &health, &lease.shard_id);
        let mut races = 0_u32;
        loop {
            let (error, class) = match Self::try_claim(&store, &key, lease, writer, &health).await {
                Ok(Some(object)) => {
                    retry.succeeded();
                    return Ok(object);
                }
                Ok(None) if races < 100 => {
                    races += 1;
                    continue;
                }
                Ok(None) => (
                    "another worker keeps changing it".to_owned(),
                    SinkErrorClass::Transient,
                ),
                Err(ClaimError::Unreadable(message)) => {
                    return Err(ProgressFailure::Failed(message));
                }
                Err(ClaimError::Store(e)) => (e.to_string(), e.class),
            };
            let Some(pause) = retry.after(&error, class) else {
                return Err(ProgressFailure::Failed(format!(
                    "claiming the progress object of shard {} failed for the whole retry duration ({} s, destination.retry_duration_s); last error: {error}",
                    lease.shard_id,
                    retry_duration.as_secs()
                )));
            };
            if class == SinkErrorClass::Transient {
                tracing::warn!(shard_id = %lease.shard_id, error = %error, "claiming the shard's progress object failed; retrying");
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(ProgressFailure::Cancelled),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn try_claim(
        store: &Arc<dyn ProgressStore>,
        key: &str,
        lease: &Lease,
        writer: &str,
        health: &Arc<DestinationHealth>,
    ) -> Result<Option<Self>, ClaimError> {
        // `None`: another claimer changed the object between the read and the write.
        let (stored, condition) = match store.read_progress(key).await? {
            None => (None, ProgressCondition::Absent),
            Some((bytes, tag)) => (
                Some(
                    ShardProgress::decode(&lease.shard_id, &bytes)
                        .map_err(|e| ClaimError::Unreadable(e.to_string()))?,
                ),
                ProgressCondition::Unchanged(tag),
            ),
        };
        let claimed = ShardProgress::resume_from(stored.as_ref(), lease).claimed_by(writer);
        match store
            .write_progress(key, claimed.encode(), &condition)
            .await?
        {
            ProgressWrite::Written(tag) => Ok(Some(Self {
                store: store.clone(),
                key: key.to_owned(),
                current: claimed,
                tag,
                health: health.clone(),
            })),
            ProgressWrite::Conflict => Ok(None),
        }
    }

    /// The progress as last stored by this worker.
    #[must_use]
    pub fn current(&self) -> &ShardProgress {
        &self.current
    }

    /// Stores `next` if the object is still the version this worker wrote last, retrying
    /// destination errors with backoff for `retry_duration`. A write whose answer was lost but
    /// which landed is recognised by reading the object back after a refused condition.
    ///
    /// # Errors
    /// [`ProgressFailure::Superseded`] when another worker changed the object (stop the shard);
    /// [`ProgressFailure::Cancelled`] when `lost` fires while waiting; [`ProgressFailure::Failed`]
    /// after the whole retry duration.
    pub async fn store(
        &mut self,
        next: ShardProgress,
        retry_duration: Duration,
        lost: &CancellationToken,
    ) -> Result<(), ProgressFailure> {
        let body = next.encode();
        let health = self.health.clone();
        let shard_id = next.shard_id.clone();
        let mut retry = ProgressRetry::new(retry_duration, &health, &shard_id);
        loop {
            let outcome = self
                .store
                .write_progress(
                    &self.key,
                    body.clone(),
                    &ProgressCondition::Unchanged(self.tag.clone()),
                )
                .await;
            let (error, class) = match outcome {
                Ok(ProgressWrite::Written(tag)) => {
                    metrics::counter!(kinesink_metric_names::PROGRESS_OBJECT_WRITES).increment(1);
                    retry.succeeded();
                    self.tag = tag;
                    self.current = next;
                    return Ok(());
                }
                Ok(ProgressWrite::Conflict) => {
                    // An earlier attempt (ours, or the SDK's own retry of it) may have landed
                    // without its answer reaching us: then the object holds our bytes.
                    match self.store.read_progress(&self.key).await {
                        Ok(Some((bytes, tag))) if bytes == body => {
                            metrics::counter!(kinesink_metric_names::PROGRESS_OBJECT_WRITES)
                                .increment(1);
                            retry.succeeded();
                            self.tag = tag;
                            self.current = next;
                            return Ok(());
                        }
                        Ok(_) => return Err(ProgressFailure::Superseded),
                        Err(e) => (e.to_string(), e.class),
                    }
                }
                Err(e) => (e.to_string(), e.class),
            };
            let Some(pause) = retry.after(&error, class) else {
                return Err(ProgressFailure::Failed(format!(
                    "writing progress object {} failed for the whole retry duration ({} s, destination.retry_duration_s); last error: {error}",
                    self.key,
                    retry_duration.as_secs()
                )));
            };
            if class == SinkErrorClass::Transient {
                tracing::warn!(key = %self.key, error = %error, "progress object write failed; retrying");
            }
            tokio::select! {
                () = lost.cancelled() => return Err(ProgressFailure::Cancelled),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

enum ClaimError {
    Store(SinkError),
    Unreadable(String),
}

impl From<SinkError> for ClaimError {
    fn from(e: SinkError) -> Self {
        Self::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinesink_delivery::MemorySink;
    use kinesink_sequence_position::SequencePosition;

    fn health() -> Arc<DestinationHealth> {
        Arc::new(DestinationHealth::new())
    }

    fn seq(n: u64) -> Checkpoint {
        Checkpoint::Sequence(SequencePosition::new(n.to_string(), 0))
    }

    #[tokio::test]
    async fn a_claim_supersedes_the_earlier_holder_whose_next_write_changes_nothing() {
        let store: Arc<dyn ProgressStore> = Arc::new(MemorySink::new());
        let never = CancellationToken::new();
        let lease = Lease::new("s-1", vec![], Checkpoint::TrimHorizon);
        let retry = Duration::from_secs(1);
        let mut zombie =
            ProgressObject::claim(store.clone(), "n", &lease, "a", retry, health(), &never)
                .await
                .unwrap();
        let intent = SequencePosition::new("100", 0);
        zombie
            .store(
                zombie.current().with_flush_progress(&intent, Some(&intent)),
                retry,
                &never,
            )
            .await
            .unwrap();
        // The lease row was deleted and recreated at the initial position: the successor still
        // resumes from the stored intent.
        let successor =
            ProgressObject::claim(store.clone(), "n", &lease, "b", retry, health(), &never)
                .await
                .unwrap();
        assert_eq!(successor.current().flush_intent, Some(intent.clone()));
        assert_eq!(successor.current().writer, "b");
        let stale = zombie.current().with_checkpoint(&seq(100));
        assert!(matches!(
            zombie.store(stale, retry, &never).await,
            Err(ProgressFailure::Superseded)
        ));
        let stored = stored_progress(store.as_ref(), "n", "s-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored,
            *successor.current(),
            "the zombie's write changed nothing"
        );
    }

    #[tokio::test]
    async fn a_reset_replaces_the_stored_progress_and_supersedes_its_holder() {
        let store: Arc<dyn ProgressStore> = Arc::new(MemorySink::new());
        let never = CancellationToken::new();
        let retry = Duration::from_secs(1);
        let lease = Lease::new("s-1", vec![], seq(500));
        let mut holder =
            ProgressObject::claim(store.clone(), "n", &lease, "a", retry, health(), &never)
                .await
                .unwrap();
        reset_progress(store.as_ref(), "n", "s-1", &Checkpoint::TrimHorizon)
            .await
            .unwrap();
        let next = holder.current().with_checkpoint(&seq(600));
        assert!(matches!(
            holder.store(next, retry, &never).await,
            Err(ProgressFailure::Superseded)
        ));
        let reset_row = Lease::new("s-1", vec![], Checkpoint::TrimHorizon);
        let resumed =
            ProgressObject::claim(store.clone(), "n", &reset_row, "b", retry, health(), &never)
                .await
                .unwrap();
        assert_eq!(resumed.current().checkpoint, Checkpoint::TrimHorizon);
        assert_eq!(resumed.current().flush_horizon, None);
    }

    #[tokio::test]
    async fn an_unreadable_progress_object_fails_the_claim_loudly() {
        let sink = Arc::new(MemorySink::new());
        sink.write_progress(
            &progress_key("n", "s-1"),
            b"garbage".to_vec(),
            &ProgressCondition::Absent,
        )
        .await
        .unwrap();
        let lease = Lease::new("s-1", vec![], Checkpoint::TrimHorizon);
        let err = ProgressObject::claim(
            sink,
            "n",
            &lease,
            "a",
            Duration::from_secs(1),
            health(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ProgressFailure::Failed(m) if m.contains("s-1")),
            "{err:?}"
        );
    }
}
