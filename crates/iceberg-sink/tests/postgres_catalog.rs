//! `catalog = "sql"` on PostgreSQL: iceberg-rust's SQL catalog on a throwaway cluster
//! (tests/common/postgres.rs; Debian's `postgresql` package, which `scripts/local-aws up`
//! installs), its warehouse a temporary `file://` directory.
//!
//! Proven here, on one cluster: the catalog's own tables are created in an empty database, a
//! table is created, fenced commits advance the position and a stale expectation is refused
//! (read back through a reopened catalog); a real commit conflict (two writers from the same
//! base: the catalog's conditional `UPDATE ... WHERE metadata_location = <base>` matches no
//! row, or its requirement check fails) is retried by iceberg-rust and the retry is fenced
//! when the winner moved the same shard, lands when it moved another one; of two concurrent
//! committers of one shard exactly one wins.
#![cfg(feature = "stand-ins")]

mod common;

use std::sync::Arc;

use iceberg::Catalog;
use kinesink_iceberg_sink::{CatalogKind, IcebergCatalogSettings, open_catalog};

use common::catalog_checks::{self, empty_table};
use common::postgres::Postgres;

fn settings(uri: &str, warehouse: &std::path::Path) -> IcebergCatalogSettings {
    IcebergCatalogSettings {
        kind: CatalogKind::Sql {
            uri: uri.to_owned(),
            catalog_name: "default".into(),
            warehouse: format!("file://{}", warehouse.display()),
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: String::new(),
        endpoint_url: None,
        region: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_stale_expectations_are_fenced_conflicts_retried_or_fenced_and_one_racer_wins()
 {
    let postgres = Postgres::start();
    let warehouse = tempfile::tempdir().unwrap();
    let settings = settings(&postgres.uri, warehouse.path());
    let catalog: Arc<dyn Catalog> = open_catalog(&settings).await.unwrap();
    let reopened = open_catalog(&settings).await.unwrap();

    let table = empty_table(&*catalog, "analytics", "stale").await;
    catalog_checks::a_stale_expectation_is_fenced(&*catalog, &table, &*reopened).await;
    let table = empty_table(&*catalog, "analytics", "same_shard").await;
    catalog_checks::losing_the_swap_to_a_writer_of_its_shard_conflicts_then_is_fenced(
        &catalog, &table,
    )
    .await;
    let table = empty_table(&*catalog, "analytics", "other_shard").await;
    catalog_checks::losing_the_swap_to_a_writer_of_another_shard_conflicts_then_lands(
        &catalog, &table,
    )
    .await;
    let table = empty_table(&*catalog, "analytics", "race").await;
    catalog_checks::of_two_concurrent_committers_of_one_shard_exactly_one_wins(&*catalog, &table)
        .await;
}
