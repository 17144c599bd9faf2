//! Property tests: the jaq-free paths agree with jaq.
//!
//! - `{name: .path, ...}` on a `serde_json::Value` ([`crate::direct_selection`]) gives the same
//!   keys as jaq running the same query, or fails for the same reason (same variant, same key);
//! - the same on the bytes ([`crate::streaming_selection`]) gives exactly the result of parsing
//!   the bytes into a `Value` first, for any bytes (valid JSON or not, duplicate keys, escapes);
//! - a projection transform (`{name: .path, ...}`, [`crate::projection_transform`]) prints
//!   byte for byte what jaq prints, or fails as jaq fails, for any bytes.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::partition_keys::PartitionKeys;
use crate::partitioning_failure::{FailureReason, PartitioningFailure};
use crate::{JqTransform, MetadataQuery};

const NAMES: [&str; 5] = ["a", "b", "type", "x y", "é"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "(|\\.\\.|a/b|[a-z.%/ é\"\\\\]{1,6})".prop_map(Value::String),
    ]
}

fn record() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(&NAMES[..]), inner), 0..5)
                .prop_map(|pairs| Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )),
        ]
    })
}

/// A `{name: .p.a.t.h, ...}` query over [`NAMES`] with unique output names.
fn direct_query() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::collection::vec(proptest::sample::select(&NAMES[..]), 1..4),
        1..5,
    )
    .prop_map(|paths| {
        let entries: Vec<String> = paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let path: String = path.iter().map(|s| format!(".\"{s}\"")).collect();
                format!("k{i}: {path}")
            })
            .collect();
        format!("{{{}}}", entries.join(", "))
    })
}

/// What the agreement is about for a failure: the reason's variant and the key it names.
fn failure_kind(
    f: &PartitioningFailure,
) -> (std::mem::Discriminant<FailureReason>, Option<String>) {
    let key = match f.reason() {
        FailureReason::NullOrEmpty { key, .. }
        | FailureReason::NotScalar { key, .. }
        | FailureReason::NotFinite { key } => Some(key.clone()),
        _ => None,
    };
    (std::mem::discriminant(f.reason()), key)
}

fn same_outcome(
    fast: &Result<PartitionKeys, PartitioningFailure>,
    jaq: &Result<PartitionKeys, PartitioningFailure>,
) -> bool {
    match (fast, jaq) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => failure_kind(a) == failure_kind(b),
        _ => false,
    }
}

