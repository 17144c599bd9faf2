//! Partition keys read from the record's one parse (the parquet-writer tape that Parquet
//! conversion also uses) are exactly the keys of the reference path,
//! `MetadataQuery::extract_from_bytes`, whenever the tape path answers at all.

use kinesink_parquet_writer::JsonRecordParser;
use kinesink_partitioning::{MetadataQuery, PartitionKeys, PartitioningFailure};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["a", "b", "type", "x y", "é"];

/// Keys by the shared parse, `None` when it declines (the caller then uses the reference path).
fn keys_from_tape(
    query: &MetadataQuery,
    parser: &mut JsonRecordParser,
    bytes: &[u8],
) -> Option<Result<PartitionKeys, PartitioningFailure>> {
    let parsed = parser.parse(bytes).ok()?;
    // As ShardBuffers asks: every path's text from one walk over the record.
    query.extract_selected(|paths| parsed.texts_at_paths(paths))
}

/// JSON text (valid or not) with repeated member names, escapes, integers, floats and nesting.
fn json_text() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"\"".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        Just("-0".to_owned()),
        Just("1.5".to_owned()),
        Just("1e400".to_owned()),
        Just("\"a\\\"b\"".to_owned()),
        Just("\"\\u00e9/x\"".to_owned()),
        "[a-z./ %é]{1,8}".prop_map(|s| format!("\"{s}\"")),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((proptest::sample::select(&NAMES[..]), inner), 0..5)
                .prop_map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(name, value)| format!("\"{name}\": {value}"))
                        .collect();
                    format!("{{{}}}", members.join(", "))
                }),
        ]
    })
}

/// Records shaped like events: objects of [`NAMES`] (repeated at times) whose values are
/// mostly strings and integers, so that most queries select usable keys.
fn event_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        6 => "[a-z./ %é]{1,8}".prop_map(|s| format!("\"{s}\"")),
        2 => Just("\"\"".to_owned()),
        2 => Just("\"a\\\"b\\u00e9\"".to_owned()),
        3 => any::<i64>().prop_map(|i| i.to_string()),
        1 => any::<u64>().prop_map(|u| u.to_string()),
        1 => Just("null".to_owned()),
        1 => Just("2.5".to_owned()),
        1 => Just("[\"x\"]".to_owned()),
    ];
    let object = |member: BoxedStrategy<String>| {
        proptest::collection::vec((proptest::sample::select(&NAMES[..]), member), 1..6).prop_map(
            |members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(name, value)| format!("\"{name}\":{value}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            },
        )
    };
    let nested = prop_oneof![3 => value.clone(), 1 => object(value.boxed())].boxed();
    object(nested)
}

/// A `{k0: .p.a.t.h, ...}` query over [`NAMES`].
fn direct_query() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::collection::vec(proptest::sample::select(&NAMES[..]), 1..3),
        1..3,
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn keys_from_the_shared_parse_equal_the_reference_keys(
        query in direct_query(),
        text in prop_oneof![json_text(), event_text()],
        // Sometimes a second document or junk after the first.
        tail in prop_oneof![6 => Just(String::new()), 1 => Just("{\"a\":\"z\"}".to_owned()), 1 => Just(" x".to_owned())],
    ) {
        let q = MetadataQuery::compile(&query).unwrap();
        let bytes = format!("{text}{tail}").into_bytes();
        let mut parser = JsonRecordParser::new();
        if let Some(fast) = keys_from_tape(&q, &mut parser, &bytes) {
            prop_assert_eq!(fast, q.extract_from_bytes(&bytes), "query {} record {}", query, String::from_utf8_lossy(&bytes));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn one_walk_over_the_members_gives_each_path_what_asking_for_it_alone_gives(
        text in prop_oneof![json_text(), event_text()],
        tail in prop_oneof![6 => Just(String::new()), 1 => Just("{\"a\":\"z\"}".to_owned())],
        paths in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(&NAMES[..]).prop_map(str::to_owned), 0..3),
            0..10,
        ),
    ) {
        let bytes = format!("{text}{tail}").into_bytes();
        let mut parser = JsonRecordParser::new();
        let Ok(parsed) = parser.parse(&bytes) else { return Ok(()) };
        let alone: Vec<_> = paths.iter().map(|p| parsed.text_at_path(p)).collect();
        prop_assert_eq!(parsed.texts_at_paths(&paths).to_vec(), alone);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn keys_of_flat_events_come_from_the_shared_parse_and_equal_the_reference_keys(
        members in proptest::collection::vec(
            (proptest::sample::select(&NAMES[..]), prop_oneof![
                "[a-z./ %é]{0,6}".prop_map(|s| format!("\"{s}\"")),
                // Integers the shared parse answers for: exact doubles, which jq 1.6 prints as
                // their digits (larger ones are left to the reference path, tested below).
                (-(1i64 << 53)..=(1i64 << 53)).prop_map(|i| i.to_string()),
            ]),
            5..9,
        ),
        picks in proptest::collection::vec(proptest::sample::select(&NAMES[..]), 1..4),
    ) {
        // Every name once first (so every depth-1 path selects a string or an integer), then
        // repeats that override it.
        let all = NAMES.iter().map(|n| format!("\"{n}\":\"first\""));
        let rest = members.iter().map(|(n, v)| format!("\"{n}\":{v}"));
        let bytes = format!("{{{}}}", all.chain(rest).collect::<Vec<_>>().join(",")).into_bytes();
        let query: Vec<String> = picks.iter().enumerate().map(|(i, n)| format!("k{i}: .\"{n}\"")).collect();
        let q = MetadataQuery::compile(&format!("{{{}}}", query.join(", "))).unwrap();
        let mut parser = JsonRecordParser::new();
        let fast = keys_from_tape(&q, &mut parser, &bytes);
        prop_assert!(fast.is_some(), "the shared parse declined {}", String::from_utf8_lossy(&bytes));
        prop_assert_eq!(fast.unwrap(), q.extract_from_bytes(&bytes));
    }
}

