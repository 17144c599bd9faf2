//! Fenced commits of data files and shard positions to one table, and reading the positions
//! back (the shell around [`crate::fenced_catalog::FencedCommit`]).

use std::collections::BTreeMap;

use iceberg::spec::DataFile;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, ErrorKind, TableIdent};
use kinesink_sequence_position::SequencePosition;

use crate::error::IcebergSinkError;
use crate::fenced_catalog::{FenceRefusal, FencedCommit, committed_positions};
use crate::table_position::{is_usable_shard_id, summary_properties};

/// What a [`commit_files`] call did (its errors are the third outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// One new snapshot on main holds the files and the positions.
    Committed {
        /// The new snapshot's id.
        snapshot_id: i64,
        /// Every position of the commit's name the table holds after the commit, per shard
        /// (the committed ones and those of shards this commit did not touch).
        positions: BTreeMap<String, SequencePosition>,
    },
    /// Nothing was committed: the table's position of an expected shard is not the expected
    /// one (a zombie's commit, the table moved on under a new owner, or an earlier commit of
    /// ours whose outcome was unknown did land). Not to be retried with the same expectation:
    /// reconcile with the positions the table holds.
    Fenced(FenceRefusal),
}

/// Commits `files` and `positions` to `table` as one fast-append snapshot, fenced by `expect`.
///
/// `positions` are stored in the snapshot summary under `kinesink.<name>.<shard id>`;
/// `expect` maps shards to the position the caller last saw committed (`None`: none). `files`
/// may be empty: a properties-only snapshot still advances the positions.
///
/// Guarantees: `Committed` only if, atomically with the catalog's compare-and-swap, every
/// expected shard held exactly its expected position (`Fenced` otherwise, with nothing
/// committed). Commit conflicts with unrelated writers are retried by iceberg-rust on the
/// fresh table (its `commit.retry.*` table properties); a conflict left after those is a
/// transient error. Positions never move backwards through this function: a shard in
/// `positions` must be in `expect` and lie beyond its expected position, else nothing is
/// committed (a permanent error: a caller bug). Files are not checked against the table's
/// existing files (the fence is what prevents a second commit of them).
pub async fn commit_files(
    catalog: &dyn Catalog,
    table: &TableIdent,
    name: &str,
    files: Vec<DataFile>,
    positions: BTreeMap<String, SequencePosition>,
    expect: BTreeMap<String, Option<SequencePosition>>,
) -> Result<CommitOutcome, IcebergSinkError> {
    let operation = format!("commit to {table}");
    check_positions_advance(&operation, &positions, &expect)?;
    let fenced = FencedCommit::new(catalog, name, expect);
    let base = match fenced.load_table(table).await {
        Ok(base) => base,
        Err(error) => return refused_or_failed(&fenced, &operation, error),
    };
    let summary = summary_properties(name, &positions);
    let transaction = Transaction::new(&base);
    let transaction = transaction
        .fast_append()
        .with_check_duplicate(false)
        .add_data_files(files)
        .set_snapshot_properties(summary)
        .apply(transaction)
        .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?;
    let committed = match transaction.commit(&fenced).await {
        Ok(committed) => committed,
        Err(error) => return refused_or_failed(&fenced, &operation, error),
    };
    let snapshot_id = committed.metadata().current_snapshot_id().ok_or_else(|| {
        IcebergSinkError::permanent(&operation, "the committed table has no current snapshot")
    })?;
    let positions = committed_positions(&committed, name)
        .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?;
    Ok(CommitOutcome::Committed {
        snapshot_id,
        positions,
    })
}

/// The committed position of every shard of `name` in `table` (newest per shard on main's
/// ancestry; empty for a table without snapshots).
///
/// Guarantees: the positions a fenced commit would compare against, read from the catalog's
/// current metadata of the table.
pub async fn load_positions(
    catalog: &dyn Catalog,
    table: &TableIdent,
    name: &str,
) -> Result<BTreeMap<String, SequencePosition>, IcebergSinkError> {
    let operation = format!("read the positions of {table}");
    let loaded = catalog
        .load_table(table)
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?;
    committed_positions(&loaded, name).map_err(|e| IcebergSinkError::from_iceberg(&operation, e))
}

/// Refuses a commit that would store a position for an unfenced shard or move one backwards
/// (or store nothing at all).
fn check_positions_advance(
    operation: &str,
    positions: &BTreeMap<String, SequencePosition>,
    expect: &BTreeMap<String, Option<SequencePosition>>,
) -> Result<(), IcebergSinkError> {
    if positions.is_empty() {
        return Err(IcebergSinkError::permanent(
            operation,
            "a commit must advance at least one shard's position",
        ));
    }
    for (shard, position) in positions {
        if !is_usable_shard_id(shard) {
            return Err(IcebergSinkError::permanent(
                operation,
                format!("shard id `{shard}` cannot name a snapshot-summary key (empty or dotted)"),
            ));
        }
        match expect.get(shard) {
            None => {
                return Err(IcebergSinkError::permanent(
                    operation,
                    format!(
                        "shard {shard} has a position to commit but no expectation to fence it"
                    ),
                ));
            }
            Some(Some(expected)) if position <= expected => {
                return Err(IcebergSinkError::permanent(
                    operation,
                    format!(
                        "shard {shard}: position {position} does not advance the expected {expected}"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `Fenced` when the fence refused the table, else the error.
fn refused_or_failed(
    fenced: &FencedCommit<'_>,
    operation: &str,
    error: iceberg::Error,
) -> Result<CommitOutcome, IcebergSinkError> {
    match fenced.refusal() {
        Some(refusal) if error.kind() == ErrorKind::PreconditionFailed => {
            Ok(CommitOutcome::Fenced(refusal))
        }
        _ => Err(IcebergSinkError::from_iceberg(operation, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::IcebergErrorClass;

    fn at(sequence: &str) -> SequencePosition {
        SequencePosition::new(sequence, 0)
    }

    #[test]
    fn a_position_must_advance_past_the_expected_one() {
        let positions = BTreeMap::from([("s".to_owned(), at("10"))]);
        for expected in ["10", "11"] {
            let expect = BTreeMap::from([("s".to_owned(), Some(at(expected)))]);
            let refused = check_positions_advance("op", &positions, &expect).unwrap_err();
            assert_eq!(refused.class(), IcebergErrorClass::Permanent);
        }
        let expect = BTreeMap::from([("s".to_owned(), Some(at("9")))]);
        assert!(check_positions_advance("op", &positions, &expect).is_ok());
        let expect = BTreeMap::from([("s".to_owned(), None)]);
        assert!(check_positions_advance("op", &positions, &expect).is_ok());
    }

    #[test]
    fn a_position_without_an_expectation_or_no_position_at_all_is_refused() {
        let positions = BTreeMap::from([("s".to_owned(), at("10"))]);
        let expect = BTreeMap::from([("other".to_owned(), None)]);
        let refused = check_positions_advance("op", &positions, &expect).unwrap_err();
        assert!(refused.message.contains("shard s"), "{refused}");
        assert!(check_positions_advance("op", &BTreeMap::new(), &expect).is_err());
    }

    #[test]
    fn a_shard_id_that_cannot_name_a_summary_key_is_refused() {
        for shard in ["", "shard.1"] {
            let positions = BTreeMap::from([(shard.to_owned(), at("10"))]);
            let expect = BTreeMap::from([(shard.to_owned(), None)]);
            let refused = check_positions_advance("op", &positions, &expect).unwrap_err();
            assert!(refused.message.contains("cannot name"), "{refused}");
        }
    }
}
