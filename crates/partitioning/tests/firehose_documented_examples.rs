//! Firehose's documented examples, as a table: configured prefixes (and for dynamic
//! partitioning, the record and the query), the arrival time, and the expected evaluated
//! prefixes or the documented error.
//!
//! Sources (Amazon Data Firehose Developer Guide):
//! - "Custom prefixes for Amazon S3 objects" (`s3-prefixes`): the `firehose` namespace table,
//!   the semantic rules, and the "Example prefixes" table, evaluated "at 10:30 AM UTC on Aug
//!   27, 2018";
//! - "Dynamic partitioning" (`dynamic-partitioning`): the sample record, its jq expressions and
//!   the resulting object key;
//! - "Configure Amazon S3 object name format": the `CustomTimeZone` example (`Asia/Tokyo`).
//!
//! Every expected value below was worked out by hand from those pages. Where a page's printed
//! output contradicts its own header or rules, the row says so and follows the rule; the
//! contradictions are listed in the crate README.

use chrono::{TimeZone, Utc};
use kinesink_partitioning::{
    MetadataQuery, OutputPrefixes, OutputPrefixesError, PartitionKeys, PrefixInputs, PrefixKind,
    PrefixTemplate, TemplateErrorReason, Tz,
};

/// "at 10:30 AM UTC on Aug 27, 2018", the instant of the "Example prefixes" table.
fn aug_27_2018_10_30_utc() -> i64 {
    Utc.with_ymd_and_hms(2018, 8, 27, 10, 30, 0)
        .unwrap()
        .timestamp_millis()
}

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_millis()
}

struct Evaluated {
    data: String,
    error: String,
}

fn evaluate(prefixes: &OutputPrefixes, keys: &PartitionKeys, arrival_ms: i64) -> Evaluated {
    let inputs = |error_output_type| PrefixInputs {
        partition_keys: keys,
        oldest_arrival_ms: arrival_ms,
        error_output_type,
        random_string_seed:
            b"shardId-000000000000/49590338271490256608559692538361571095921575989136588898/0",
    };
    Evaluated {
        data: prefixes.data().evaluate(&inputs(None)).unwrap(),
        error: prefixes
            .error()
            .evaluate(&inputs(Some("processing-failed")))
            .unwrap(),
    }
}

/// `rand=` followed by Firehose's 11-character random string (`5abf82daaa5` in the docs).
fn split_random_string<'a>(evaluated: &'a str, before: &str) -> &'a str {
    let rest = evaluated
        .strip_prefix(before)
        .unwrap_or_else(|| panic!("{evaluated} does not start with {before}"));
    assert_eq!(rest.len(), 11, "{evaluated}");
    assert!(
        rest.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{evaluated}"
    );
    rest
}

#[test]
fn the_example_prefixes_table_evaluates_as_documented() {
    let at = aug_27_2018_10_30_utc();
    let keys = PartitionKeys::empty();

    // (Prefix, ErrorOutputPrefix, expected Prefix, expected ErrorOutputPrefix)
    let rows: [(Option<&str>, Option<&str>, &str, &str); 3] = [
        // Row 1. The page prints "2018/08/27/10"; the default expression it documents is
        // `!{timestamp:yyyy/MM/dd/HH/}`, which ends with "/". The error prefix has no
        // timestamp and none is appended: the rule is for the `Prefix` field only.
        (
            None,
            Some("myFirehoseFailures/!{firehose:error-output-type}/"),
            "2018/08/27/10/",
            "myFirehoseFailures/processing-failed/",
        ),
        // Row 4, at the table's instant. The page prints year=2018/month=07/day=06/hour=23 for
        // this row, which is not Aug 27 10:30 (see the next test for that instant).
        (
            Some(
                "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
            ),
            Some(
                "myErrorPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/!{firehose:error-output-type}",
            ),
            "myPrefix/year=2018/month=08/day=27/hour=10/",
            "myErrorPrefix/year=2018/month=08/day=27/hour=10/processing-failed",
        ),
        // Row 5. The page prints `myFirehosePrefix/2018/08/27/` and
        // `myFirehosePrefix/processing-failed/2018/08/27/`: a "/" the user did not write and no
        // hour, against its own rule ("appends the expression !{timestamp:yyyy/MM/dd/HH/} to the
        // value in the Prefix field"). kinesink follows the rule for both prefixes.
        (
            Some("myFirehosePrefix"),
            None,
            "myFirehosePrefix2018/08/27/10/",
            "myFirehosePrefixprocessing-failed/2018/08/27/10/",
        ),
    ];
    for (prefix, error_prefix, expected_data, expected_error) in rows {
        let prefixes = OutputPrefixes::parse(prefix, error_prefix).unwrap();
        let evaluated = evaluate(&prefixes, &keys, at);
        assert_eq!(evaluated.data, expected_data, "Prefix {prefix:?}");
        assert_eq!(
            evaluated.error, expected_error,
            "ErrorOutputPrefix {error_prefix:?}"
        );
    }
}

