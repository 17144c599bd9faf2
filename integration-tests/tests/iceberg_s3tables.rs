//! `kinesink run` into an Amazon S3 Tables table against the stand-ins: Kinesis and the lease
//! table as for objects, the table in a table bucket of moto's S3 Tables (`catalog =
//! "s3tables"`, `warehouse` = the table bucket's ARN), its files where S3 Tables placed it in
//! moto's S3. Read back by pyiceberg from the table's current metadata: every event exactly
//! once across a restart, each shard's position in the snapshot summary.
#![cfg(feature = "stand-ins")]

mod common;

use std::path::Path;

use common::iceberg_table::{create_table_bucket, read_back_s3_table};
use common::*;

const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price double, quantity int";

/// A config delivering `stream` into `analytics.events` of the table bucket `arn`; error
/// output and progress under `s3://<bucket>/out`.
fn s3tables_config(stream: &str, leases: &str, bucket: &str, arn: &str) -> Config {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3TABLES").unwrap();
    let cfg = config(
        stream,
        leases,
        bucket,
        "out",
        "",
        "buffer_interval_s = 1\nbuffer_size_mib = 1",
    );
    let text = std::fs::read_to_string(&cfg.path).unwrap()
        + &format!(
            r#"[destination.iceberg]
catalog = "s3tables"
warehouse = "{arn}"
database = "analytics"
table = "events"
partition_spec = "event_type"
endpoint_url = "{endpoint}"
[format]
type = "parquet"
schema = "{SCHEMA}"
"#
        );
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

fn run_until_caught_up(cfg: &Path) {
    let out = run(kinesink()
        .env("RUST_LOG", "info")
        .args(["run", "--until-caught-up", "--config"])
        .arg(cfg));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn expected(prefixes: &[&str], n: u64) -> Vec<String> {
    let mut ids: Vec<String> = prefixes
        .iter()
        .flat_map(|p| (0..n).map(move |i| format!("{p}-{i}")))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_in_the_s3_table_once_across_a_restart_with_positions_in_the_summary() {
    let stream = unique("s3t");
    let bucket = unique("s3t-bucket").to_lowercase();
    let leases = unique("s3t-leases");
    create_stream(&stream, 2).await;
    create_bucket(&bucket).await;
    let arn = create_table_bucket(&unique("s3t-tables").to_lowercase());
    let cfg = s3tables_config(&stream, &leases, &bucket, &arn);

    produce(&stream, 2_000, &stream, false);
    run_until_caught_up(&cfg.path);
    let got = read_back_s3_table(&arn, "events");
    assert_eq!(got["duplicates"], serde_json::json!([]));
    assert_eq!(got["ids"], serde_json::json!(expected(&[&stream], 2_000)));
    let positions = got["positions"].as_object().unwrap();
    assert_eq!(
        positions.keys().collect::<Vec<_>>(),
        [
            "kinesink.it.shardId-000000000000",
            "kinesink.it.shardId-000000000001"
        ],
        "each shard's position is in the summary"
    );

    // More events and a second run: only the new ones are added, each once.
    let more = format!("{stream}-b");
    produce(&stream, 1_000, &more, true);
    run_until_caught_up(&cfg.path);
    let got = read_back_s3_table(&arn, "events");
    assert_eq!(got["duplicates"], serde_json::json!([]));
    let mut want = expected(&[&stream], 2_000);
    want.extend(expected(&[&more], 1_000));
    want.sort();
    assert_eq!(got["ids"], serde_json::json!(want));
    assert_eq!(got["rows"], serde_json::json!(3_000));
}
