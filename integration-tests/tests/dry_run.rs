//! `kinesink dry-run`: the pipeline on a local file, no AWS.

mod common;

use std::io::Read;

use common::*;

fn gunzip(path: &std::path::Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p))
        } else {
            out.push(p)
        }
    }
    out.sort();
    out
}

const CONFIG: &str =
    "name = \"try\"\n[source]\nstream = \"s\"\n[destination]\nurl = \"s3://bucket-x\"\n";

#[test]
fn get_records_input_is_written_under_the_hour_of_the_oldest_record_with_the_same_keys_as_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let input = dir.path().join("records.jsonl");
    // {"a":1} and {"a":2}, base64; arrivals 2026-11-22T10:00:05Z and 09:59:59Z (the oldest is second).
    std::fs::write(
        &input,
        concat!(
            r#"{"Data":"eyJhIjoxfQ==","PartitionKey":"p","SequenceNumber":"100","ApproximateArrivalTimestamp":1795341605.0}"#, "\n",
            r#"{"Data":"eyJhIjoyfQ==","PartitionKey":"p","SequenceNumber":"101","ApproximateArrivalTimestamp":"2026-11-22T09:59:59Z"}"#, "\n",
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run(kinesink()
        .args(["dry-run", "--config"])
        .arg(&cfg)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out_dir));
    assert!(out.status.success());
    let written = files(&out_dir);
    assert_eq!(
        written,
        vec![out_dir.join("2026/11/22/09/try-shardId-000000000000-100-0.gz")]
    );
    assert_eq!(gunzip(&written[0]), "{\"a\":1}\n{\"a\":2}\n");
}

#[test]
fn lines_input_uses_the_given_arrival_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let input = dir.path().join("lines.txt");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = run(kinesink()
        .args([
            "dry-run",
            "--input-format",
            "lines",
            "--arrival-time",
            "2026-01-02T03:04:05Z",
            "--shard-id",
            "shardId-9",
            "--config",
        ])
        .arg(&cfg)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out_dir));
    assert!(out.status.success());
    let written = files(&out_dir);
    assert_eq!(
        written,
        vec![out_dir.join("2026/01/02/03/try-shardId-9-1-0.gz")]
    );
    assert_eq!(gunzip(&written[0]), "one\ntwo\n");
}

#[test]
fn a_bad_input_line_is_named_by_number_with_exit_code_2_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let input = dir.path().join("records.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"Data":"eyJhIjoxfQ==","PartitionKey":"p","SequenceNumber":"100","ApproximateArrivalTimestamp":1795341605.0}"#, "\n",
            r#"{"Data":"not base64!","PartitionKey":"p","SequenceNumber":"101","ApproximateArrivalTimestamp":1795341605.0}"#, "\n",
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run(kinesink()
        .args(["dry-run", "--config"])
        .arg(&cfg)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out_dir));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("base64"),
        "{stderr}"
    );
    assert!(!out_dir.exists());
}