#[test]
fn the_hive_style_row_prints_exactly_the_documented_keys_at_the_instant_they_show() {
    // Row 4 as printed: "myPrefix/year=2018/month=07/day=06/hour=23/", i.e. 2018-07-06 23:xx UTC.
    let prefixes = OutputPrefixes::parse(
        Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"),
        Some("myErrorPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/!{firehose:error-output-type}"),
    )
    .unwrap();
    let evaluated = evaluate(
        &prefixes,
        &PartitionKeys::empty(),
        ms(2018, 7, 6, 23, 10, 0),
    );
    assert_eq!(
        evaluated.data,
        "myPrefix/year=2018/month=07/day=06/hour=23/"
    );
    assert_eq!(
        evaluated.error,
        "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed"
    );
}

#[test]
fn the_random_string_row_has_an_11_character_string_and_one_instant_for_every_timestamp() {
    // Row 3. The page prints "rand=5abf82daaa5" (random) and ".../anyMonth/10" for
    // `!{timestamp:dd}`; dd on Aug 27 is 27 (10 is the hour).
    let prefixes = OutputPrefixes::parse(
        Some("myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}"),
        Some("myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}"),
    )
    .unwrap();
    assert!(!prefixes.data().default_timestamp_appended());
    let evaluated = evaluate(&prefixes, &PartitionKeys::empty(), aug_27_2018_10_30_utc());
    split_random_string(
        &evaluated.data,
        "myFirehose/DeliveredYear=2018/anyMonth/rand=",
    );
    assert_eq!(
        evaluated.error,
        "myFirehoseFailures/processing-failed/2018/anyMonth/27"
    );
}

#[test]
fn the_firehose_namespace_table_examples_evaluate_as_documented() {
    // error-output-type: "myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}"
    // → "myPrefix/result=processing-failed/2018/08/03".
    let error = PrefixTemplate::parse(
        "myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}",
        PrefixKind::Error,
    )
    .unwrap();
    let keys = PartitionKeys::empty();
    let inputs = PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: ms(2018, 8, 3, 12, 0, 0),
        error_output_type: Some("processing-failed"),
        random_string_seed: b"seed",
    };
    assert_eq!(
        error.evaluate(&inputs).unwrap(),
        "myPrefix/result=processing-failed/2018/08/03"
    );

    // random-string: "myPrefix/!{firehose:random-string}/" → "myPrefix/046b6c7f-0b/" (11
    // characters). The data prefix has no timestamp: the default one is appended after it.
    let data =
        PrefixTemplate::parse("myPrefix/!{firehose:random-string}/", PrefixKind::Data).unwrap();
    let evaluated = data
        .evaluate(&PrefixInputs {
            error_output_type: None,
            ..inputs
        })
        .unwrap();
    let (random, time) = evaluated["myPrefix/".len()..].split_at(11);
    split_random_string(random, "");
    assert_eq!(time, "/2018/08/03/12/");

    // "every instance evaluates to a new random string"; the same object (seed) gives the same
    // strings again.
    let two = PrefixTemplate::parse(
        "!{firehose:random-string}/!{firehose:random-string}/",
        PrefixKind::Data,
    )
    .unwrap();
    let once = two.evaluate(&inputs).unwrap();
    assert_ne!(once[..11], once[12..23]);
    assert_eq!(once, two.evaluate(&inputs).unwrap());

    // timestamp: "in the year 2018, the expression !{timestamp:yyyy} evaluates to 2018".
    let year = PrefixTemplate::parse("!{timestamp:yyyy}", PrefixKind::Data).unwrap();
    assert_eq!(year.evaluate(&inputs).unwrap(), "2018");
}

#[test]
fn quoted_text_in_a_timestamp_is_taken_literally() {
    // Semantic rule: "any string escaped with single quotes in the value field is taken literally".
    let t = PrefixTemplate::parse(
        "dt=!{timestamp:yyyy'-'MM'-'dd}/h=!{timestamp:HH}/",
        PrefixKind::Data,
    )
    .unwrap();
    let keys = PartitionKeys::empty();
    let inputs = PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: aug_27_2018_10_30_utc(),
        error_output_type: None,
        random_string_seed: b"",
    };
    assert_eq!(t.evaluate(&inputs).unwrap(), "dt=2018-08-27/h=10/");
}

