//! Shard sync against the fast fake Kinesis (which can expire shards) and the DynamoDB stand-in:
//! a lease deleted by hand is recreated by the next sync without a restart, and the lease of a
//! shard that left the stream after its retention period is deleted once it was read to its end.
#![cfg(feature = "stand-ins")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

const BUCKET: &str = "kinesink-it";

fn sync_config(stream: &str, fake_url: &str) -> Config {
    config(
        stream,
        stream,
        BUCKET,
        stream,
        &format!("endpoint_url = \"{fake_url}\""),
        "buffer_interval_s = 1",
    )
    .with_leases_extra("shard_sync_interval_ms = 1000")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_deleted_by_hand_is_recreated_by_the_next_sync_and_read_again_without_a_restart() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-sync-deleted");
    fake.create_stream(&stream, 2);
    create_bucket(BUCKET).await;
    let cfg = sync_config(&stream, &fake.url);
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 2, Duration::from_secs(60));
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws().await);
    dynamodb
        .delete_item()
        .table_name(&stream)
        .key(
            "leaseKey",
            aws_sdk_dynamodb::types::AttributeValue::S("shardId-000000000001".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(
        !lease_owners(&stream)
            .await
            .contains_key("shardId-000000000001"),
        "deleted"
    );
    let took = wait_until(
        "the deleted lease exists and is owned again",
        Duration::from_secs(30),
        async || {
            lease_owners(&stream)
                .await
                .get("shardId-000000000001")
                .is_some_and(Option::is_some)
        },
    )
    .await;
    eprintln!("lease recreated and owned again {took:?} after the delete");
    worker.wait_for("lease taken", 3, Duration::from_secs(30));
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lease_of_a_shard_past_retention_is_deleted_once_read_to_its_end_and_its_children_stay()
{
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-sync-expired");
    fake.create_stream(&stream, 1);
    create_bucket(BUCKET).await;
    fake.append(
        &stream,
        (0..50).map(|i| {
            (
                format!("pk-{i}"),
                format!("{{\"event_id\":\"{stream}-{i}\"}}").into_bytes(),
            )
        }),
    );
    let kinesis = kinesis_client(Some(&fake.url)).await;
    split_first_shard(&kinesis, &stream, u128::MAX / 2).await;
    let cfg = sync_config(&stream, &fake.url);
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("shard read to its end", 1, Duration::from_secs(60));
    wait_until(
        "the children have leases",
        Duration::from_secs(30),
        async || lease_owners(&stream).await.len() == 3,
    )
    .await;
    assert!(fake.expire_shard(&stream, "shardId-000000000000"));
    wait_until(
        "the expired parent's lease is deleted",
        Duration::from_secs(30),
        async || {
            !lease_owners(&stream)
                .await
                .contains_key("shardId-000000000000")
        },
    )
    .await;
    let left: Vec<String> = lease_owners(&stream).await.into_keys().collect();
    assert_eq!(
        left,
        vec![
            "shardId-000000000001".to_owned(),
            "shardId-000000000002".to_owned()
        ],
        "the children keep their leases"
    );
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, &stream, 50);
}

fn worker_config(stream: &str, fake_url: &str, id: &str) -> Config {
    sync_config(stream, fake_url).with_leases_extra(&format!("worker_id = \"{id}\""))
}

fn balanced(
    owners: &std::collections::BTreeMap<String, Option<String>>,
    shards: usize,
    workers: usize,
) -> bool {
    let l = loads(owners);
    owners.len() == shards
        && owners.values().all(Option::is_some)
        && l.len() == workers
        && l.values().max().unwrap() - l.values().min().unwrap() <= 1
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_converge_in_three_lease_cycles_stay_put_for_sixty_seconds_and_a_fourth_gets_its_share_in_three_more()
 {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-rebalance");
    fake.create_stream(&stream, 8);
    create_bucket(BUCKET).await;
    fake.append(
        &stream,
        (0..800).map(|i| {
            (
                format!("pk-{i}"),
                format!("{{\"event_id\":\"{stream}-{i}\"}}").into_bytes(),
            )
        }),
    );
    let configs: Vec<Config> = ["w1", "w2", "w3", "w4"]
        .iter()
        .map(|id| worker_config(&stream, &fake.url, id))
        .collect();
    let mut workers: Vec<Worker> = configs[..3]
        .iter()
        .map(|c| Worker::start(&c.path))
        .collect();
    for w in &mut workers {
        w.wait_for("worker started", 1, Duration::from_secs(30));
    }
    let converged = wait_until(
        "3 workers share 8 shards 3/3/2",
        Duration::from_secs(30),
        async || balanced(&lease_owners(&stream).await, 8, 3),
    )
    .await;
    eprintln!("3 workers started at once converged {converged:?} after the last one started");
    assert!(
        converged <= Duration::from_millis(3 * 1000 + 1500),
        "converged in {converged:?}: more than 3 lease cycles (+1.5 s of polling)"
    );

    // The following 60 s: no lease changes owner more than once (in fact: not at all).
    let mut last = lease_owners(&stream).await;
    let mut changes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = lease_owners(&stream).await;
        for (shard, owner) in &now {
            if last.get(shard) != Some(owner) {
                *changes.entry(shard.clone()).or_insert(0) += 1;
            }
        }
        last = now;
    }
    eprintln!("owner changes in 60 s after settling: {changes:?}");
    assert!(
        changes.values().all(|n| *n <= 1),
        "a lease changed owner more than once in 60 s: {changes:?}"
    );
    assert!(
        changes.is_empty(),
        "a settled group moves no lease: {changes:?}"
    );

    // A 4th worker: 2/2/2/2 within 3 lease cycles (failover 3 s: a cycle per second) of its start.
    let mut fourth = Worker::start(&configs[3].path);
    fourth.wait_for("worker started", 1, Duration::from_secs(30));
    let took = wait_until(
        "4 workers share 8 shards 2/2/2/2",
        Duration::from_secs(30),
        async || balanced(&lease_owners(&stream).await, 8, 4),
    )
    .await;
    eprintln!("the 4th worker got its share {took:?} after starting");
    assert!(
        took <= Duration::from_millis(3 * 1000 + 1500),
        "rebalanced in {took:?}: more than 3 lease cycles (+1.5 s of polling and start-up)"
    );
    workers.push(fourth);
    for w in &workers {
        w.sigterm();
    }
    for w in workers {
        assert_eq!(w.wait(Duration::from_secs(30)).0, Some(0));
    }
    assert_exactly_once(
        &event_counts(&objects(BUCKET, &format!("{stream}/")).await),
        &stream,
        800,
    );
}
