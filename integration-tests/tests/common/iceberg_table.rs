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
/// how often each id is there (`counts`, only of ids there more than once), each shard's
/// newest `positions` in the snapshot summaries, the data `files` planned, the rows of the
/// files of each shard (`rows_by_shard`, by the shard id in the file names), and the
/// `snapshots`.
pub fn read_back(catalog_dir: &Path, bucket: &str, table: &str) -> serde_json::Value {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let script = format!(
        r#"
import json, collections, re
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///{dir}/catalog.db", warehouse="s3://{bucket}/warehouse",
    **{{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})
table = catalog.load_table("analytics.{table}")
rows = table.scan().to_arrow()
ids = collections.Counter(rows.column("event_id").to_pylist())
# Each commit carries the positions of the shards it moved: the newest per shard wins.
positions = {{}}
for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number):
    positions.update({{k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith("kinesink.")}})
by_shard = collections.Counter()
for task in table.scan().plan_files():
    shard = re.search(r"shardId-[0-9]+", task.file.file_path)
    by_shard[shard.group(0) if shard else "?"] += task.file.record_count
print(json.dumps({{
    "rows": rows.num_rows,
    "duplicates": sorted(i for i, n in ids.items() if n > 1)[:5],
    "ids": sorted(ids),
    "positions": positions,
    "counts": {{i: n for i, n in ids.items() if n > 1}},
    "files": len(list(table.scan().plan_files())),
    "rows_by_shard": by_shard,
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

/// A competing writer of `analytics.<table>` (pyiceberg on the same catalog, straight to
/// moto's S3): once the table exists it sets a table property in a loop, each a commit that
/// moves the table's metadata pointer, so that concurrent kinesink commits hit conflicts. It
/// also sets `commit.retry.num-retries` to 0: iceberg-rust then leaves every lost swap to
/// kinesink's own handling (reload, check the fence again, commit again), which counts it in
/// `kinesink_iceberg_commit_conflicts_total`, instead of retrying it silently inside. Its
/// own commits and the conflicts it lost are written to `<catalog_dir>/competitor.json` after
/// each attempt. Kill it to stop it.
pub fn start_competing_writer(
    catalog_dir: &Path,
    bucket: &str,
    table: &str,
) -> std::process::Child {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let dir = catalog_dir.display();
    let script = format!(
        r#"
import json, os, time
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///{dir}/catalog.db", warehouse="s3://{bucket}/warehouse",
    **{{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})
done = {{"commits": 0, "failed": 0}}
n = 0
while True:
    n += 1
    try:
        table = catalog.load_table("analytics.{table}")
        with table.transaction() as tx:
            tx.set_properties(**{{"chaos.competitor": str(n), "commit.retry.num-retries": "0"}})
        done["commits"] += 1
    except Exception as e:
        done["failed"] += 1
        done["last_error"] = type(e).__name__ + ": " + str(e)[:200]
        time.sleep(0.2)
    with open("{dir}/competitor.json.tmp", "w") as f:
        json.dump(done, f)
    os.replace("{dir}/competitor.json.tmp", "{dir}/competitor.json")
    time.sleep(0.02)
"#
    );
    let python = std::env::var("KINESINK_MOTO_PYTHON")
        .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
    Command::new(python)
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// What the competing writer reported: its commits and failed attempts (and its last error).
pub fn competitor_report(catalog_dir: &Path) -> serde_json::Value {
    std::fs::read(catalog_dir.join("competitor.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::json!({"commits": 0, "failed": 0}))
}
