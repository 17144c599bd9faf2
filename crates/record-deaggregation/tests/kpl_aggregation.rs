//! What the aggregator accepts and refuses, and how full it packs.

mod common;

use common::kinesis_record;
use kinesink_record_deaggregation::{
    AggregationError, AggregationLimits, Aggregator, DEFAULT_MAX_AGGREGATE_BYTES, deaggregate,
};

fn default_aggregator() -> Aggregator {
    Aggregator::new(AggregationLimits::default()).expect("default limits are valid")
}

#[test]
fn the_default_limits_are_kpls_51200_bytes_and_four_billion_records() {
    let limits = AggregationLimits::default();
    assert_eq!(limits.max_bytes, 51_200);
    assert_eq!(limits.max_records, 4_294_967_295);
    assert_eq!(DEFAULT_MAX_AGGREGATE_BYTES, 51_200);
}

#[test]
fn with_default_limits_aggregates_fill_up_to_but_not_past_51200_bytes() {
    let mut aggregator = default_aggregator();
    let data = vec![b'x'; 300];
    let mut aggregates = Vec::new();
    for index in 0..2_000 {
        aggregates.extend(
            aggregator
                .add(&format!("pk-{}", index % 7), None, &data)
                .expect("fits"),
        );
    }
    assert!(aggregates.len() >= 5);
    for aggregate in &aggregates {
        assert!(aggregate.data.len() <= 51_200, "{}", aggregate.data.len());
        assert!(
            aggregate.data.len() > 51_200 - 320,
            "room for another record was left: {}",
            aggregate.data.len()
        );
    }
}

#[test]
fn the_record_limit_closes_an_aggregate_and_the_next_record_starts_a_new_one() {
    let mut aggregator = Aggregator::new(AggregationLimits {
        max_bytes: 51_200,
        max_records: 2,
    })
    .expect("valid");
    assert_eq!(aggregator.add("a", None, b"1").expect("valid"), None);
    assert_eq!(aggregator.add("b", None, b"2").expect("valid"), None);
    let first = aggregator
        .add("c", None, b"3")
        .expect("valid")
        .expect("the third record closes the first aggregate");
    assert_eq!(first.user_record_count, 2);
    assert_eq!(aggregator.pending_records(), 1);
    let second = aggregator.finish().expect("one record waits");
    let user_records = deaggregate(kinesis_record(second.data)).expect("well formed");
    assert_eq!(user_records.len(), 1);
    assert_eq!(user_records[0].partition_key, "c");
    assert_eq!(second.partition_key, "c");
}

#[test]
fn finishing_an_empty_aggregator_gives_nothing() {
    let mut aggregator = default_aggregator();
    assert_eq!(aggregator.finish(), None);
    aggregator.add("a", None, b"1").expect("valid");
    assert!(aggregator.finish().is_some());
    assert_eq!(aggregator.finish(), None, "finish empties the aggregator");
}

#[test]
fn keys_kinesis_would_refuse_are_refused_and_leave_the_pending_aggregate_as_it_was() {
    let mut aggregator = default_aggregator();
    aggregator.add("kept", None, b"1").expect("valid");
    assert_eq!(
        aggregator.add("", None, b"x"),
        Err(AggregationError::EmptyPartitionKey)
    );
    assert_eq!(
        aggregator.add(&"é".repeat(257), None, b"x"),
        Err(AggregationError::PartitionKeyTooLong { chars: 257 })
    );
    for bad_hash_key in [
        "",
        "01",
        "-1",
        "+1",
        "1.0",
        "abc",
        "340282366920938463463374607431768211456",
    ] {
        assert_eq!(
            aggregator.add("pk", Some(bad_hash_key), b"x"),
            Err(AggregationError::InvalidExplicitHashKey {
                key: bad_hash_key.to_owned()
            }),
            "{bad_hash_key:?}"
        );
    }
    assert_eq!(aggregator.pending_records(), 1);
    let aggregate = aggregator.finish().expect("the valid record");
    let user_records = deaggregate(kinesis_record(aggregate.data)).expect("well formed");
    assert_eq!(user_records.len(), 1);
    assert_eq!(user_records[0].partition_key, "kept");
}

#[test]
fn a_record_too_large_for_any_aggregate_is_refused_without_closing_the_pending_one() {
    let mut aggregator = Aggregator::new(AggregationLimits {
        max_bytes: 1_000,
        max_records: 10,
    })
    .expect("valid");
    aggregator.add("kept", None, b"1").expect("valid");
    let refused = aggregator.add("pk", None, &[0; 1_000]);
    assert!(
        matches!(
            refused,
            Err(AggregationError::RecordTooLarge {
                max_bytes: 1_000,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(aggregator.pending_records(), 1);
}

#[test]
fn limits_that_leave_no_room_for_a_record_are_refused() {
    for limits in [
        AggregationLimits {
            max_bytes: 51_200,
            max_records: 0,
        },
        AggregationLimits {
            max_bytes: 20,
            max_records: 10,
        },
    ] {
        assert!(
            matches!(
                Aggregator::new(limits),
                Err(AggregationError::InvalidLimits { .. })
            ),
            "{limits:?}"
        );
    }
}