#[test]
fn a_custom_time_zone_moves_the_date_and_hour() {
    // CustomTimeZone "Asia/Tokyo" (UTC+9, no daylight saving): 2018-08-27 20:30 UTC is
    // 2018-08-28 05:30 in Tokyo.
    let t = PrefixTemplate::firehose_default().with_time_zone(Tz::Asia__Tokyo);
    let keys = PartitionKeys::empty();
    let inputs = PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: ms(2018, 8, 27, 20, 30, 0),
        error_output_type: None,
        random_string_seed: b"",
    };
    assert_eq!(t.evaluate(&inputs).unwrap(), "2018/08/28/05/");
}

#[test]
fn the_dynamic_partitioning_example_record_lands_under_the_documented_key() {
    // The page's sample record, its jq expressions per key, and its prefix (shown wrapped over
    // lines with spaces after each "/"; the spaces are line wrapping, not part of the prefix).
    let record = br#"{
        "type": { "device": "mobile", "event": "user_clicked_submit_button" },
        "customer_id": "1234567890",
        "event_timestamp": 1565382027,
        "region": "sample_region"
    }"#;
    let query = MetadataQuery::compile(
        r#"{customer_id: .customer_id, device: .type.device,
            year: .event_timestamp| strftime("%Y"), month: .event_timestamp| strftime("%m"),
            day: .event_timestamp| strftime("%d"), hour: .event_timestamp| strftime("%H")}"#,
    )
    .unwrap();
    let prefix = PrefixTemplate::parse(
        "customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/year=!{partitionKeyFromQuery:year}/month=!{partitionKeyFromQuery:month}/day=!{partitionKeyFromQuery:day}/hour=!{partitionKeyFromQuery:hour}/",
        PrefixKind::Data,
    )
    .unwrap();
    query.check_template(&prefix).unwrap();
    // The documented object key is
    // s3://my-logs-prod/customer_id=1234567890/device=mobile/year=2019/month=08/day=09/hour=20/my-delivery-stream-2019-08-09-23-55-09-...
    // (1565382027 s after the epoch is 2019-08-09T20:20:27Z): no time prefix is appended to a
    // prefix with partition keys.
    assert!(!prefix.default_timestamp_appended());
    let keys = query.extract_from_bytes(record).unwrap();
    let evaluated = prefix
        .evaluate(&PrefixInputs {
            partition_keys: &keys,
            oldest_arrival_ms: ms(2019, 8, 9, 23, 55, 9),
            error_output_type: None,
            random_string_seed: b"",
        })
        .unwrap();
    assert_eq!(
        evaluated,
        "customer_id=1234567890/device=mobile/year=2019/month=08/day=09/hour=20/"
    );
}

#[test]
fn a_null_or_empty_key_fails_with_firehoses_message_and_code() {
    // Firehose's error for such records: DynamicPartitioning.MetadataExtractionFailed,
    // "partitionKeys values must not be null or empty".
    let query = MetadataQuery::compile("{owner: .owner, logGroup: .logGroup}").unwrap();
    for record in [
        &br#"{"owner": "", "logGroup": "g"}"#[..],
        br#"{"logGroup": "g"}"#,
        br#"{"owner": null, "logGroup": "g"}"#,
    ] {
        let failure = query.extract_from_bytes(record).unwrap_err();
        assert_eq!(
            failure.error_code(),
            "DynamicPartitioning.MetadataExtractionFailed"
        );
        assert!(
            failure
                .to_string()
                .starts_with("partitionKeys values must not be null or empty"),
            "{failure}"
        );
    }
    let failure = query.extract_from_bytes(b"not json").unwrap_err();
    assert_eq!(
        failure.error_code(),
        "DynamicPartitioning.MetadataExtractionFailed"
    );
    assert!(
        failure.to_string().starts_with("Non JSON record provided"),
        "{failure}"
    );
}

