//! A split and a merge while a worker runs: closed parents are read to their end before their
//! children, every record is delivered exactly once, and each partition key's records stay in
//! order across the reshard.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const BUCKET: &str = "kinesink-it";

async fn hash_range(k: &aws_sdk_kinesis::Client, stream: &str, shard: &str) -> (u128, u128) {
    let shards = k.list_shards().stream_name(stream).send().await.unwrap();
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
async fn a_split_and_a_merge_mid_stream_deliver_every_record_once_and_in_order_per_partition_key() {
    let stream = unique("it-reshard");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let k = aws_sdk_kinesis::Client::new(&aws().await);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "max_records = 100",
        "buffer_interval_s = 1",
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 2, Duration::from_secs(60));

    produce_with_keys(&stream, 600, &format!("{stream}-a"), 20);
    // Split shard 0 in the middle of its hash range.
    let (start, end) = hash_range(&k, &stream, "shardId-000000000000").await;
    k.split_shard()
        .stream_name(&stream)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((start + (end - start) / 2 + 1).to_string())
        .send()
        .await
        .expect("split");
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce_with_keys(&stream, 600, &format!("{stream}-b"), 20);
    // Merge the upper child of shard 0 with shard 1 (adjacent ranges).
    k.merge_shards()
        .stream_name(&stream)
        .shard_to_merge("shardId-000000000003")
        .adjacent_shard_to_merge("shardId-000000000001")
        .send()
        .await
        .expect("merge");
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce_with_keys(&stream, 600, &format!("{stream}-c"), 20);
    worker.wait_for("shard read to its end", 3, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(5));
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());

    let objects = objects(BUCKET, &format!("{stream}/")).await;
    let counts = event_counts(&objects);
    for batch in ["a", "b", "c"] {
        let prefix = format!("{stream}-{batch}");
        let part: BTreeMap<String, usize> = counts
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{prefix}-")))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_exactly_once(&part, &prefix, 600);
    }
    // Per partition key, production order (batch a < b < c, then the index) must match the
    // order of the shards' lineage: within a shard by sequence, and every record in a parent
    // before every record of its children.
    let generation = |shard: &str| match shard {
        "shardId-000000000000" | "shardId-000000000001" => 0,
        "shardId-000000000002" | "shardId-000000000003" => 1,
        _ => 2,
    };
    let mut per_key: BTreeMap<String, Vec<(u32, String, String, u64)>> = BTreeMap::new();
    for (key, (_, body)) in &objects {
        let shard = key
            .split("-shardId-")
            .nth(1)
            .map(|r| format!("shardId-{}", &r[..12]))
            .expect("shard in key");
        for (line_no, line) in body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            let id = v["event_id"].as_str().unwrap().to_owned();
            let (batch_prefix, n) = id.rsplit_once('-').unwrap();
            let batch = batch_prefix.rsplit_once('-').unwrap().1.to_owned();
            let n: u64 = n.parse().unwrap();
            per_key.entry(format!("pk-{}", n % 20)).or_default().push((
                generation(&shard),
                key.clone(),
                batch,
                n * 10_000 + line_no as u64,
            ));
        }
    }
    for (pk, mut seen) in per_key {
        // order of delivery: by shard generation, then object key (first sequence), then line
        seen.sort_by(|a, b| (a.0, &a.1, a.3 % 10_000).cmp(&(b.0, &b.1, b.3 % 10_000)));
        let produced_order: Vec<(String, u64)> =
            seen.iter().map(|s| (s.2.clone(), s.3 / 10_000)).collect();
        let mut sorted = produced_order.clone();
        sorted.sort();
        assert_eq!(
            produced_order, sorted,
            "records of {pk} out of order across the reshard"
        );
    }
    delete_stream(&stream).await;
}
