//! Tests of what configuration validation refuses and how it words it (issue 22, point 4):
//! upper bounds on every duration and count, type errors worded for users, prefixes that would
//! leave the destination, partition queries that never output an object, and the
//! conditional-writes switch.

use std::collections::BTreeMap;
use std::path::Path;

use super::load;
use super::tests::{MINIMAL, load_str};

fn example() -> toml::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kinesink.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `section.key` of every integer in the example configuration (every key is in it).
fn integer_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for (section, value) in example() {
        if let toml::Value::Table(table) = value {
            for (key, value) in table {
                if value.is_integer() {
                    keys.push(format!("{section}.{key}"));
                }
            }
        }
    }
    keys
}

fn env_var(key: &str) -> String {
    let (section, key) = key.split_once('.').unwrap();
    format!(
        "KINESINK_{}__{}",
        section.to_ascii_uppercase(),
        key.to_ascii_uppercase()
    )
}

#[test]
fn every_duration_and_count_has_an_upper_bound_named_with_its_key_and_range() {
    let keys = integer_keys();
    assert!(
        keys.len() >= 10
            && keys.contains(&"leases.failover_time_ms".to_owned())
            && keys.contains(&"source.idle_time_ms".to_owned()),
        "{keys:?}"
    );
    for key in &keys {
        for huge in [i64::MAX.to_string(), u64::MAX.to_string()] {
            let e = load_str(MINIMAL, &[(&env_var(key), &huge)])
                .err()
                .unwrap_or_else(|| panic!("{key} = {huge} was accepted"))
                .to_string();
            assert!(
                e.contains(&format!("`{key}`")) && e.contains("..="),
                "{key} = {huge}: {e}"
            );
        }
        // The same in the file, as a TOML integer.
        let (section, name) = key.split_once('.').unwrap();
        let text = if MINIMAL.contains(&format!("[{section}]")) {
            MINIMAL.replace(
                &format!("[{section}]\n"),
                &format!("[{section}]\n{name} = {}\n", i64::MAX),
            )
        } else {
            format!("{MINIMAL}[{section}]\n{name} = {}\n", i64::MAX)
        };
        let e = load_str(&text, &[]).err().unwrap().to_string();
        assert!(e.contains(&format!("`{key}`")) && e.contains("..="), "{e}");
    }
}

#[test]
fn every_duration_and_count_outside_its_range_is_refused_naming_the_value_given() {
    // 2000000000 fits every integer type of the configuration and lies above every range.
    for key in integer_keys() {
        let e = load_str(MINIMAL, &[(&env_var(&key), "2000000000")])
            .err()
            .unwrap_or_else(|| panic!("{key} = 2000000000 was accepted"))
            .to_string();
        assert!(
            e.starts_with(&format!("config key `{key}`: must be "))
                && e.ends_with(", got 2000000000"),
            "{key}: {e}"
        );
    }
}

#[test]
fn failover_and_idle_time_name_their_allowed_range_and_the_value_given() {
    let e = load_str(MINIMAL, &[("KINESINK_LEASES__FAILOVER_TIME_MS", "600001")])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "config key `leases.failover_time_ms`: must be 1000..=600000 (milliseconds), got 600001"
    );
    let e = load_str(MINIMAL, &[("KINESINK_SOURCE__IDLE_TIME_MS", "60001")])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "config key `source.idle_time_ms`: must be 0..=60000 (milliseconds), got 60001"
    );
    let s = load_str(
        MINIMAL,
        &[
            ("KINESINK_LEASES__FAILOVER_TIME_MS", "600000"),
            ("KINESINK_SOURCE__IDLE_TIME_MS", "0"),
        ],
    )
    .unwrap();
    assert_eq!(s.worker.failover_time.as_millis(), 600_000);
    assert_eq!(s.worker.reader.idle.as_millis(), 0);
}

