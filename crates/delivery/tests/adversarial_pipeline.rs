//! The standing adversarial suite, per record: poison partition queries, deep, huge and hostile
//! records and key values through the whole per-record pipeline of a shard (partition keys,
//! prefix, format conversion, objects). Every record ends in exactly one place (a data object or
//! the error output), every object is below its prefix, and every run ends.

mod pipeline_check;

use kinesink_partitioning::QueryBudget;
use pipeline_check::{Case, POISON_KEY_QUERIES, run_and_check};
use proptest::prelude::*;

fn event(k: &str) -> Vec<u8> {
    serde_json::json!({"k": k, "n": 1}).to_string().into_bytes()
}

fn deep_array(depth: usize) -> Vec<u8> {
    let mut r = Vec::with_capacity(depth * 2 + 16);
    r.extend_from_slice(b"{\"k\": \"deep\", \"n\": ");
    r.extend(std::iter::repeat_n(b'[', depth));
    r.extend(std::iter::repeat_n(b']', depth));
    r.push(b'}');
    r
}

/// Hostile records: deep, huge, not JSON, and key values that try to leave their partition.
fn hostile_records() -> Vec<Vec<u8>> {
    let long = "x".repeat(5_000);
    let mut records = vec![
        vec![b'['; 100_000],
        [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
        deep_array(100_000),
        deep_array(100),
        Vec::new(),
        b"not json".to_vec(),
        b"\xff\xfe{\"k\": \"a\"}".to_vec(),
        b"{\"k\": \"a\"}{\"k\": \"b\"}".to_vec(),
        b"{\"k\": \"nul\\u0000\", \"n\": 2}".to_vec(),
    ];
    for k in [
        "..",
        ".",
        "/",
        "../../etc",
        "a/b",
        "",
        " ",
        "\n",
        "\u{7f}\u{1}",
        "é/ü",
        "日本",
        "%2e%2e",
        "~",
        &long,
    ] {
        records.push(event(k));
    }
    // A 1 MiB and a 10 MB record.
    for size in [1 << 20, 10_000_000] {
        let mut r = br#"{"k": "big", "n": 3, "pad": ""#.to_vec();
        r.extend(std::iter::repeat_n(b'p', size));
        r.extend_from_slice(b"\"}");
        records.push(r);
    }
    records
}

#[test]
fn hostile_records_each_end_in_exactly_one_place_with_any_query_and_format() {
    let records = hostile_records();
    for key_query in [
        None,
        Some(".k"),
        Some(".k | tostring"),
        Some("[.[]] | length"),
    ] {
        for parquet in [false, true] {
            let case = Case {
                key_query: key_query.map(str::to_owned),
                parquet,
                records: records.clone(),
                budget: QueryBudget::DEFAULT,
            };
            let landed = run_and_check(&case).expect("the query compiles");
            // The traversal attempts land as data in their own escaped partition or as errors,
            // never as a path segment of their own.
            assert!(
                landed
                    .keys
                    .iter()
                    .all(|k| k.starts_with("data/k=") || k.starts_with("errors/")),
                "{key_query:?}"
            );
        }
    }
}

#[test]
fn poison_queries_fail_their_record_only_in_every_format() {
    for q in POISON_KEY_QUERIES {
        for parquet in [false, true] {
            let poison = br#"{"k": "poison", "n": 1}"#.to_vec();
            let mut records: Vec<Vec<u8>> = (0..5).map(|i| event(&format!("v{i}"))).collect();
            records.insert(2, poison.clone());
            let case = Case {
                key_query: Some(format!(r#"if .k == "poison" then ({q}) else .k end"#)),
                parquet,
                records,
                budget: QueryBudget::DEFAULT,
            };
            let landed = run_and_check(&case).expect("compiles");
            assert_eq!(landed.data_records, 5, "{q}");
            let messages = &landed.errors[&poison];
            assert_eq!(messages.len(), 1, "{q}");
            assert!(messages[0].contains("was stopped"), "{q}: {}", messages[0]);
        }
    }
}

fn record_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        "[ -~é/.%]{0,12}".prop_map(|k| event(&k)),
        (1usize..3_000).prop_map(deep_array),
        Just(b"{\"k\": 1.5, \"n\": \"x\"}".to_vec()),
        Just(b"{\"k\": null}".to_vec()),
        Just(b"{\"k\": [1], \"n\": {}}".to_vec()),
    ]
}

fn query_strategy() -> impl Strategy<Value = Option<String>> {
    let fixed: Vec<Option<String>> = std::iter::once(None)
        .chain(
            [
                ".k",
                ".k | tostring",
                ".k | ascii_downcase",
                "(.n | tostring) + .k",
                "[paths] | length",
                "tojson",
            ]
            .into_iter()
            .chain(POISON_KEY_QUERIES)
            .map(|q| Some(q.to_owned())),
        )
        .collect();
    prop_oneof![
        4 => proptest::sample::select(fixed),
        // Arbitrary short text: most does not compile (nothing to check), some does.
        1 => "[ -~]{0,24}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any records, any query (poison ones with a small budget, so the suite stays fast).
    #[test]
    fn any_record_with_any_query_ends_in_exactly_one_place(
        records in proptest::collection::vec(record_strategy(), 1..12),
        key_query in query_strategy(),
        parquet in any::<bool>(),
    ) {
        let case = Case {
            key_query,
            parquet,
            records,
            budget: QueryBudget { steps: 20_000, depth: 200, size: 1 << 20 },
        };
        run_and_check(&case);
    }
}
