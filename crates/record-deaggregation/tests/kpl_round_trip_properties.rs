//! Properties of the KPL format as this crate writes and reads it: aggregating then deaggregating
//! is the identity, limits hold, and no input makes `deaggregate` panic.

mod common;

use common::{framed, kinesis_record};
use kinesink_record_deaggregation::{
    Aggregate, AggregationLimits, Aggregator, KinesisRecord, UserRecord, deaggregate,
};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Input {
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: Vec<u8>,
}

/// Partition keys Kinesis accepts: 1 to 256 characters, any Unicode, often repeated.
fn partition_key() -> impl Strategy<Value = String> {
    prop_oneof!["pk-[0-3]", "\\PC{1,256}", "[ключ键🔑é]{1,8}",]
}

/// Explicit hash keys Kinesis accepts: decimal integers in 0..2^128, without leading zeros.
fn explicit_hash_key() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        any::<u128>().prop_map(|key| Some(key.to_string())),
        Just(Some("0".to_owned())),
        Just(Some(u128::MAX.to_string())),
    ]
}

fn input(max_data: usize) -> impl Strategy<Value = Input> {
    (
        partition_key(),
        explicit_hash_key(),
        vec(any::<u8>(), 0..=max_data),
    )
        .prop_map(|(partition_key, explicit_hash_key, data)| Input {
            partition_key,
            explicit_hash_key,
            data,
        })
}

/// Packs `inputs` in order. The byte limits used with `input(600)` are at least 2,000: the largest
/// such record (256 four-byte characters of key, a 39-digit hash key, 600 bytes of data) needs
/// 1,698 bytes of aggregate alone.
fn aggregate_all(inputs: &[Input], limits: AggregationLimits) -> Vec<Aggregate> {
    let mut aggregator = Aggregator::new(limits).expect("valid limits");
    let mut aggregates = Vec::new();
    for input in inputs {
        let finished = aggregator
            .add(
                &input.partition_key,
                input.explicit_hash_key.as_deref(),
                &input.data,
            )
            .expect("valid records that fit");
        aggregates.extend(finished);
    }
    aggregates.extend(aggregator.finish());
    aggregates
}

fn deaggregate_all(aggregates: &[Aggregate]) -> Vec<UserRecord> {
    aggregates
        .iter()
        .zip(1_u64..)
        .flat_map(|(aggregate, sequence)| {
            let record = KinesisRecord {
                data: aggregate.data.clone(),
                partition_key: aggregate.partition_key.clone(),
                sequence_number: sequence.to_string(),
                approximate_arrival_ms: 7,
            };
            deaggregate(record).expect("the aggregator writes well-formed aggregates")
        })
        .collect()
}

