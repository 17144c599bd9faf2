//! How `deaggregate` treats plain records, aggregates and damaged aggregates. Damaged aggregates
//! are hand-encoded protobuf bytes framed with the right magic and MD5.

mod common;

use common::{ARRIVAL_MS, KPL_MAGIC, SEQUENCE_NUMBER, framed, kinesis_record};
use kinesink_record_deaggregation::{
    AggregateDefect, AggregationLimits, Aggregator, UserRecord, deaggregate, error_codes,
};
use kinesink_sequence_position::SequencePosition;

/// `AggregatedRecord { partition_key_table: ["pk"], records: [{ partition_key_index: 0, data: "hi" }] }`
const ONE_RECORD: &[u8] = &[
    0x0a, 0x02, b'p', b'k', 0x1a, 0x06, 0x08, 0x00, 0x1a, 0x02, b'h', b'i',
];

fn assert_passes_through_unchanged(data: Vec<u8>) {
    let record = kinesis_record(data);
    let user_records = deaggregate(record.clone()).expect("a plain record never fails");
    assert_eq!(user_records, vec![UserRecord::from_plain(record)]);
}

fn assert_fails_with(protobuf: &[u8], expected: &AggregateDefect) {
    let record = kinesis_record(framed(protobuf));
    let failure = deaggregate(record.clone()).expect_err("a damaged aggregate is a failure");
    assert_eq!(
        failure.record, record,
        "the failure carries the Kinesis record untouched"
    );
    assert_eq!(&failure.defect, expected);
    assert_eq!(failure.error_code(), "Deaggregation.Failed");
    assert_eq!(failure.error_code(), error_codes::DEAGGREGATION_FAILED);
}

#[test]
fn a_well_formed_aggregate_unpacks_with_the_parents_sequence_number_and_arrival_time() {
    let user_records = deaggregate(kinesis_record(framed(ONE_RECORD))).expect("well formed");
    assert_eq!(
        user_records,
        vec![UserRecord {
            data: b"hi".to_vec().into(),
            partition_key: "pk".to_owned(),
            explicit_hash_key: None,
            position: SequencePosition::new(SEQUENCE_NUMBER, 0),
            approximate_arrival_ms: ARRIVAL_MS,
        }]
    );
}

