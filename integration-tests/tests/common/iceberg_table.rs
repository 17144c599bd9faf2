//! Iceberg destinations for the tests: a config delivering into a table of a SQL catalog on
//! SQLite whose warehouse is in moto's S3, and the table read back by pyiceberg.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use super::{Config, config};

/// A config delivering `stream` into `analytics.<table>` (warehouse `s3://<bucket>/warehouse`,
/// catalog in the config's directory), error output and progress under `s3://<bucket>/out`;
/// `extra` goes into `[destination]`, `leases_extra` into `[leases]`.
pub fn iceberg_config(
    stream: &str,
    leases: &str,
    bucket: &str,
    table: &str,
    schema: &str,
    partition_spec: &str,
    extra: &str,
) -> Config {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let cfg = config(stream, leases, bucket, "out", "", extra);
    let dir = cfg.dir.path().display().to_string();
    iceberg_section(&cfg, &dir, bucket, table, schema, partition_spec, &moto);
    cfg
}

/// Appends the `[destination.iceberg]` and `[format]` sections to `cfg`, the catalog in `dir`.
pub fn iceberg_section(
    cfg: &Config,
    dir: &str,
    bucket: &str,
    table: &str,
    schema: &str,
    partition_spec: &str,
    moto: &str,
) {
    let text = std::fs::read_to_string(&cfg.path).unwrap()
        + &format!(
            r#"[destination.iceberg]
catalog = "sql"
catalog_uri = "sqlite://{dir}/catalog.db"
warehouse = "s3://{bucket}/warehouse"
database = "analytics"
table = "{table}"
partition_spec = "{partition_spec}"
endpoint_url = "{moto}"
[format]
type = "parquet"
schema = "{schema}"
"#
        );
    std::fs::write(&cfg.path, text).unwrap();
}

/// The table as pyiceberg reads it: `rows`, the first `duplicates`, the sorted event `ids`,
/// each shard's newest `positions` in the snapshot summaries, the data `files` planned, and
/// the `snapshots`.
pub fn read_back(catalog_dir: &Path, bucket: &str, table: &str) -> serde_json::Value {
    read_back_from(catalog_dir, &format!("s3://{bucket}/warehouse"), table)
}

/// [`read_back`] of a catalog whose warehouse is `warehouse` (`s3://...` in moto's S3, or
/// `file:///...`).
pub fn read_back_from(catalog_dir: &Path, warehouse: &str, table: &str) -> serde_json::Value {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap_or_default();
    let script = format!(
        r#"
import json, collections
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///{dir}/catalog.db", warehouse="{warehouse}",
    **{{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})
table = catalog.load_table("analytics.{table}")
rows = table.scan().to_arrow()
ids = collections.Counter(rows.column("event_id").to_pylist())
# Each commit carries the positions of the shards it moved: the newest per shard wins.
positions = {{}}
for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number):
    positions.update({{k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith("kinesink.")}})
print(json.dumps({{
    "rows": rows.num_rows,
    "duplicates": sorted(i for i, n in ids.items() if n > 1)[:5],
    "ids": sorted(ids),
    "positions": positions,
    "files": len(list(table.scan().plan_files())),
    "snapshots": len(table.snapshots()),
}}))
"#,
        dir = catalog_dir.display()
    );
    let python = std::env::var("KINESINK_MOTO_PYTHON")
        .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "pyiceberg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
