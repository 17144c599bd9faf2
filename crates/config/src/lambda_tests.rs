//! `[processing.lambda]`: defaults, ranges refused naming the key, environment overrides, and
//! an empty function meaning no Lambda processor.

use super::LambdaConfig;
use super::tests::{MINIMAL, load_str};

fn with_lambda(keys: &str) -> String {
    format!("{MINIMAL}[processing.lambda]\n{keys}\n")
}

#[test]
fn no_function_or_an_empty_one_means_no_lambda_processor() {
    assert_eq!(load_str(MINIMAL, &[]).unwrap().lambda, None);
    let empty = with_lambda("function = \"\"\nbuffer_size_mib = 2");
    assert_eq!(load_str(&empty, &[]).unwrap().lambda, None);
}

#[test]
fn a_function_gets_firehoses_defaults() {
    let s = load_str(&with_lambda("function = \"enrich\""), &[]).unwrap();
    assert_eq!(
        s.lambda,
        Some(LambdaConfig {
            function: "enrich".into(),
            buffer_size_bytes: 1024 * 1024,
            buffer_interval_ms: 60_000,
            retries: 3,
            endpoint_url: None,
        })
    );
}

#[test]
fn every_key_is_read_from_the_file_and_from_environment_overrides() {
    let file = with_lambda(
        "function = \"arn:aws:lambda:eu-west-1:123456789012:function:f\"\nbuffer_size_mib = 0.5\nbuffer_interval_s = 0\nretries = 0\nendpoint_url = \"http://127.0.0.1:9001\"",
    );
    let s = load_str(&file, &[]).unwrap().lambda.unwrap();
    assert_eq!(s.buffer_size_bytes, 512 * 1024);
    assert_eq!((s.buffer_interval_ms, s.retries), (0, 0));
    assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:9001"));
    let env = load_str(
        MINIMAL,
        &[
            ("KINESINK_PROCESSING__LAMBDA__FUNCTION", "g"),
            ("KINESINK_PROCESSING__LAMBDA__BUFFER_SIZE_MIB", "3"),
            ("KINESINK_PROCESSING__LAMBDA__BUFFER_INTERVAL_S", "900"),
            ("KINESINK_PROCESSING__LAMBDA__RETRIES", "300"),
        ],
    )
    .unwrap()
    .lambda
    .unwrap();
    assert_eq!(env.function, "g");
    assert_eq!(env.buffer_size_bytes, 3 * 1024 * 1024);
    assert_eq!((env.buffer_interval_ms, env.retries), (900_000, 300));
    let fraction = load_str(
        MINIMAL,
        &[
            ("KINESINK_PROCESSING__LAMBDA__FUNCTION", "g"),
            ("KINESINK_PROCESSING__LAMBDA__BUFFER_SIZE_MIB", "0.25"),
        ],
    )
    .unwrap()
    .lambda
    .unwrap();
    assert_eq!(fraction.buffer_size_bytes, 256 * 1024);
}

#[test]
fn values_out_of_firehoses_ranges_are_refused_naming_the_key() {
    for (keys, key) in [
        ("buffer_size_mib = 0.1", "processing.lambda.buffer_size_mib"),
        ("buffer_size_mib = 4", "processing.lambda.buffer_size_mib"),
        (
            "buffer_size_mib = \"lots\"",
            "processing.lambda.buffer_size_mib",
        ),
        (
            "buffer_interval_s = 901",
            "processing.lambda.buffer_interval_s",
        ),
        ("retries = 301", "processing.lambda.retries"),
        ("retries = -1", "processing.lambda.retries"),
        (
            "endpoint_url = \"127.0.0.1:9001\"",
            "processing.lambda.endpoint_url",
        ),
        ("memory_mib = 128", "memory_mib"),
    ] {
        let e = load_str(&with_lambda(&format!("function = \"f\"\n{keys}")), &[])
            .err()
            .unwrap_or_else(|| panic!("{keys} was accepted"))
            .to_string();
        assert!(e.contains(key), "{keys}: {e}");
    }
}

#[test]
fn partition_keys_from_lambda_need_a_function_and_no_query() {
    let prefix = "[destination]\nurl = \"s3://bucket-x\"\nprefix = \"c=!{partitionKeyFromLambda:customer}/\"\nerror_output_prefix = \"e/!{firehose:error-output-type}/\"\n";
    let base = "name = \"clicks\"\n[source]\nstream = \"s\"\n";
    let without = format!("{base}{prefix}");
    let e = load_str(&without, &[]).unwrap_err().to_string();
    assert!(
        e.contains("processing.lambda.function") && e.contains("partitionKeyFromLambda:customer"),
        "{e}"
    );
    let with = format!("{base}[processing.lambda]\nfunction = \"f\"\n{prefix}");
    let s = load_str(&with, &[]).unwrap();
    assert!(s.worker.prefixes.data().keys_from_lambda());
    let both = format!(
        "{base}[processing]\npartition_query = \"{{customer: .c}}\"\n[processing.lambda]\nfunction = \"f\"\n{prefix}"
    );
    let e = load_str(&both, &[]).unwrap_err().to_string();
    assert!(e.contains("processing.partition_query"), "{e}");
    let mixed = format!(
        "{base}[processing]\npartition_query = \"{{a: .a}}\"\n[processing.lambda]\nfunction = \"f\"\n[destination]\nurl = \"s3://bucket-x\"\nprefix = \"a=!{{partitionKeyFromQuery:a}}/c=!{{partitionKeyFromLambda:customer}}/\"\nerror_output_prefix = \"e/!{{firehose:error-output-type}}/\"\n"
    );
    let e = load_str(&mixed, &[]).unwrap_err().to_string();
    assert!(
        e.contains("destination.prefix") && e.contains("together"),
        "{e}"
    );
}

#[test]
fn the_reference_configurations_lambda_section_loads_when_uncommented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kinesink.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_section = false;
    let mut uncommented = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("# [processing.lambda]") {
                in_section = true;
            } else if !line.starts_with("# ") || line.starts_with("# [") {
                in_section = line.starts_with("# [processing.lambda]");
            }
            if in_section {
                uncommented += 1;
                line.trim_start_matches("# ").to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert!(uncommented >= 5, "the section and its keys were found");
    let s = load_str(&lines.join("\n"), &[]).unwrap();
    let lambda = s.lambda.unwrap();
    assert_eq!(
        lambda.function,
        "arn:aws:lambda:eu-west-1:123456789012:function:enrich"
    );
    assert_eq!(lambda.buffer_size_bytes, 1024 * 1024);
    assert_eq!((lambda.buffer_interval_ms, lambda.retries), (60_000, 3));
}
