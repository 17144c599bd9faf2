//! Property tests of prefix templates: any template that parses evaluates for any inputs
//! without panicking, and no key value can add, remove or empty a path segment, or form a `.`
//! or `..` segment.

use kinesink_partitioning::{
    MAX_EVALUATED_CHARS, PartitionKeys, PrefixInputs, PrefixKind, PrefixTemplate,
    TemplateErrorReason, Tz,
};
use proptest::prelude::*;

fn time_zone() -> impl Strategy<Value = Tz> {
    proptest::sample::select(vec![
        Tz::UTC,
        Tz::Asia__Tokyo,
        Tz::America__New_York,
        Tz::Australia__Lord_Howe,
        Tz::Pacific__Chatham,
    ])
}

/// Pieces of templates: valid expressions of every kind, broken ones, and literal text.
fn template_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z=_./-]{0,6}",
        ".{0,4}",
        "[yMdDHhmsSEa' /:.-]{1,8}".prop_map(|p| format!("!{{timestamp:{p}}}")),
        (0..3u8).prop_map(|i| format!("!{{partitionKeyFromQuery:k{i}}}")),
        Just("!{firehose:random-string}".to_owned()),
        Just("!{firehose:error-output-type}".to_owned()),
        Just("!{".to_owned()),
        Just("}".to_owned()),
        "[a-zA-Z]{0,12}".prop_map(|ns| format!("!{{{ns}:x}}")),
    ]
}

fn key_values() -> impl Strategy<Value = Vec<Option<String>>> {
    proptest::collection::vec(proptest::option::weighted(0.9, ".{1,12}"), 3)
}

/// Arrival times: mostly inside chrono's range (the full range, and within ~300 years of 1970),
/// some anywhere in i64 (those must fail cleanly).
fn arrival_ms() -> impl Strategy<Value = i64> {
    let chrono_range = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp_millis()
        ..=chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
    prop_oneof![
        1 => any::<i64>(),
        3 => chrono_range,
        3 => -10_000_000_000_000i64..10_000_000_000_000,
    ]
}

