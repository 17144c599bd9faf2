//! Three `kinesink run` workers delivering a 4-shard stream (the project's fake Kinesis) into
//! one Iceberg table (SQL catalog on SQLite, warehouse in moto's S3) while one worker is paused
//! with SIGSTOP past the failover time and resumed (a zombie holding stale positions and
//! files), another is killed with -9 and restarted, and the lease table is dropped: every event
//! is read back by pyiceberg exactly once, and every shard's position is in the table
//! (the scenario: common/iceberg_failover.rs; the same against moto's Glue:
//! iceberg_glue_workers.rs).
#![cfg(feature = "stand-ins")]

mod common;

use common::Config;
use common::iceberg_failover::{
    FailoverCatalog, PARTITION_SPEC, SCHEMA,
    three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table,
};
use common::iceberg_table::{iceberg_section, read_back};

/// `analytics.events` of a SQL catalog on SQLite in a directory of its own.
struct SqliteCatalog {
    dir: tempfile::TempDir,
}

impl FailoverCatalog for SqliteCatalog {
    fn configure(&self, cfg: &Config, bucket: &str) {
        iceberg_section(
            cfg,
            &self.dir.path().display().to_string(),
            bucket,
            "events",
            SCHEMA,
            PARTITION_SPEC,
            &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        );
    }

    fn read_back(&self, bucket: &str) -> serde_json::Value {
        read_back(self.dir.path(), bucket, "events")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table_commit_every_event_once() {
    let catalog = SqliteCatalog {
        dir: tempfile::tempdir().unwrap(),
    };
    three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table(&catalog, "ice-workers").await;
}
