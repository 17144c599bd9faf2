//! Which leases belong to shards the stream no longer lists, judged without a stale view.
//!
//! The lease table is read BEFORE the stream's shards are listed: every lease read then existed
//! when the list was taken, so its shard was listed then unless it is truly gone (past the
//! stream's retention). Read the other way round, a pause between the two reads (a SIGSTOP, a
//! long GC-like stall) across a split lets other workers create the children's leases after the
//! list was taken, and those children look "no longer listed". An unread lease is also judged
//! only after a second listing still lacks its shard.

use std::collections::BTreeSet;

use std::sync::Arc;

use futures::StreamExt;
use kinesink_delivery::ProgressStore;
use kinesink_lease_coordination::{Checkpoint, Lease, LeaseTable};
use kinesink_shard_reader::{ShardInfo, ShardSource};

use crate::destination_progress::stored_progress;

/// The leases and shards of one shard sync, and the leases whose shard is not listed.
#[derive(Debug, Clone)]
pub(crate) struct ShardSyncView {
    /// The lease table, read before `shards`.
    pub(crate) leases: Vec<Lease>,
    /// The stream's shards, listed after `leases` were read.
    pub(crate) shards: Vec<ShardInfo>,
    /// Unlisted shards whose lease is at `SHARD_END`: their lease may be deleted.
    pub(crate) ended: Vec<String>,
    /// Unlisted shards whose lease is not at `SHARD_END`, absent from two listings: records
    /// expired unread (reported, the lease kept).
    pub(crate) gone_unread: Vec<(String, Checkpoint)>,
}

/// Reads the lease table, then lists the shards, and sorts the leases whose shard is not listed
/// (see the module documentation).
///
/// # Errors
/// The lease table or the stream could not be read.
pub(crate) async fn read_view(
    table: &dyn LeaseTable,
    source: &dyn ShardSource,
) -> anyhow::Result<ShardSyncView> {
    let leases = table.snapshot().await?.leases;
    let shards = source.list_shards().await?;
    let (ended, mut gone_unread) = unlisted(&leases, &shards);
    if !gone_unread.is_empty() {
        let relisted = source.list_shards().await?;
        let (_, still) = unlisted(&leases, &relisted);
        gone_unread.retain(|(id, _)| still.iter().any(|(s, _)| s == id));
    }
    Ok(ShardSyncView {
        leases,
        shards,
        ended,
        gone_unread,
    })
}

/// The leases `shards` does not list: ids of those at `SHARD_END`, and the others with their
/// checkpoint.
pub(crate) fn unlisted(
    leases: &[Lease],
    shards: &[ShardInfo],
) -> (Vec<String>, Vec<(String, Checkpoint)>) {
    let listed: BTreeSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    let mut ended = Vec::new();
    let mut unread = Vec::new();
    for lease in leases
        .iter()
        .filter(|l| !listed.contains(l.shard_id.as_str()))
    {
        if lease.checkpoint == Checkpoint::ShardEnd {
            ended.push(lease.shard_id.clone());
        } else {
            unread.push((lease.shard_id.clone(), lease.checkpoint.clone()));
        }
    }
    (ended, unread)
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
pub(crate) async fn sync_shards(
    table: &dyn LeaseTable,
    source: &dyn ShardSource,
    progress: &Arc<dyn ProgressStore>,
    name: &str,
    initial_checkpoint: &Checkpoint,
) -> anyhow::Result<()> {
    // The lease table is read before the shards are listed, and an unread lease is judged
    // gone only when a second listing agrees (see `shard_sync`): no false report after a
    // pause across a split.
    let ShardSyncView {
        leases,
        shards,
        ended,
        gone_unread,
    } = read_view(table, source).await?;
    for shard_id in ended {
        if table.delete_ended(&shard_id).await? {
            tracing::info!(shard_id = %shard_id, "deleted the lease of a shard past the stream's retention");
        }
    }
    for (shard_id, checkpoint) in gone_unread {
        tracing::error!(shard_id = %shard_id, checkpoint = %checkpoint, "the stream no longer lists this shard but it was not read to its end; its lease is kept");
    }
    let known: std::collections::BTreeSet<String> =
        leases.into_iter().map(|l| l.shard_id).collect();
    // The progress objects of shards without a row are read a few at a time (a first start
    // of a large stream reads one per shard, none of which exists yet).
    let missing: Vec<_> = shards
        .iter()
        .filter(|s| !known.contains(&s.shard_id))
        .collect();
    // Owned futures: a future borrowing the listing is not `Send` for every lifetime, which
    // `tokio::spawn(worker.run(..))` needs.
    let lookups = missing.iter().map(|shard| {
        let (store, name, shard_id) = (progress.clone(), name.to_owned(), shard.shard_id.clone());
        async move { stored_progress(store.as_ref(), &name, &shard_id).await }
    });
    let stored: Vec<_> = futures::stream::iter(lookups.collect::<Vec<_>>())
        .buffered(16)
        .collect()
        .await;
    for (shard, stored) in missing.into_iter().zip(stored) {
        let has_parent = shard
            .parent_shard_ids
            .iter()
            .any(|p| shards.iter().any(|s| &s.shard_id == p));
        let initial = if has_parent {
            Checkpoint::TrimHorizon
        } else {
            initial_checkpoint.clone()
        };
        let mut lease = Lease::new(
            shard.shard_id.clone(),
            shard.parent_shard_ids.clone(),
            initial,
        );
        let stored = stored.map_err(|e| {
            anyhow::anyhow!(
                "shard {} has no lease row and its progress could not be read: {e}",
                shard.shard_id
            )
        })?;
        if let Some(progress) = &stored {
            progress.apply_to(&mut lease);
        }
        if table.create_if_missing(&lease).await? {
            match stored {
                Some(_) => {
                    tracing::warn!(shard_id = %shard.shard_id, checkpoint = %lease.checkpoint, "the shard's lease row was missing (deleted, or the lease table dropped); recreated it from the progress kept in the destination");
                    metrics::counter!("kinesink_lease_rows_recreated_total").increment(1);
                }
                None => tracing::info!(shard_id = %shard.shard_id, "created lease"),
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
        let view = read_view(table.as_ref(), &source).await.unwrap();
        assert!(
            view.gone_unread.is_empty(),
            "no shard is gone: {:?}",
            view.gone_unread
        );
        // The next sync sees the children both in the table and in the stream.
        let view = read_view(table.as_ref(), &source).await.unwrap();
        assert!(view.gone_unread.is_empty() && view.ended.is_empty());
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
        let view = read_view(&table, &stream).await.unwrap();
        assert_eq!(view.ended, vec!["old-ended".to_owned()]);
        assert_eq!(
            view.gone_unread,
            vec![("expired-unread".to_owned(), Checkpoint::Latest)]
        );
    }
}
