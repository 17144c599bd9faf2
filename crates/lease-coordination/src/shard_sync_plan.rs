//! What one shard sync must change in the lease table, decided from the table and the stream's
//! listings alone: pure, no I/O.
//!
//! The shell reads the lease table BEFORE it lists the stream's shards: every lease read then
//! existed when the list was taken, so its shard was listed then unless it is truly gone (past
//! the stream's retention). Read the other way round, a pause between the two reads (a
//! SIGSTOP, a long stall) across a split lets other workers create the children's leases after
//! the list was taken, and those children look "no longer listed". An unread lease is also
//! judged gone only when a second listing still lacks its shard
//! ([`ShardSyncPlan::needs_second_listing`]).

use std::collections::BTreeSet;

use crate::{Checkpoint, Lease};

/// A shard as the stream lists it: all a shard sync needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedShard {
    /// The shard's id.
    pub shard_id: String,
    /// Its parents (one after a split, two after a merge, none for an original shard).
    pub parent_shard_ids: Vec<String>,
}

/// The changes of one shard sync. Guarantees: a lease is deleted only when the stream no
/// longer lists its shard AND it is at `SHARD_END` (read to its end); a lease not read to its
/// end is never deleted, only reported; a new lease is planned only for a listed shard without
/// one, at `TRIM_HORIZON` when one of its parents is listed (nothing after a reshard is
/// skipped), at the initial checkpoint otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardSyncPlan {
    /// Unlisted shards at `SHARD_END`: their leases may be deleted.
    pub delete_ended: Vec<String>,
    /// Unlisted shards not at `SHARD_END` in every listing given: records expired unread
    /// (reported; the lease is kept).
    pub gone_unread: Vec<(String, Checkpoint)>,
    /// Leases to create for listed shards that have none, at their initial checkpoint. The
    /// shell first applies the shard's progress kept in the destination, if any (a lease row
    /// that was lost is recreated from it, never at the initial position).
    pub create: Vec<Lease>,
}

impl ShardSyncPlan {
    /// Whether `listing` lacks the shard of a lease that is not at `SHARD_END`: then the shell
    /// lists the stream a second time before [`ShardSyncPlan::new`] judges it gone.
    #[must_use]
    pub fn needs_second_listing(leases: &[Lease], listing: &[ListedShard]) -> bool {
        !unlisted(leases, listing).1.is_empty()
    }

    /// The plan for `leases` (read first) and `listings` (the stream's shards, listed after
    /// the leases were read; a second listing only when
    /// [`ShardSyncPlan::needs_second_listing`] said so). New leases come from the first
    /// listing; a lease is reported gone unread only if every listing lacks its shard.
    #[must_use]
    pub fn new(leases: &[Lease], listings: &[&[ListedShard]], initial: &Checkpoint) -> Self {
        let Some((first, later)) = listings.split_first() else {
            return Self::default();
        };
        let (delete_ended, mut gone_unread) = unlisted(leases, first);
        for listing in later {
            let (_, still) = unlisted(leases, listing);
            gone_unread.retain(|(id, _)| still.iter().any(|(s, _)| s == id));
        }
        let known: BTreeSet<&str> = leases.iter().map(|l| l.shard_id.as_str()).collect();
        let create = first
            .iter()
            .filter(|s| !known.contains(s.shard_id.as_str()))
            .map(|shard| {
                let has_listed_parent = shard
                    .parent_shard_ids
                    .iter()
                    .any(|p| first.iter().any(|s| &s.shard_id == p));
                let checkpoint = if has_listed_parent {
                    Checkpoint::TrimHorizon
                } else {
                    initial.clone()
                };
                Lease::new(
                    shard.shard_id.clone(),
                    shard.parent_shard_ids.clone(),
                    checkpoint,
                )
            })
            .collect();
        Self {
            delete_ended,
            gone_unread,
            create,
        }
    }
}