#[test]
fn a_plain_json_record_passes_through_as_one_user_record_with_sub_sequence_zero() {
    assert_passes_through_unchanged(br#"{"event":"click"}"#.to_vec());
}

#[test]
fn an_empty_record_passes_through() {
    assert_passes_through_unchanged(Vec::new());
}

#[test]
fn a_record_with_the_magic_but_shorter_than_magic_plus_digest_passes_through() {
    let mut data = KPL_MAGIC.to_vec();
    data.extend_from_slice(&[0; 15]);
    assert_passes_through_unchanged(data);
}

#[test]
fn a_well_formed_aggregate_with_one_wrong_magic_byte_passes_through() {
    let mut data = framed(ONE_RECORD);
    data[3] ^= 0x01;
    assert_passes_through_unchanged(data);
}

#[test]
fn an_aggregate_whose_md5_does_not_match_passes_through_unchanged() {
    let mut data = framed(ONE_RECORD);
    let last = data.len() - 1;
    data[last] ^= 0x80;
    assert_passes_through_unchanged(data);
}

#[test]
fn an_aggregate_whose_protobuf_was_altered_after_hashing_passes_through_unchanged() {
    let mut data = framed(ONE_RECORD);
    data[KPL_MAGIC.len() + 2] = b'q';
    assert_passes_through_unchanged(data);
}

#[test]
fn an_undecodable_protobuf_with_the_right_md5_is_a_failure_carrying_the_raw_record() {
    let truncated = &ONE_RECORD[..ONE_RECORD.len() - 1];
    let failure = deaggregate(kinesis_record(framed(truncated))).expect_err("undecodable");
    assert!(
        matches!(failure.defect, AggregateDefect::Undecodable { .. }),
        "{failure}"
    );
    assert_eq!(failure.record.data, framed(truncated));
    assert!(
        failure.reason().contains("does not decode"),
        "{}",
        failure.reason()
    );
    assert!(
        failure.to_string().contains(SEQUENCE_NUMBER),
        "the message names the record: {failure}"
    );
}

#[test]
fn a_partition_key_that_is_not_utf8_makes_the_aggregate_undecodable() {
    let protobuf = [
        0x0a, 0x01, 0xff, 0x1a, 0x06, 0x08, 0x00, 0x1a, 0x02, b'h', b'i',
    ];
    let failure = deaggregate(kinesis_record(framed(&protobuf))).expect_err("invalid UTF-8 key");
    assert!(
        matches!(failure.defect, AggregateDefect::Undecodable { .. }),
        "{failure}"
    );
}

#[test]
fn a_partition_key_index_past_the_table_is_a_failure_not_a_dropped_aggregate() {
    let protobuf = [
        0x0a, 0x02, b'p', b'k', 0x1a, 0x06, 0x08, 0x05, 0x1a, 0x02, b'h', b'i',
    ];
    assert_fails_with(
        &protobuf,
        &AggregateDefect::PartitionKeyIndexOutOfRange {
            sub_sequence_number: 0,
            index: 5,
            table_len: 1,
        },
    );
}

#[test]
fn an_explicit_hash_key_index_past_the_table_is_a_failure() {
    let protobuf = [
        0x0a, 0x02, b'p', b'k', 0x1a, 0x08, 0x08, 0x00, 0x10, 0x03, 0x1a, 0x02, b'h', b'i',
    ];
    assert_fails_with(
        &protobuf,
        &AggregateDefect::ExplicitHashKeyIndexOutOfRange {
            sub_sequence_number: 0,
            index: 3,
            table_len: 0,
        },
    );
}

#[test]
fn a_bad_index_in_a_later_user_record_fails_the_whole_aggregate_and_names_that_record() {
    let mut protobuf = ONE_RECORD.to_vec();
    protobuf.extend_from_slice(&[0x1a, 0x06, 0x08, 0x01, 0x1a, 0x02, b'h', b'o']);
    assert_fails_with(
        &protobuf,
        &AggregateDefect::PartitionKeyIndexOutOfRange {
            sub_sequence_number: 1,
            index: 1,
            table_len: 1,
        },
    );
}

#[test]
fn a_user_record_without_its_required_partition_key_index_is_a_failure() {
    let protobuf = [0x0a, 0x02, b'p', b'k', 0x1a, 0x04, 0x1a, 0x02, b'h', b'i'];
    assert_fails_with(
        &protobuf,
        &AggregateDefect::MissingPartitionKeyIndex {
            sub_sequence_number: 0,
        },
    );
}

#[test]
fn a_user_record_without_its_required_data_is_a_failure() {
    let protobuf = [0x0a, 0x02, b'p', b'k', 0x1a, 0x02, 0x08, 0x00];
    assert_fails_with(
        &protobuf,
        &AggregateDefect::MissingData {
            sub_sequence_number: 0,
        },
    );
}

#[test]
fn a_tag_without_its_required_key_is_a_failure() {
    let protobuf = [
        0x0a, 0x02, b'p', b'k', 0x1a, 0x0a, 0x08, 0x00, 0x1a, 0x02, b'h', b'i', 0x22, 0x02, 0x12,
        0x00,
    ];
    assert_fails_with(
        &protobuf,
        &AggregateDefect::MissingTagKey {
            sub_sequence_number: 0,
        },
    );
}

#[test]
fn a_user_record_with_tags_unpacks_to_its_data() {
    let protobuf = [
        0x0a, 0x02, b'p', b'k', 0x1a, 0x0c, 0x08, 0x00, 0x1a, 0x02, b'h', b'i', 0x22, 0x04, 0x0a,
        0x02, b't', b'k',
    ];
    let user_records = deaggregate(kinesis_record(framed(&protobuf))).expect("tags are allowed");
    assert_eq!(user_records.len(), 1);
    assert_eq!(&user_records[0].data[..], b"hi");
}

#[test]
fn an_aggregate_holding_no_user_records_is_a_failure_rather_than_a_silent_nothing() {
    assert_fails_with(&[], &AggregateDefect::NoUserRecords);
    assert_fails_with(&[0x0a, 0x02, b'p', b'k'], &AggregateDefect::NoUserRecords);
}

#[test]
fn user_records_are_never_filtered_by_explicit_hash_key() {
    let mut aggregator = Aggregator::new(AggregationLimits::default()).expect("valid limits");
    let hash_keys = [
        Some("0"),
        None,
        Some("340282366920938463463374607431768211455"),
        Some("170141183460469231731687303715884105728"),
    ];
    for (position, hash_key) in hash_keys.iter().enumerate() {
        let early = aggregator
            .add("pk", *hash_key, &[u8::try_from(position).expect("small")])
            .expect("valid");
        assert!(early.is_none());
    }
    let aggregate = aggregator.finish().expect("four records");
    let user_records = deaggregate(kinesis_record(aggregate.data)).expect("well formed");
    let got: Vec<Option<&str>> = user_records
        .iter()
        .map(|record| record.explicit_hash_key.as_deref())
        .collect();
    assert_eq!(got, hash_keys);
    let sub_sequence_numbers: Vec<u64> = user_records
        .iter()
        .map(|record| record.position.sub_sequence_number)
        .collect();
    assert_eq!(sub_sequence_numbers, [0, 1, 2, 3]);
}
