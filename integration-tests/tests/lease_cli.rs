//! The `kinesink leases` and `kinesink workers` commands against the stand-ins.
#![cfg(feature = "stand-ins")]

mod common;

use common::*;

const BUCKET: &str = "kinesink-it";

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn leases_are_listed_shown_released_and_reset_only_with_confirmation() {
    let stream = unique("it-cli");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    produce(&stream, 200, &stream, false);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_interval_s = 1",
    );
    assert!(
        run(kinesink()
            .args(["run", "--until-caught-up", "--config"])
            .arg(&cfg.path))
        .status
        .success()
    );

    let list = json(&run(kinesink()
        .args(["leases", "list", "--json", "--config"])
        .arg(&cfg.path)));
    let leases = list.as_array().unwrap();
    assert_eq!(leases.len(), 2);
    for l in leases {
        assert_eq!(l["state"], "free", "released at shutdown: {l}");
        assert!(
            l["checkpoint"]
                .as_str()
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit()),
            "checkpointed at a sequence number: {l}"
        );
        assert!(
            l["millis_behind_latest"].is_i64(),
            "the owner stored how far behind it read: {l}"
        );
    }
    let table = run(kinesink()
        .args(["leases", "list", "--config"])
        .arg(&cfg.path));
    assert!(String::from_utf8_lossy(&table.stdout).contains("shardId-000000000001"));

    let show = json(&run(kinesink()
        .args([
            "leases",
            "show",
            "shardId-000000000000",
            "--json",
            "--config",
        ])
        .arg(&cfg.path)));
    assert_eq!(show["shard_id"], "shardId-000000000000");
    let missing = run(kinesink()
        .args(["leases", "show", "shardId-999", "--config"])
        .arg(&cfg.path));
    assert_eq!(missing.status.code(), Some(2));

    let workers = json(&run(kinesink()
        .args(["workers", "--json", "--config"])
        .arg(&cfg.path)));
    assert_eq!(
        workers.as_array().unwrap().len(),
        0,
        "a worker removes its heartbeat when it stops"
    );

    let refused = run(kinesink()
        .args([
            "leases",
            "reset",
            "shardId-000000000000",
            "--to",
            "trim-horizon",
            "--config",
        ])
        .arg(&cfg.path));
    assert_eq!(refused.status.code(), Some(2), "reset needs --yes");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let reset = run(kinesink()
        .args([
            "leases",
            "reset",
            "shardId-000000000000",
            "--to",
            "trim-horizon",
            "--yes",
            "--config",
        ])
        .arg(&cfg.path));
    assert!(reset.status.success());
    let show = json(&run(kinesink()
        .args([
            "leases",
            "show",
            "shardId-000000000000",
            "--json",
            "--config",
        ])
        .arg(&cfg.path)));
    assert_eq!(show["checkpoint"], "TRIM_HORIZON");

    let refused = run(kinesink()
        .args(["leases", "release", "shardId-000000000001", "--config"])
        .arg(&cfg.path));
    assert_eq!(refused.status.code(), Some(2), "release needs --yes");
    assert!(
        run(kinesink()
            .args([
                "leases",
                "release",
                "shardId-000000000001",
                "--yes",
                "--config"
            ])
            .arg(&cfg.path))
        .status
        .success()
    );
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_is_refused_while_an_idle_lease_is_held_live_by_its_owners_heartbeat() {
    // An empty stream: the worker takes the lease and never writes it again (nothing to
    // checkpoint), so only its heartbeat shows that it is alive.
    let stream = unique("it-cli-idle");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_interval_s = 1",
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, std::time::Duration::from_secs(60));
    let reset = run(kinesink()
        .args([
            "leases",
            "reset",
            "shardId-000000000000",
            "--to",
            "latest",
            "--yes",
            "--config",
        ])
        .arg(&cfg.path));
    assert_eq!(
        reset.status.code(),
        Some(2),
        "a reset of a live lease is refused"
    );
    assert!(
        String::from_utf8_lossy(&reset.stderr).contains("is held live by"),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let show = json(&run(kinesink()
        .args([
            "leases",
            "show",
            "shardId-000000000000",
            "--json",
            "--config",
        ])
        .arg(&cfg.path)));
    assert_eq!(show["checkpoint"], "TRIM_HORIZON", "not reset");
    worker.sigterm();
    assert_eq!(worker.wait(std::time::Duration::from_secs(30)).0, Some(0));
    // Once its owner stopped (and released it), the lease can be reset.
    let reset = run(kinesink()
        .args([
            "leases",
            "reset",
            "shardId-000000000000",
            "--to",
            "latest",
            "--yes",
            "--config",
        ])
        .arg(&cfg.path));
    assert!(reset.status.success());
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_to_a_timestamp_reads_from_that_time_whatever_the_configured_start() {
    let stream = unique("it-reset-ts");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_interval_s = 1",
    );
    // Configured to start new shards at the tip: only the reset's own time can make the worker
    // read the records after it (and none before it).
    let text = std::fs::read_to_string(&cfg.path).unwrap().replace(
        "initial_position = \"trim_horizon\"",
        "initial_position = \"latest\"",
    );
    std::fs::write(&cfg.path, text).unwrap();
    produce(&stream, 30, "before", false);
    assert!(
        run(kinesink()
            .args(["run", "--until-caught-up", "--config"])
            .arg(&cfg.path))
        .status
        .success(),
        "the first run creates the lease at LATEST"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let at = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    produce(&stream, 40, "after", false);

    let timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let refused = run(kinesink()
        .args([
            "leases",
            "reset",
            "shardId-000000000000",
            "--to",
            "latest",
            "--timestamp",
            &timestamp,
            "--yes",
            "--config",
        ])
        .arg(&cfg.path));
    assert_eq!(
        refused.status.code(),
        Some(2),
        "--timestamp only with at-timestamp"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--timestamp"));
    let reset = run(kinesink()
        .args([
            "leases",
            "reset",
            "shardId-000000000000",
            "--to",
            "at-timestamp",
            "--timestamp",
            &timestamp,
            "--yes",
            "--config",
        ])
        .arg(&cfg.path));
    assert!(reset.status.success());
    let show = json(&run(kinesink()
        .args([
            "leases",
            "show",
            "shardId-000000000000",
            "--json",
            "--config",
        ])
        .arg(&cfg.path)));
    assert_eq!(show["checkpoint"], "AT_TIMESTAMP");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(show["checkpoint_timestamp"].as_str().unwrap())
            .unwrap()
            .timestamp_millis(),
        at.timestamp_millis(),
        "the lease stores the time given: {show}"
    );

    assert!(
        run(kinesink()
            .args(["run", "--until-caught-up", "--config"])
            .arg(&cfg.path))
        .status
        .success()
    );
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, "after", 40);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_shows_the_age_of_each_live_workers_last_heartbeat() {
    let stream = unique("it-workers");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let cfg = config(&stream, &stream, BUCKET, &stream, "", "");
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, std::time::Duration::from_secs(30));
    // A heartbeat every failover time / 3 (1 s here).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let workers = json(&run(kinesink()
        .args(["workers", "--json", "--config"])
        .arg(&cfg.path)));
    let rows = workers.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{workers}");
    let age = rows[0]["last_heartbeat_age_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no heartbeat age: {workers}"));
    assert!(age < 10_000, "a live worker heartbeat recently: {workers}");
    assert_eq!(rows[0]["leases"], 1);
    let table = run(kinesink().args(["workers", "--config"]).arg(&cfg.path));
    assert!(String::from_utf8_lossy(&table.stdout).contains("LAST HEARTBEAT"));
    worker.sigterm();
    assert_eq!(worker.wait(std::time::Duration::from_secs(30)).0, Some(0));
    delete_stream(&stream).await;
}