#[test]
fn the_documented_configuration_errors_are_refused() {
    // Row 2 of "Example prefixes": "Invalid input: ErrorOutputPrefix can't be null when Prefix
    // contains expressions".
    assert_eq!(
        OutputPrefixes::parse(Some("!{timestamp:yyyy/MM/dd}"), None),
        Err(OutputPrefixesError::ErrorOutputPrefixRequired)
    );
    assert_eq!(
        OutputPrefixesError::ErrorOutputPrefixRequired.to_string(),
        "ErrorOutputPrefix can't be null when Prefix contains expressions"
    );

    // (template, kind, column, reason) for each semantic rule.
    let refused: [(&str, PrefixKind, usize, TemplateErrorReason); 7] = [
        // "If you specify an expression for ErrorOutputPrefix, you must include at least one
        // instance of !{firehose:error-output-type}."
        (
            "errors/!{timestamp:yyyy}/",
            PrefixKind::Error,
            8,
            TemplateErrorReason::ErrorOutputTypeMissing,
        ),
        // "Prefix can't contain !{firehose:error-output-type}."
        (
            "x/!{firehose:error-output-type}/",
            PrefixKind::Data,
            3,
            TemplateErrorReason::ErrorOutputTypeInDataPrefix,
        ),
        // "You cannot use partitionKeyFromLambda and partitionKeyFromQuery namespaces when
        // creating ErrorOutputPrefix expressions."
        (
            "e/!{firehose:error-output-type}/!{partitionKeyFromQuery:customer_id}/",
            PrefixKind::Error,
            33,
            TemplateErrorReason::PartitionKeyInErrorPrefix("partitionKeyFromQuery".into()),
        ),
        (
            "!{firehose:error-output-type}!{partitionKeyFromLambda:k}",
            PrefixKind::Error,
            30,
            TemplateErrorReason::PartitionKeyInErrorPrefix("partitionKeyFromLambda".into()),
        ),
        // "The sequence !{ can only appear in !{namespace:value} expressions."
        (
            "a/!{b/",
            PrefixKind::Data,
            3,
            TemplateErrorReason::Unterminated,
        ),
        (
            "a/!{oops}/",
            PrefixKind::Data,
            3,
            TemplateErrorReason::MissingColon,
        ),
        // Firehose: keys come from the query or from Lambda, never both in one prefix.
        (
            "q=!{partitionKeyFromQuery:a}/l=!{partitionKeyFromLambda:customerId}/",
            PrefixKind::Data,
            32,
            TemplateErrorReason::MixedKeySources,
        ),
    ];
    for (text, kind, column, reason) in refused {
        let err = PrefixTemplate::parse(text, kind).unwrap_err();
        assert_eq!(
            (err.column, &err.reason),
            (column, &reason),
            "{text}: {err}"
        );
    }
}

#[test]
fn an_evaluated_prefix_longer_than_512_characters_is_an_error() {
    // "Neither Prefix nor ErrorOutputPrefix can be greater than 512 characters after they're
    // evaluated." 500 literal characters + "2018/08/27/10/" (14) = 514.
    let long = PrefixTemplate::parse(&"a".repeat(500), PrefixKind::Data).unwrap();
    let keys = PartitionKeys::empty();
    let inputs = PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: aug_27_2018_10_30_utc(),
        error_output_type: None,
        random_string_seed: b"",
    };
    let err = long.evaluate(&inputs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the evaluated prefix is 514 characters long; at most 512 are allowed"
    );
    // 498 + 14 = 512 is accepted.
    let fits = PrefixTemplate::parse(&"a".repeat(498), PrefixKind::Data).unwrap();
    assert_eq!(fits.evaluate(&inputs).unwrap().chars().count(), 512);
}

#[test]
fn partition_keys_from_lambda_name_their_keys_and_evaluate_like_query_keys() {
    // Firehose's documented Lambda example: customer_id=!{partitionKeyFromLambda:customerId}/.
    let t = PrefixTemplate::parse(
        "customer_id=!{partitionKeyFromLambda:customerId}/!{partitionKeyFromLambda:customerId}/",
        PrefixKind::Data,
    )
    .unwrap();
    assert!(t.keys_from_lambda());
    assert_eq!(t.partition_key_names(), ["customerId".to_owned()]);
    assert!(
        !t.default_timestamp_appended(),
        "dynamic partitioning: no time suffix"
    );
    let keys =
        kinesink_partitioning::PartitionKeys::from_text_values([("customerId", "c-7")]).unwrap();
    let inputs = PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: 0,
        error_output_type: None,
        random_string_seed: b"",
    };
    assert_eq!(t.evaluate(&inputs).unwrap(), "customer_id=c-7/c-7/");
    let query = PrefixTemplate::parse("k=!{partitionKeyFromQuery:k}/", PrefixKind::Data).unwrap();
    assert!(!query.keys_from_lambda());
}