#[test]
fn type_errors_name_the_key_the_expected_type_and_what_was_given_without_serde_internals() {
    for (text, env, expected) in [
        (
            MINIMAL.replace("[source]\n", "[source]\nmax_records = \"lots\"\n"),
            None,
            "config key `source.max_records`: expected a whole number 0..=4294967295, got the text \"lots\"",
        ),
        (
            MINIMAL.to_owned(),
            Some(("KINESINK_SOURCE__MAX_RECORDS", "lots")),
            "config key `source.max_records`: expected a whole number 0..=4294967295, got the text \"lots\"",
        ),
        (
            MINIMAL.replace("[source]\n", "[source]\nmax_records = -5\n"),
            None,
            "config key `source.max_records`: expected a whole number 0..=4294967295, got the number -5",
        ),
        (
            MINIMAL.replace("[source]\n", "[source]\nidle_time_ms = 1.5\n"),
            None,
            "config key `source.idle_time_ms`: expected a whole number 0..=18446744073709551615, got the number 1.5",
        ),
        (
            MINIMAL.replace("[source]\n", "[source]\nmax_records = true\n"),
            None,
            "config key `source.max_records`: expected a whole number 0..=4294967295, got the boolean true",
        ),
        (
            MINIMAL.to_owned(),
            Some(("KINESINK_DESTINATION__FORCE_PATH_STYLE", "yes")),
            "config key `destination.force_path_style`: expected true or false, got the text \"yes\"",
        ),
        (
            MINIMAL.replace("[destination]\n", "[destination]\nforce_path_style = 1\n"),
            None,
            "config key `destination.force_path_style`: expected true or false, got the number 1",
        ),
    ] {
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        let e = load_str(&text, &env).err().unwrap().to_string();
        assert_eq!(e, expected);
    }
    // Whole sections of the wrong type: no Rust type names.
    let e = load_str(
        "name = \"n\"\nsource = \"x\"\n[destination]\nurl = \"file:///tmp/x\"\n",
        &[],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("`source`") && e.contains("a table of [source] keys") && !e.contains("Section"),
        "{e}"
    );
    // Every number and boolean key: a wrong type names the key, never serde_with internals.
    for key in integer_keys() {
        let e = load_str(MINIMAL, &[(&env_var(&key), "not-a-number")])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!("`{key}`"))
                && e.contains("got the text \"not-a-number\"")
                && !e.contains("PickFirst"),
            "{e}"
        );
    }
}

#[test]
fn prefixes_that_leave_the_destination_are_refused_naming_the_key() {
    for (extra, key) in [
        ("prefix = \"../escape/\"", "destination.prefix"),
        ("prefix = \"/abs/\"", "destination.prefix"),
        (
            "prefix = \"data/\"\nerror_output_prefix = \"../../err/\"",
            "destination.error_output_prefix",
        ),
        (
            "prefix = \"data/\"\nerror_output_prefix = \"/err/!{firehose:error-output-type}/\"",
            "destination.error_output_prefix",
        ),
        (
            "prefix = \"data/\"\nbackup_prefix = \"source/../../b/\"",
            "destination.backup_prefix",
        ),
    ] {
        let text = MINIMAL.replace("[destination]\n", &format!("[destination]\n{extra}\n"));
        let e = load_str(&text, &[]).err().unwrap().to_string();
        assert!(
            e.contains(&format!("config key `{key}`"))
                && (e.contains("`..` path segment") || e.contains("starts with `/`")),
            "{extra}: {e}"
        );
    }
    let text = MINIMAL.replace(
        "[destination]\n",
        "[destination]\nbackup_prefix = \"source/!{partitionKeyFromQuery:k}/\"\n",
    );
    let e = load_str(&text, &[]).err().unwrap().to_string();
    assert!(
        e.contains("config key `destination.backup_prefix`") && e.contains("before partition keys"),
        "{e}"
    );
    let e = load_str(
        MINIMAL,
        &[("KINESINK_DESTINATION__URL", "s3://my-bucket/../escape")],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("config key `destination.url`"), "{e}");
}

#[test]
fn a_partition_query_that_never_outputs_an_object_is_refused_naming_the_key() {
    let with_query = |query: &str| {
        MINIMAL.replace(
            "[destination]\n",
            &format!("[processing]\npartition_query = '{query}'\n[destination]\n"),
        )
    };
    let e = load_str(&with_query(".event_type"), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("config key `processing.partition_query`")
            && e.contains("never an object")
            && e.contains("{key: .event_type}"),
        "{e}"
    );
    // A query whose output is only known per record stays allowed.
    load_str(&with_query("with_entries(.)"), &[]).unwrap();
    load_str(&with_query("{event_type: .event_type}"), &[]).unwrap();
}

#[test]
fn conditional_writes_are_on_by_default_and_can_be_turned_off() {
    assert!(load_str(MINIMAL, &[]).unwrap().conditional_writes);
    assert!(
        !load_str(
            MINIMAL,
            &[("KINESINK_DESTINATION__CONDITIONAL_WRITES", "false")]
        )
        .unwrap()
        .conditional_writes
    );
    let example: BTreeMap<String, String> = BTreeMap::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kinesink.toml");
    assert!(load(&path, &example).unwrap().conditional_writes);
}

