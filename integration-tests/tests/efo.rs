//! Enhanced fan-out (`reader = "efo"`) against the fast fake Kinesis, which serves
//! SubscribeToShard event streams: every record is delivered exactly once across resubscriptions
//! (subscriptions made to end every second here, every 5 minutes in the real service) and a
//! split, without a single GetRecords call.
#![cfg(feature = "stand-ins")]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

const BUCKET: &str = "kinesink-it";

#[tokio::test(flavor = "multi_thread")]
async fn enhanced_fan_out_delivers_every_record_once_across_resubscriptions_and_a_split_without_get_records()
 {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    fake.set_subscription_duration(Duration::from_secs(1));
    let stream = unique("it-efo");
    fake.create_stream(&stream, 2);
    create_bucket(BUCKET).await;
    fake.append(&stream, events(&stream, 0..2000));
    let kinesis = kinesis_client(Some(&fake.url)).await;
    split_first_shard(&kinesis, &stream, u128::MAX / 4).await;
    fake.append(&stream, events(&stream, 2000..3000));
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        &format!(
            "endpoint_url = \"{}\"\nreader = \"efo\"\nconsumer_name = \"it-consumer\"",
            fake.url
        ),
        "buffer_interval_s = 1",
    );
    let out = run(kinesink()
        .env("RUST_LOG", "info")
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading with enhanced fan-out"));
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, &stream, 3000);
    let c = &fake.counters;
    eprintln!(
        "subscriptions {}, records pushed {}, GetRecords calls {}",
        c.subscriptions.load(Ordering::Relaxed),
        c.records_pushed.load(Ordering::Relaxed),
        c.get_records.load(Ordering::Relaxed)
    );
    assert_eq!(
        c.get_records.load(Ordering::Relaxed),
        0,
        "no GetRecords with enhanced fan-out"
    );
    assert!(
        c.subscriptions.load(Ordering::Relaxed) >= 4,
        "one subscription per shard at least (4 shards after the split)"
    );
    assert_eq!(
        c.records_pushed.load(Ordering::Relaxed),
        3000,
        "each record pushed once: resubscriptions continue, never repeat"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_that_ends_is_renewed_where_it_ended_without_losing_or_repeating_a_record() {
    // One shard, subscriptions that end after 400 ms, records arriving in three waves over
    // ~3 s: the reader must subscribe again and again, each time where the last one ended.
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    fake.set_subscription_duration(Duration::from_millis(400));
    let stream = unique("it-efo-renew");
    fake.create_stream(&stream, 1);
    create_bucket(BUCKET).await;
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        &format!(
            "endpoint_url = \"{}\"\nreader = \"efo\"\nconsumer_name = \"it-consumer-renew\"",
            fake.url
        ),
        "buffer_interval_s = 1",
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, Duration::from_secs(60));
    let c = &fake.counters;
    let first = c.subscriptions.load(Ordering::Relaxed);
    for wave in 0..3u64 {
        fake.append(&stream, events(&stream, wave * 500..(wave + 1) * 500));
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: usize = event_counts(&objects(BUCKET, &format!("{stream}/")).await)
            .values()
            .sum();
        if delivered >= 1500 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {delivered} of 1500 delivered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_exactly_once(&counts, &stream, 1500);
    let subscriptions = c.subscriptions.load(Ordering::Relaxed);
    eprintln!(
        "subscriptions {subscriptions} (first {first}), records pushed {}",
        c.records_pushed.load(Ordering::Relaxed)
    );
    assert!(
        subscriptions >= first.max(1) + 3,
        "the one shard's subscription was renewed after ending ({subscriptions} subscriptions)"
    );
    assert_eq!(
        c.records_pushed.load(Ordering::Relaxed),
        1500,
        "each record pushed once: every renewed subscription starts where the last one ended"
    );
    assert_eq!(c.get_records.load(Ordering::Relaxed), 0);
}