fn as_inputs(user_records: &[UserRecord]) -> Vec<Input> {
    user_records
        .iter()
        .map(|record| Input {
            partition_key: record.partition_key.clone(),
            explicit_hash_key: record.explicit_hash_key.clone(),
            data: record.data.to_vec(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn aggregating_then_deaggregating_returns_every_user_record_unchanged_and_in_order(
        inputs in vec(input(600), 1..60),
        max_bytes in 2_000_usize..8_000,
        max_records in 1_usize..20,
    ) {
        let aggregates = aggregate_all(&inputs, AggregationLimits { max_bytes, max_records });
        let user_records = deaggregate_all(&aggregates);
        prop_assert_eq!(as_inputs(&user_records), inputs);
    }

    #[test]
    fn every_aggregate_respects_both_limits_and_reports_its_first_records_keys(
        inputs in vec(input(600), 1..60),
        max_bytes in 2_000_usize..8_000,
        max_records in 1_usize..20,
    ) {
        let aggregates = aggregate_all(&inputs, AggregationLimits { max_bytes, max_records });
        let mut first_of_next = 0;
        for aggregate in &aggregates {
            prop_assert!(aggregate.data.len() <= max_bytes, "{} > {max_bytes}", aggregate.data.len());
            prop_assert!((1..=max_records).contains(&aggregate.user_record_count));
            prop_assert_eq!(&aggregate.partition_key, &inputs[first_of_next].partition_key);
            prop_assert_eq!(&aggregate.explicit_hash_key, &inputs[first_of_next].explicit_hash_key);
            first_of_next += aggregate.user_record_count;
        }
        prop_assert_eq!(first_of_next, inputs.len());
    }

    #[test]
    fn sub_sequence_numbers_count_from_zero_within_each_aggregate(
        inputs in vec(input(100), 1..40),
        max_records in 1_usize..10,
    ) {
        let aggregates = aggregate_all(&inputs, AggregationLimits { max_bytes: 51_200, max_records });
        for aggregate in &aggregates {
            let user_records = deaggregate(kinesis_record(aggregate.data.clone())).expect("well formed");
            let sub_sequence_numbers: Vec<u64> = user_records.iter().map(|record| record.position.sub_sequence_number).collect();
            let expected: Vec<u64> = (0..aggregate.user_record_count as u64).collect();
            prop_assert_eq!(sub_sequence_numbers, expected);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_a_plain_result_is_the_record_unchanged(data in vec(any::<u8>(), 0..2_000)) {
        let record = kinesis_record(data);
        if let Ok(user_records) = deaggregate(record.clone())
            && user_records.len() == 1
            && user_records[0].data == record.data
        {
            prop_assert_eq!(&user_records[0], &UserRecord::from_plain(record));
        }
    }

    #[test]
    fn arbitrary_protobuf_bytes_behind_the_right_magic_and_md5_never_panic_and_never_lose_the_record(
        protobuf in vec(any::<u8>(), 0..2_000),
    ) {
        let record = kinesis_record(framed(&protobuf));
        match deaggregate(record.clone()) {
            Ok(user_records) => prop_assert!(!user_records.is_empty()),
            Err(failure) => prop_assert_eq!(failure.record, record),
        }
    }

    #[test]
    fn a_valid_aggregate_with_any_single_byte_changed_never_panics_and_never_loses_the_record(
        inputs in vec(input(50), 1..10),
        position in any::<prop::sample::Index>(),
        flip in 1_u8..=255,
    ) {
        let aggregate = aggregate_all(&inputs, AggregationLimits::default()).remove(0);
        let mut data = aggregate.data;
        let at = position.index(data.len());
        data[at] ^= flip;
        let record = kinesis_record(data);
        match deaggregate(record.clone()) {
            Ok(user_records) => prop_assert_eq!(user_records, vec![UserRecord::from_plain(record)]),
            Err(failure) => prop_assert_eq!(failure.record, record),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn a_one_mebibyte_user_record_survives_the_round_trip(
        inputs in (input(0), vec(any::<u8>(), (1 << 20)..=(1 << 20)), input(10))
            .prop_map(|(mut big, data, small)| { big.data = data; vec![small.clone(), big, small] }),
    ) {
        let limits = AggregationLimits { max_bytes: 2 << 20, max_records: 10 };
        let aggregates = aggregate_all(&inputs, limits);
        prop_assert_eq!(as_inputs(&deaggregate_all(&aggregates)), inputs);
    }
}

#[test]
fn empty_data_and_unicode_keys_with_explicit_hash_keys_round_trip() {
    let inputs = vec![
        Input {
            partition_key: "ключ-🔑".to_owned(),
            explicit_hash_key: Some(u128::MAX.to_string()),
            data: Vec::new(),
        },
        Input {
            partition_key: "键".repeat(256),
            explicit_hash_key: Some("0".to_owned()),
            data: Vec::new(),
        },
        Input {
            partition_key: "ключ-🔑".to_owned(),
            explicit_hash_key: None,
            data: b"x".to_vec(),
        },
    ];
    let aggregates = aggregate_all(&inputs, AggregationLimits::default());
    assert_eq!(aggregates.len(), 1);
    assert_eq!(as_inputs(&deaggregate_all(&aggregates)), inputs);
}
