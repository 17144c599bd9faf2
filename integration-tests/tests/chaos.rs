//! The chaos test: 3 worker processes on a 4-shard stream while a producer writes events with
//! unique ids (plain and KPL-aggregated, ~1% malformed: not JSON, no partition key, a corrupt
//! KPL aggregate, a value the Parquet schema cannot take), delivered as zstd Parquet through a
//! jq transform, with the source record backup on; meanwhile: kill -9 of a random
//! worker every ~10 s (restarted at once, as an orchestrator would), one SIGTERM, one worker
//! paused with SIGSTOP past the failover time and resumed (a zombie), a shard split and a merge,
//! and S3 and DynamoDB failing a share of requests through a fault-injecting proxy (500s,
//! throttling, responses lost after the write happened, connections dropped). Then the whole
//! lease table is dropped (DeleteTable on the stand-in, at ~45 s) and, 10 s later, DynamoDB is
//! down for 60 s: the proxy refuses every request while events are still produced (50/s) and
//! the kills go on; the run continues until every worker is ready again after it.
//!
//! At the end every object is read back and one line is printed:
//! `records produced, delivered, in error prefix, duplicates, missing, kills, reshards, faults injected`.
//! Pass: duplicates 0, missing 0, every record as read in the backup exactly once (malformed
//! ones included), every malformed record in the error prefix exactly once and
//! under its error output type (all four kinds), no worker exiting by itself, the final catch-up
//! run succeeding at its first try, every fault type injected into both S3 and DynamoDB, the
//! zombie losing a lease and having a fenced write refused (its `/metrics` and log), and records
//! delivered from each shard the split and the merge made (shard ids in object keys); the
//! dropped table noticed and its rows recreated from the progress in the destination (WARN lines
//! in the workers' logs); more than 50 DynamoDB requests refused during the outage, every worker
//! running through its first 10 s answering `/readyz` 503, and every worker slot answering 200
//! within 60 s after it (the workers ride it out: `leases.retry_duration_s` is 600 s).
//!
//! Size: `KINESINK_CHAOS_RECORDS` (default 40,000: kinesis-mock slows sharply past ~10,000
//! records per shard), `KINESINK_CHAOS_SECONDS` of chaos (default 60, extended until the outage
//! is over) and `KINESINK_CHAOS_OUTAGE_SECONDS` (default 60). With
//! `KINESINK_CHAOS_READER=efo` the workers read with enhanced fan-out (needs the fake). With
//! `KINESINK_CHAOS_KINESIS=fake` the stream lives in the project's fast fake Kinesis
//! (`kinesink_integration_tests::fake_kinesis`, which also splits and merges) instead of
//! kinesis-mock; DynamoDB and S3 stay on moto. The long run (`scripts/chaos-long`):
//! `KINESINK_CHAOS_KINESIS=fake KINESINK_CHAOS_RECORDS=1000000 KINESINK_CHAOS_SECONDS=300 cargo
//! nextest run -p kinesink-integration-tests --features stand-ins --test chaos --no-capture`.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::chaos_producer::produce_all;
use common::chaos_run::*;
use common::fault_proxy::{FaultProxy, FaultRates, Service};
use common::lease_table_chaos::{
    DynamoDbOutage, READY_AGAIN_WITHIN, drop_lease_table, log_lines_containing,
};
use common::worker_endpoints::*;
use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;
use rand::Rng;

/// Versioning enabled: every key must end with one version (each object created once).
const BUCKET: &str = "kinesink-it-chaos-versioned";
const FAILOVER_MS: u64 = 3000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    stream: String,
    dir: tempfile::TempDir,
    s3_proxy: String,
    dynamodb_proxy: String,
    /// The fake Kinesis' URL, when the stream lives there.
    kinesis_endpoint: Option<String>,
}

