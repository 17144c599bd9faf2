//! README claims that no other test proved, each against the stand-ins: `/readyz` answers 503
//! while the lease table cannot be read; `check-config --online` reaches each service read-only
//! and names the key at fault; `initial_position = "latest"` and `"at_timestamp"` start where
//! they say; `destination.sse` / `kms_key_id` are on the wire of every object write.
#![cfg(feature = "stand-ins")]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::fault_proxy::{FaultProxy, FaultRates, Service};
use common::*;

const BUCKET: &str = "kinesink-it";

/// Status code of `GET path` on 127.0.0.1:`port`, `None` when nothing answers.
fn status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn wait_for_status(port: u16, path: &str, code: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = status(port, path);
        if got == Some(code) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{path} did not answer {code} within {limit:?} (last {got:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn moto_url() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run with the stand-ins' environment")
}

/// The config with `initial_position` replaced by `position` (plus extra `[source]` lines).
fn with_initial_position(cfg: Config, position: &str) -> Config {
    let text = std::fs::read_to_string(&cfg.path).unwrap().replace(
        "initial_position = \"trim_horizon\"",
        &format!("initial_position = {position}"),
    );
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_answers_503_while_the_lease_table_cannot_be_read_and_200_again_after() {
    let proxy = FaultProxy::start(
        &moto_url(),
        Service::DynamoDb,
        FaultRates {
            server_error: 1.0,
            ..FaultRates::default()
        },
    )
    .await;
    proxy.set_faults(false);
    // An idle stream: no checkpoint to write while DynamoDB refuses, only lease cycles.
    let stream = unique("it-readyz");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let port = free_port();
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        &format!("buffer_interval_s = 1\n[metrics]\nlisten = \"127.0.0.1:{port}\""),
    )
    .with_leases_extra(&format!("endpoint_url = \"{}\"", proxy.url));
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, Duration::from_secs(60));
    wait_for_status(port, "/readyz", 200, Duration::from_secs(30));
    proxy.set_faults(true);
    let unready = wait_for_status(port, "/readyz", 503, Duration::from_secs(30));
    eprintln!("/readyz answered 503 {unready:?} after DynamoDB started refusing");
    assert_eq!(status(port, "/healthz"), Some(200), "alive all the same");
    proxy.set_faults(false);
    wait_for_status(port, "/readyz", 200, Duration::from_secs(30));
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_online_reaches_every_service_read_only_and_names_the_key_at_fault() {
    let stream = unique("it-online");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let table = unique("it-online-table");
    let online = |cfg: &Config| {
        run(kinesink()
            .args(["check-config", "--online", "--config"])
            .arg(&cfg.path))
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws().await);
    let table_exists = async |name: &str| {
        dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .is_ok()
    };

    let good = config(&stream, &table, BUCKET, &stream, "", "");
    let out = online(&good);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("online checks") && stdout.contains(": ok"),
        "{stdout}"
    );
    assert!(
        !table_exists(&table).await,
        "read-only: the missing lease table is not created"
    );

    let cases = [
        (
            config(
                &unique("it-no-such-stream"),
                &table,
                BUCKET,
                &stream,
                "",
                "",
            ),
            "source.stream",
        ),
        (
            config(
                &stream,
                &table,
                &unique("it-no-such-bucket"),
                &stream,
                "",
                "",
            ),
            "destination.url",
        ),
        (
            config(&stream, &table, BUCKET, &stream, "", "")
                .with_leases_extra("endpoint_url = \"http://127.0.0.1:9\""),
            "leases.table",
        ),
    ];
    for (cfg, key) in cases {
        let out = online(&cfg);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(&format!("`{key}`")),
            "names {key}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    // Offline, the same broken configurations are valid.
    let offline = run(kinesink().args(["check-config", "--config"]).arg(
        &config(
            &unique("it-no-such-stream"),
            &table,
            BUCKET,
            &stream,
            "",
            "",
        )
        .path,
    ));
    assert_eq!(offline.status.code(), Some(0));
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn initial_position_latest_reads_only_records_put_after_the_lease_was_taken() {
    let stream = unique("it-latest");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let before = format!("{stream}-before");
    produce(&stream, 100, &before, false);
    let cfg = with_initial_position(
        config(
            &stream,
            &stream,
            BUCKET,
            &stream,
            "",
            "buffer_interval_s = 1",
        ),
        "\"latest\"",
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 2, Duration::from_secs(60));
    // Time for each reader to ask for its LATEST iterator.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = format!("{stream}-after");
    produce(&stream, 150, &after, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
        if counts.keys().filter(|id| id.starts_with(&after)).count() == 150 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the later records were not all delivered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, &after, 150);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn initial_position_at_timestamp_reads_from_the_first_record_at_or_after_it() {
    let stream = unique("it-at-ts");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let before = format!("{stream}-before");
    produce(&stream, 100, &before, false);
    // Kinesis arrival times are the stand-in's clock, this machine's: a margin either side.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = format!("{stream}-after");
    produce(&stream, 120, &after, false);
    let cfg = with_initial_position(
        config(
            &stream,
            &stream,
            BUCKET,
            &stream,
            "",
            "buffer_interval_s = 1",
        ),
        &format!(
            "\"at_timestamp\"\ninitial_timestamp = \"{}\"",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    );
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, &after, 120);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_encryption_settings_are_sent_with_every_object_write() {
    let proxy = FaultProxy::start(&moto_url(), Service::S3, FaultRates::default()).await;
    proxy.set_faults(false);
    let stream = unique("it-sse");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    produce(&stream, 300, &stream, false);
    let key_id = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        &format!(
            "buffer_interval_s = 1\nendpoint_url = \"{}\"\nsse = \"aws:kms\"\nkms_key_id = \"{key_id}\"",
            proxy.url
        ),
    );
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, &stream, 300);
    let recorded = proxy.recorded.lock().unwrap().clone();
    // Object writes: PutObject, and CreateMultipartUpload (which carries the encryption of a
    // multipart object); parts and completion do not.
    let writes: Vec<_> = recorded
        .iter()
        .filter(|r| {
            let q = r.path_and_query.as_str();
            (r.method == "PUT" && !q.contains("partNumber=") && !q.contains("x-id=UploadPart"))
                || (r.method == "POST" && q.contains("uploads"))
        })
        .filter(|r| r.path_and_query.contains(&format!("/{BUCKET}/{stream}/")))
        .collect();
    assert!(!writes.is_empty(), "objects were written through the proxy");
    for w in &writes {
        let header = |name: &str| {
            w.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header("x-amz-server-side-encryption"),
            Some("aws:kms"),
            "{} {}",
            w.method,
            w.path_and_query
        );
        assert_eq!(
            header("x-amz-server-side-encryption-aws-kms-key-id"),
            Some(key_id),
            "{} {}",
            w.method,
            w.path_and_query
        );
    }
    eprintln!("{} object writes, each with SSE-KMS headers", writes.len());
    delete_stream(&stream).await;
}