/// JSON-ish text: objects with repeated keys, escapes, nesting, number spellings, junk.
fn json_ish_text() -> impl Strategy<Value = Vec<u8>> {
    let text_pieces = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just(" ".to_owned()),
        Just("null".to_owned()),
        Just("1e400".to_owned()),
        Just("-0".to_owned()),
        Just("1.5".to_owned()),
        Just("\"\\u00e9\"".to_owned()),
        Just("1.0".to_owned()),
        Just("1E2".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        Just("\"a\\\"b\"".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("true".to_owned()),
        proptest::sample::select(&NAMES[..]).prop_map(|n| format!("\"{n}\"")),
        "[a-z0-9\"]{1,3}",
        // Text that is not ASCII, inside and outside strings, and bytes that are not UTF-8.
        Just("\"é日\"".to_owned()),
        Just("é".to_owned()),
    ]
    .prop_map(String::into_bytes);
    let invalid_utf8 = prop_oneof![
        Just(vec![0xff]),
        Just(vec![0xc3]),
        Just(b"\"a\xffb\"".to_vec()),
        Just(b"\"\xe6\x97\"".to_vec()),
    ];
    proptest::collection::vec(prop_oneof![19 => text_pieces, 1 => invalid_utf8], 0..24)
        .prop_map(|parts| parts.concat())
}

/// The record as text: a generated value printed, or the same with some objects' keys
/// repeated (the text of the value, with its first object's entries written twice).
fn record_text() -> impl Strategy<Value = Vec<u8>> {
    (record(), any::<bool>()).prop_map(|(value, repeat)| {
        let text = serde_json::to_string(&value).unwrap();
        match (repeat, &value) {
            (true, Value::Object(map)) if !map.is_empty() => {
                let inner = &text[1..text.len() - 1];
                format!("{{{inner},{inner}}}").into_bytes()
            }
            _ => text.into_bytes(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_projection_transform_prints_what_jaq_prints_on_any_record(
        program in direct_query(),
        record in record_text(),
    ) {
        let t = JqTransform::compile(&program).unwrap();
        let jaq = t.run_with_jaq(&record);
        prop_assert_eq!(&t.run(&record), &jaq, "program {} record {}", program, String::from_utf8_lossy(&record));
        // Wherever jaq succeeds on a projection, the jaq-free path answered, with jaq's bytes.
        if let (true, Ok(outputs)) = (t.runs_without_jaq(), &jaq) {
            let fast = t.run_without_jaq(&record);
            prop_assert_eq!(fast.as_ref(), outputs.first());
        }
    }

    #[test]
    fn a_projection_transform_agrees_with_jaq_on_any_bytes(
        program in direct_query(),
        bytes in json_ish_text(),
    ) {
        let t = JqTransform::compile(&program).unwrap();
        let jaq = t.run_with_jaq(&bytes);
        prop_assert_eq!(&t.run(&bytes), &jaq, "program {} bytes {:?}", program, String::from_utf8_lossy(&bytes));
        if let (true, Ok(outputs)) = (t.runs_without_jaq(), &jaq) {
            let fast = t.run_without_jaq(&bytes);
            prop_assert_eq!(fast.as_ref(), outputs.first());
        }
    }

    #[test]
    fn the_direct_path_agrees_with_jaq_on_any_record(query in direct_query(), record in record()) {
        let q = MetadataQuery::compile(&query).unwrap();
        prop_assert!(q.runs_without_jaq(), "{}", query);
        let fast = q.extract(&record);
        let jaq = q.extract_with_jaq(&record);
        prop_assert!(same_outcome(&fast, &jaq), "query {}\nrecord {}\nfast {:?}\njaq {:?}", query, record, fast, jaq);
    }

    #[test]
    fn with_null_keys_omitted_the_direct_and_bytes_paths_agree_with_jaq(
        query in direct_query(),
        record in record(),
    ) {
        let q = MetadataQuery::compile(&query).unwrap().omitting_null_keys();
        let fast = q.extract(&record);
        let jaq = q.extract_with_jaq(&record);
        prop_assert!(same_outcome(&fast, &jaq), "query {}\nrecord {}\nfast {:?}\njaq {:?}", query, record, fast, jaq);
        let bytes = serde_json::to_vec(&record).unwrap();
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(q.extract_from_bytes(&bytes), q.extract(&parsed));
    }

    #[test]
    fn extraction_from_bytes_equals_extraction_from_the_parsed_value(
        query in direct_query(),
        record in record(),
    ) {
        let q = MetadataQuery::compile(&query).unwrap();
        let bytes = serde_json::to_vec(&record).unwrap();
        // Parsed back rather than `record` itself: serde_json's float parsing is not an exact
        // round trip (`-4.803042098472631e91` reads back as `-4.8030420984726315e91`).
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(q.extract_from_bytes(&bytes), q.extract(&parsed));
    }

    #[test]
    fn extraction_from_any_bytes_equals_parsing_then_extracting(
        query in direct_query(),
        // JSON-ish text: objects with repeated keys, escapes, nesting, junk.
        text in proptest::collection::vec(
            prop_oneof![
                Just("{".to_owned()), Just("}".to_owned()), Just("[".to_owned()), Just("]".to_owned()),
                Just(",".to_owned()), Just(":".to_owned()), Just(" ".to_owned()), Just("null".to_owned()),
                Just("1e400".to_owned()), Just("-0".to_owned()), Just("1.5".to_owned()), Just("\"\\u00e9\"".to_owned()),
                Just("\"a\\\"b\"".to_owned()), Just("\"\\ud800\"".to_owned()),
                proptest::sample::select(&NAMES[..]).prop_map(|n| format!("\"{n}\"")),
                "[a-z0-9\"]{1,3}",
            ],
            0..24,
        ),
    ) {
        let bytes = text.concat().into_bytes();
        let q = MetadataQuery::compile(&query).unwrap();
        let via_value = match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => q.extract(&value),
            Err(e) => Err(FailureReason::NotJson { detail: e.to_string() }.into()),
        };
        prop_assert_eq!(q.extract_from_bytes(&bytes), via_value, "bytes {:?}", String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn a_later_duplicate_key_wins_on_both_paths() {
    let q = MetadataQuery::compile("{v: .a.b}").unwrap();
    let bytes = br#"{"a": {"b": "first"}, "a": {"c": 1}}"#;
    // serde_json's `Value` keeps the last `a`, which has no `b`: null.
    let value: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(value, json!({"a": {"c": 1}}));
    let failure = q.extract_from_bytes(bytes).unwrap_err();
    assert_eq!(
        failure.reason(),
        &FailureReason::NullOrEmpty {
            key: "v".into(),
            null: true
        }
    );
    assert_eq!(q.extract(&value).unwrap_err(), failure);
}

#[test]
fn nesting_beyond_serde_jsons_limit_fails_on_both_paths() {
    let q = MetadataQuery::compile("{v: .a}").unwrap();
    let deep = format!(
        "{{\"a\": \"x\", \"b\": {}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(serde_json::from_slice::<Value>(deep.as_bytes()).is_err());
    let failure = q.extract_from_bytes(deep.as_bytes()).unwrap_err();
    assert!(
        matches!(failure.reason(), FailureReason::NotJson { .. }),
        "{failure}"
    );
}

#[test]
fn projections_run_without_jaq_and_other_programs_on_jaq() {
    for program in [
        "{id: .event_id, t: .ts}",
        "{event_id}",
        r#"{"a b": .x."y z", c: .x.w}"#,
    ] {
        assert!(
            JqTransform::compile(program).unwrap().runs_without_jaq(),
            "{program}"
        );
    }
    for program in [
        ".",
        "{a: .x, b: .x.y}",
        "{a: .x?}",
        "{a: .x | tostring}",
        ".a",
    ] {
        assert!(
            !JqTransform::compile(program).unwrap().runs_without_jaq(),
            "{program}"
        );
    }
    let t = JqTransform::compile("{id: .event_id, t: .ts, u: .user.geo}").unwrap();
    let record = br#"{"event_id": "e\u00e9", "ts": 1.0, "user": {"geo": {"lat": 1E2, "c": [1, "x"]}}, "z": 5}"#;
    let out = t.run(record).unwrap();
    assert_eq!(out, t.run_with_jaq(record).unwrap());
    assert_eq!(
        String::from_utf8(out[0].clone()).unwrap(),
        r#"{"id":"eé","t":1.0,"u":{"lat":100.0,"c":[1,"x"]}}"#
    );
    // A path through a number is jaq's error, not a null.
    assert!(matches!(
        t.run(br#"{"user": 5}"#),
        Err(crate::TransformError::Failed(_))
    ));
}

#[test]
fn with_null_keys_omitted_a_null_or_missing_key_is_left_out_and_an_empty_one_still_fails() {
    for query in [
        "{destinationTableName: .t, destinationDatabaseName: .d}",
        // not a plain projection: jaq runs it
        "{destinationTableName: .t, destinationDatabaseName: (.d | ascii_downcase)}",
    ]
    .into_iter()
    .enumerate()
    {
        let (i, query) = query;
        let q = MetadataQuery::compile(query).unwrap().omitting_null_keys();
        assert_eq!(q.runs_without_jaq(), i == 0, "{query}");
        for record in [json!({"t": null, "d": "db"}), json!({"d": "db"})] {
            let bytes = serde_json::to_vec(&record).unwrap();
            for keys in [q.extract(&record), q.extract_from_bytes(&bytes)] {
                let keys = keys.unwrap();
                assert_eq!(keys.get("destinationTableName"), None, "{query} {record}");
                assert_eq!(keys.get("destinationDatabaseName"), Some("db"));
            }
        }
        let empty = json!({"t": "", "d": "db"});
        assert!(matches!(
            q.extract(&empty).unwrap_err().reason(),
            FailureReason::NullOrEmpty { null: false, .. }
        ));
        // Without the option, null fails as Firehose's prefix keys do.
        let strict = MetadataQuery::compile(query).unwrap();
        assert!(matches!(
            strict
                .extract(&json!({"t": null, "d": "db"}))
                .unwrap_err()
                .reason(),
            FailureReason::NullOrEmpty { null: true, .. }
        ));
    }
}
