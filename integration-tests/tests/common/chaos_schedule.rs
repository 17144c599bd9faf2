//! The schedule of the chaos tests (`tests/chaos.rs`), shared by the object and the Iceberg
//! variants: the stream (kinesis-mock or the fake), the fault-injecting proxies in front of S3
//! and DynamoDB, the producer, 3 worker processes, and the faults over time (kill -9 every
//! ~10 s, one SIGTERM, a SIGSTOP'd zombie, a split and a merge, the lease table dropped, then a
//! DynamoDB outage), the graceful stop and the final catch-up run. What was delivered is read
//! back and judged by each test.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

use super::chaos_producer::{Produced, produce_all};
use super::chaos_run::{expected_error_type, log_tail};
use super::fault_proxy::{FaultProxy, FaultRates, Service};
use super::lease_table_chaos::{DynamoDbOutage, OutageReport, drop_lease_table};
use super::worker_endpoints::{free_port, metric, scrape_metrics};
use super::{create_stream, kinesink, kinesis_client, lease_owners, run, unique};
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

/// Failover time of the workers' leases.
pub const FAILOVER_MS: u64 = 3000;

/// A number from the environment, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where the workers deliver: plain objects, or an Iceberg table.
#[derive(Clone)]
pub enum ChaosTarget {
    /// Parquet objects under `s3://<bucket>/<stream>/data/`.
    Objects,
    /// The table `analytics.events` of a SQL catalog on SQLite in `catalog_dir`, its warehouse
    /// `s3://<bucket>/warehouse` (reached through the S3 fault proxy, as the data files are).
    Iceberg {
        /// The directory of `catalog.db`.
        catalog_dir: PathBuf,
    },
}

/// What the workers of one chaos run share.
pub struct Setup {
    pub stream: String,
    pub bucket: String,
    pub dir: tempfile::TempDir,
    pub s3_proxy: String,
    pub dynamodb_proxy: String,
    /// The fake Kinesis' URL, when the stream lives there.
    pub kinesis_endpoint: Option<String>,
    pub target: ChaosTarget,
}

impl Setup {
    /// The `[processing]` keys. The Iceberg destination takes no `partition_query` (its table's
    /// spec partitions), so its transform refuses a record without `event_type` instead: such
    /// a record lands under `processing-failed` (see [`expected_error_type_for`]).
    fn processing(&self) -> &'static str {
        match self.target {
            ChaosTarget::Objects => {
                r#"partition_query = "{event_type: .event_type}"
transform = 'if .event_type == "never" then empty else . + {transformed: true} end'"#
            }
            ChaosTarget::Iceberg { .. } => {
                r#"transform = 'if .event_type == null then error("no event_type") elif .event_type == "never" then empty else . + {transformed: true} end'"#
            }
        }
    }

    /// The destination and format sections of a worker's config.
    fn destination(&self) -> String {
        let schema = "event_id string, customer_id string, event_type string, ts timestamp, price double, quantity int, page string, country string, user_agent string, session_ms bigint";
        let common = format!(
            r#"[destination]
url = "s3://{bucket}/{stream}"
endpoint_url = "{s3}"
force_path_style = true
buffer_size_mib = 1
buffer_interval_s = 2
error_output_prefix = "errors/!{{firehose:error-output-type}}/"
backup_prefix = "backup/"
"#,
            bucket = self.bucket,
            stream = self.stream,
            s3 = self.s3_proxy,
        );
        match &self.target {
            ChaosTarget::Objects => format!(
                r#"{common}prefix = "data/type=!{{partitionKeyFromQuery:event_type}}/"
[format]
type = "parquet"
compression = "zstd"
schema = "{schema}"
"#
            ),
            ChaosTarget::Iceberg { catalog_dir } => format!(
                r#"{common}[destination.iceberg]
catalog = "sql"
catalog_uri = "sqlite://{dir}/catalog.db"
warehouse = "s3://{bucket}/warehouse"
database = "analytics"
table = "events"
partition_spec = "event_type, day(ts)"
endpoint_url = "{s3}"
[format]
type = "parquet"
compression = "zstd"
schema = "{schema}"
"#,
                dir = catalog_dir.display(),
                bucket = self.bucket,
                s3 = self.s3_proxy,
            ),
        }
    }

    /// The config of a worker (serving `/metrics` on `metrics_port` when given).
    pub fn config_for(&self, worker_id: &str, metrics_port: Option<u16>) -> PathBuf {
        let path = self.dir.path().join(format!("{worker_id}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"name = "chaos"
[source]
stream = "{stream}"
initial_position = "trim_horizon"
idle_time_ms = 200
max_records = 1000
{kinesis_endpoint}
[leases]
table = "{stream}"
failover_time_ms = {FAILOVER_MS}
worker_id = "{worker_id}"
endpoint_url = "{ddb}"
[processing]
{processing}
{destination}{metrics}"#,
                stream = self.stream,
                destination = self.destination(),
                processing = self.processing(),
                metrics = metrics_port
                    .map(|p| format!("[metrics]\nlisten = \"127.0.0.1:{p}\"\n"))
                    .unwrap_or_default(),
                ddb = self.dynamodb_proxy,
                kinesis_endpoint = self
                    .kinesis_endpoint
                    .as_ref()
                    .map(|e| format!("endpoint_url = \"{e}\""))
                    .unwrap_or_default()
                    + if std::env::var("KINESINK_CHAOS_READER").as_deref() == Ok("efo") {
                        "\nreader = \"efo\""
                    } else {
                        ""
                    },
            ),
        )
        .unwrap();
        path
    }
    /// Where a worker logs.
    pub fn log_path(&self, worker_id: &str) -> PathBuf {
        self.dir.path().join(format!("{worker_id}.log"))
    }
}

