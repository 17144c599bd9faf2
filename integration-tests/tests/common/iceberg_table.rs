//! Iceberg destinations for the tests: a config delivering into a table of a SQL catalog on
//! SQLite (or of moto's Glue) whose warehouse is in moto's S3, and the table read back by
//! pyiceberg.
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
    read_back_from(catalog_dir, &format!("s3://{bucket}/warehouse"), table)
}

/// [`read_back`] of a catalog whose warehouse is `warehouse` (`s3://...` in moto's S3, or
/// `file:///...`).
pub fn read_back_from(catalog_dir: &Path, warehouse: &str, table: &str) -> serde_json::Value {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap_or_default();
    let catalog = format!(
        r#"from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///{dir}/catalog.db", warehouse="{warehouse}",
    **{{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})"#,
        dir = catalog_dir.display()
    );
    read_back_through(&catalog, &format!("analytics.{table}"))
}

/// Appends the `[destination.iceberg]` (`catalog = "glue"`: moto's Glue, table
/// `<database>.<table>`, warehouse `s3://<bucket>/warehouse` in moto's S3) and `[format]`
/// sections to `cfg`.
pub fn glue_section(
    cfg: &Config,
    database: &str,
    bucket: &str,
    table: &str,
    schema: &str,
    partition_spec: &str,
) {
    let moto = std::env::var("AWS_ENDPOINT_URL_GLUE")
        .expect("AWS_ENDPOINT_URL_GLUE from scripts/local-aws env");
    let text = std::fs::read_to_string(&cfg.path).unwrap()
        + &format!(
            r#"[destination.iceberg]
catalog = "glue"
warehouse = "s3://{bucket}/warehouse"
database = "{database}"
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

/// [`read_back`] of `<database>.<table>` through pyiceberg's Glue catalog on moto's Glue.
pub fn read_back_glue(database: &str, table: &str) -> serde_json::Value {
    let moto = std::env::var("AWS_ENDPOINT_URL_GLUE")
        .expect("AWS_ENDPOINT_URL_GLUE from scripts/local-aws env");
    let catalog = format!(
        r#"from pyiceberg.catalog.glue import GlueCatalog
catalog = GlueCatalog("default",
    **{{"glue.endpoint": "{moto}", "glue.region": "us-east-1", "glue.access-key-id": "test", "glue.secret-access-key": "test",
        "s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})"#
    );
    read_back_through(&catalog, &format!("{database}.{table}"))
}

/// [`read_back`] through the Iceberg REST catalog at `uri` (pyiceberg's REST client), the
/// warehouse in moto's S3.
pub fn read_back_rest(uri: &str, table: &str) -> serde_json::Value {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let catalog = format!(
        r#"from pyiceberg.catalog.rest import RestCatalog
catalog = RestCatalog("default", uri="{uri}",
    **{{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})"#
    );
    read_back_through(&catalog, &format!("analytics.{table}"))
}

/// [`read_back`] of table `identifier` (`database.table`) with `catalog_code`, Python binding
/// `catalog`.
fn read_back_through(catalog_code: &str, identifier: &str) -> serde_json::Value {
    let script = format!(
        r#"
import json, collections, re
{catalog_code}
table = catalog.load_table("{identifier}")
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
"#
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

/// A new table bucket in moto's S3 Tables; its ARN.
pub fn create_table_bucket(name: &str) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3TABLES")
        .expect("AWS_ENDPOINT_URL_S3TABLES from scripts/local-aws env");
    let script = format!(
        r#"
import boto3
client = boto3.client("s3tables", endpoint_url="{endpoint}", region_name="us-east-1")
print(client.create_table_bucket(name="{name}")["arn"])
"#
    );
    String::from_utf8(stand_in_python(&script))
        .unwrap()
        .trim()
        .to_owned()
}

/// The table `analytics.<table>` of the S3 table bucket `table_bucket_arn` as pyiceberg reads
/// it from its current metadata file (pyiceberg 0.10 has no S3 Tables catalog): `rows`, the
/// first `duplicates`, the sorted event `ids` and each shard's newest `positions`, as
/// [`read_back`] gives them.
pub fn read_back_s3_table(table_bucket_arn: &str, table: &str) -> serde_json::Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3TABLES")
        .expect("AWS_ENDPOINT_URL_S3TABLES from scripts/local-aws env");
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let script = format!(
        r#"
import boto3, collections, json
from pyiceberg.table import StaticTable
client = boto3.client("s3tables", endpoint_url="{endpoint}", region_name="us-east-1")
location = client.get_table_metadata_location(tableBucketARN="{table_bucket_arn}", namespace="analytics", name="{table}")["metadataLocation"]
table = StaticTable.from_metadata(location, {{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})
rows = table.scan().to_arrow()
ids = collections.Counter(rows.column("event_id").to_pylist())
positions = {{}}
for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number):
    positions.update({{k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith("kinesink.")}})
print(json.dumps({{
    "rows": rows.num_rows,
    "duplicates": sorted(i for i, n in ids.items() if n > 1)[:5],
    "ids": sorted(ids),
    "positions": positions,
}}))
"#
    );
    serde_json::from_slice(&stand_in_python(&script)).unwrap()
}

/// Runs `script` with the stand-ins' Python (pyiceberg, boto3); its standard output.
fn stand_in_python(script: &str) -> Vec<u8> {
    let python = std::env::var("KINESINK_MOTO_PYTHON")
        .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The Iceberg REST catalog stand-in (scripts/iceberg_rest_catalog.py: pyiceberg's SqlCatalog
/// behind the REST routes) serving `s3://<bucket>/warehouse` in moto's S3, on a free port of
/// 127.0.0.1; killed by its PID and its directory removed on drop.
pub struct RestCatalogServer {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl RestCatalogServer {
    pub fn start(bucket: &str) -> Self {
        use std::io::BufRead;
        let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let python = std::env::var("KINESINK_MOTO_PYTHON")
            .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/iceberg_rest_catalog.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("--db")
            .arg(dir.path().join("catalog.db"))
            .args(["--warehouse", &format!("s3://{bucket}/warehouse")])
            .args(["--property", &format!("s3.endpoint={moto}")])
            .args(["--property", "s3.access-key-id=test"])
            .args(["--property", "s3.secret-access-key=test"])
            .args(["--property", "s3.region=us-east-1"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the REST catalog stand-in");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(uri) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("the REST catalog stand-in did not start: {line:?}");
        };
        Self {
            uri: uri.to_owned(),
            dir,
            child,
        }
    }

    /// Appends `[destination.iceberg]` (this catalog, `analytics.<table>`) and `[format]` to
    /// `cfg`.
    pub fn configure(&self, cfg: &Config, bucket: &str, table: &str, schema: &str, spec: &str) {
        let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
        let text = std::fs::read_to_string(&cfg.path).unwrap()
            + &format!(
                r#"[destination.iceberg]
catalog = "rest"
catalog_uri = "{uri}"
warehouse = "s3://{bucket}/warehouse"
database = "analytics"
table = "{table}"
partition_spec = "{spec}"
endpoint_url = "{moto}"
[format]
type = "parquet"
schema = "{schema}"
"#,
                uri = self.uri
            );
        std::fs::write(&cfg.path, text).unwrap();
    }
}

impl Drop for RestCatalogServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