fn partition_keys(values: &[Option<String>]) -> PartitionKeys {
    let names = ["k0", "k1", "k2"];
    PartitionKeys::from_text_values(
        names
            .iter()
            .zip(values)
            .filter_map(|(n, v)| v.as_deref().map(|v| (*n, v))),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_template_that_parses_evaluates_for_any_inputs_without_panicking(
        pieces in proptest::collection::vec(template_piece(), 0..8),
        error_kind in any::<bool>(),
        values in key_values(),
        oldest_arrival_ms in arrival_ms(),
        error_output_type in proptest::option::of(".{0,20}"),
        seed in proptest::collection::vec(any::<u8>(), 0..40),
        tz in time_zone(),
    ) {
        let text = pieces.concat();
        let kind = if error_kind { PrefixKind::Error } else { PrefixKind::Data };
        if let Ok(template) = PrefixTemplate::parse(&text, kind) {
            let template = template.with_time_zone(tz);
            let keys = partition_keys(&values);
            let inputs = PrefixInputs {
                partition_keys: &keys,
                oldest_arrival_ms,
                error_output_type: error_output_type.as_deref(),
                random_string_seed: &seed,
            };
            let mut out = String::from("kept/");
            match template.evaluate_into(&inputs, &mut out) {
                Ok(()) => {
                    prop_assert!(out["kept/".len()..].chars().count() <= MAX_EVALUATED_CHARS);
                    prop_assert_eq!(&out["kept/".len()..], template.evaluate(&inputs).unwrap());
                }
                Err(_) => prop_assert_eq!(out, "kept/"),
            }
        }
    }

    #[test]
    fn without_a_timestamp_the_outcome_depends_on_the_keys_alone(
        pieces in proptest::collection::vec(template_piece(), 0..8),
        values in key_values(),
        times in proptest::array::uniform2(arrival_ms()),
        seeds in proptest::array::uniform2(proptest::collection::vec(any::<u8>(), 0..40)),
    ) {
        // What lets the buffers check an open partition's keys once instead of per record.
        let text = pieces.concat();
        let has_timestamp = text.contains("!{timestamp:");
        if let Ok(template) = PrefixTemplate::parse(&text, PrefixKind::Data) {
            let keys = partition_keys(&values);
            let outcome = |at: usize| {
                template.evaluate(&PrefixInputs {
                    partition_keys: &keys,
                    oldest_arrival_ms: times[at],
                    error_output_type: None,
                    random_string_seed: &seeds[at],
                })
            };
            let (first, second) = (outcome(0), outcome(1));
            if template.reads_arrival_time() {
                prop_assert!(has_timestamp || template.default_timestamp_appended());
            } else {
                prop_assert!(!has_timestamp, "{}", text);
                prop_assert_eq!(first.is_ok(), second.is_ok());
                prop_assert_eq!(first.map(|p| p.len()).ok(), second.map(|p| p.len()).ok());
            }
        }
    }

    #[test]
    fn no_key_value_adds_removes_or_empties_a_segment_or_forms_a_dot_segment(
        pieces in proptest::collection::vec(
            prop_oneof![
                "[a-z.=_/]{0,4}",
                (0..3u8).prop_map(|i| format!("!{{partitionKeyFromQuery:k{i}}}")),
                Just("!{timestamp:yyyy/MM/dd}".to_owned()),
            ],
            1..10,
        ),
        values in proptest::collection::vec(
            prop_oneof![".{1,10}", "[./%]{1,4}", Just(".".to_owned()), Just("..".to_owned()), Just("/".to_owned())],
            3,
        ),
        oldest_arrival_ms in 0i64..4_102_444_800_000,
    ) {
        let text = pieces.concat();
        let template = match PrefixTemplate::parse(&text, PrefixKind::Data) {
            Ok(template) => template,
            Err(e) => {
                // Refused only for a segment of the template itself: an absolute prefix or a
                // `.`/`..` segment written in it (what the values below cannot form).
                prop_assert!(
                    matches!(e.reason, TemplateErrorReason::AbsolutePrefix | TemplateErrorReason::DotSegment(_)),
                    "{} refused: {}", text, e
                );
                prop_assert!(
                    text.starts_with('/') || text.split('/').any(|s| s == "." || s == ".."),
                    "{} refused for a segment it does not have: {}", text, e
                );
                return Ok(());
            }
        };
        let evaluate = |values: &[&str]| {
            let keys = PartitionKeys::from_text_values(["k0", "k1", "k2"].into_iter().zip(values.iter().copied())).unwrap();
            template.evaluate(&PrefixInputs {
                partition_keys: &keys,
                oldest_arrival_ms,
                error_output_type: None,
                random_string_seed: b"",
            })
        };
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        // The same template with harmless values: its segments come from the template alone.
        let (Ok(actual), Ok(baseline)) = (evaluate(&values), evaluate(&["v", "v", "v"])) else {
            // Only the 512-character limit can refuse these inputs.
            return Ok(());
        };
        // Accepted templates stay inside the destination whatever the values.
        prop_assert!(!actual.starts_with('/'), "{} made {}", text, actual);
        prop_assert!(!actual.split('/').any(|s| s == "." || s == ".."), "{} made {}", text, actual);
        let actual: Vec<&str> = actual.split('/').collect();
        let baseline: Vec<&str> = baseline.split('/').collect();
        prop_assert_eq!(actual.len(), baseline.len(), "values {:?} changed the number of segments", values);
        for (a, b) in actual.iter().zip(&baseline) {
            if matches!(*a, "" | "." | "..") {
                prop_assert_eq!(a, b, "values {:?} made the segment {:?}", values, a);
            }
        }
    }

    #[test]
    fn templates_over_1024_characters_are_refused_at_column_1025(extra in 1usize..50) {
        let err = PrefixTemplate::parse(&"a".repeat(1024 + extra), PrefixKind::Data).unwrap_err();
        prop_assert_eq!(err.column, 1025);
        prop_assert_eq!(err.reason, TemplateErrorReason::TooLong(1024 + extra));
    }

    #[test]
    fn every_timestamp_of_a_prefix_uses_the_same_instant(
        // Years -9999..=9999: every instant evaluates (drawing any i64 skipped ~99.9% of cases
        // outside chrono's range).
        ms in -377_705_116_800_000i64..=253_402_300_799_999,
        tz in time_zone(),
    ) {
        let template = PrefixTemplate::parse("!{timestamp:yyyyMMddHHmmssSSS}/!{timestamp:yyyyMMddHHmmssSSS}", PrefixKind::Data)
            .unwrap()
            .with_time_zone(tz);
        let keys = PartitionKeys::empty();
        let out = template.evaluate(&PrefixInputs { partition_keys: &keys, oldest_arrival_ms: ms, error_output_type: None, random_string_seed: b"" });
        prop_assert!(out.is_ok(), "{} ms in {}: {:?}", ms, tz, out);
        let out = out.unwrap();
        let (a, b) = out.split_once('/').unwrap();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn dot_values_side_by_side_stay_inside_their_segment() {
    let template = PrefixTemplate::parse(
        "a/!{partitionKeyFromQuery:k0}!{partitionKeyFromQuery:k1}/!{partitionKeyFromQuery:k2}/",
        PrefixKind::Data,
    )
    .unwrap();
    let keys =
        PartitionKeys::from_text_values([("k0", "."), ("k1", "."), ("k2", "../..")]).unwrap();
    let out = template
        .evaluate(&PrefixInputs {
            partition_keys: &keys,
            oldest_arrival_ms: 0,
            error_output_type: None,
            random_string_seed: b"",
        })
        .unwrap();
    assert_eq!(out, "a/%2E%2E/%2E.%2F../");
}

#[test]
fn a_missing_key_or_error_output_type_is_an_evaluation_error_with_kinesinks_code() {
    let keys = PartitionKeys::empty();
    let inputs = PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: 0,
        error_output_type: None,
        random_string_seed: b"",
    };
    let data =
        PrefixTemplate::parse("c=!{partitionKeyFromQuery:country}/", PrefixKind::Data).unwrap();
    let err = data.evaluate(&inputs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the prefix uses partition key `country`, which the metadata extraction query did not output"
    );
    assert_eq!(
        err.error_code(),
        "DynamicPartitioning.PrefixEvaluationFailed"
    );
    let error = PrefixTemplate::parse("!{firehose:error-output-type}/", PrefixKind::Error).unwrap();
    assert!(error.evaluate(&inputs).is_err());
    assert!(
        error
            .evaluate(&PrefixInputs {
                error_output_type: Some(""),
                ..inputs
            })
            .is_err()
    );
}

#[test]
fn an_instant_outside_chronos_range_is_an_error_not_a_panic() {
    let keys = PartitionKeys::empty();
    let err = PrefixTemplate::firehose_default()
        .evaluate(&PrefixInputs {
            partition_keys: &keys,
            oldest_arrival_ms: i64::MAX,
            error_output_type: None,
            random_string_seed: b"",
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "timestamp {} ms since the epoch is out of the representable range",
            i64::MAX
        )
    );
}

#[test]
fn parse_errors_name_the_column_and_what_is_wrong() {
    let cases: [(&str, &str); 6] = [
        (
            "a/!{timestamp:yyyy-QQ}/",
            "column 20: timestamp pattern: pattern letter 'Q' is not supported",
        ),
        (
            "a/!{timestmp:yyyy}/",
            "column 5: unknown namespace `timestmp`",
        ),
        (
            "a/!{firehose:random}/",
            "column 14: unknown `firehose` value `random`",
        ),
        (
            "a/!{partitionKeyFromQuery:}/",
            "column 3: the partition key name is empty",
        ),
        (
            "a/!{timestamp:}/",
            "column 3: the timestamp pattern is empty",
        ),
        (
            "é/!{timestamp:yyyy",
            "column 3: `!{` opens an expression that is never closed",
        ),
    ];
    for (text, expected) in cases {
        let err = PrefixTemplate::parse(text, PrefixKind::Data)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(expected), "{text}: {err}");
    }
}

#[test]
fn the_default_timestamp_is_appended_only_without_timestamp_and_partition_keys() {
    let appended = |text: &str| {
        PrefixTemplate::parse(text, PrefixKind::Data)
            .unwrap()
            .default_timestamp_appended()
    };
    assert!(appended(""));
    assert!(appended("logs/"));
    assert!(appended("r/!{firehose:random-string}/"));
    assert!(!appended("t/!{timestamp:yyyy}/"));
    assert!(!appended("k=!{partitionKeyFromQuery:k}/"));
    assert!(
        !PrefixTemplate::parse("e/!{firehose:error-output-type}/", PrefixKind::Error)
            .unwrap()
            .default_timestamp_appended()
    );
    assert_eq!(
        PrefixTemplate::parse("logs/", PrefixKind::Data)
            .unwrap()
            .to_string(),
        "logs/!{timestamp:yyyy/MM/dd/HH/}"
    );
    assert_eq!(
        PrefixTemplate::firehose_default(),
        PrefixTemplate::parse("", PrefixKind::Data).unwrap()
    );
}

#[test]
fn partition_key_names_are_listed_once_in_order_of_first_use() {
    let t = PrefixTemplate::parse(
        "!{partitionKeyFromQuery:b}/!{partitionKeyFromQuery:a}/!{partitionKeyFromQuery:b}/",
        PrefixKind::Data,
    )
    .unwrap();
    assert_eq!(t.partition_key_names(), ["b".to_owned(), "a".to_owned()]);
}
