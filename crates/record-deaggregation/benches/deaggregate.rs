//! Deaggregation throughput on ~50 KB KPL aggregates of ~300-byte JSON records, single-threaded.
//!
//! Prints user records/s (`deaggregate/user_records`, Melem/s), aggregate bytes/s
//! (`deaggregate/aggregate_bytes`, MB/s) and, for reference, the ceiling set by the MD5 check
//! alone over the same bytes (`md5_ceiling`, MB/s: AWS-LC's MD5, which the deaggregator uses, and
//! the portable `md-5` crate for comparison).
//!
//! Run: `cargo bench -p kinesink-record-deaggregation --bench deaggregate`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kinesink_record_deaggregation::{
    AggregationLimits, Aggregator, KinesisRecord, UserRecord, deaggregate, md5_for_bench,
};
use md5::{Digest, Md5};

const AGGREGATES: usize = 24;

/// A ~300-byte JSON event, different for each `index`.
fn json_event(index: usize) -> Vec<u8> {
    let event = format!(
        concat!(
            r#"{{"event_id":"evt-{index:012}","customer_id":"cust-{customer:06}","#,
            r#""event_type":"{event_type}","ts":"2026-11-22T10:{minute:02}:{second:02}.{millis:03}Z","#,
            r#""price":{price}.{cents:02},"quantity":{quantity},"page":"/products/{product:05}","#,
            r#""country":"{country}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) bench/1.0","#,
            r#""session_ms":{session}}}"#
        ),
        index = index,
        customer = index % 9973,
        event_type = ["page_view", "add_to_cart", "purchase", "search"][index % 4],
        minute = index % 60,
        second = (index / 60) % 60,
        millis = index % 1000,
        price = index % 500,
        cents = index % 100,
        quantity = index % 9 + 1,
        product = index % 50_000,
        country = ["DE", "FR", "US", "JP", "BR"][index % 5],
        session = index * 37 % 1_000_000,
    );
    event.into_bytes()
}

/// Kinesis records each holding one ~50 KB aggregate (KPL's default 51,200-byte limit).
fn aggregates() -> (Vec<KinesisRecord>, usize) {
    let mut aggregator =
        Aggregator::new(AggregationLimits::default()).expect("default limits are valid");
    let mut finished = Vec::new();
    let mut index = 0;
    while finished.len() < AGGREGATES {
        let partition_key = format!("cust-{:06}", index % 9973);
        if let Some(aggregate) = aggregator
            .add(&partition_key, None, &json_event(index))
            .expect("a 300-byte record fits")
        {
            finished.push(aggregate);
        }
        index += 1;
    }
    let user_records = finished
        .iter()
        .map(|aggregate| aggregate.user_record_count)
        .sum();
    let records = finished
        .into_iter()
        .enumerate()
        .map(|(position, aggregate)| KinesisRecord {
            data: aggregate.data,
            partition_key: aggregate.partition_key,
            sequence_number: format!(
                "4959033827149025660855969253836157109592157598913658{position:04}"
            ),
            approximate_arrival_ms: 1_795_000_000_000,
        })
        .collect();
    (records, user_records)
}

fn deaggregation_throughput(criterion: &mut Criterion) {
    let (records, user_records) = aggregates();
    let aggregate_bytes: usize = records.iter().map(|record| record.data.len()).sum();
    println!(
        "input: {} aggregates, {user_records} user records, {aggregate_bytes} aggregate bytes ({} bytes per aggregate)",
        records.len(),
        aggregate_bytes / records.len()
    );

    // The user records are returned, so criterion drops them outside the timed section: their
    // deallocation is the consumer's cost, not deaggregation's.
    let run = |records: Vec<KinesisRecord>| -> Vec<Vec<UserRecord>> {
        records
            .into_iter()
            .map(|record| deaggregate(record).expect("well-formed aggregates"))
            .collect()
    };

    let mut by_records = criterion.benchmark_group("deaggregate");
    by_records.throughput(Throughput::Elements(user_records as u64));
    by_records.bench_function("user_records", |bencher| {
        bencher.iter_batched(|| records.clone(), run, BatchSize::SmallInput);
    });
    by_records.throughput(Throughput::BytesDecimal(aggregate_bytes as u64));
    by_records.bench_function("aggregate_bytes", |bencher| {
        bencher.iter_batched(|| records.clone(), run, BatchSize::SmallInput);
    });
    by_records.finish();

    let mut ceiling = criterion.benchmark_group("md5_ceiling");
    ceiling.throughput(Throughput::BytesDecimal(aggregate_bytes as u64));
    ceiling.bench_function("md5_of_aggregate_bytes", |bencher| {
        bencher.iter(|| {
            for record in &records {
                black_box(md5_for_bench(black_box(
                    &record.data[4..record.data.len() - 16],
                )));
            }
        });
    });
    // The portable `md-5` crate, for comparison with the AWS-LC digest the deaggregator uses.
    ceiling.bench_function("md5_crate_of_aggregate_bytes", |bencher| {
        bencher.iter(|| {
            for record in &records {
                black_box(Md5::digest(black_box(
                    &record.data[4..record.data.len() - 16],
                )));
            }
        });
    });
    ceiling.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(6)).sample_size(40);
    targets = deaggregation_throughput
}
criterion_main!(benches);
