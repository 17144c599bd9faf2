//! Several worker processes share one stream through the lease table: they balance, hand over
//! on SIGTERM at once, fail over after kill -9, and deliver every record exactly once.
#![cfg(feature = "stand-ins")]

mod common;

use std::time::{Duration, Instant};

use common::*;

const BUCKET: &str = "kinesink-it";

async fn wait_until<F: Fn(&std::collections::BTreeMap<String, Option<String>>) -> bool>(
    table: &str,
    limit: Duration,
    f: F,
) -> Duration {
    let start = Instant::now();
    loop {
        let owners = lease_owners(table).await;
        if f(&owners) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "condition not reached within {limit:?}; owners: {owners:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_balance_eight_shards_hand_over_on_sigterm_fail_over_on_kill_and_deliver_exactly_once()
 {
    let stream = unique("it-multi");
    create_stream(&stream, 8).await;
    create_bucket(BUCKET).await;
    produce(&stream, 1600, &stream, false);
    // failover 3 s: lease cycles every second.
    let configs: Vec<Config> = ["w1", "w2", "w3"]
        .iter()
        .map(|id| {
            let c = config(
                &stream,
                &stream,
                BUCKET,
                &stream,
                "max_records = 100",
                "buffer_interval_s = 1",
            );
            let text = std::fs::read_to_string(&c.path).unwrap().replace(
                "failover_time_ms = 3000",
                &format!("failover_time_ms = 3000\nworker_id = \"{id}\""),
            );
            std::fs::write(&c.path, text).unwrap();
            c
        })
        .collect();
    let mut workers: Vec<Option<Worker>> = configs
        .iter()
        .map(|c| Some(Worker::start(&c.path)))
        .collect();

    // Balance: every shard owned, loads 3/3/2, within 3 lease cycles of the leases existing.
    let converged = wait_until(&stream, Duration::from_secs(20), |o| {
        let l = loads(o);
        o.len() == 8
            && o.values().all(Option::is_some)
            && l.len() == 3
            && l.values().max().unwrap() - l.values().min().unwrap() <= 1
    })
    .await;
    eprintln!("converged after {converged:?}");
    let settled = lease_owners(&stream).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        lease_owners(&stream).await,
        settled,
        "no lease changes owner once balanced"
    );

    // SIGTERM w1: its shards are taken by the others at once (released, not expired).
    let w1_shards: Vec<String> = settled
        .iter()
        .filter(|(_, o)| o.as_deref() == Some("w1"))
        .map(|(s, _)| s.clone())
        .collect();
    let w1 = workers[0].take().unwrap();
    w1.sigterm();
    let t = Instant::now();
    let (code, _) = w1.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    let handover = wait_until(&stream, Duration::from_secs(10), |o| {
        w1_shards
            .iter()
            .all(|s| matches!(o[s].as_deref(), Some("w2" | "w3")))
    })
    .await;
    let since_signal = t.elapsed();
    eprintln!("SIGTERM handover: {since_signal:?} after the signal ({handover:?} after exit)");
    assert!(
        since_signal <= Duration::from_secs(2),
        "released shards taken within 2 s of SIGTERM, took {since_signal:?}"
    );

    // kill -9 w2: its shards are taken after the failover time plus a cycle or two.
    let now = lease_owners(&stream).await;
    let w2_shards: Vec<String> = now
        .iter()
        .filter(|(_, o)| o.as_deref() == Some("w2"))
        .map(|(s, _)| s.clone())
        .collect();
    let mut w2 = workers[1].take().unwrap();
    w2.child.kill().unwrap();
    let _ = w2.child.wait();
    let failover = wait_until(&stream, Duration::from_secs(20), |o| {
        w2_shards.iter().all(|s| o[s].as_deref() == Some("w3"))
    })
    .await;
    eprintln!("kill -9 failover: {failover:?}");
    // Expiry is judged from each worker's own observations (clocks never matter): a lease is
    // expired failover_time after the observer SAW its last renewal, which it sees up to one
    // cycle late; so from the kill: failover_time + one cycle, + one cycle of observation lag.
    assert!(
        failover <= Duration::from_millis(3000 + 2 * 1000 + 1000),
        "taken within failover_time (3 s) + one lease cycle (1 s) after the last renewal was seen (+1 s), + 1 s for cycle jitter and polling; took {failover:?}"
    );

    // More records while only w3 runs, then stop it and check the whole delivery.
    produce(&stream, 400, &format!("{stream}-late"), false);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let w3 = workers[2].take().unwrap();
    w3.sigterm();
    assert_eq!(w3.wait(Duration::from_secs(30)).0, Some(0));
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&configs[2].path));
    assert!(out.status.success());
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    let (late, early): (
        std::collections::BTreeMap<_, _>,
        std::collections::BTreeMap<_, _>,
    ) = counts
        .into_iter()
        .partition(|(k, _)| k.starts_with(&format!("{stream}-late-")));
    assert_exactly_once(&early, &stream, 1600);
    assert_exactly_once(&late, &format!("{stream}-late"), 400);
    delete_stream(&stream).await;
}

fn worker_config_with_id(stream: &str, id: &str) -> Config {
    let c = config(
        stream,
        stream,
        BUCKET,
        stream,
        "max_records = 50",
        "buffer_interval_s = 1",
    );
    let text = std::fs::read_to_string(&c.path).unwrap().replace(
        "failover_time_ms = 3000",
        &format!("failover_time_ms = 3000\nworker_id = \"{id}\""),
    );
    std::fs::write(&c.path, text).unwrap();
    c
}

fn signal(worker: &Worker, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &worker.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_worker_whose_leases_were_taken_cannot_write_a_checkpoint_and_nothing_is_duplicated()
 {
    let stream = unique("it-zombie");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    produce(&stream, 3000, &stream, false);
    let cfg_a = worker_config_with_id(&stream, "zombie");
    let cfg_b = worker_config_with_id(&stream, "successor");
    let mut a = Worker::start(&cfg_a.path);
    a.wait_for("lease taken", 2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    signal(&a, "-STOP");
    let b = Worker::start(&cfg_b.path);
    wait_until(&stream, Duration::from_secs(20), |o| {
        o.len() == 2 && o.values().all(|w| w.as_deref() == Some("successor"))
    })
    .await;
    // Let the successor replay and flush past the zombie's position, then wake the zombie.
    std::thread::sleep(Duration::from_secs(3));
    signal(&a, "-CONT");
    a.wait_for("lease lost", 1, Duration::from_secs(30));
    produce(&stream, 500, &format!("{stream}-late"), false);
    std::thread::sleep(Duration::from_secs(4));
    a.sigterm();
    b.sigterm();
    assert_eq!(a.wait(Duration::from_secs(30)).0, Some(0));
    assert_eq!(b.wait(Duration::from_secs(30)).0, Some(0));
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg_b.path));
    assert!(out.status.success());
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    let (late, early): (
        std::collections::BTreeMap<_, _>,
        std::collections::BTreeMap<_, _>,
    ) = counts
        .into_iter()
        .partition(|(k, _)| k.starts_with(&format!("{stream}-late-")));
    assert_exactly_once(&early, &stream, 3000);
    assert_exactly_once(&late, &format!("{stream}-late"), 500);
    delete_stream(&stream).await;
}