/// A worker process logging to a file in the test's directory.
pub struct ChaosWorker {
    pub id: String,
    pub child: Child,
    pub paused: bool,
    /// Where its `/metrics` is served.
    pub metrics_port: u16,
}

impl ChaosWorker {
    /// Starts a worker.
    pub fn start(setup: &Setup, id: String) -> Self {
        let log = std::fs::File::create(setup.log_path(&id)).unwrap();
        let metrics_port = free_port();
        // What each shard's reader resumed from and recorded: the evidence should a run fail.
        let child = kinesink()
            .env(
                "RUST_LOG",
                "warn,kinesink_worker::shard_task=debug,kinesink_worker::shard_writer=debug,kinesink_worker::worker::shard_launch=debug,kinesink_worker::table_commits=info",
            )
            .args(["run", "--config"])
            .arg(setup.config_for(&id, Some(metrics_port)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            id,
            child,
            paused: false,
            metrics_port,
        }
    }

    /// Sends it a signal (`-KILL`, `-STOP`, ...).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {}", self.id);
    }
}

impl Drop for ChaosWorker {
    fn drop(&mut self) {
        if self.paused {
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workers by slot as the outage watches them: id and `/readyz` port.
pub fn watched(workers: &[ChaosWorker]) -> Vec<(String, u16)> {
    workers
        .iter()
        .map(|w| (w.id.clone(), w.metrics_port))
        .collect()
}

async fn wait_active(kinesis: &aws_sdk_kinesis::Client, stream: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .unwrap();
        if d.stream_description_summary()
            .is_some_and(|s| s.stream_status().as_str() == "ACTIVE")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream {stream} not ACTIVE again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn hash_range(kinesis: &aws_sdk_kinesis::Client, stream: &str, shard: &str) -> (u128, u128) {
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let s = shards
        .shards()
        .iter()
        .find(|s| s.shard_id() == shard)
        .expect("shard listed");
    let r = s.hash_key_range().unwrap();
    (
        r.starting_hash_key().parse().unwrap(),
        r.ending_hash_key().parse().unwrap(),
    )
}

/// The error output type a malformed record of `kind` lands in with `target`'s config: as
/// [`expected_error_type`] says for objects; with Iceberg, JSON without the partition key fails
/// the transform (`processing-failed`).
pub fn expected_error_type_for(target: &ChaosTarget, kind: u64) -> &'static str {
    match (target, kind % 4) {
        (ChaosTarget::Iceberg { .. }, 1) => "processing-failed",
        _ => expected_error_type(kind),
    }
}

/// What a chaos run did, for the test to judge what was delivered.
pub struct ChaosRun {
    pub setup: Setup,
    pub stream: String,
    /// The fake Kinesis, when the stream lives there.
    pub fake: Option<FakeKinesis>,
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3_proxy: FaultProxy,
    pub dynamodb_proxy: FaultProxy,
    /// Every record produced, the outage's included.
    pub produced: Produced,
    pub outage: OutageReport,
    /// The final `run --until-caught-up`.
    pub final_run: Output,
    /// Faults injected into S3 and DynamoDB.
    pub faults: u64,
    pub started: Instant,
    pub kills: u32,
    pub reshards: u32,
    pub sigterms: u32,
    pub zombies: u32,
    /// Workers that exited by themselves, and why.
    pub self_exits: u32,
    pub exits: Vec<String>,
    /// The zombie's worker id, its (lease losses, fenced writes refused) before the pause and
    /// after it (when its `/metrics` showed both grow).
    pub zombie_id: String,
    pub zombie_before: (f64, f64),
    pub zombie_evidence: Option<(f64, f64)>,
    pub table_dropped_at: Option<Duration>,
}

/// Runs the chaos schedule delivering to `target` with the data and error objects under
/// `s3://<bucket>/<stream>/` (a versioned bucket); `on_tick` sees the running workers every
/// 250 ms. Returns once every survivor stopped and the final catch-up run is over.
pub async fn run_chaos(
    bucket: &str,
    target: ChaosTarget,
    mut on_tick: impl FnMut(&[ChaosWorker]),
) -> ChaosRun {
    let records = env_number("KINESINK_CHAOS_RECORDS", 40_000);
    let chaos_for = Duration::from_secs(env_number("KINESINK_CHAOS_SECONDS", 60));
    let stream = unique("it-chaos");
    let fake = match std::env::var("KINESINK_CHAOS_KINESIS").as_deref() {
        Ok("fake") => Some(FakeKinesis::start("127.0.0.1:0", false).await),
        _ => None,
    };
    let kinesis_endpoint = fake.as_ref().map(|f| f.url.clone());
    match &fake {
        Some(f) => f.create_stream(&stream, 4),
        None => create_stream(&stream, 4).await,
    }
    super::versioned_bucket::create_versioned_bucket(bucket).await;
    let kinesis = kinesis_client(kinesis_endpoint.as_deref()).await;
    let rates = FaultRates {
        server_error: 0.04,
        throttle: 0.03,
        lost_response: 0.02,
        dropped_connection: 0.02,
        applies_to: None,
    };
    let s3_proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        rates,
    )
    .await;
    let dynamodb_proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
        Service::DynamoDb,
        rates,
    )
    .await;
    let setup = Setup {
        stream: stream.clone(),
        dir: tempfile::tempdir().unwrap(),
        s3_proxy: s3_proxy.url.clone(),
        dynamodb_proxy: dynamodb_proxy.url.clone(),
        kinesis_endpoint: kinesis_endpoint.clone(),
        bucket: bucket.to_owned(),
        target,
    };

    let started = Instant::now();
    let producer = tokio::spawn({
        let stream = stream.clone();
        let endpoint = kinesis_endpoint.clone();
        async move { produce_all(&stream, records, endpoint).await }
    });
    let mut generation = 0_u32;
    let mut next_id = |slot: usize| {
        generation += 1;
        format!("w{slot}-g{generation}")
    };
    let mut workers: Vec<ChaosWorker> = (0..3)
        .map(|slot| ChaosWorker::start(&setup, next_id(slot)))
        .collect();
    let (mut kills, mut reshards, mut sigterms, mut zombies, mut self_exits) =
        (0_u32, 0_u32, 0_u32, 0_u32, 0_u32);
    let mut exits: Vec<String> = Vec::new();
    // The resumed zombie (slot, id, metrics port, resumed at), watched until its /metrics shows
    // a lost lease and a refused fenced write since the pause; then (lease losses, refused writes).
    let mut zombie_watch: Option<(usize, String, u16, Instant)> = None;
    let mut zombie_evidence: Option<(f64, f64)> = None;
    let mut zombie_id = String::new();
    let mut zombie_before = (0.0, 0.0); // its (losses, refused writes) before the pause
    let mut next_kill = Duration::from_secs(10);
    let (mut sigterm_done, mut split_done, mut merge_done) = (false, false, false);
    let mut paused_since: Option<(usize, Instant)> = None;
    let mut zombie_shards: Vec<String> = Vec::new(); // the leases the zombie held when paused
    let mut rng = rand::rng();
    let outage_for = Duration::from_secs(env_number("KINESINK_CHAOS_OUTAGE_SECONDS", 60));
    let mut table_dropped_at: Option<Duration> = None;
    let mut outage: Option<DynamoDbOutage> = None;
    while started.elapsed() < chaos_for
        || !producer.is_finished()
        || !outage.as_ref().is_some_and(DynamoDbOutage::done)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let t = started.elapsed();
        on_tick(&workers);
        // A worker that exited on its own (e.g. an error it gave up on) is restarted, as an
        // orchestrator would, so the run goes on; the test fails at the end with its log.
        for (slot, worker) in workers.iter_mut().enumerate() {
            if let Some(status) = worker.child.try_wait().unwrap() {
                let exit = format!(
                    "worker {} exited by itself ({status}) at {t:?}; log tail:\n{}",
                    worker.id,
                    log_tail(&setup.log_path(&worker.id))
                );
                eprintln!("chaos: {exit}");
                exits.push(exit);
                self_exits += 1;
                *worker = ChaosWorker::start(&setup, next_id(slot));
            }
        }
        if t >= next_kill {
            next_kill = t + Duration::from_secs(10);
            let slot = rng.random_range(0..workers.len());
            let watched = zombie_watch.as_ref().is_some_and(|z| z.0 == slot);
            if paused_since.is_none_or(|(p, _)| p != slot) && !watched {
                eprintln!("chaos: kill -9 {} at {t:?}", workers[slot].id);
                workers[slot].signal("-KILL");
                let _ = workers[slot].child.wait();
                workers[slot] = ChaosWorker::start(&setup, next_id(slot));
                kills += 1;
            }
        }
        if !sigterm_done && t >= Duration::from_secs(15) {
            sigterm_done = true;
            let slot = 1;
            eprintln!("chaos: SIGTERM {} at {t:?}", workers[slot].id);
            workers[slot].signal("-TERM");
            let status = workers[slot].child.wait().unwrap();
            assert_eq!(
                status.code(),
                Some(0),
                "a SIGTERM ends the worker cleanly; log:\n{}",
                log_tail(&setup.log_path(&workers[slot].id))
            );
            workers[slot] = ChaosWorker::start(&setup, next_id(slot));
            sigterms += 1;
        }
        if !split_done && t >= Duration::from_secs(20) {
            split_done = true;
            let (start, end) = hash_range(&kinesis, &stream, "shardId-000000000000").await;
            let middle = start + (end - start) / 2;
            eprintln!("chaos: split shardId-000000000000 at {t:?}");
            kinesis
                .split_shard()
                .stream_name(&stream)
                .shard_to_split("shardId-000000000000")
                .new_starting_hash_key(middle.to_string())
                .send()
                .await
                .unwrap();
            reshards += 1;
        }
        if paused_since.is_none() && zombies == 0 && t >= Duration::from_secs(25) {
            // The zombie must hold leases to lose them: a worker that owns one (from slot 2 on).
            let owners = lease_owners(&stream).await;
            let holder = [2, 0, 1].into_iter().find(|s| {
                owners
                    .values()
                    .any(|o| o.as_deref() == Some(&workers[*s].id))
            });
            // (None: nobody holds a lease this instant; tried again next round.)
            if let Some(slot) = holder {
                zombie_shards = owners
                    .iter()
                    .filter(|(_, o)| o.as_deref() == Some(workers[slot].id.as_str()))
                    .map(|(shard, _)| shard.clone())
                    .collect();
                let text = scrape_metrics(workers[slot].metrics_port).unwrap_or_default();
                zombie_before = (
                    metric(&text, "kinesink_lease_losses_total"),
                    metric(&text, "kinesink_fenced_writes_refused_total"),
                );
                eprintln!("chaos: SIGSTOP {} at {t:?}", workers[slot].id);
                workers[slot].signal("-STOP");
                workers[slot].paused = true;
                paused_since = Some((slot, Instant::now()));
                zombies += 1;
                zombie_id = workers[slot].id.clone();
            }
        }
        // The zombie wakes once another worker took one of its leases (the premise: it must
        // find out by a refused fenced write), or after 30 s, which the zombie check reports.
        let taken_meanwhile = match paused_since {
            Some((slot, since)) if since.elapsed() >= Duration::from_millis(FAILOVER_MS + 3000) => {
                let owners = lease_owners(&stream).await;
                zombie_shards.iter().any(|shard| {
                    owners
                        .get(shard)
                        .is_some_and(|o| o.as_deref() != Some(workers[slot].id.as_str()))
                }) || since.elapsed() >= Duration::from_secs(30)
            }
            _ => false,
        };
        if let Some((slot, _)) = paused_since
            && taken_meanwhile
        {
            eprintln!(
                "chaos: SIGCONT {} at {t:?} (leases it held then: {zombie_shards:?}; owners now: {:?})",
                workers[slot].id,
                lease_owners(&stream).await
            );
            workers[slot].signal("-CONT");
            workers[slot].paused = false;
            paused_since = None;
            let w = &workers[slot];
            zombie_watch = Some((slot, w.id.clone(), w.metrics_port, Instant::now()));
        }
        if let Some((_, id, port, resumed)) = &zombie_watch {
            let text = scrape_metrics(*port).unwrap_or_default();
            let losses = metric(&text, "kinesink_lease_losses_total");
            let refused = metric(&text, "kinesink_fenced_writes_refused_total");
            if losses > zombie_before.0 && refused > zombie_before.1 {
                eprintln!(
                    "chaos: zombie {id}: {losses} lease losses, {refused} fenced writes refused"
                );
                zombie_evidence = Some((losses, refused));
                zombie_watch = None;
            } else if resumed.elapsed() > Duration::from_secs(20) {
                eprintln!(
                    "chaos: zombie {id} showed no lost lease and refused write: {losses} losses, {refused} refused"
                );
                zombie_watch = None;
            }
        }
        if split_done && !merge_done && t >= Duration::from_secs(35) {
            merge_done = true;
            wait_active(&kinesis, &stream).await;
            eprintln!(
                "chaos: merge shardId-000000000002 + shardId-000000000003 at {:?}",
                started.elapsed()
            );
            kinesis
                .merge_shards()
                .stream_name(&stream)
                .shard_to_merge("shardId-000000000002")
                .adjacent_shard_to_merge("shardId-000000000003")
                .send()
                .await
                .unwrap();
            reshards += 1;
        }
        // The whole lease table dropped on the stand-in itself while the workers run (the
        // zombie done with, so that its evidence is its own).
        if table_dropped_at.is_none()
            && merge_done
            && zombies == 1
            && paused_since.is_none()
            && zombie_watch.is_none()
            && t >= Duration::from_secs(45)
        {
            drop_lease_table(&stream).await;
            eprintln!("chaos: dropped the lease table at {t:?}");
            table_dropped_at = Some(t);
        }
        // Then a DynamoDB outage, events still being produced.
        if outage.is_none() && table_dropped_at.is_some_and(|d| t >= d + Duration::from_secs(10)) {
            eprintln!("chaos: DynamoDB outage of {outage_for:?} begins at {t:?}");
            let running = watched(&workers);
            let endpoint = kinesis_endpoint.as_deref();
            outage = Some(DynamoDbOutage::begin(
                &dynamodb_proxy,
                outage_for,
                &running,
                &stream,
                endpoint,
            ));
        }
        if let Some(o) = &mut outage {
            o.observe(&dynamodb_proxy, &watched(&workers));
        }
    }
    let outage = outage.expect("the outage began").finish(&dynamodb_proxy);
    let mut produced = producer.await.unwrap();
    produced.chunks.push(outage.produced.clone());
    // Graceful stop of the survivors, then one worker (still through the faulty proxies) reads
    // whatever is left to the tip of every shard.
    for worker in &mut workers {
        if worker.paused {
            worker.signal("-CONT");
            worker.paused = false;
        }
        worker.signal("-TERM");
    }
    for worker in &mut workers {
        let deadline = Instant::now() + Duration::from_secs(120);
        while worker.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "worker {} did not stop within 120 s of SIGTERM; log tail:\n{}",
                worker.id,
                log_tail(&setup.log_path(&worker.id))
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let final_run = run(kinesink()
        .env("RUST_LOG", "warn")
        .args(["run", "--until-caught-up", "--config"])
        .arg(setup.config_for("final", None)));
    let faults = s3_proxy.counters.faults() + dynamodb_proxy.counters.faults();
    ChaosRun {
        setup,
        stream,
        fake,
        kinesis,
        s3_proxy,
        dynamodb_proxy,
        produced,
        outage,
        final_run,
        faults,
        started,
        kills,
        reshards,
        sigterms,
        zombies,
        self_exits,
        exits,
        zombie_id,
        zombie_before,
        zombie_evidence,
        table_dropped_at,
    }
}
