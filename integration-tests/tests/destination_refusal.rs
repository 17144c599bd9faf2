//! Permanent destination errors: the bucket deleted mid-run. The worker names the cause in one
//! line per shard (not one per retry), counts it, answers `/readyz` 503 and retries at a slow
//! fixed pace; once the bucket exists again it delivers everything, exactly once, and is ready
//! again — as Firehose resumes by itself once its destination is fixed, but visibly.
#![cfg(feature = "stand-ins")]

mod common;

use std::time::{Duration, Instant};

use common::worker_endpoints::{free_port, http_status, metric, scrape_metrics};
use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

/// Deletes every object (and object version) in `bucket`, then the bucket.
async fn delete_bucket(bucket: &str) {
    let s3 = s3().await;
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("listing the bucket");
    for object in listed.contents() {
        s3.delete_object()
            .bucket(bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .expect("deleting an object");
    }
    s3.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("the bucket is deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_deleted_mid_run_is_reported_once_turns_the_worker_unready_and_once_back_everything_is_delivered_once()
 {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-refusal");
    // A bucket of its own: it is deleted and created again.
    let bucket = stream.clone();
    fake.create_stream(&stream, 2);
    create_bucket(&bucket).await;
    let port = free_port();
    let cfg = config(
        &stream,
        &stream,
        &bucket,
        &stream,
        &format!("endpoint_url = \"{}\"", fake.url),
        "buffer_interval_s = 1",
    );
    let text = std::fs::read_to_string(&cfg.path).unwrap()
        + &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    std::fs::write(&cfg.path, text).unwrap();
    let mut worker = Worker::start(&cfg.path);
    let prefix = format!("{stream}/");
    let delivered = async || -> usize {
        event_counts(&objects(&bucket, &prefix).await)
            .values()
            .sum()
    };

    fake.append(&stream, events(&stream, 0..500));
    wait_until(
        "the first 500 are delivered",
        Duration::from_secs(60),
        async || delivered().await >= 500,
    )
    .await;
    wait_until("the worker is ready", Duration::from_secs(30), async || {
        http_status(port, "/readyz") == 200
    })
    .await;
    // Every delivered record checkpointed (at a 1 s interval, right after its object), so
    // nothing of the first 500 is delivered again into the bucket created again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = event_counts(&objects(&bucket, &prefix).await);
    delete_bucket(&bucket).await;
    let deleted_at = Instant::now();
    fake.append(&stream, events(&stream, 500..1000));

    worker.wait_for("the destination refuses", 1, Duration::from_secs(60));
    wait_until("/readyz answers 503", Duration::from_secs(30), async || {
        http_status(port, "/readyz") == 503
    })
    .await;
    // Several slow-paced retries later: still one line per shard, and the refusals counted.
    tokio::time::sleep(Duration::from_secs(25)).await;
    worker.collect_lines();
    let refusal_lines: Vec<&String> = worker
        .seen
        .iter()
        .filter(|l| l.contains("the destination refuses"))
        .collect();
    assert!(
        (1..=4).contains(&refusal_lines.len()),
        "one line per shard (object and progress object), not one per retry: {refusal_lines:#?}"
    );
    assert!(
        refusal_lines.iter().all(|l| l.contains("ERROR")
            && l.contains("NoSuchBucket")
            && l.contains("create it again")),
        "the line names the cause and the fix: {refusal_lines:#?}"
    );
    let metrics = scrape_metrics(port).expect("metrics answer");
    assert!(
        metric(&metrics, "kinesink_destination_refusals_total") >= 2.0,
        "refusals are counted"
    );
    assert_eq!(http_status(port, "/readyz"), 503, "unready while refused");
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker keeps running"
    );

    create_bucket(&bucket).await;
    eprintln!(
        "bucket deleted for {:?}; created again",
        deleted_at.elapsed()
    );
    wait_until(
        "the rest is delivered to the bucket created again",
        Duration::from_secs(90),
        async || delivered().await >= 500,
    )
    .await;
    wait_until(
        "the worker is ready again",
        Duration::from_secs(30),
        async || http_status(port, "/readyz") == 200,
    )
    .await;
    // Long enough for a re-delivery to show up as duplicates.
    tokio::time::sleep(Duration::from_secs(3)).await;
    worker.sigterm();
    let (code, _) = worker.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0));
    let mut counts = before;
    for (id, n) in event_counts(&objects(&bucket, &prefix).await) {
        *counts.entry(id).or_default() += n;
    }
    assert_exactly_once(&counts, &stream, 1000);
}