#[test]
fn string_and_integer_keys_of_a_plain_record_come_from_the_shared_parse() {
    let q = MetadataQuery::compile("{type: .type, n: .n, city: .where.city}").unwrap();
    let bytes = br#"{"type":"click","n":42,"where":{"city":"Z\u00fcrich"},"type":"view"}"#;
    let mut parser = JsonRecordParser::new();
    let fast = keys_from_tape(&q, &mut parser, bytes).expect("the shared parse answers");
    assert_eq!(fast, q.extract_from_bytes(bytes));
    let keys = fast.unwrap();
    let pairs: Vec<(&str, &str)> = keys.iter().collect();
    assert_eq!(
        pairs,
        [("type", "view"), ("n", "42"), ("city", "Z%C3%BCrich")],
        "the last duplicate wins, integers in JSON notation, JSON escapes decoded (then made S3-safe)"
    );
}

#[test]
fn nulls_missing_fields_floats_and_several_documents_are_left_to_the_reference_path() {
    let mut parser = JsonRecordParser::new();
    for (query, record) in [
        ("{v: .a}", r#"{"a":null}"#),
        ("{v: .a}", r#"{"b":"x"}"#),
        ("{v: .a}", r#"{"a":1.5}"#),
        ("{v: .a}", r#"{"a":true}"#),
        ("{v: .a.b}", r#"{"a":"text"}"#),
        ("{v: .a}", r#"{"a":"x"}{"a":"y"}"#),
        ("{v: (.a | ascii_downcase)}", r#"{"a":"X"}"#),
    ] {
        let q = MetadataQuery::compile(query).unwrap();
        assert!(
            keys_from_tape(&q, &mut parser, record.as_bytes()).is_none(),
            "{query} on {record}"
        );
    }
}

#[test]
fn integers_beyond_two_to_the_53_are_left_to_the_reference_path_which_prints_them_as_jq_1_6() {
    // jq 1.6 (Firehose's jq) holds numbers as doubles: these digits are what /usr/bin/jq 1.6
    // printed for each value.
    let q = MetadataQuery::compile("{n: .n}").unwrap();
    let mut parser = JsonRecordParser::new();
    for (number, printed) in [
        ("9007199254740992", "9007199254740992"),
        ("-9007199254740992", "-9007199254740992"),
        ("9007199254740993", "9007199254740992"),
        ("18446744073709551615", "18446744073709552000"),
        ("-9223372036854775808", "-9223372036854776000"),
        ("10000000000000000", "1e%2B16"),
    ] {
        let record = format!("{{\"n\":{number}}}");
        let bytes = record.as_bytes();
        let reference = q.extract_from_bytes(bytes).unwrap();
        assert_eq!(reference.get("n"), Some(printed), "{record}");
        match keys_from_tape(&q, &mut parser, bytes) {
            Some(fast) => assert_eq!(fast.unwrap(), reference, "{record}"),
            None => assert!(
                number.trim_start_matches('-').len() >= 16,
                "the shared parse answers for exact integers: {record}"
            ),
        }
    }
}