/// The leases `listing` does not list: ids of those at `SHARD_END`, and the others with their
/// checkpoint.
fn unlisted(leases: &[Lease], listing: &[ListedShard]) -> (Vec<String>, Vec<(String, Checkpoint)>) {
    let listed: BTreeSet<&str> = listing.iter().map(|s| s.shard_id.as_str()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, parents: &[&str]) -> ListedShard {
        ListedShard {
            shard_id: id.into(),
            parent_shard_ids: parents.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn ended(id: &str) -> Lease {
        let mut lease = Lease::new(id, vec![], Checkpoint::TrimHorizon);
        lease.checkpoint = Checkpoint::ShardEnd;
        lease
    }

    #[test]
    fn only_an_unlisted_lease_at_shard_end_is_deleted_and_an_unread_one_is_reported_not_deleted() {
        let leases = [
            ended("old-ended"),
            Lease::new("expired-unread", vec![], Checkpoint::Latest),
            Lease::new("live", vec![], Checkpoint::TrimHorizon),
        ];
        let listing = [listed("live", &[])];
        assert!(ShardSyncPlan::needs_second_listing(&leases, &listing));
        let plan = ShardSyncPlan::new(&leases, &[&listing, &listing], &Checkpoint::Latest);
        assert_eq!(plan.delete_ended, vec!["old-ended".to_owned()]);
        assert_eq!(
            plan.gone_unread,
            vec![("expired-unread".to_owned(), Checkpoint::Latest)]
        );
        assert!(plan.create.is_empty());
    }

    #[test]
    fn an_unread_lease_that_a_second_listing_lists_again_is_not_reported() {
        let leases = [Lease::new("s-1", vec![], Checkpoint::TrimHorizon)];
        let plan = ShardSyncPlan::new(
            &leases,
            &[&[], &[listed("s-1", &[])]],
            &Checkpoint::TrimHorizon,
        );
        assert!(plan.gone_unread.is_empty());
        assert!(plan.delete_ended.is_empty());
    }

    #[test]
    fn a_listing_that_lists_every_unended_lease_needs_no_second_listing() {
        let leases = [ended("gone"), Lease::new("s-1", vec![], Checkpoint::Latest)];
        assert!(!ShardSyncPlan::needs_second_listing(
            &leases,
            &[listed("s-1", &[])]
        ));
    }

    #[test]
    fn new_shards_start_at_trim_horizon_under_a_listed_parent_and_at_the_initial_checkpoint_otherwise()
     {
        let leases = [Lease::new("parent", vec![], Checkpoint::TrimHorizon)];
        let listing = [
            listed("parent", &[]),
            listed("child", &["parent"]),
            listed("orphan", &["expired-parent"]),
            listed("original", &[]),
        ];
        let plan = ShardSyncPlan::new(&leases, &[&listing], &Checkpoint::Latest);
        let created: Vec<(&str, &Checkpoint, &[String])> = plan
            .create
            .iter()
            .map(|l| {
                (
                    l.shard_id.as_str(),
                    &l.checkpoint,
                    l.parent_shard_ids.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            created,
            vec![
                (
                    "child",
                    &Checkpoint::TrimHorizon,
                    &["parent".to_owned()][..]
                ),
                (
                    "orphan",
                    &Checkpoint::Latest,
                    &["expired-parent".to_owned()][..]
                ),
                ("original", &Checkpoint::Latest, &[][..]),
            ]
        );
    }

    #[test]
    fn a_settled_stream_plans_nothing() {
        let leases = [
            Lease::new("s-0", vec![], Checkpoint::TrimHorizon),
            Lease::new("s-1", vec![], Checkpoint::TrimHorizon),
        ];
        let listing = [listed("s-0", &[]), listed("s-1", &[])];
        assert_eq!(
            ShardSyncPlan::new(&leases, &[&listing], &Checkpoint::Latest),
            ShardSyncPlan::default()
        );
    }
}
