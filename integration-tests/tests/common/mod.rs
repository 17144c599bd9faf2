//! Helpers of the end-to-end tests: the kinesink binary, stand-in resources, reading objects back.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod chaos_producer;
pub mod chaos_run;
pub mod chaos_schedule;
pub mod fault_proxy;
pub mod freezable_proxy;
pub mod iceberg_failover;
pub mod iceberg_table;
pub mod lambda_stand_in;
pub mod lease_table_chaos;
pub mod prometheus_server;
pub mod promql_conditions;
pub mod versioned_bucket;
pub mod worker_endpoints;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The kinesink CLI built for these tests, with quiet logs.
pub fn kinesink() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kinesink-under-test"));
    c.env("RUST_LOG", "warn");
    c
}

/// A unique lowercase name for a stream, table or bucket root.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("kinesink runs");
    eprintln!(
        "--- {:?}\nstatus {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct Config {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Config {
    /// Adds lines to the `[leases]` section.
    pub fn with_leases_extra(self, lines: &str) -> Self {
        let text = std::fs::read_to_string(&self.path)
            .unwrap()
            .replace("[leases]\n", &format!("[leases]\n{lines}\n"));
        std::fs::write(&self.path, text).unwrap();
        self
    }
}

/// Writes a config for a stand-in stream delivering to `s3://bucket/root` with the given extra TOML
/// lines per section.
pub fn config(
    stream: &str,
    table: &str,
    bucket: &str,
    root: &str,
    source_extra: &str,
    destination_extra: &str,
) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kinesink.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "it"
[source]
stream = "{stream}"
initial_position = "trim_horizon"
idle_time_ms = 100
{source_extra}
[leases]
table = "{table}"
failover_time_ms = 3000
[destination]
url = "s3://{bucket}/{root}"
force_path_style = true
{destination_extra}
"#
        ),
    )
    .unwrap();
    Config { dir, path }
}

