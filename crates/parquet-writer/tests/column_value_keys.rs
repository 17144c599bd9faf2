//! `ColumnValueReader::write_value_key`: records with equal keys read the same value (or fail
//! alike), so a caller may keep what it made of a value by its key (the Iceberg partitioner
//! does); records of different values get different keys.

use std::collections::HashMap;

use kinesink_parquet_writer::{JsonRecordParser, SerdeOptions, TableSchema};
use proptest::prelude::*;

const SCHEMA: &str = "s string, i int, b bigint, d double, f boolean, t timestamp, day date, \
                      m decimal(10,2), st struct<k:string>";
const COLUMNS: [&[&str]; 9] = [
    &["s"],
    &["i"],
    &["b"],
    &["d"],
    &["f"],
    &["t"],
    &["day"],
    &["m"],
    &["st", "k"],
];

/// A JSON value text of any kind a record may hold in a column (valid or not for its type).
fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f}")),
        // The same number written differently, and numbers as text.
        prop::sample::select(vec![
            "1", "1.0", "1e0", "-0", "0.0", "-0.0", "12.50", "12.5"
        ])
        .prop_map(str::to_owned),
        prop::sample::select(vec![
            "\"1\"",
            "\"12.5\"",
            "\"2026-12-04\"",
            "\"2026-12-04T05:00:00Z\"",
            "\"2026-12-04 05:00:00\"",
            "\"true\"",
            "\"\"",
            "\"click\"",
            "\"Click\"",
            "\"cl\\u0069ck\"",
            "\"\\u00e9v\\u00e9nement\"",
            "\"événement\"",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9 ._-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        Just("[]".to_owned()),
        Just("[1]".to_owned()),
        Just("{}".to_owned()),
        Just("{\"k\":\"x\"}".to_owned()),
    ]
}

/// A record: the members in any order, some under other spellings of the column names.
fn record() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "s", "S", "i", "b", "d", "f", "t", "day", "DAY", "m", "st", "St", "other",
    ]);
    prop::collection::vec((key, json_value()), 0..8).prop_map(|members| {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| {
                // A struct member holds an object with `k` half the time.
                if k.eq_ignore_ascii_case("st") && v.starts_with('"') {
                    format!("\"{k}\":{{\"k\":{v}}}")
                } else {
                    format!("\"{k}\":{v}")
                }
            })
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn records_with_equal_value_keys_read_the_same_value_or_fail_alike(
        records in prop::collection::vec(record(), 1..24)
    ) {
        let schema = TableSchema::parse_hive(SCHEMA).unwrap();
        let options = SerdeOptions::default();
        for path in COLUMNS {
            let reader = schema.column_value_reader(path, &options).unwrap();
            let mut seen: HashMap<Vec<u8>, (String, String)> = HashMap::new();
            for text in &records {
                let mut parser = JsonRecordParser::new();
                let parsed = parser.parse(text.as_bytes()).unwrap();
                let mut key = Vec::new();
                if !reader.write_value_key(&parsed, &mut key) {
                    continue;
                }
                let read = format!("{:?}", reader.read(&parsed));
                if let Some((other, read_there)) = seen.get(&key) {
                    prop_assert_eq!(
                        &read, read_there,
                        "column {:?}: {} and {} have the same key", path, text, other
                    );
                } else {
                    seen.insert(key, (text.clone(), read));
                }
            }
        }
    }
}

/// Values the reader tells apart get different keys; absent and null share one.
#[test]
fn different_values_get_different_keys_and_absent_is_null() {
    let schema = TableSchema::parse_hive(SCHEMA).unwrap();
    let reader = schema
        .column_value_reader(&["s"], &SerdeOptions::default())
        .unwrap();
    let key_of = |text: &str| {
        let mut parser = JsonRecordParser::new();
        let parsed = parser.parse(text.as_bytes()).unwrap();
        let mut key = Vec::new();
        assert!(reader.write_value_key(&parsed, &mut key), "{text}");
        key
    };
    let keys: Vec<Vec<u8>> = [
        r#"{"s":"click"}"#,
        r#"{"s":"Click"}"#,
        r#"{"s":"1"}"#,
        r#"{"s":1}"#,
        r#"{"s":1.0}"#,
        r#"{"s":true}"#,
        r#"{"s":""}"#,
    ]
    .iter()
    .map(|t| key_of(t))
    .collect();
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(key_of(r#"{"s":null}"#), key_of(r#"{"x":1}"#));
    assert_eq!(key_of(r#"{"s":"cl\u0069ck"}"#), key_of(r#"{"s":"click"}"#));
    // An array or object value, or a record that is not an object, gets no key.
    let mut parser = JsonRecordParser::new();
    for text in [r#"{"s":[1]}"#, r#"{"s":{}}"#, "[1]"] {
        let parsed = parser.parse(text.as_bytes()).unwrap();
        assert!(!reader.write_value_key(&parsed, &mut Vec::new()), "{text}");
    }
}
