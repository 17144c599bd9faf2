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