/// SDK configuration for the stand-ins; refuses to run against anything but loopback endpoints.
pub async fn aws() -> aws_config::SdkConfig {
    for var in [
        "AWS_ENDPOINT_URL_KINESIS",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
    ] {
        let v = std::env::var(var).unwrap_or_default();
        assert!(
            v.starts_with("http://127.0.0.1:") || v.starts_with("http://localhost:"),
            "{var} must point at a local stand-in (run the tests with scripts/test, or eval \"$(scripts/local-aws env)\"); got {v:?}"
        );
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// A Kinesis client for the stand-in, or for `endpoint` (the project's fake Kinesis) when given.
pub async fn kinesis_client(endpoint: Option<&str>) -> aws_sdk_kinesis::Client {
    let sdk = aws().await;
    match endpoint {
        Some(url) => aws_sdk_kinesis::Client::from_conf(
            aws_sdk_kinesis::config::Builder::from(&sdk)
                .endpoint_url(url)
                .build(),
        ),
        None => aws_sdk_kinesis::Client::new(&sdk),
    }
}

/// Splits the stream's first shard at hash key `at` (the parent closes; two children open).
pub async fn split_first_shard(kinesis: &aws_sdk_kinesis::Client, stream: &str, at: u128) {
    kinesis
        .split_shard()
        .stream_name(stream)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key(at.to_string())
        .send()
        .await
        .expect("the split is accepted");
}

pub async fn s3() -> aws_sdk_s3::Client {
    let sdk = aws().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

pub async fn create_stream(name: &str, shards: i32) {
    let k = aws_sdk_kinesis::Client::new(&aws().await);
    k.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("stand-in Kinesis creates the stream");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = k
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if d.stream_description_summary()
            .map(|s| s.stream_status().as_str() == "ACTIVE")
            .unwrap_or(false)
        {
            return;
        }
        assert!(Instant::now() < deadline, "stream {name} not ACTIVE");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deletes a test's stream so the stand-in stays small and fast.
pub async fn delete_stream(name: &str) {
    let k = aws_sdk_kinesis::Client::new(&aws().await);
    let _ = k
        .delete_stream()
        .stream_name(name)
        .enforce_consumer_deletion(true)
        .send()
        .await;
}

pub async fn create_bucket(name: &str) {
    let s3 = s3().await;
    if s3.head_bucket().bucket(name).send().await.is_err() {
        let _ = s3.create_bucket().bucket(name).send().await;
    }
}

/// Produces `count` events `<prefix>-0..` with the CLI's producer.
pub fn produce(stream: &str, count: u64, prefix: &str, aggregate: bool) {
    let mut cmd = kinesink();
    cmd.args([
        "produce",
        "--stream",
        stream,
        "--count",
        &count.to_string(),
        "--id-prefix",
        prefix,
    ]);
    if aggregate {
        cmd.arg("--aggregate");
    }
    assert!(run(&mut cmd).status.success(), "produce failed");
}

/// Every object under `s3://bucket/root` as stored: key → (etag, bytes); the worker's own
/// bookkeeping under `<root>_kinesink/` (per-shard progress) is not output and left out.
pub async fn raw_objects(bucket: &str, root: &str) -> BTreeMap<String, (String, Vec<u8>)> {
    let s3 = s3().await;
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(root)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            let key = o.key().unwrap().to_owned();
            // `root` may be given with or without its trailing `/`.
            if key[root.len()..]
                .trim_start_matches('/')
                .starts_with("_kinesink/")
            {
                continue;
            }
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            out.insert(
                key,
                (o.e_tag().unwrap_or_default().to_owned(), body.to_vec()),
            );
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    out
}

/// Everything under `s3://bucket/root`: key → (etag, body decompressed).
pub async fn objects(bucket: &str, root: &str) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for (key, (etag, body)) in raw_objects(bucket, root).await {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .expect("objects are gzip");
        out.insert(key, (etag, plain));
    }
    out
}

/// How many times each event id appears in the data objects (error output excluded).
pub fn event_counts(objects: &BTreeMap<String, (String, Vec<u8>)>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (key, (_, body)) in objects {
        assert!(
            !key.contains("processing-failed/"),
            "unexpected error output {key}"
        );
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value =
                serde_json::from_slice(line).expect("each line is one JSON event");
            *counts
                .entry(v["event_id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

/// Asserts the events `<prefix>-0 .. <prefix>-(n-1)` are each present exactly once and nothing else is.
pub fn assert_exactly_once(counts: &BTreeMap<String, usize>, prefix: &str, n: u64) {
    let dupes: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(dupes.is_empty(), "duplicates: {dupes:?}");
    let missing: Vec<String> = (0..n)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|id| !counts.contains_key(id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing (first 5): {missing:?}");
    assert_eq!(counts.len() as u64, n, "unexpected extra events");
}

/// A running worker whose stderr lines are collected.
pub struct Worker {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Worker {
    pub fn start(config: &Path) -> Self {
        let mut child = kinesink()
            .env(
                "RUST_LOG",
                "info,kinesink_worker::shard_task=debug,kinesink_worker::shard_writer=debug,kinesink_worker::worker::shard_launch=debug",
            )
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        // Each line names its process, so a failed run's output says which worker did what.
        let pid = child.id();
        eprintln!("worker {pid}: started with {}", config.display());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("worker {pid}: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until `n` stderr lines contain `needle`.
    pub fn wait_for(&mut self, needle: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.seen.iter().filter(|l| l.contains(needle)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "timed out waiting for {n} x {needle:?}; saw {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Moves the stderr lines printed so far into `seen`, without waiting.
    pub fn collect_lines(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for exit; returns (exit code, stdout).
    pub fn wait(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stdout = String::new();
                self.child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut stdout)
                    .unwrap();
                eprintln!("worker stdout: {stdout}");
                return (status.code(), stdout);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("worker did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// shard id → owner (None when free) in a lease table.
pub async fn lease_owners(table: &str) -> BTreeMap<String, Option<String>> {
    let d = aws_sdk_dynamodb::Client::new(&aws().await);
    let mut owners = BTreeMap::new();
    let out = match d
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
    {
        Ok(out) => out,
        // not created yet by the first worker
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return owners;
        }
        Err(e) => panic!("lease table {table} unreadable: {e:?}"),
    };
    for item in out.items() {
        let Some(aws_sdk_dynamodb::types::AttributeValue::S(key)) = item.get("leaseKey") else {
            continue;
        };
        if key.starts_with('!') {
            continue;
        }
        let owner = match item.get("leaseOwner") {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(o)) => Some(o.clone()),
            _ => None,
        };
        owners.insert(key.clone(), owner);
    }
    owners
}

/// Number of leases each owner holds.
pub fn loads(owners: &BTreeMap<String, Option<String>>) -> BTreeMap<String, usize> {
    let mut loads = BTreeMap::new();
    for o in owners.values().flatten() {
        *loads.entry(o.clone()).or_insert(0) += 1;
    }
    loads
}

/// Produces with a fixed number of partition keys (`pk-<i mod keys>`).
pub fn produce_with_keys(stream: &str, count: u64, prefix: &str, keys: u32) {
    let mut cmd = kinesink();
    cmd.args([
        "produce",
        "--stream",
        stream,
        "--count",
        &count.to_string(),
        "--id-prefix",
        prefix,
        "--partition-keys",
        &keys.to_string(),
    ]);
    assert!(run(&mut cmd).status.success(), "produce failed");
}

/// Polls `check` every 200 ms until it holds; fails naming `what` after `limit`. Returns how
/// long it took.
pub async fn wait_until(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    started.elapsed()
}

/// Events `{"event_id":"<stream>-<i>","n":<i>}` with partition keys `pk-<i>`, for the fake
/// Kinesis (`FakeKinesis::append`); `event_counts` reads their ids back.
pub fn events(stream: &str, range: std::ops::Range<u64>) -> Vec<(String, Vec<u8>)> {
    range
        .map(|i| {
            (
                format!("pk-{i}"),
                format!("{{\"event_id\":\"{stream}-{i}\",\"n\":{i}}}").into_bytes(),
            )
        })
        .collect()
}
