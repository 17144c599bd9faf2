//! The metadata extraction query: what becomes a partition key, and what fails a record.

use kinesink_partitioning::{
    FailureReason, MetadataQuery, PartitionKeys, PrefixKind, PrefixTemplate, QueryError,
    error_codes,
};
use serde_json::json;

fn keys(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn pairs(k: &PartitionKeys) -> Vec<(String, String)> {
    k.iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_objects_values_become_the_keys_in_query_order_from_a_value_or_from_bytes() {
    let q = MetadataQuery::compile("{event_type: .event_type, country: .geo.country}").unwrap();
    assert!(q.runs_without_jaq());
    let record = json!({"geo": {"country": "FR"}, "event_type": "click", "price": 1.5});
    let expected = keys(&[("event_type", "click"), ("country", "FR")]);
    assert_eq!(pairs(&q.extract(&record).unwrap()), expected);
    assert_eq!(
        pairs(&q.extract_from_bytes(record.to_string().as_bytes()).unwrap()),
        expected
    );
}

#[test]
fn any_jq_query_that_outputs_one_object_works_through_jaq() {
    // The issue's example: `{customer_id: .customer_id, year: .ts | .[0:4]}`.
    let q = MetadataQuery::compile(
        r#"{customer_id: .customer_id, year: .ts | .[0:4], kind: (.event_type | ascii_upcase)}"#,
    )
    .unwrap();
    assert!(!q.runs_without_jaq());
    let record =
        json!({"customer_id": "c-413", "ts": "2026-11-23T09:38:28.560Z", "event_type": "purchase"});
    let expected = keys(&[
        ("customer_id", "c-413"),
        ("year", "2026"),
        ("kind", "PURCHASE"),
    ]);
    assert_eq!(pairs(&q.extract(&record).unwrap()), expected);
    assert_eq!(
        pairs(&q.extract_from_bytes(record.to_string().as_bytes()).unwrap()),
        expected
    );
}

#[test]
fn numbers_and_booleans_become_their_json_text() {
    let q =
        MetadataQuery::compile("{q: .quantity, p: .price, big: .big, neg: .neg, ok: .ok}").unwrap();
    let record = br#"{"quantity": 4, "price": 398.74, "big": 18446744073709551615, "neg": -12, "ok": false}"#;
    let expected = keys(&[
        ("q", "4"),
        ("p", "398.74"),
        // As jq 1.6, Firehose's jq, prints it: a double (issue 22 point 6).
        ("big", "18446744073709552000"),
        ("neg", "-12"),
        ("ok", "false"),
    ]);
    assert_eq!(pairs(&q.extract_from_bytes(record).unwrap()), expected);
    // The same through jaq (`| .` defeats the direct path).
    let jq = MetadataQuery::compile("{q: .quantity, p: .price, big: .big, neg: .neg, ok: .ok} | .")
        .unwrap();
    assert!(!jq.runs_without_jaq());
    assert_eq!(pairs(&jq.extract_from_bytes(record).unwrap()), expected);
}

#[test]
fn values_are_made_s3_safe_so_they_cannot_leave_their_partition() {
    let q = MetadataQuery::compile("{a: .a, b: .b, c: .c}").unwrap();
    let k = q
        .extract(&json!({"a": "../../etc", "b": "x/y", "c": "München 50%"}))
        .unwrap();
    assert_eq!(
        pairs(&k),
        keys(&[
            ("a", "%2E.%2F..%2Fetc"),
            ("b", "x%2Fy"),
            ("c", "M%C3%BCnchen%2050%25")
        ])
    );
}

#[test]
fn arrays_objects_and_type_errors_fail_the_record_with_firehoses_code() {
    let q = MetadataQuery::compile("{a: .a, b: .b.c}").unwrap();
    let reason = |record: serde_json::Value| q.extract(&record).unwrap_err().reason().clone();
    assert_eq!(
        reason(json!({"a": [1], "b": {"c": "x"}})),
        FailureReason::NotScalar {
            key: "a".into(),
            found: "an array"
        }
    );
    assert_eq!(
        reason(json!({"a": {}, "b": {"c": "x"}})),
        FailureReason::NotScalar {
            key: "a".into(),
            found: "an object"
        }
    );
    assert_eq!(
        reason(json!({"a": "x", "b": "not an object"})),
        FailureReason::QueryFailed {
            message: "cannot index a string with \"c\"".into()
        }
    );
    let failure = q.extract(&json!({"a": "x", "b": 1})).unwrap_err();
    assert_eq!(
        failure.error_code(),
        error_codes::METADATA_EXTRACTION_FAILED
    );
    assert_eq!(failure.error_output_type(), "metadata-extraction-failed");
}

#[test]
fn a_query_must_output_exactly_one_object() {
    let found = |query: &str| match MetadataQuery::compile(query)
        .unwrap()
        .extract(&json!({"a": "x"}))
        .unwrap_err()
        .reason()
    {
        FailureReason::NotOneObject { found } => found.clone(),
        other => panic!("{query}: {other}"),
    };
    // (A plain `.a` is refused at compile time; one only known per record fails per record.)
    assert_eq!(found(".a | tostring"), "a string");
    assert_eq!(found("empty"), "nothing");
    assert_eq!(found("{a: .a}, {a: .a}"), "several values");
    assert_eq!(
        found("{(1|tostring): .a} | with_entries(.key |= tonumber)"),
        "an object with a key that is not a string"
    );
}

#[test]
fn a_query_that_never_outputs_an_object_is_refused_at_compile_time() {
    for (query, outputs) in [
        (".event_type", "a field's value"),
        ("\"fixed\"", "a string"),
        (".a == 1", "a boolean"),
    ] {
        assert_eq!(
            MetadataQuery::compile(query).err(),
            Some(QueryError::NotAnObject {
                outputs,
                query: query.to_owned()
            }),
            "{query}"
        );
    }
    let message = MetadataQuery::compile(".event_type")
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.contains("never an object") && message.contains("{key: .event_type}"),
        "{message}"
    );
    for allowed in [".a | tostring | {a: .}", "with_entries(.)", "{a: .a}"] {
        assert!(MetadataQuery::compile(allowed).is_ok(), "{allowed}");
    }
}

#[test]
fn a_jq_runtime_error_fails_the_record_and_halt_does_not_stop_the_process() {
    let q = MetadataQuery::compile(r#"{a: error("boom")}"#).unwrap();
    assert_eq!(
        q.extract(&json!({})).unwrap_err().reason(),
        &FailureReason::QueryFailed {
            message: "boom".into()
        }
    );
    let q = MetadataQuery::compile("{a: .a} | halt").unwrap();
    assert!(matches!(
        q.extract(&json!({"a": "x"})).unwrap_err().reason(),
        FailureReason::QueryFailed { .. }
    ));
    let q = MetadataQuery::compile("{a: (.a / 0)}").unwrap();
    assert!(q.extract(&json!({"a": 1})).is_err());
}

#[test]
fn more_than_fifty_keys_are_refused_at_compile_time_or_per_record() {
    let entries: Vec<String> = (0..51).map(|i| format!("k{i}: .a")).collect();
    let literal = format!("{{{}}}", entries.join(", "));
    assert_eq!(
        MetadataQuery::compile(&literal).unwrap_err(),
        QueryError::TooManyKeys(51)
    );
    let dynamic =
        MetadataQuery::compile("[range(51) | {key: \"k\\(.)\", value: \"v\"}] | from_entries")
            .unwrap();
    assert_eq!(
        dynamic.extract(&json!({})).unwrap_err().reason(),
        &FailureReason::TooManyKeys { count: 51 }
    );
    let fifty =
        MetadataQuery::compile("[range(50) | {key: \"k\\(.)\", value: \"v\"}] | from_entries")
            .unwrap();
    assert_eq!(fifty.extract(&json!({})).unwrap().len(), 50);
}

#[test]
fn a_record_that_is_not_one_json_value_is_firehoses_non_json_failure() {
    for query in ["{a: .a}", "{a: .a | tostring}"] {
        let q = MetadataQuery::compile(query).unwrap();
        for record in [&b"{\"a\": 1"[..], b"", b"{\"a\":1} {\"a\":2}", b"\xff"] {
            let failure = q.extract_from_bytes(record).unwrap_err();
            assert!(
                matches!(failure.reason(), FailureReason::NotJson { .. }),
                "{query} {record:?}: {failure}"
            );
        }
    }
}

#[test]
fn strings_with_escapes_are_read_like_serde_json_reads_them() {
    let q = MetadataQuery::compile("{a: .a, b: .\"k\\u00e9\"}").unwrap();
    let k = q
        .extract_from_bytes(br#"{"a": "x\"y\u00e9", "k\u00e9": "v"}"#)
        .unwrap();
    assert_eq!(pairs(&k), keys(&[("a", "x%22y%C3%A9"), ("b", "v")]));
}

#[test]
fn config_load_can_check_that_the_query_outputs_the_prefix_keys() {
    let q = MetadataQuery::compile("{event_type: .event_type, year: .ts | .[0:4]}").unwrap();
    assert_eq!(
        q.key_names(),
        Some(&["event_type".to_owned(), "year".to_owned()][..])
    );
    let ok = PrefixTemplate::parse(
        "t=!{partitionKeyFromQuery:event_type}/y=!{partitionKeyFromQuery:year}/",
        PrefixKind::Data,
    )
    .unwrap();
    assert_eq!(q.check_template(&ok), Ok(()));
    let missing =
        PrefixTemplate::parse("c=!{partitionKeyFromQuery:country}/", PrefixKind::Data).unwrap();
    let err = q.check_template(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the prefix uses partition key `country`, but the metadata extraction query only outputs `event_type`, `year`"
    );
    // Names only known at run time: nothing to check at load.
    let dynamic = MetadataQuery::compile("with_entries(select(.key == \"a\"))").unwrap();
    assert_eq!(dynamic.key_names(), None);
    assert_eq!(dynamic.check_template(&missing), Ok(()));
}

#[test]
fn compile_errors_point_at_the_query_column() {
    assert!(matches!(
        MetadataQuery::compile("{a: .a,, b: .b}"),
        Err(QueryError::Syntax { column: 8, .. })
    ));
    assert!(matches!(
        MetadataQuery::compile("{a: .a | nope}"),
        Err(QueryError::Undefined {
            column: 10,
            what: "filter",
            ..
        })
    ));
    assert!(matches!(
        MetadataQuery::compile("{h: $ENV.HOME}"),
        Err(QueryError::Undefined {
            what: "variable",
            ..
        })
    ));
    assert!(matches!(
        MetadataQuery::compile("import \"x\" as x; {a: 1}"),
        Err(QueryError::Syntax { .. })
    ));
}
