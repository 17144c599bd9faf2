//! The record processors through `kinesink dry-run`, in Firehose's order: gzip-compressed
//! CloudWatch Logs envelopes (as a subscription filter writes them) become one record per log
//! event, partitioned by a key of the log message; CONTROL_MESSAGE envelopes are dropped;
//! undecodable bytes go to `decompression-failed` with their compressed bytes, records that
//! decompress but are not envelopes to `processing-failed`. Every input record is accounted for.

mod common;

use std::io::{Read, Write};

use base64::Engine;
use common::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn envelope(kind: &str, messages: &[String]) -> Vec<u8> {
    let events: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 1_764_633_600_000_i64, "message": m}))
        .collect();
    serde_json::json!({"messageType": kind, "owner": "123456789012", "logGroup": "/aws/lambda/f",
        "logStream": "s", "subscriptionFilters": ["to-kinesis"], "logEvents": events})
    .to_string()
    .into_bytes()
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs `kinesink dry-run --input-format <format>` with `config` on `input`, and returns every
/// line written, each with the path of its object relative to the output directory.
fn dry_run_lines(config: &str, input: &str, format: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, config).unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, input).unwrap();
    let out_dir = dir.path().join("out");
    let out = run(kinesink()
        .args(["dry-run", "--input-format", format, "--config"])
        .arg(&cfg)
        .arg("--input")
        .arg(&path)
        .arg("--output")
        .arg(&out_dir));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut written = Vec::new();
    files(&out_dir, &mut written);
    let mut lines = Vec::new();
    for p in &written {
        let rel = p
            .strip_prefix(&out_dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for line in gunzip(&std::fs::read(p).unwrap()).lines() {
            lines.push((rel.clone(), line.to_owned()));
        }
    }
    lines
}

#[test]
fn cloudwatch_logs_envelopes_become_one_record_per_log_event_and_every_failure_lands_under_its_type()
 {
    let config = "name = \"logs\"\n[source]\nstream = \"s\"\n\
         [processing]\ndecompression = \"gzip\"\ncloudwatch_logs_message_extraction = true\n\
         partition_query = \"{level: .level}\"\n\
         [destination]\nurl = \"s3://bucket-x\"\nprefix = \"level=!{partitionKeyFromQuery:level}/\"\n\
         error_output_prefix = \"errors/!{firehose:error-output-type}/\"\nbuffer_size_mib = 1\n";
    // 40 envelopes of 50 log events, a CONTROL_MESSAGE after every tenth, plus undecodable
    // bytes and a gzip record that is not an envelope.
    let mut lines = String::new();
    let mut seq = 1000_u64;
    let mut push = |lines: &mut String, data: &[u8]| {
        seq += 1;
        lines.push_str(
            &serde_json::json!({"Data": base64::engine::general_purpose::STANDARD.encode(data),
                "PartitionKey": "p", "SequenceNumber": seq.to_string(),
                "ApproximateArrivalTimestamp": 1_764_633_600.0})
            .to_string(),
        );
        lines.push('\n');
    };
    let mut expected: Vec<String> = Vec::new();
    for e in 0..40 {
        let messages: Vec<String> = (0..50)
            .map(|i| {
                let level = ["info", "warn", "error"][(e + i) % 3];
                format!(
                    r#"{{"level":"{level}","n":{},"pad":"{}"}}"#,
                    e * 50 + i,
                    "x".repeat(200)
                )
            })
            .collect();
        expected.extend(messages.iter().cloned());
        push(&mut lines, &gzip(&envelope("DATA_MESSAGE", &messages)));
        if e % 10 == 9 {
            push(
                &mut lines,
                &gzip(&envelope(
                    "CONTROL_MESSAGE",
                    &[
                        "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."
                            .to_owned(),
                    ],
                )),
            );
        }
    }
    push(&mut lines, b"\x00\x01 not gzip at all");
    push(&mut lines, &gzip(b"{\"just\":\"json\"}"));
    let mut delivered: Vec<String> = Vec::new();
    let mut errors: Vec<serde_json::Value> = Vec::new();
    for (rel, line) in dry_run_lines(config, &lines, "get-records") {
        if rel.starts_with("errors/") {
            let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
            v["dir"] = serde_json::Value::String(rel.split('/').nth(1).unwrap().to_owned());
            errors.push(v);
        } else {
            let level = rel
                .strip_prefix("level=")
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["level"], level, "{rel}: {line}");
            delivered.push(line);
        }
    }
    delivered.sort();
    expected.sort();
    assert_eq!(
        delivered.len(),
        2000,
        "every log event once, none of the CONTROL_MESSAGEs"
    );
    assert_eq!(delivered, expected);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let by_type = |t: &str| {
        errors
            .iter()
            .find(|e| e["dir"] == t)
            .unwrap_or_else(|| panic!("no {t} record: {errors:?}"))
    };
    let undecodable = by_type("decompression-failed");
    assert_eq!(undecodable["errorCode"], "Decompression.Failed");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(undecodable["rawData"].as_str().unwrap())
            .unwrap(),
        b"\x00\x01 not gzip at all",
        "the compressed bytes as they came"
    );
    let not_envelope = by_type("processing-failed");
    assert_eq!(not_envelope["errorCode"], "CloudWatchLogs.InvalidEnvelope");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(not_envelope["rawData"].as_str().unwrap())
            .unwrap(),
        b"{\"just\":\"json\"}",
        "the decompressed bytes the failing step read"
    );
}

