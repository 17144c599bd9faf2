//! Operating a table kinesink delivers to: its status (snapshots, files, records, bytes, each
//! shard's committed position) and expiring old snapshots without losing a shard's position.

use iceberg::spec::TableMetadata;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, TableIdent};

use crate::error::IcebergSinkError;
use crate::fenced_catalog::committed_positions;
use crate::table_position::{ShardPositions, shard_of_key};

/// What `kinesink iceberg status` shows of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStatus {
    /// The table's location.
    pub location: String,
    /// Snapshots the metadata holds.
    pub snapshots: usize,
    /// The current snapshot, if any.
    pub current_snapshot_id: Option<i64>,
    /// When the current snapshot was committed (ms since the epoch).
    pub last_commit_ms: Option<i64>,
    /// Data files, records and bytes of the current snapshot (its summary's totals).
    pub data_files: Option<u64>,
    /// Records of the current snapshot.
    pub records: Option<u64>,
    /// Bytes of the current snapshot's data files.
    pub bytes: Option<u64>,
    /// Each shard's committed position (newest along the current snapshot's ancestry).
    pub positions: ShardPositions,
}

/// The status of `table` for delivery `name`, read now.
///
/// # Errors
/// The catalog could not load the table, or a position in it does not decode.
pub async fn table_status(
    catalog: &dyn Catalog,
    table: &TableIdent,
    name: &str,
) -> Result<TableStatus, IcebergSinkError> {
    let operation = format!("read the status of {table}");
    let loaded = catalog
        .load_table(table)
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?;
    let positions = committed_positions(&loaded, name)
        .map_err(|e| IcebergSinkError::from_iceberg(&operation, e))?;
    let metadata = loaded.metadata();
    let current = metadata.current_snapshot();
    let total = |key: &str| {
        current.and_then(|s| {
            s.summary()
                .additional_properties
                .get(key)
                .and_then(|v| v.parse().ok())
        })
    };
    Ok(TableStatus {
        location: metadata.location().to_owned(),
        snapshots: metadata.snapshots().count(),
        current_snapshot_id: current.map(|s| s.snapshot_id()),
        last_commit_ms: current.map(|s| s.timestamp_ms()),
        data_files: total("total-data-files"),
        records: total("total-records"),
        bytes: total("total-files-size"),
        positions,
    })
}

/// Which snapshots an expiry removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// Snapshots to expire (ancestors of the current one, older than the cutoff and than every
    /// snapshot still needed for a shard's position).
    pub expire: Vec<i64>,
    /// The oldest snapshot kept because it alone carries a shard's position: `(shard,
    /// snapshot id, its commit time in ms)`. Snapshots before it are expired; those after it
    /// are kept even when older than the cutoff, so its shard's position stays readable.
    pub held_back_by: Option<(String, i64, i64)>,
}

/// Plans expiring the snapshots of `metadata` committed before `older_than_ms`.
///
/// Guarantees: every shard's committed position for delivery `name` reads the same after the
/// expiry (the newest snapshot carrying each shard's key, and every snapshot between it and
/// the current one, are kept: positions are read along the ancestry, which an expired link
/// would cut); the current snapshot is never expired; snapshots off the main ancestry are
/// left alone.
#[must_use]
pub fn plan_expiry(metadata: &TableMetadata, name: &str, older_than_ms: i64) -> ExpiryPlan {
    let Some(head) = metadata.current_snapshot_id() else {
        return ExpiryPlan {
            expire: Vec::new(),
            held_back_by: None,
        };
    };
    let metadata_ref = std::sync::Arc::new(metadata.clone());
    let ancestry: Vec<_> = iceberg::util::snapshot::ancestors_of(&metadata_ref, head).collect();
    // Newest first: the last snapshot in this order that carries a shard's first (newest) key
    // is the boundary.
    let mut seen = std::collections::BTreeSet::new();
    let mut boundary = 0;
    let mut held_back_by = None;
    for (index, snapshot) in ancestry.iter().enumerate() {
        for key in snapshot.summary().additional_properties.keys() {
            if let Some(shard) = shard_of_key(name, key)
                && seen.insert(shard.to_owned())
            {
                boundary = index;
                held_back_by = Some((
                    shard.to_owned(),
                    snapshot.snapshot_id(),
                    snapshot.timestamp_ms(),
                ));
            }
        }
    }
    let expire: Vec<i64> = ancestry
        .iter()
        .enumerate()
        .filter(|(index, snapshot)| {
            *index > boundary && *index > 0 && snapshot.timestamp_ms() < older_than_ms
        })
        .map(|(_, snapshot)| snapshot.snapshot_id())
        .collect();
    let held_back_by = held_back_by.filter(|(_, _, at)| *at < older_than_ms);
    ExpiryPlan {
        expire,
        held_back_by,
    }
}

/// Expires the snapshots [`plan_expiry`] names for `table`; returns the plan carried out.
/// Metadata only: no data file is deleted (kinesink only appends, so every data file stays in
/// the current snapshot); manifest lists of expired snapshots become unreferenced.
///
/// # Errors
/// The catalog failed or refused the commit.
pub async fn expire_snapshots(
    catalog: &dyn Catalog,
    table: &TableIdent,
    name: &str,
    older_than_ms: i64,
) -> Result<ExpiryPlan, IcebergSinkError> {
    let operation = format!("expire snapshots of {table}");
    let iceberg = |e| IcebergSinkError::from_iceberg(&operation, e);
    let loaded = catalog.load_table(table).await.map_err(iceberg)?;
    let plan = plan_expiry(loaded.metadata(), name, older_than_ms);
    if plan.expire.is_empty() {
        return Ok(plan);
    }
    let transaction = Transaction::new(&loaded);
    let transaction = transaction
        .expire_snapshots()
        .expire_snapshot_ids(plan.expire.clone())
        // By id alone: nothing older than the epoch.
        .expire_older_than_ms(0)
        .apply(transaction)
        .map_err(iceberg)?;
    transaction.commit(catalog).await.map_err(iceberg)?;
    Ok(plan)
}