#[test]
fn every_closed_set_accepts_each_spelling_and_refuses_others_naming_the_key_and_what_is_allowed() {
    // (key, every spelling accepted without another key)
    let sets: [(&str, &[&str]); 7] = [
        ("source.initial_position", &["latest", "trim_horizon"]),
        ("source.reader", &["polling", "efo"]),
        ("processing.record_deaggregation", &["none", "json"]),
        ("destination.sse", &["none", "AES256", "aws:kms"]),
        (
            "destination.on_partition_limit",
            &["error-output", "flush-least-recently-used"],
        ),
        ("format.type", &["ndjson", "raw"]),
        (
            "format.compression",
            &["none", "uncompressed", "gzip", "zstd", "snappy"],
        ),
    ];
    for (key, spellings) in sets {
        for spelling in spellings {
            if let Err(e) = load_str(MINIMAL, &[(&env_var(key), spelling)]) {
                panic!("{key} = {spelling:?} refused: {e}");
            }
        }
        let e = load_str(MINIMAL, &[(&env_var(key), "bogus")])
            .err()
            .unwrap_or_else(|| panic!("{key} = \"bogus\" was accepted"))
            .to_string();
        assert!(
            e.starts_with(&format!("config key `{key}`: "))
                && e.contains("bogus")
                && spellings.iter().all(|s| e.contains(&format!("`{s}`"))),
            "{key}: {e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        // Not a string at all: the key and the allowed values, no Rust type names.
        let (section, name) = key.split_once('.').unwrap();
        let text = if MINIMAL.contains(&format!("[{section}]")) {
            MINIMAL.replace(
                &format!("[{section}]\n"),
                &format!("[{section}]\n{name} = 5\n"),
            )
        } else {
            format!("{MINIMAL}[{section}]\n{name} = 5\n")
        };
        let e = load_str(&text, &[]).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("config key `{key}`: "))
                && spellings.iter().all(|s| e.contains(s))
                && !e.contains("enum"),
            "{key}: {e}"
        );
    }
    // The spellings needing another key.
    load_str(
        &MINIMAL.replace(
            "[source]\n",
            "[source]\ninitial_position = \"at_timestamp\"\ninitial_timestamp = \"2026-11-22T00:00:00Z\"\n",
        ),
        &[],
    )
    .unwrap();
    load_str(
        &MINIMAL.replace(
            "[destination]\n",
            "[processing]\nrecord_deaggregation = \"delimited\"\ndelimiter_base64 = \"Cg==\"\n[destination]\n",
        ),
        &[],
    )
    .unwrap();
    load_str(&format!("{MINIMAL}[format]\ntype = \"parquet\"\nschema = \"a string\"\ncompression = \"uncompressed\"\n"), &[]).unwrap();
}

#[test]
fn the_initial_position_error_names_every_allowed_value() {
    let e = load_str(MINIMAL, &[("KINESINK_SOURCE__INITIAL_POSITION", "oldest")])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "config key `source.initial_position`: unknown variant `oldest`, expected one of `trim_horizon`, `latest`, `at_timestamp`"
    );
}

#[test]
fn the_record_processors_are_read_typed_and_a_bad_value_or_combination_names_its_keys() {
    use kinesink_record_processing::{Decompression, Processors};
    let s = load_str(MINIMAL, &[]).unwrap();
    assert_eq!(s.worker.processors, Processors::default(), "off by default");
    let s = load_str(
        MINIMAL,
        &[
            ("KINESINK_PROCESSING__DECOMPRESSION", "gzip"),
            (
                "KINESINK_PROCESSING__CLOUDWATCH_LOGS_MESSAGE_EXTRACTION",
                "true",
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        s.worker.processors,
        Processors {
            decompression: Decompression::Gzip,
            cloudwatch_logs_message_extraction: true,
        }
    );
    let e = load_str(MINIMAL, &[("KINESINK_PROCESSING__DECOMPRESSION", "zip")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("processing.decompression") && e.contains("none") && e.contains("gzip"),
        "{e}"
    );
    let e = load_str(
        MINIMAL,
        &[
            (
                "KINESINK_PROCESSING__CLOUDWATCH_LOGS_MESSAGE_EXTRACTION",
                "true",
            ),
            ("KINESINK_PROCESSING__RECORD_DEAGGREGATION", "json"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("processing.cloudwatch_logs_message_extraction")
            && e.contains("processing.record_deaggregation"),
        "{e}"
    );
}

#[test]
fn a_transform_that_does_not_compile_names_its_key() {
    let s = load_str(
        MINIMAL,
        &[("KINESINK_PROCESSING__TRANSFORM", "{id: .event_id}")],
    )
    .unwrap();
    assert_eq!(s.worker.transform.unwrap().text(), "{id: .event_id}");
    for bad in ["{id: .event_id", "now", "env.HOME"] {
        let e = load_str(MINIMAL, &[("KINESINK_PROCESSING__TRANSFORM", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config key `processing.transform`"),
            "{bad}: {e}"
        );
    }
}