#[test]
fn a_transform_makes_zero_one_or_many_records_each_partitioned_and_failures_land_in_processing_failed()
 {
    let config = "name = \"orders\"\n[source]\nstream = \"s\"\n\
         [processing]\ntransform = 'select(.status != \"test\") | .lines[] as $l | {order: .id, sku: $l.sku, qty: $l.qty}'\n\
         partition_query = \"{sku: .sku}\"\n\
         [destination]\nurl = \"s3://bucket-x\"\nprefix = \"sku=!{partitionKeyFromQuery:sku}/\"\n\
         error_output_prefix = \"errors/!{firehose:error-output-type}/\"\n";
    // 300 orders of 0..=3 lines; every 10th a test order (dropped); two records that fail.
    let mut input = String::new();
    let mut expected = Vec::new();
    for i in 0..300 {
        let lines: Vec<serde_json::Value> = (0..i % 4)
            .map(|l| serde_json::json!({"sku": format!("s{}", (i + l) % 7), "qty": l + 1}))
            .collect();
        let status = if i % 10 == 0 { "test" } else { "paid" };
        if status == "paid" {
            for l in &lines {
                expected.push(
                    serde_json::json!({"order": i, "sku": l["sku"], "qty": l["qty"]}).to_string(),
                );
            }
        }
        input.push_str(&serde_json::json!({"id": i, "status": status, "lines": lines}).to_string());
        input.push('\n');
    }
    input.push_str("not json\n");
    input.push_str("{\"id\": 1000, \"status\": \"paid\", \"lines\": 5}\n");
    let mut delivered = Vec::new();
    let mut failed = Vec::new();
    for (rel, line) in dry_run_lines(config, &input, "lines") {
        if let Some(rest) = rel.strip_prefix("errors/") {
            assert!(rest.starts_with("processing-failed/"), "{rel}");
            failed.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        } else {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let sku = v["sku"].as_str().unwrap();
            assert!(rel.starts_with(&format!("sku={sku}/")), "{rel}: {line}");
            delivered.push(line);
        }
    }
    // Compared as JSON values (the program writes its keys in its own order).
    let canonical = |lines: &[String]| {
        let mut v: Vec<String> = lines
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert!(
        delivered.iter().all(|l| l.starts_with("{\"order\":")),
        "the program's key order: {:?}",
        delivered.first()
    );
    assert_eq!(
        canonical(&delivered),
        canonical(&expected),
        "every line of every paid order once, test orders dropped"
    );
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|f| f["errorCode"] == "Transform.Failed"));
    assert!(
        failed
            .iter()
            .any(|f| f["errorMessage"].as_str().unwrap().contains("not JSON")),
        "the message says which: {failed:?}"
    );
}

#[test]
fn a_source_backup_holds_every_record_as_read_exactly_once_beside_the_transformed_output() {
    let config = "name = \"orders\"\n[source]\nstream = \"s\"\n\
         [processing]\ntransform = 'select(.keep) | .items[] | {sku: .}'\n\
         [destination]\nurl = \"s3://bucket-x\"\nprefix = \"data/\"\nbackup_prefix = \"source/\"\n\
         error_output_prefix = \"errors/!{firehose:error-output-type}/\"\nbuffer_size_mib = 1\n";
    // 3,000 records as read (about 1.3 MiB, so both outputs are cut by size too), a third of
    // them dropped by the transform, the rest fanned out to 0..=2 records; one not JSON.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..3000 {
        let items: Vec<String> = (0..i % 3).map(|n| format!("s{i}-{n}")).collect();
        let keep = i % 3 != 1;
        if keep {
            expected.extend(items.iter().map(|s| format!("{{\"sku\":\"{s}\"}}")));
        }
        input.push(
            serde_json::json!({"id": i, "keep": keep, "items": items, "pad": "p".repeat(400)})
                .to_string(),
        );
    }
    input.push("not json".to_owned());
    let (mut backed_up, mut delivered, mut failed) = (Vec::new(), Vec::new(), 0);
    for (rel, line) in dry_run_lines(config, &(input.join("\n") + "\n"), "lines") {
        if rel.starts_with("source/") {
            assert!(
                rel.starts_with("source/20") && rel.contains("/orders-"),
                "backup objects are named like data objects under the backup prefix: {rel}"
            );
            backed_up.push(line);
        } else if rel.starts_with("data/") {
            delivered.push(line);
        } else {
            failed += 1;
        }
    }
    backed_up.sort();
    let mut as_read = input.clone();
    as_read.sort();
    assert_eq!(
        backed_up.len(),
        as_read.len(),
        "every record as read once, dropped and failed ones included"
    );
    assert!(backed_up == as_read, "the backup holds other records");
    delivered.sort();
    expected.sort();
    assert_eq!(delivered.len(), expected.len());
    assert!(delivered == expected, "the delivered records differ");
    assert_eq!(failed, 1, "the record that is not JSON");
}
