//! The aggregates made by the official `aws_kinesis_agg` library (`../shared/kpl/`, copied to
//! `tests/fixtures/official-kpl/`) unpack into
//! exactly the user records it recorded, and the aggregator writes the same bytes it wrote.

mod common;

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kinesink_record_deaggregation::{AggregationLimits, Aggregator, KinesisRecord, deaggregate};
use serde_json::Value;

struct OfficialAggregate {
    data: Vec<u8>,
    user_records: Vec<ExpectedUserRecord>,
}

#[derive(Debug, PartialEq, Eq)]
struct ExpectedUserRecord {
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: Vec<u8>,
}

/// The repository's copy of the shared fixture (tests/fixtures/official-kpl/README.md).
fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official-kpl/aggregates.jsonl")
}

#[test]
fn the_fixture_copy_is_the_shared_fixture_where_that_is_present() {
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kpl/aggregates.jsonl");
    if let Ok(original) = std::fs::read(&shared) {
        let copy = std::fs::read(fixture_path()).expect("the copy is in the repository");
        assert!(
            copy == original,
            "{} differs from {}",
            fixture_path().display(),
            shared.display()
        );
    }
}

fn official_aggregates() -> Vec<OfficialAggregate> {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let line: Value = serde_json::from_str(line).expect("each line is JSON");
            let data = STANDARD
                .decode(
                    line["aggregate_base64"]
                        .as_str()
                        .expect("aggregate_base64 is a string"),
                )
                .expect("aggregate_base64 is base64");
            let user_records = line["records"]
                .as_array()
                .expect("records is an array")
                .iter()
                .map(|record| ExpectedUserRecord {
                    partition_key: record["partition_key"]
                        .as_str()
                        .expect("partition_key")
                        .to_owned(),
                    explicit_hash_key: record["explicit_hash_key"].as_str().map(str::to_owned),
                    data: STANDARD
                        .decode(record["data_base64"].as_str().expect("data_base64"))
                        .expect("data_base64 is base64"),
                })
                .collect();
            OfficialAggregate { data, user_records }
        })
        .collect()
}

#[test]
fn the_fixture_holds_the_fifteen_aggregates_and_1647_user_records_its_readme_announces() {
    let aggregates = official_aggregates();
    assert_eq!(aggregates.len(), 15);
    assert_eq!(
        aggregates
            .iter()
            .map(|aggregate| aggregate.user_records.len())
            .sum::<usize>(),
        1647
    );
}

#[test]
fn every_official_aggregate_unpacks_into_its_user_records_in_order() {
    for (line, aggregate) in official_aggregates().into_iter().enumerate() {
        let sequence_number =
            format!("4959033827149025660855969253836157109592157598913658{line:04}");
        let approximate_arrival_ms = 1_795_000_000_000 + i64::try_from(line).expect("small");
        let record = KinesisRecord {
            data: aggregate.data,
            partition_key: aggregate.user_records[0].partition_key.clone(),
            sequence_number: sequence_number.clone(),
            approximate_arrival_ms,
        };
        let user_records = deaggregate(record)
            .unwrap_or_else(|failure| panic!("aggregate on line {}: {failure}", line + 1));
        assert_eq!(
            user_records.len(),
            aggregate.user_records.len(),
            "aggregate on line {}",
            line + 1
        );
        for (position, (got, expected)) in
            user_records.iter().zip(&aggregate.user_records).enumerate()
        {
            let got_as_expected = ExpectedUserRecord {
                partition_key: got.partition_key.clone(),
                explicit_hash_key: got.explicit_hash_key.clone(),
                data: got.data.to_vec(),
            };
            assert_eq!(
                &got_as_expected,
                expected,
                "line {}, user record {position}",
                line + 1
            );
            assert_eq!(got.position.sub_sequence_number, position as u64);
            assert_eq!(&*got.position.sequence_number, sequence_number.as_str());
            assert_eq!(got.approximate_arrival_ms, approximate_arrival_ms);
        }
    }
}

#[test]
fn aggregating_the_official_user_records_writes_the_official_aggregate_bytes() {
    for (line, aggregate) in official_aggregates().into_iter().enumerate() {
        let limits = AggregationLimits {
            max_bytes: 1 << 20,
            max_records: 100_000,
        };
        let mut aggregator = Aggregator::new(limits).expect("valid limits");
        for record in &aggregate.user_records {
            let early = aggregator
                .add(
                    &record.partition_key,
                    record.explicit_hash_key.as_deref(),
                    &record.data,
                )
                .expect("the official records are valid");
            assert!(
                early.is_none(),
                "line {}: everything fits in one aggregate",
                line + 1
            );
        }
        let ours = aggregator.finish().expect("records were added");
        assert_eq!(ours.data, aggregate.data, "aggregate on line {}", line + 1);
        assert_eq!(ours.partition_key, aggregate.user_records[0].partition_key);
        assert_eq!(ours.user_record_count, aggregate.user_records.len());
    }
}
