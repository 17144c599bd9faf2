//! Three `kinesink run` workers delivering a 4-shard stream (the project's fake Kinesis) into
//! one Iceberg table of moto's Glue (`catalog = "glue"`, warehouse in moto's S3; moto's
//! `UpdateTable` refuses a stale `VersionId` as real Glue does, scripts/moto_server.py) while
//! one worker is paused with SIGSTOP past the failover time and resumed (a zombie holding stale
//! positions and files), another is killed with -9 and restarted, and the lease table is
//! dropped: every event is read back by pyiceberg's Glue catalog exactly once, and every
//! shard's position is in the table (the scenario: common/iceberg_failover.rs, the same as
//! iceberg_workers.rs runs against the SQL catalog).
#![cfg(feature = "stand-ins")]

mod common;

use common::Config;
use common::iceberg_failover::{
    FailoverCatalog, PARTITION_SPEC, SCHEMA,
    three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table,
};
use common::iceberg_table::{glue_section, read_back_glue};

/// `<database>.events` of moto's Glue, the database named for this run only (kinesink creates
/// it and the table).
struct GlueDatabase {
    database: String,
}

impl FailoverCatalog for GlueDatabase {
    fn configure(&self, cfg: &Config, bucket: &str) {
        glue_section(
            cfg,
            &self.database,
            bucket,
            "events",
            SCHEMA,
            PARTITION_SPEC,
        );
    }

    fn read_back(&self, _bucket: &str) -> serde_json::Value {
        read_back_glue(&self.database, "events")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_on_a_glue_table_with_a_zombie_a_kill_9_and_a_dropped_lease_table_commit_every_event_once()
 {
    // Glue names: lowercase letters, digits and `_`.
    let catalog = GlueDatabase {
        database: common::unique("ice_glue_workers").replace('-', "_"),
    };
    three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table(&catalog, "ice-glue-workers")
        .await;
}