impl Setup {
    /// The config of a worker (serving `/metrics` on `metrics_port` when given).
    fn config_for(&self, worker_id: &str, metrics_port: Option<u16>) -> PathBuf {
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
partition_query = "{{event_type: .event_type}}"
transform = 'if .event_type == "never" then empty else . + {{transformed: true}} end'
[destination]
url = "s3://{BUCKET}/{stream}"
endpoint_url = "{s3}"
force_path_style = true
buffer_size_mib = 1
buffer_interval_s = 2
prefix = "data/type=!{{partitionKeyFromQuery:event_type}}/"
error_output_prefix = "errors/!{{firehose:error-output-type}}/"
backup_prefix = "backup/"
[format]
type = "parquet"
compression = "zstd"
schema = "event_id string, customer_id string, event_type string, ts timestamp, price double, quantity int, page string, country string, user_agent string, session_ms bigint"
{metrics}"#,
                stream = self.stream,
                metrics = metrics_port.map(|p| format!("[metrics]\nlisten = \"127.0.0.1:{p}\"\n")).unwrap_or_default(),
                ddb = self.dynamodb_proxy,
                s3 = self.s3_proxy,
                kinesis_endpoint = self.kinesis_endpoint.as_ref().map(|e| format!("endpoint_url = \"{e}\"")).unwrap_or_default()
                    + if std::env::var("KINESINK_CHAOS_READER").as_deref() == Ok("efo") { "\nreader = \"efo\"" } else { "" },
            ),
        )
        .unwrap();
        path
    }

    fn log_path(&self, worker_id: &str) -> PathBuf {
        self.dir.path().join(format!("{worker_id}.log"))
    }
}

/// A worker process logging to a file in the test's directory.
struct ChaosWorker {
    id: String,
    child: Child,
    paused: bool,
    /// Where its `/metrics` is served.
    metrics_port: u16,
}

