//! DynamoDB outages are ridden out as S3 outages are: lease writes are retried for
//! `leases.retry_duration_s` while the worker reports unready, then the worker stops with one line;
//! a worker starting during an outage waits for it; and the stop after
//! `destination.retry_duration_s` of failing S3 writes. Run against the stand-ins, with the
//! lease table (or S3) behind the fault-injecting proxy.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::fault_proxy::{FaultProxy, FaultRates, Service};
use common::worker_endpoints::{free_port, http_status};
use common::*;

const BUCKET: &str = "kinesink-it";

fn env_seconds(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// A worker config with the lease table reached through `dynamodb` (a proxy URL).
fn worker_config(stream: &str, dynamodb: &str, worker_id: &str, extra_leases: &str) -> Config {
    config(stream, stream, BUCKET, stream, "", "buffer_interval_s = 1").with_leases_extra(&format!(
        "endpoint_url = \"{dynamodb}\"\nworker_id = \"{worker_id}\"\n{extra_leases}"
    ))
}

/// Appends a `[metrics]` section listening on `port`.
fn with_metrics(cfg: Config, port: u16) -> Config {
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

/// Events per id (data objects under the stream's root).
async fn delivered(stream: &str) -> BTreeMap<String, usize> {
    event_counts(&objects(BUCKET, stream).await)
}

/// Asserts each of `<prefix>-0 .. <prefix>-(n-1)` for every `(prefix, n)` is there exactly once,
/// and nothing else.
fn assert_each_once(counts: &BTreeMap<String, usize>, batches: &[(&str, u64)]) {
    let dupes: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(dupes.is_empty(), "duplicates: {dupes:?}");
    let mut total = 0;
    for (prefix, n) in batches {
        let missing: Vec<String> = (0..*n)
            .map(|i| format!("{prefix}-{i}"))
            .filter(|id| !counts.contains_key(id))
            .take(5)
            .collect();
        assert!(missing.is_empty(), "missing (first 5): {missing:?}");
        total += n;
    }
    assert_eq!(counts.len() as u64, total, "unexpected extra events");
}

/// Polls S3 until `expected` distinct events are delivered, asserting meanwhile that no worker
/// exited.
async fn wait_delivered(stream: &str, expected: usize, workers: &mut [Worker], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        for (i, w) in workers.iter_mut().enumerate() {
            assert!(
                w.child.try_wait().unwrap().is_none(),
                "worker {i} exited on its own"
            );
        }
        let n = delivered(stream).await.len();
        if n >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {expected} events delivered within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `kinesink run --until-caught-up` with stderr collected; returns (exit code, stderr).
fn run_until_caught_up(config: &std::path::Path, timeout: Duration) -> (Option<i32>, String) {
    let mut child = spawn_until_caught_up(config);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            eprintln!("--- rerun stderr:\n{stderr}");
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the rerun did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_until_caught_up(config: &std::path::Path) -> Child {
    kinesink()
        .env("RUST_LOG", "warn")
        .args(["run", "--until-caught-up", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_s_dynamodb_outage_under_load_stops_no_worker_and_delivers_every_record_exactly_once()
{
    let outage = env_seconds("KINESINK_DDB_OUTAGE_SECONDS", 60);
    let stream = unique("it-ddb-outage");
    create_stream(&stream, 4).await;
    create_bucket(BUCKET).await;
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
        Service::DynamoDb,
        FaultRates::refuse_everything(),
    )
    .await;
    proxy.set_faults(false);
    let (before, during) = (format!("{stream}-before"), format!("{stream}-during"));
    produce(&stream, 2_000, &before, false);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let configs: Vec<Config> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            with_metrics(
                worker_config(&stream, &proxy.url, &format!("w{i}"), ""),
                *port,
            )
        })
        .collect();
    let mut workers: Vec<Worker> = configs.iter().map(|c| Worker::start(&c.path)).collect();
    wait_delivered(&stream, 2_000, &mut workers, Duration::from_secs(90)).await;
    for (i, port) in ports.iter().enumerate() {
        assert_eq!(
            http_status(*port, "/readyz"),
            200,
            "worker {i} ready before the outage"
        );
    }

    // Load throughout the outage: ~60 records/s for 50 s.
    let producer = {
        let (stream, during) = (stream.clone(), during.clone());
        std::thread::spawn(move || {
            let out = run(kinesink().args([
                "produce",
                "--stream",
                &stream,
                "--count",
                "3000",
                "--rate",
                "60",
                "--id-prefix",
                &during,
            ]));
            assert!(out.status.success(), "produce failed");
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.set_faults(true);
    let refused_before = proxy.counters.faults();
    let started = Instant::now();
    let mut unready = [false; 3];
    while started.elapsed() < outage {
        for (i, w) in workers.iter_mut().enumerate() {
            assert!(
                w.child.try_wait().unwrap().is_none(),
                "worker {i} exited during the outage"
            );
            if http_status(ports[i], "/readyz") == 503 {
                unready[i] = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    proxy.set_faults(false);
    let refused = proxy.counters.faults() - refused_before;
    eprintln!("outage of {outage:?}: {refused} DynamoDB requests refused");
    assert!(
        refused > 50,
        "the workers kept trying the lease table: {refused}"
    );
    assert_eq!(
        unready, [true; 3],
        "every worker answered /readyz 503 during the outage"
    );
    producer.join().unwrap();

    wait_delivered(&stream, 5_000, &mut workers, Duration::from_secs(120)).await;
    for (i, port) in ports.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_status(*port, "/readyz") != 200 {
            assert!(
                Instant::now() < deadline,
                "worker {i} ready again after the outage"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for (i, w) in workers.iter_mut().enumerate() {
        let needle = "heartbeat to the DynamoDB lease table failed";
        w.wait_for(needle, 1, Duration::from_secs(5));
        let line = w.seen.iter().find(|l| l.contains(needle)).unwrap();
        assert!(
            line.contains("WARN")
                && (line.contains("InternalServerError") || line.contains("ThrottlingException")),
            "worker {i}: a WARN line names DynamoDB and the error: {line}"
        );
    }
    for w in &workers {
        w.sigterm();
    }
    for (i, w) in workers.into_iter().enumerate() {
        let (code, _) = w.wait(Duration::from_secs(60));
        assert_eq!(code, Some(0), "worker {i} exits 0 on SIGTERM");
    }
    let counts = delivered(&stream).await;
    assert_each_once(&counts, &[(&before, 2_000), (&during, 3_000)]);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dynamodb_outage_longer_than_leases_retry_duration_s_stops_the_worker_with_one_line_and_a_rerun_delivers_everything_once()
 {
    let stream = unique("it-ddb-giveup");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
        Service::DynamoDb,
        FaultRates::refuse_everything(),
    )
    .await;
    proxy.set_faults(false);
    let (first, second) = (format!("{stream}-first"), format!("{stream}-second"));
    produce(&stream, 300, &first, false);
    let cfg = worker_config(&stream, &proxy.url, "w0", "retry_duration_s = 5");
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("object written", 1, Duration::from_secs(60));
    proxy.set_faults(true);
    let started = Instant::now();
    produce(&stream, 300, &second, false);
    worker.wait_for("kinesink: error:", 1, Duration::from_secs(60));
    let stopped_after = started.elapsed();
    let line = worker
        .seen
        .iter()
        .find(|l| l.contains("kinesink: error:"))
        .unwrap()
        .clone();
    assert!(
        line.contains("DynamoDB") && line.contains("leases.retry_duration_s = 5"),
        "one line naming DynamoDB and the key: {line}"
    );
    let (code, _) = worker.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1));
    assert!(
        stopped_after >= Duration::from_secs(5) && stopped_after < Duration::from_secs(40),
        "stopped {stopped_after:?} into the outage"
    );

    proxy.set_faults(false);
    let (code, stderr) = run_until_caught_up(&cfg.path, Duration::from_secs(120));
    assert_eq!(code, Some(0), "{stderr}");
    assert_each_once(&delivered(&stream).await, &[(&first, 300), (&second, 300)]);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_starting_during_a_dynamodb_outage_waits_for_the_table_instead_of_exiting() {
    let stream = unique("it-ddb-start");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
        Service::DynamoDb,
        FaultRates::refuse_everything(),
    )
    .await;
    produce(&stream, 200, &stream, false);
    let cfg = worker_config(&stream, &proxy.url, "w0", "");
    let mut child = spawn_until_caught_up(&cfg.path);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the worker is still waiting for DynamoDB, not exited (exit 2 was the old behaviour)"
    );
    assert!(proxy.counters.faults() > 2, "it kept asking");
    proxy.set_faults(false);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the worker did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("DynamoDB lease table cannot be reached at start-up"),
        "{stderr}"
    );
    assert_each_once(&delivered(&stream).await, &[(&stream, 200)]);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_write_failing_longer_than_destination_retry_duration_s_stops_the_worker_with_one_line()
 {
    let stream = unique("it-s3-giveup");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        FaultRates {
            server_error: 1.0,
            ..FaultRates::default()
        },
    )
    .await;
    proxy.set_faults(false);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        &format!(
            "buffer_interval_s = 1\nretry_duration_s = 3\nendpoint_url = \"{}\"",
            proxy.url
        ),
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, Duration::from_secs(60));
    proxy.set_faults(true);
    let started = Instant::now();
    produce(&stream, 100, &stream, false);
    worker.wait_for("kinesink: error:", 1, Duration::from_secs(60));
    let line = worker
        .seen
        .iter()
        .find(|l| l.contains("kinesink: error:"))
        .unwrap()
        .clone();
    assert!(
        line.contains("writing object") && line.contains("destination.retry_duration_s"),
        "one line naming the object and the key: {line}"
    );
    let (code, _) = worker.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1));
    assert!(started.elapsed() < Duration::from_secs(40));
    assert!(
        delivered(&stream).await.is_empty(),
        "nothing reached S3 through the failing proxy"
    );

    proxy.set_faults(false);
    let (code, stderr) = run_until_caught_up(&cfg.path, Duration::from_secs(120));
    assert_eq!(code, Some(0), "{stderr}");
    assert_each_once(&delivered(&stream).await, &[(&stream, 100)]);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cut_off_from_dynamodb_past_the_failover_time_writes_nothing_as_owner_and_drops_the_leases_taken_meanwhile()
 {
    let stream = unique("it-ddb-fence");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let dynamodb = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
        Service::DynamoDb,
        FaultRates::refuse_everything(),
    )
    .await;
    dynamodb.set_faults(false);
    // A's S3 requests are recorded (never faulted) to see when it writes objects.
    let s3 = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        FaultRates::default(),
    )
    .await;
    let a_puts = || {
        s3.recorded
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "PUT" || r.method == "POST")
            .count()
    };
    let (first, second) = (format!("{stream}-first"), format!("{stream}-second"));
    produce(&stream, 300, &first, false);
    let a_cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        &format!("buffer_interval_s = 1\nendpoint_url = \"{}\"", s3.url),
    )
    .with_leases_extra(&format!(
        "endpoint_url = \"{}\"\nworker_id = \"a\"",
        dynamodb.url
    ));
    let mut a = Worker::start(&a_cfg.path);
    a.wait_for("lease taken; reading", 2, Duration::from_secs(60));
    wait_delivered(
        &stream,
        300,
        std::slice::from_mut(&mut a),
        Duration::from_secs(60),
    )
    .await;

    // A loses DynamoDB; B (direct) sees A's heartbeat stand still and takes both leases after
    // the failover time (3 s), while records keep coming.
    dynamodb.set_faults(true);
    let cut_off = Instant::now();
    let b_cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_interval_s = 1",
    )
    .with_leases_extra("worker_id = \"b\"");
    let mut b = Worker::start(&b_cfg.path);
    produce(&stream, 300, &second, false);
    b.wait_for("lease taken; reading", 2, Duration::from_secs(60));
    // A's own view: its leases expired once its heartbeat could not be written for 3 s.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(cut_off.elapsed())).await;
    let puts_at_expiry = a_puts();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        a.child.try_wait().unwrap().is_none(),
        "A rides out the outage"
    );
    assert_eq!(
        a_puts(),
        puts_at_expiry,
        "A writes no object while its leases may have been taken"
    );
    // Each of A's shards was fenced: its write as owner waits at the gate, or its progress
    // object (claimed by B on taking the lease) refuses A's next progress write.
    let fenced_by = |l: &String| {
        l.contains("waiting for the lease to be re-confirmed before writing as owner")
            || l.contains("a fenced write was refused: the shard's progress object")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        a.collect_lines();
        let fenced = a.seen.iter().filter(|l| fenced_by(l)).count();
        if fenced >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both of A's shards fenced (gate or progress object), saw {fenced}: {:#?}",
            a.seen
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dynamodb.set_faults(false);
    // Back in touch, A finds both leases taken (by its first consistent scan, or by the
    // re-confirming conditional writes) and drops them with their buffers.
    a.wait_for("lease lost; discarding buffers", 2, Duration::from_secs(30));

    let mut both = [a, b];
    wait_delivered(&stream, 600, &mut both, Duration::from_secs(60)).await;
    for w in &both {
        w.sigterm();
    }
    for w in both {
        let (code, _) = w.wait(Duration::from_secs(60));
        assert_eq!(code, Some(0));
    }
    assert_each_once(&delivered(&stream).await, &[(&first, 300), (&second, 300)]);
    delete_stream(&stream).await;
}
