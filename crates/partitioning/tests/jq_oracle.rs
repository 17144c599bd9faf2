//! Partition key values as Firehose writes them. Firehose runs the metadata extraction query
//! with jq 1.6, which holds every number as a double: a stream moved from Firehose must land
//! under the same prefixes, so jq 1.6 itself (Debian's `jq` package, `/usr/bin/jq`) is the
//! oracle here. Each property case sends a batch of records through one `jq -c` process and
//! compares what jq prints for each key with kinesink's key, on every path kinesink has: the
//! direct path on a parsed value, the direct path on the bytes, and jaq.
//!
//! The test fails (never skips) when `jq` is missing or is not jq 1.6: `scripts/local-aws`
//! installs it when it can (`apt-get install jq`).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kinesink_partitioning::{FailureReason, MetadataQuery, PartitionKeys, PartitioningFailure};
use proptest::prelude::*;

/// Runs `jq -c program` over `inputs` (one JSON text per line) and returns its output lines.
fn jq_lines(program: &str, inputs: &[String]) -> Vec<String> {
    static VERSION: OnceLock<String> = OnceLock::new();
    let version =
        VERSION.get_or_init(|| {
            let out = Command::new("jq").arg("--version").output().unwrap_or_else(|e| {
            panic!(
                "this test needs jq 1.6 (Debian's `jq` package, Firehose's jq) as its oracle, \
                 and `jq` cannot run: {e}; install it with `apt-get install jq` \
                 (scripts/local-aws does when run as root)"
            )
        });
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        });
    assert_eq!(
        version, "jq-1.6",
        "the oracle must be jq 1.6 (Firehose's jq; later versions print numbers differently)"
    );
    let mut child = Command::new("jq")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jq starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let text = inputs.join("\n");
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("jq runs");
    writer
        .join()
        .expect("writer thread")
        .expect("jq reads its input");
    assert!(
        out.status.success(),
        "jq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .expect("jq prints UTF-8")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), inputs.len(), "one output line per record");
    lines
}

/// What jq 1.6 printed for key `k` (`{"k":<value>}`), as the keys Firehose would use: the
/// string's text, or the printed number or boolean; `None` for null.
fn expected_keys(line: &str) -> Option<Result<PartitionKeys, PartitioningFailure>> {
    let printed = line
        .strip_prefix("{\"k\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("unexpected jq output {line}"));
    if printed == "null" {
        return None;
    }
    let text = if printed.starts_with('"') {
        serde_json::from_str::<String>(printed).expect("jq prints JSON strings")
    } else {
        printed.to_owned()
    };
    Some(PartitionKeys::from_text_values([("k", text.as_str())]))
}

/// Compares kinesink's keys with jq's output for one record.
fn agrees(
    line: &str,
    got: &Result<PartitionKeys, PartitioningFailure>,
) -> Result<(), TestCaseError> {
    match expected_keys(line) {
        Some(expected) => prop_assert_eq!(got, &expected, "jq printed {}", line),
        None => prop_assert!(
            matches!(
                got.as_ref().map_err(PartitioningFailure::reason),
                Err(FailureReason::NullOrEmpty { null: true, .. })
            ),
            "jq printed {}, kinesink {:?}",
            line,
            got
        ),
    }
    Ok(())
}

/// JSON numbers of every kind, as text: integers of every size, decimals, exponents, negative
/// zero, huge and tiny magnitudes (within a double's range: serde_json refuses the rest).
fn json_number() -> impl Strategy<Value = String> {
    let finite = |text: &String| text.parse::<f64>().is_ok_and(f64::is_finite);
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        (-100_000i64..100_000).prop_map(|i| i.to_string()),
        "-?[1-9][0-9]{0,39}",
        "-?[1-9]0{10,25}",
        "-?(0|[1-9][0-9]{0,20})\\.[0-9]{1,20}",
        "-?(0|[1-9][0-9]{0,3})\\.0{1,4}",
        (
            "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?[eE][+-]?",
            0u32..340
        )
            .prop_map(|(mantissa, exponent)| format!("{mantissa}{exponent}"))
            .prop_filter("within a double's range", finite),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        proptest::sample::select(
            &[
                "0",
                "-0",
                "-0.0",
                "0.0",
                "0e0",
                "-0e-5",
                "1.0",
                "1e3",
                "1E+3",
                "1000.0",
                "1e15",
                "1e16",
                "1e-4",
                "1e-5",
                "0.0001",
                "0.00001",
                "5e-324",
                "2.2250738585072014e-308",
                "1.7976931348623157e308",
                "9007199254740992",
                "9007199254740993",
                "-9007199254740993",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775808",
                "1e-400",
                "123456789012345678901234567890",
                "0.1",
                "0.30000000000000004",
            ][..]
        )
        .prop_map(str::to_owned),
    ]
}

/// Any JSON scalar a key can hold, as text.
fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => json_number(),
        2 => any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => "[a-z0-9 ./%\"\\\\é]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => Just("true".to_owned()),
        1 => Just("false".to_owned()),
        1 => Just("null".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn key_values_are_what_jq_1_6_prints_on_every_path(
        values in proptest::collection::vec(json_scalar(), 1..128),
    ) {
        let records: Vec<String> = values.iter().map(|v| format!("{{\"v\": {v}}}")).collect();
        let printed = jq_lines("{k: .v}", &records);
        let direct = MetadataQuery::compile("{k: .v}").unwrap();
        prop_assert!(direct.runs_without_jaq());
        let with_jaq = MetadataQuery::compile("{k: (.v | .)}").unwrap();
        prop_assert!(!with_jaq.runs_without_jaq());
        for (record, line) in records.iter().zip(&printed) {
            let parsed: serde_json::Value = serde_json::from_str(record)
                .unwrap_or_else(|e| panic!("{record} is JSON: {e}"));
            agrees(line, &direct.extract(&parsed)).map_err(|e| TestCaseError::fail(format!("direct, {record}: {e}")))?;
            agrees(line, &direct.extract_from_bytes(record.as_bytes())).map_err(|e| TestCaseError::fail(format!("bytes, {record}: {e}")))?;
            agrees(line, &with_jaq.extract_from_bytes(record.as_bytes())).map_err(|e| TestCaseError::fail(format!("jaq, {record}: {e}")))?;
        }
    }
}

#[test]
fn numbers_written_in_the_query_and_computed_by_it_are_what_jq_1_6_prints() {
    // Decimal and big-integer literals and arithmetic, each through jaq. (Not infinity: jq 1.6
    // prints an overflow as the largest double but fails a division by zero, where jaq gives
    // infinity; kinesink fails the record for both, see `jq_number_text`.)
    let values = [
        "1.0",
        "1e3",
        "100000000000000000000",
        "18446744073709551615",
        "(.v / 3)",
        "(.v - 1.5)",
        "0.1 + 0.2",
        "(.v * 1e300)",
        "(-0.0)",
        "(.v | -.)",
    ];
    let records = ["{\"v\": 1}".to_owned(), "{\"v\": 7}".to_owned()];
    for value in values {
        let program = format!("{{k: ({value})}}");
        let printed = jq_lines(&program, &records);
        let query = MetadataQuery::compile(&program).unwrap();
        for (record, line) in records.iter().zip(&printed) {
            let got = query.extract_from_bytes(record.as_bytes());
            if let Err(e) = agrees(line, &got) {
                panic!("{program} on {record}: {e}");
            }
        }
    }
}

#[test]
fn firehose_examples_from_the_issue_print_as_jq_1_6() {
    let query = MetadataQuery::compile("{k: .v}").unwrap();
    for (number, expected) in [
        ("1.0", "1"),
        ("1e3", "1000"),
        ("18446744073709551615", "18446744073709552000"),
    ] {
        let record = format!("{{\"v\": {number}}}");
        let keys = query.extract_from_bytes(record.as_bytes()).unwrap();
        assert_eq!(keys.get("k"), Some(expected), "{record}");
    }
}
