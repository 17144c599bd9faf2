//! Operating a delivered table: its status, and expiring snapshots without losing any shard's
//! position (positions are read along the ancestry, so the newest snapshot carrying each
//! shard's key, and everything after it, must stay).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use kinesink_iceberg_sink::table_maintenance::{expire_snapshots, plan_expiry, table_status};
use kinesink_iceberg_sink::{CommitOutcome, commit_files, load_positions};
use kinesink_sequence_position::SequencePosition;

mod common;

use common::sqlite_catalog::{SqliteCatalog, sqlite_catalog};

const A: &str = "shardId-000000000000";
const B: &str = "shardId-000000000001";

async fn table() -> (tempfile::TempDir, Arc<dyn Catalog>, TableIdent) {
    let SqliteCatalog { dir, catalog } = sqlite_catalog("").await;
    let namespace = NamespaceIdent::new("analytics".into());
    catalog
        .create_namespace(&namespace, HashMap::new())
        .await
        .unwrap();
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
        ])
        .build()
        .unwrap();
    let creation = TableCreation::builder()
        .name("events".into())
        .schema(schema)
        .build();
    catalog.create_table(&namespace, creation).await.unwrap();
    (dir, catalog, TableIdent::new(namespace, "events".into()))
}

/// Commits the given shard positions (summary only), fenced on what the table holds.
async fn commit(catalog: &dyn Catalog, table: &TableIdent, moves: &[(&str, u64)]) {
    let held = load_positions(catalog, table, "clicks").await.unwrap();
    let positions: BTreeMap<String, SequencePosition> = moves
        .iter()
        .map(|(s, at)| {
            (
                (*s).to_owned(),
                SequencePosition::new(at.to_string().as_str(), 0),
            )
        })
        .collect();
    let expect = moves
        .iter()
        .map(|(s, _)| ((*s).to_owned(), held.get(*s).cloned()))
        .collect();
    let outcome = commit_files(catalog, table, "clicks", Vec::new(), positions, expect)
        .await
        .unwrap();
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
}

fn far_future() -> i64 {
    i64::MAX
}

#[tokio::test]
async fn expiry_keeps_the_newest_snapshot_of_every_shard_and_everything_after_it() {
    let (_dir, catalog, table) = table().await;
    // 1: A and B; 2: B alone; 3 and 4: A alone. Newest of B is 2, of A is 4.
    commit(&*catalog, &table, &[(A, 10), (B, 10)]).await;
    commit(&*catalog, &table, &[(B, 20)]).await;
    commit(&*catalog, &table, &[(A, 30)]).await;
    commit(&*catalog, &table, &[(A, 40)]).await;
    let before = load_positions(&*catalog, &table, "clicks").await.unwrap();
    let loaded = catalog.load_table(&table).await.unwrap();
    let mut ids: Vec<(i64, i64)> = loaded
        .metadata()
        .snapshots()
        .map(|s| (s.sequence_number(), s.snapshot_id()))
        .collect();
    ids.sort_unstable();
    let plan = plan_expiry(loaded.metadata(), "clicks", far_future());
    assert_eq!(
        plan.expire,
        vec![ids[0].1],
        "only the snapshot before B's newest"
    );
    assert_eq!(
        plan.held_back_by.as_ref().map(|h| (h.0.as_str(), h.1)),
        Some((B, ids[1].1))
    );
    // Nothing is older than the epoch.
    assert!(
        plan_expiry(loaded.metadata(), "clicks", 0)
            .expire
            .is_empty()
    );

    let done = expire_snapshots(&*catalog, &table, "clicks", far_future())
        .await
        .unwrap();
    assert_eq!(done.expire, plan.expire);
    let status = table_status(&*catalog, &table, "clicks").await.unwrap();
    assert_eq!(status.snapshots, 3);
    assert_eq!(
        status.positions, before,
        "every shard's position reads the same"
    );
    assert_eq!(status.positions[A], SequencePosition::new("40", 0));
    assert_eq!(status.positions[B], SequencePosition::new("20", 0));

    // Once B moves on, the snapshots it held back can go too (the current one never).
    commit(&*catalog, &table, &[(B, 50)]).await;
    let done = expire_snapshots(&*catalog, &table, "clicks", far_future())
        .await
        .unwrap();
    assert_eq!(done.expire.len(), 2, "{done:?}");
    let status = table_status(&*catalog, &table, "clicks").await.unwrap();
    assert_eq!(status.snapshots, 2);
    assert_eq!(status.positions[A], SequencePosition::new("40", 0));
    assert_eq!(status.positions[B], SequencePosition::new("50", 0));
}

#[tokio::test]
async fn the_status_of_a_new_table_has_no_snapshot_and_no_position() {
    let (_dir, catalog, table) = table().await;
    let status = table_status(&*catalog, &table, "clicks").await.unwrap();
    assert_eq!(status.snapshots, 0);
    assert_eq!(status.current_snapshot_id, None);
    assert!(status.positions.is_empty());
    let plan = expire_snapshots(&*catalog, &table, "clicks", far_future())
        .await
        .unwrap();
    assert!(plan.expire.is_empty());
}
