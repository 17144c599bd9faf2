//! Firehose-style multi-record splitting: JSON objects and delimited pieces, the 500 cap, and
//! what goes to the error output.

use kinesink_record_deaggregation::{
    Delimiter, EmptyDelimiter, MAX_SUB_RECORDS, SplitDefect, SplitOutcome, SubRecordFormat,
    UserRecord, error_codes, split_sub_records,
};
use kinesink_sequence_position::SequencePosition;
use proptest::collection::vec;
use proptest::prelude::*;

fn user_record(data: &[u8], sub_sequence_number: u64) -> UserRecord {
    UserRecord {
        data: data.to_vec().into(),
        partition_key: "pk".to_owned(),
        explicit_hash_key: Some("42".to_owned()),
        position: SequencePosition::new(
            "49590338271490256608559692538361571095921575989136588898",
            sub_sequence_number,
        ),
        approximate_arrival_ms: 1_795_000_000_000,
    }
}

fn delimited(delimiter: &[u8]) -> SubRecordFormat {
    SubRecordFormat::Delimited(Delimiter::new(delimiter.to_vec()).expect("non-empty"))
}

fn datas(outcome: &SplitOutcome) -> Vec<&[u8]> {
    outcome
        .sub_records
        .iter()
        .map(|record| &record.data[..])
        .collect()
}

fn single_failure(outcome: &SplitOutcome) -> &kinesink_record_deaggregation::SplitFailure {
    assert!(
        outcome.sub_records.is_empty(),
        "no partial delivery: {outcome:?}"
    );
    assert_eq!(outcome.failures.len(), 1, "{outcome:?}");
    &outcome.failures[0]
}

