//! Shard sync, the shell: reads the lease table, then lists the stream (twice when the pure
//! [`ShardSyncPlan`] asks), and performs the plan: deletes ended leases of shards gone past the
//! stream's retention, reports unread ones, creates the leases of new shards (from the
//! progress kept in the destination when a shard had a row that was lost).

use std::sync::Arc;

use futures::StreamExt;
use kinesink_delivery::ProgressStore;
use kinesink_lease_coordination::{
    Checkpoint, FailureClass, Lease, LeaseError, LeaseTable, ListedShard, ShardSyncPlan,
};
use kinesink_shard_reader::{ShardInfo, ShardSource, SourceError};

use crate::destination_progress::stored_progress;

/// Why a shard sync did not complete (the next sync tries again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShardSyncError {
    /// The lease table could not be read or written.
    #[error("lease table: {0}")]
    LeaseTable(#[from] LeaseError),
    /// The stream's shards could not be listed.
    #[error("listing the stream's shards: {0}")]
    Stream(#[from] SourceError),
    /// A shard without a lease row has a progress object that could not be read: creating its
    /// row at the initial position could deliver its records twice, so the sync stops.
    #[error("shard {shard_id} has no lease row and its progress could not be read: {message}")]
    Progress {
        /// The shard.
        shard_id: String,
        /// What the destination answered.
        message: String,
    },
}

impl ShardSyncError {
    /// Whether waiting can help: the lease table's own class; listing and progress failures
    /// are retried (a refusal of either is reported on every attempt).
    #[must_use]
    pub(crate) fn class(&self) -> FailureClass {
        match self {
            Self::LeaseTable(e) => e.class(),
            Self::Stream(_) | Self::Progress { .. } => FailureClass::Transient,
        }
    }
}

/// The leases and shards of one shard sync, and its plan.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "what the sync saw: read by the tests")
)]
pub(crate) struct ShardSyncView {
    /// The lease table, read before `shards`.
    pub(crate) leases: Vec<Lease>,
    /// The stream's shards, listed after `leases` were read.
    pub(crate) shards: Vec<ShardInfo>,
    /// What to change.
    pub(crate) plan: ShardSyncPlan,
}

fn listed(shards: &[ShardInfo]) -> Vec<ListedShard> {
    shards
        .iter()
        .map(|s| ListedShard {
            shard_id: s.shard_id.clone(),
            parent_shard_ids: s.parent_shard_ids.clone(),
        })
        .collect()
}

/// Reads the lease table, then lists the shards (a second time when a lease not read to its
/// end is unlisted), and plans the sync (see [`ShardSyncPlan`]).
///
/// # Errors
/// The lease table or the stream could not be read.
pub(crate) async fn read_view(
    table: &dyn LeaseTable,
    source: &dyn ShardSource,
    initial_checkpoint: &Checkpoint,
) -> Result<ShardSyncView, ShardSyncError> {
    let leases = table.snapshot().await?.leases;
    let shards = source.list_shards().await?;
    let first = listed(&shards);
    let plan = if ShardSyncPlan::needs_second_listing(&leases, &first) {
        let second = listed(&source.list_shards().await?);
        ShardSyncPlan::new(&leases, &[&first, &second], initial_checkpoint)
    } else {
        ShardSyncPlan::new(&leases, &[&first], initial_checkpoint)
    };
    Ok(ShardSyncView {
        leases,
        shards,
        plan,
    })
}

