//! The shard's bound on Parquet rows not yet encoded ([`UNENCODED_ROWS_LIMIT`]).

use parquet::file::reader::{FileReader, SerializedFileReader};

use super::exactly_once::parquet_rows;
use super::*;

const COUNTRIES: usize = 16;

/// Records of 16 partitions (`country`), of varied sizes, at positions `first..first + count`;
/// about 1 KB each.
fn events(first: u64, count: u64) -> Vec<BufferEvent> {
    (first..first + count)
        .map(|seq| {
            let country = format!("C{:02}", seq % COUNTRIES as u64);
            let note = "n".repeat(700 + (seq * 7919 % 600) as usize);
            BufferEvent::Record(record(
                seq,
                &format!(r#"{{"country":"{country}","seq":{seq},"note":"{note}"}}"#),
                T1100,
            ))
        })
        .collect()
}

fn parquet_buffers(limit: Option<usize>) -> ShardBuffers {
    let layout = parquet(
        partitioned_layout(),
        "country string, seq bigint, note string",
    );
    let b = ShardBuffers::new(
        layout,
        BufferLimits {
            size_bytes: 128 << 20,
            interval_ms: 900_000,
        },
        ResumeState::default(),
    );
    match limit {
        Some(bytes) => b.with_unencoded_rows_limit(bytes),
        None => b,
    }
}

fn row_groups(body: &[u8]) -> usize {
    SerializedFileReader::new(bytes::Bytes::copy_from_slice(body))
        .unwrap()
        .metadata()
        .num_row_groups()
}

/// Objects' (key-independent) bodies, by partition, in partition order.
fn bodies(objects: Vec<ReadyObject>) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = objects
        .into_iter()
        .map(|o| {
            let partition = o.key.split('/').next().unwrap().to_owned();
            (partition, o.body)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn parquet_rows_not_yet_encoded_stay_within_the_shards_bound_across_many_partitions_with_the_same_rows()
 {
    let limit = 512 << 10;
    let (mut unbounded, mut bounded) = (parquet_buffers(None), parquet_buffers(Some(limit)));
    let (mut most_unbounded, mut most_bounded) = (0, 0);
    for event in events(1, 6_000) {
        run_events(&mut unbounded, [event.clone()]);
        run_events(&mut bounded, [event]);
        most_unbounded = most_unbounded.max(unbounded.compactable_bytes());
        most_bounded = most_bounded.max(bounded.compactable_bytes());
    }
    assert!(
        most_unbounded > 4 << 20,
        "without the bound every row stays unencoded ({most_unbounded} bytes)"
    );
    // Checked every MiB appended; builders may hold up to twice what they were given.
    assert!(
        most_bounded <= limit + (2 << 20) + (1 << 20),
        "with a {limit}-byte bound the rows not yet encoded peaked at {most_bounded} bytes"
    );
    assert!(
        bounded.held_bytes() * 3 < unbounded.held_bytes(),
        "compressed row groups hold less: {} vs {}",
        bounded.held_bytes(),
        unbounded.held_bytes()
    );
    let (a, b) = (
        bodies(drain_all(&mut unbounded)),
        bodies(drain_all(&mut bounded)),
    );
    assert_eq!(a.len(), COUNTRIES);
    assert_eq!(b.len(), COUNTRIES);
    let mut compacted = 0;
    for ((pa, body_a), (pb, body_b)) in a.iter().zip(&b) {
        assert_eq!(pa, pb);
        assert_eq!(
            parquet_rows(body_a),
            parquet_rows(body_b),
            "{pa}: the same rows in the same order"
        );
        assert_eq!(row_groups(body_a), 1);
        if row_groups(body_b) > 1 {
            compacted += 1;
        }
    }
    assert!(
        compacted >= COUNTRIES / 2,
        "{compacted} objects were compacted"
    );
}

#[test]
fn a_replay_from_a_flush_point_compacts_at_the_same_records_and_writes_the_same_bytes() {
    let limit = 512 << 10;
    // The first run: 600 records before a flush point (an interval flush), then 5,000 more.
    let mut first = parquet_buffers(Some(limit));
    run_events(&mut first, events(1, 600));
    let flushed = run_events(&mut first, [BufferEvent::Flush]);
    assert_eq!(flushed.len(), COUNTRIES);
    run_events(&mut first, events(601, 5_000));
    let first_objects = bodies(drain_all(&mut first));
    // The replay: a new owner resuming from that flush point's checkpoint.
    let mut replay = ShardBuffers::new(
        parquet(
            partitioned_layout(),
            "country string, seq bigint, note string",
        ),
        BufferLimits {
            size_bytes: 128 << 20,
            interval_ms: 900_000,
        },
        ResumeState {
            checkpoint: Some(pos(600)),
            ..ResumeState::default()
        },
    )
    .with_unencoded_rows_limit(limit);
    run_events(&mut replay, events(601, 5_000));
    let replayed = bodies(drain_all(&mut replay));
    assert!(
        replayed.iter().any(|(_, body)| row_groups(body) > 1),
        "the bound compacted some objects"
    );
    assert_eq!(first_objects.len(), replayed.len());
    for ((partition, first), (_, again)) in first_objects.iter().zip(&replayed) {
        assert!(
            first == again,
            "{partition}: the replay wrote other bytes ({} then {} bytes, {} then {} row groups)",
            first.len(),
            again.len(),
            row_groups(first),
            row_groups(again)
        );
    }
}