#[test]
fn concatenated_json_objects_become_one_sub_record_each() {
    let outcome = split_sub_records(
        user_record(br#"{"a":1}{"a":2}{"b":{"c":[1,2]}}"#, 0),
        &SubRecordFormat::Json,
    );
    assert_eq!(
        datas(&outcome),
        [&br#"{"a":1}"#[..], br#"{"a":2}"#, br#"{"b":{"c":[1,2]}}"#]
    );
    assert!(outcome.failures.is_empty());
}

#[test]
fn newline_separated_json_objects_split_without_their_separators() {
    let outcome = split_sub_records(
        user_record(b"{\"a\":1}\n{\"a\":2}\r\n  {\"a\":3}\n", 0),
        &SubRecordFormat::Json,
    );
    assert_eq!(
        datas(&outcome),
        [&br#"{"a":1}"#[..], br#"{"a":2}"#, br#"{"a":3}"#]
    );
}

#[test]
fn braces_inside_json_strings_do_not_split_an_object() {
    let outcome = split_sub_records(
        user_record(br#"{"s":"}{\"}"}{"t":"{"}"#, 0),
        &SubRecordFormat::Json,
    );
    assert_eq!(datas(&outcome), [&br#"{"s":"}{\"}"}"#[..], br#"{"t":"{"}"#]);
}

#[test]
fn sub_records_keep_the_parents_keys_and_number_their_positions_after_the_parents_sub_sequence() {
    let parent = user_record(br#"{"a":1}{"a":2}"#, 12);
    let outcome = split_sub_records(parent.clone(), &SubRecordFormat::Json);
    let expected: Vec<UserRecord> = [(&br#"{"a":1}"#[..], 12_000), (br#"{"a":2}"#, 12_001)]
        .into_iter()
        .map(|(data, sub_sequence_number)| UserRecord {
            data: data.to_vec().into(),
            position: SequencePosition::new(
                parent.position.sequence_number.clone(),
                sub_sequence_number,
            ),
            ..parent.clone()
        })
        .collect();
    assert_eq!(outcome.sub_records, expected);
}

#[test]
fn a_record_holding_one_object_is_delivered_whole_at_the_first_position() {
    let outcome = split_sub_records(user_record(br#"{"a":1}"#, 3), &SubRecordFormat::Json);
    assert_eq!(outcome.sub_records, vec![user_record(br#"{"a":1}"#, 3_000)]);
}

#[test]
fn a_json_array_is_refused_whole_as_firehose_refuses_it() {
    let data = br#"[{"a":1},{"a":2}]"#;
    let outcome = split_sub_records(user_record(data, 0), &SubRecordFormat::Json);
    let failure = single_failure(&outcome);
    assert_eq!(failure.defect, SplitDefect::NotAnObject { offset: 0 });
    assert_eq!(
        failure.record,
        user_record(data, 0),
        "the failure carries the raw bytes"
    );
    assert_eq!(
        failure.error_code(),
        error_codes::RECORD_DEAGGREGATION_FAILED
    );
    assert_eq!(failure.error_code(), "RecordDeAggregation.Failed");
}

#[test]
fn a_scalar_after_valid_objects_fails_the_whole_record_with_its_offset() {
    let data = b"{\"a\":1}\n42";
    let failure = single_failure(&split_sub_records(
        user_record(data, 0),
        &SubRecordFormat::Json,
    ))
    .clone();
    assert_eq!(failure.defect, SplitDefect::NotAnObject { offset: 8 });
    assert_eq!(&failure.record.data[..], &data[..]);
}

#[test]
fn malformed_json_anywhere_fails_the_whole_record_with_all_its_bytes() {
    for data in [
        &b"{\"a\":1}{\"a\":"[..],
        b"{\"a\":1} x",
        b"{\"a\":1},{\"a\":2}",
        b"{'a':1}",
    ] {
        let outcome = split_sub_records(user_record(data, 5), &SubRecordFormat::Json);
        let failure = single_failure(&outcome);
        assert!(
            matches!(failure.defect, SplitDefect::InvalidJson { .. }),
            "{:?}: {failure}",
            String::from_utf8_lossy(data)
        );
        assert_eq!(failure.record, user_record(data, 5_000));
    }
}

#[test]
fn a_record_that_is_not_utf8_is_not_json() {
    let data = b"{\"a\":\"\xff\"}";
    let failure = single_failure(&split_sub_records(
        user_record(data, 0),
        &SubRecordFormat::Json,
    ))
    .clone();
    assert_eq!(failure.defect, SplitDefect::NotUtf8 { valid_up_to: 6 });
}

#[test]
fn an_empty_or_blank_record_is_a_failure_not_a_vanished_record() {
    for (data, format) in [
        (&b""[..], SubRecordFormat::Json),
        (b" \n\r\t", SubRecordFormat::Json),
        (b"", delimited(b"\n")),
        (b"\n\n\n", delimited(b"\n")),
    ] {
        let failure = single_failure(&split_sub_records(user_record(data, 0), &format)).clone();
        assert_eq!(failure.defect, SplitDefect::NoSubRecords);
        assert_eq!(failure.record.data, data);
    }
}

#[test]
fn past_500_json_objects_the_rest_goes_to_the_error_output_as_one_failure_with_its_raw_bytes() {
    let objects: Vec<String> = (0..503).map(|index| format!("{{\"n\":{index}}}")).collect();
    let data = objects.join("\n");
    let outcome = split_sub_records(user_record(data.as_bytes(), 2), &SubRecordFormat::Json);
    assert_eq!(outcome.sub_records.len(), MAX_SUB_RECORDS);
    assert_eq!(MAX_SUB_RECORDS, 500);
    let delivered: Vec<String> = outcome
        .sub_records
        .iter()
        .map(|record| String::from_utf8(record.data.to_vec()).expect("utf8"))
        .collect();
    assert_eq!(delivered, objects[..500]);
    assert_eq!(outcome.sub_records[499].position.sub_sequence_number, 2_499);
    assert_eq!(outcome.failures.len(), 1);
    let overflow = &outcome.failures[0];
    assert_eq!(
        overflow.defect,
        SplitDefect::TooManySubRecords { total: 503 }
    );
    assert_eq!(overflow.record.data, objects[500..].join("\n").as_bytes());
    assert_eq!(overflow.record.position.sub_sequence_number, 2_500);
    assert_eq!(
        overflow.error_code(),
        "RecordDeAggregation.SubRecordLimitExceeded"
    );
    assert_eq!(
        overflow.error_code(),
        error_codes::RECORD_DEAGGREGATION_LIMIT_EXCEEDED
    );
    assert!(overflow.reason().contains("503"), "{}", overflow.reason());
}

#[test]
fn exactly_500_sub_records_are_all_delivered() {
    let data = "{}".repeat(500);
    let outcome = split_sub_records(user_record(data.as_bytes(), 0), &SubRecordFormat::Json);
    assert_eq!(outcome.sub_records.len(), 500);
    assert!(outcome.failures.is_empty());
}

#[test]
fn a_multi_byte_delimiter_splits_as_firehoses_base64_example_does() {
    let outcome = split_sub_records(
        user_record(b"alpha####beta####gamma", 0),
        &delimited(b"####"),
    );
    assert_eq!(datas(&outcome), [&b"alpha"[..], b"beta", b"gamma"]);
    let positions: Vec<u64> = outcome
        .sub_records
        .iter()
        .map(|record| record.position.sub_sequence_number)
        .collect();
    assert_eq!(positions, [0, 1, 2]);
}

#[test]
fn leading_trailing_and_repeated_delimiters_make_no_empty_sub_records() {
    let outcome = split_sub_records(user_record(b"\na\n\nb\n", 0), &delimited(b"\n"));
    assert_eq!(datas(&outcome), [&b"a"[..], b"b"]);
}

#[test]
fn overlapping_delimiter_occurrences_are_taken_leftmost_first() {
    let outcome = split_sub_records(user_record(b"xaaay", 0), &delimited(b"aa"));
    assert_eq!(datas(&outcome), [&b"x"[..], b"ay"]);
}

#[test]
fn past_500_delimited_pieces_the_rest_fails_as_one_record_from_the_501st_piece() {
    let pieces: Vec<String> = (0..600).map(|index| format!("line {index}")).collect();
    let data = pieces.join("|");
    let outcome = split_sub_records(user_record(data.as_bytes(), 0), &delimited(b"|"));
    assert_eq!(outcome.sub_records.len(), 500);
    assert_eq!(
        outcome.failures[0].record.data,
        pieces[500..].join("|").as_bytes()
    );
    assert_eq!(
        outcome.failures[0].defect,
        SplitDefect::TooManySubRecords { total: 600 }
    );
}

#[test]
fn an_empty_delimiter_is_refused() {
    assert_eq!(Delimiter::new(Vec::new()), Err(EmptyDelimiter));
}

#[test]
fn a_parent_sub_sequence_too_large_to_number_sub_records_fails_whole_at_its_own_position() {
    let parent = user_record(b"{}{}", u64::MAX / 999);
    let failure =
        single_failure(&split_sub_records(parent.clone(), &SubRecordFormat::Json)).clone();
    assert_eq!(failure.record, parent);
    assert!(matches!(
        failure.defect,
        SplitDefect::PositionOutOfRange { .. }
    ));
}

/// Checks the splitting invariants for any input: something comes out; sub-records are slices of
/// the input in order, without overlap; a failure is the whole input or a suffix after the
/// delivered sub-records; positions are unique and increasing.
fn assert_nothing_lost(data: &[u8], outcome: &SplitOutcome) -> Result<(), TestCaseError> {
    prop_assert!(!outcome.sub_records.is_empty() || !outcome.failures.is_empty());
    prop_assert!(outcome.sub_records.len() <= MAX_SUB_RECORDS);
    prop_assert!(outcome.failures.len() <= 1);
    let mut cursor = 0;
    for record in &outcome.sub_records {
        let found = data[cursor..]
            .windows(record.data.len().max(1))
            .position(|window| window.starts_with(&record.data));
        prop_assert!(
            found.is_some() && !record.data.is_empty(),
            "sub-record not in input order"
        );
        cursor += found.unwrap_or_default() + record.data.len();
    }
    if let Some(failure) = outcome.failures.first() {
        prop_assert!(data.ends_with(&failure.record.data));
        prop_assert!(data.len() - failure.record.data.len() >= cursor);
        if outcome.sub_records.is_empty() {
            prop_assert_eq!(&failure.record.data, &data.to_vec());
        }
    }
    let positions: Vec<u64> = outcome
        .sub_records
        .iter()
        .chain(outcome.failures.iter().map(|failure| &failure.record))
        .map(|record| record.position.sub_sequence_number)
        .collect();
    prop_assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
    Ok(())
}

fn json_object() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z{}\"]{0,6}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    });
    proptest::collection::btree_map("\\PC{0,6}", value, 0..5)
        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
}

proptest! {
    #[test]
    fn any_json_objects_joined_by_nothing_or_whitespace_split_back_into_their_exact_text(
        objects in vec(json_object(), 1..20),
        separators in vec(prop_oneof![Just(""), Just("\n"), Just("\r\n"), Just(" \t")], 20),
    ) {
        let texts: Vec<String> = objects.iter().map(|object| serde_json::to_string(object).expect("serialisable")).collect();
        let data: String = texts.iter().zip(&separators).flat_map(|(text, separator)| [text.as_str(), separator]).collect();
        let outcome = split_sub_records(user_record(data.as_bytes(), 1), &SubRecordFormat::Json);
        prop_assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        let got: Vec<&[u8]> = datas(&outcome);
        let expected: Vec<&[u8]> = texts.iter().map(String::as_bytes).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn any_non_empty_pieces_joined_by_a_delimiter_split_back_into_the_same_pieces(
        // Piece bytes and delimiter bytes come from disjoint ranges, so the delimiter occurs
        // exactly where it was put.
        pieces in vec(vec(0x20_u8..=0xff, 1..40), 1..30),
        delimiter in vec(0x00_u8..0x20, 1..4),
    ) {
        let data = pieces.join(delimiter.as_slice());
        let outcome = split_sub_records(user_record(&data, 0), &delimited(&delimiter));
        let expected: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(datas(&outcome), expected);
        prop_assert!(outcome.failures.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_lose_bytes_in_json_mode(data in vec(any::<u8>(), 0..600)) {
        let outcome = split_sub_records(user_record(&data, 4), &SubRecordFormat::Json);
        assert_nothing_lost(&data, &outcome)?;
    }

    #[test]
    fn arbitrary_json_like_text_never_panics_or_loses_bytes_in_json_mode(data in "[{}\\[\\]\":,0-9a \n]{0,300}") {
        let outcome = split_sub_records(user_record(data.as_bytes(), 4), &SubRecordFormat::Json);
        assert_nothing_lost(data.as_bytes(), &outcome)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_lose_bytes_in_delimited_mode(
        data in vec(prop_oneof![Just(b'|'), Just(b'#'), any::<u8>()], 0..3_000),
        delimiter in prop_oneof![Just(b"|".to_vec()), Just(b"##".to_vec()), vec(any::<u8>(), 1..3)],
    ) {
        let outcome = split_sub_records(user_record(&data, 4), &delimited(&delimiter));
        assert_nothing_lost(&data, &outcome)?;
    }
}