/// Creates leases for shards that have none. A shard whose progress object exists in the
/// destination had a lease row that was lost (deleted by hand, or the table dropped): its
/// row is recreated from that progress, never at the initial position, and a WARN says so.
/// Otherwise children start at `TRIM_HORIZON` so nothing after a reshard is skipped, and
/// shards without parents in the table start at the initial position.
///
/// Only shards with no lease in the table cost a write (one Scan reads the table first), so a
/// periodic sync of a settled stream writes nothing.
///
/// Leases of shards the stream no longer lists (gone past its retention period) are deleted
/// once they are at `SHARD_END`; one that is not (its records expired unread) is kept and
/// reported, never silently dropped.
///
/// # Errors
/// [`ShardSyncError`]: what could not be read or written; the next sync tries again.
pub(crate) async fn sync_shards(
    table: &dyn LeaseTable,
    source: &dyn ShardSource,
    progress: &Arc<dyn ProgressStore>,
    name: &str,
    initial_checkpoint: &Checkpoint,
) -> Result<(), ShardSyncError> {
    let ShardSyncView { plan, .. } = read_view(table, source, initial_checkpoint).await?;
    for shard_id in plan.delete_ended {
        if table.delete_ended(&shard_id).await? {
            tracing::info!(shard_id = %shard_id, "deleted the lease of a shard past the stream's retention");
        }
    }
    for (shard_id, checkpoint) in plan.gone_unread {
        tracing::error!(shard_id = %shard_id, checkpoint = %checkpoint, "the stream no longer lists this shard but it was not read to its end; its lease is kept");
    }
    // The progress objects of shards without a row are read a few at a time (a first start
    // of a large stream reads one per shard, none of which exists yet). Owned futures: a
    // future borrowing the plan is not `Send` for every lifetime, which
    // `tokio::spawn(worker.run(..))` needs.
    let lookups = plan.create.iter().map(|lease| {
        let (store, name, shard_id) = (progress.clone(), name.to_owned(), lease.shard_id.clone());
        async move { stored_progress(store.as_ref(), &name, &shard_id).await }
    });
    let stored: Vec<_> = futures::stream::iter(lookups.collect::<Vec<_>>())
        .buffered(16)
        .collect()
        .await;
    for (mut lease, stored) in plan.create.into_iter().zip(stored) {
        let stored = stored.map_err(|message| ShardSyncError::Progress {
            shard_id: lease.shard_id.clone(),
            message,
        })?;
        if let Some(progress) = &stored {
            progress.apply_to(&mut lease);
        }
        if table.create_if_missing(&lease).await? {
            match stored {
                Some(_) => {
                    tracing::warn!(shard_id = %lease.shard_id, checkpoint = %lease.checkpoint, "the shard's lease row was missing (deleted, or the lease table dropped); recreated it from the progress kept in the destination");
                    metrics::counter!(kinesink_metric_names::LEASE_ROWS_RECREATED).increment(1);
                }
                None => tracing::info!(shard_id = %lease.shard_id, "created lease"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use kinesink_lease_coordination::MemoryLeaseTable;
    use kinesink_shard_reader::{MemoryShardSource, RecordPage, SourceError, StartPosition};

    use super::*;

    fn shard(id: &str, parents: &[&str], closed: bool) -> ShardInfo {
        ShardInfo {
            shard_id: id.into(),
            parent_shard_ids: parents.iter().map(|p| (*p).to_owned()).collect(),
            closed,
        }
    }

    /// A stream whose listing is answered, and THEN (as if this worker was paused right after
    /// the answer arrived) shard-0 is split and another worker creates the children's leases.
    struct SplitAfterListing {
        stream: MemoryShardSource,
        table: Arc<MemoryLeaseTable>,
        split_done: Mutex<bool>,
    }

    #[async_trait]
    impl ShardSource for SplitAfterListing {
        async fn list_shards(&self) -> Result<Vec<ShardInfo>, SourceError> {
            let answer = self.stream.list_shards().await?;
            let first = !std::mem::replace(&mut *self.split_done.lock().unwrap(), true);
            if first {
                self.stream
                    .add_shard(shard("shard-0", &[], true), vec![], vec![]);
                for child in ["shard-1", "shard-2"] {
                    self.stream
                        .add_shard(shard(child, &["shard-0"], false), vec![], vec![]);
                    self.table
                        .create_if_missing(&Lease::new(
                            child,
                            vec!["shard-0".into()],
                            Checkpoint::TrimHorizon,
                        ))
                        .await
                        .unwrap();
                }
            }
            Ok(answer)
        }
        async fn shard_iterator(
            &self,
            shard_id: &str,
            position: &StartPosition,
        ) -> Result<String, SourceError> {
            self.stream.shard_iterator(shard_id, position).await
        }
        async fn get_records(&self, iterator: &str, limit: u32) -> Result<RecordPage, SourceError> {
            self.stream.get_records(iterator, limit).await
        }
    }

    #[tokio::test]
    async fn children_created_during_a_pause_after_a_listing_across_a_split_are_not_judged_gone() {
        let table = Arc::new(MemoryLeaseTable::new());
        table
            .create_if_missing(&Lease::new("shard-0", vec![], Checkpoint::TrimHorizon))
            .await
            .unwrap();
        let stream = MemoryShardSource::new();
        stream.add_shard(shard("shard-0", &[], false), vec![], vec![]);
        let source = SplitAfterListing {
            stream,
            table: table.clone(),
            split_done: Mutex::new(false),
        };
        let view = read_view(table.as_ref(), &source, &Checkpoint::TrimHorizon)
            .await
            .unwrap();
        assert!(
            view.plan.gone_unread.is_empty(),
            "no shard is gone: {:?}",
            view.plan.gone_unread
        );
        // The next sync sees the children both in the table and in the stream.
        let view = read_view(table.as_ref(), &source, &Checkpoint::TrimHorizon)
            .await
            .unwrap();
        assert!(view.plan.gone_unread.is_empty() && view.plan.delete_ended.is_empty());
        assert_eq!(view.leases.len(), 3);
        assert_eq!(view.shards.len(), 3);
    }

    #[tokio::test]
    async fn a_shard_missing_from_two_listings_with_an_unread_lease_is_reported_and_an_ended_one_may_be_deleted()
     {
        let table = MemoryLeaseTable::new();
        let mut ended = Lease::new("old-ended", vec![], Checkpoint::TrimHorizon);
        ended.checkpoint = Checkpoint::ShardEnd;
        for lease in [
            ended,
            Lease::new("expired-unread", vec![], Checkpoint::Latest),
            Lease::new("live", vec![], Checkpoint::TrimHorizon),
        ] {
            table.create_if_missing(&lease).await.unwrap();
        }
        let stream = MemoryShardSource::new();
        stream.add_shard(shard("live", &[], false), vec![], vec![]);
        let view = read_view(&table, &stream, &Checkpoint::TrimHorizon)
            .await
            .unwrap();
        assert_eq!(view.plan.delete_ended, vec!["old-ended".to_owned()]);
        assert_eq!(
            view.plan.gone_unread,
            vec![("expired-unread".to_owned(), Checkpoint::Latest)]
        );
    }
}