impl ChaosWorker {
    fn start(setup: &Setup, id: String) -> Self {
        let log = std::fs::File::create(setup.log_path(&id)).unwrap();
        let metrics_port = free_port();
        // What each shard's reader resumed from and recorded: the evidence should a run fail.
        let child = kinesink()
            .env(
                "RUST_LOG",
                "warn,kinesink_worker::shard_task=debug,kinesink_worker::shard_writer=debug,kinesink_worker::worker::shard_launch=debug",
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

    fn signal(&self, sig: &str) {
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
fn watched(workers: &[ChaosWorker]) -> Vec<(String, u16)> {
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

#[tokio::test(flavor = "multi_thread")]
async fn chaos_kills_pauses_reshards_and_faults_leave_every_record_exactly_once() {
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
    common::versioned_bucket::create_versioned_bucket(BUCKET).await;
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
        if let Some((slot, since)) = paused_since
            && since.elapsed() >= Duration::from_millis(FAILOVER_MS + 3000)
        {
            eprintln!(
                "chaos: SIGCONT {} at {t:?} (its leases were taken meanwhile)",
                workers[slot].id
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

    let delivered = read_back(BUCKET, &stream).await;
    let mut duplicates = 0_u64;
    let mut missing = 0_u64;
    let mut missing_examples: Vec<String> = Vec::new();
    let mut delivered_good = 0_u64;
    for (prefix, n) in &produced.chunks {
        for i in 0..*n {
            match delivered
                .events
                .get(&format!("{prefix}-{i}"))
                .copied()
                .unwrap_or(0)
            {
                0 => {
                    missing += 1;
                    if missing_examples.len() < 5 {
                        missing_examples.push(format!("{prefix}-{i}"));
                    }
                }
                1 => delivered_good += 1,
                more => {
                    delivered_good += 1;
                    duplicates += (more - 1) as u64;
                }
            }
        }
    }
    let mut in_error_prefix = 0_u64;
    for marker in &produced.malformed {
        match delivered.errors.get(marker).copied().unwrap_or(0) {
            0 => {
                missing += 1;
                missing_examples.push(marker.clone());
            }
            1 => in_error_prefix += 1,
            more => {
                in_error_prefix += 1;
                duplicates += (more - 1) as u64;
            }
        }
    }
    let unknown_events = delivered.events.len() as u64
        - delivered
            .events
            .keys()
            .filter(|k| {
                produced
                    .chunks
                    .iter()
                    .any(|(p, _)| k.starts_with(&format!("{p}-")))
            })
            .count() as u64;
    println!(
        "chaos: records produced {}, delivered {delivered_good}, in error prefix {in_error_prefix}, duplicates {duplicates}, missing {missing}, kills {kills}, reshards {reshards}, faults injected {faults} (S3 {} of {} requests, DynamoDB {} of {}), sigterms {sigterms}, zombies {zombies}, self-exits {self_exits}, {:.0} s",
        produced.good() + produced.malformed.len() as u64,
        s3_proxy.counters.faults(),
        s3_proxy
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        dynamodb_proxy.counters.faults(),
        dynamodb_proxy
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    );
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for t in delivered.error_types.values() {
        *by_type.entry(t.as_str()).or_insert(0) += 1;
    }
    println!("chaos: error output by type {by_type:?}");
    let table_missing = log_lines_containing(setup.dir.path(), "the lease table is missing");
    let rows_recreated = log_lines_containing(setup.dir.path(), "lease row was missing");
    println!(
        "chaos: lease table dropped at {table_dropped_at:?} ({table_missing} table-missing and {rows_recreated} row-recreated WARN lines); \
         DynamoDB outage of {:?}: {} requests refused, {} events produced meanwhile, /readyz 503 from {:?} (expected from {:?}), every worker ready again after {:?}",
        outage.length,
        outage.refused,
        outage.produced.1,
        outage.unready,
        outage.expected_unready,
        outage.ready_again_after,
    );
    let fault_kinds = [("S3", &s3_proxy), ("DynamoDB", &dynamodb_proxy)]
        .map(|(service, proxy)| (service, faults_by_type(&proxy.counters)));
    println!("chaos: faults by service and type {fault_kinds:?}");
    println!("chaos: events by shard {:?}", delivered.events_by_shard);
    if let Some(f) = &fake {
        let c = &f.counters;
        println!(
            "chaos: fake Kinesis served {} GetRecords calls and {} SubscribeToShard subscriptions",
            c.get_records.load(std::sync::atomic::Ordering::Relaxed),
            c.subscriptions.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    assert!(
        final_run.status.success(),
        "the final catch-up run succeeds at its first try"
    );
    // Each kind of malformed record lands under Firehose's error output type for it.
    let mut kinds_in_type = [0_u32; 4];
    for marker in &produced.malformed {
        let kind: u64 = marker.rsplit('-').next().unwrap().parse().unwrap();
        let found = delivered.error_types.get(marker).map(String::as_str);
        assert_eq!(found, Some(expected_error_type(kind)), "{marker}");
        kinds_in_type[(kind % 4) as usize] += 1;
    }
    assert!(
        kinds_in_type.iter().all(|n| *n > 0),
        "every kind of malformed record, each in its error output type: {kinds_in_type:?}"
    );
    for (service, kinds) in &fault_kinds {
        for (kind, n) in kinds {
            assert!(*n > 0, "no {kind} injected into {service}: {fault_kinds:?}");
        }
    }
    let zombie_log = std::fs::read_to_string(setup.log_path(&zombie_id)).unwrap_or_default();
    assert!(
        zombie_evidence.is_some()
            && (zombie_log.contains("a fenced lease write was refused")
                || zombie_log.contains("a fenced write was refused: the shard's progress object")),
        "the zombie {zombie_id} lost a lease and had a fenced write refused (metrics after the \
         pause {zombie_evidence:?}, before {zombie_before:?}); its log:\n{zombie_log}"
    );
    assert!(
        table_missing >= 1 && rows_recreated >= 1,
        "a worker noticed the dropped lease table and recreated its rows from the progress in \
         the destination ({table_missing} table-missing, {rows_recreated} row-recreated WARN lines)"
    );
    assert!(
        outage.refused > 50,
        "the workers kept trying DynamoDB during the outage: {outage:?}"
    );
    assert!(
        !outage.expected_unready.is_empty() && outage.expected_unready.is_subset(&outage.unready),
        "every worker running through the outage's first seconds answered /readyz 503: {outage:?}"
    );
    assert!(
        outage.ready_again_after.is_some(),
        "every worker slot answered /readyz 200 within {READY_AGAIN_WITHIN:?} after the outage: \
         {outage:?}"
    );
    // Records were read from the shards the split and the merge made.
    let children: Vec<String> = kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap()
        .shards()
        .iter()
        .filter(|s| s.parent_shard_id().is_some())
        .map(|s| s.shard_id().to_owned())
        .collect();
    assert_eq!(children.len(), 3, "two from the split, one from the merge");
    for child in &children {
        assert!(
            delivered.events_by_shard.get(child).is_some_and(|n| *n > 0),
            "no records delivered from child shard {child}: {:?}",
            delivered.events_by_shard
        );
    }
    assert!(
        delivered.unexpected.is_empty(),
        "good records in the error output: {:?}",
        &delivered.unexpected[..delivered.unexpected.len().min(5)]
    );
    assert_eq!(unknown_events, 0, "events nobody produced");
    if duplicates > 0 || missing > 0 {
        // The workers' logs are the evidence: kept beyond the temporary directory.
        let kept = std::env::temp_dir().join(format!("kinesink-chaos-logs-{stream}"));
        let _ = std::fs::create_dir_all(&kept);
        for entry in std::fs::read_dir(setup.dir.path()).unwrap().flatten() {
            let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
        }
        eprintln!("chaos: worker logs kept in {}", kept.display());
    }
    assert_eq!(duplicates, 0);
    assert_eq!(
        missing,
        0,
        "missing, first ones: {:?}",
        &missing_examples[..missing_examples.len().min(5)]
    );
    assert_eq!(delivered_good, produced.good());
    assert_eq!(in_error_prefix, produced.malformed.len() as u64);
    // The source backup holds every record as read exactly once, malformed ones included.
    let backed_up_once = produced
        .chunks
        .iter()
        .flat_map(|(prefix, n)| (0..*n).map(move |i| format!("{prefix}-{i}")))
        .filter(|id| delivered.backup_events.get(id) == Some(&1))
        .count() as u64;
    assert_eq!(
        backed_up_once,
        produced.good(),
        "good records backed up once"
    );
    assert_eq!(
        delivered.backup_events.len() as u64,
        produced.good(),
        "no other event in the backup"
    );
    for marker in &produced.malformed {
        assert_eq!(
            delivered.backup_errors.get(marker),
            Some(&1),
            "{marker} in the backup"
        );
    }
    assert_eq!(delivered.backup_errors.len(), produced.malformed.len());
    println!(
        "chaos: source backup holds {} good and {} malformed records as read, each once",
        delivered.backup_events.len(),
        delivered.backup_errors.len()
    );
    assert!(
        kills >= 1 && reshards == 2 && zombies == 1 && sigterms == 1 && faults > 0,
        "every kind of chaos happened"
    );
    // Conditional writes: a replay, a zombie or a retried lost response never wrote a data or
    // error object twice, so each has one version, i.e. fired one ObjectCreated notification.
    // (The per-shard progress objects under `_kinesink/` are rewritten at every checkpoint.)
    let progress_root = format!("{stream}/_kinesink/");
    let keys = common::versioned_bucket::assert_one_version_per_key(
        BUCKET,
        &format!("{stream}/"),
        Some(&progress_root),
    )
    .await;
    let progress = common::versioned_bucket::versions_per_key(BUCKET, &progress_root).await;
    println!(
        "chaos: {keys} data and error objects, one version each; {} progress objects, {} versions",
        progress.len(),
        progress.values().sum::<usize>()
    );
    // Last, so that the properties above are checked in any case.
    assert_eq!(self_exits, 0, "no worker exits by itself: {exits:#?}");
    if fake.is_none() {
        delete_stream(&stream).await;
    }
}
