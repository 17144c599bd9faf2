//! The standing adversarial suite: poison partition queries, deep, huge and hostile records run
//! through the whole per-record pipeline (`kinesink dry-run`: deaggregation, partition keys,
//! prefixes, format conversion, objects). Whatever the record and query, the run ends, every
//! record lands exactly once (in a data object or in the error output), and nothing is written
//! outside the configured prefixes.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;

/// Longest a dry run of this suite may take (debug build, shared CI machine).
const DRY_RUN_DEADLINE: Duration = Duration::from_secs(300);

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Where the records of a dry run landed.
#[derive(Debug, Default)]
struct Landed {
    /// Record bytes -> how many times it is in a data object.
    data: BTreeMap<Vec<u8>, usize>,
    /// Record bytes -> (error code, error message) of each time it is in the error output.
    errors: BTreeMap<Vec<u8>, Vec<(String, String)>>,
    /// Rows in Parquet data objects.
    parquet_rows: usize,
}

impl Landed {
    fn places(&self, record: &[u8]) -> usize {
        self.data.get(record).copied().unwrap_or(0) + self.errors.get(record).map_or(0, Vec::len)
    }

    fn error_of(&self, record: &[u8]) -> Option<&(String, String)> {
        self.errors.get(record).and_then(|e| e.first())
    }
}

/// Runs `kinesink dry-run` on `records` (one per line, `lines` input) with `config_extra`
/// added to a config whose data prefix is `data/...` and error prefix `errors/...`; asserts
/// it ends within the deadline with success, that every file is below `data/` or `errors/`,
/// and returns where each record landed.
fn dry_run(config: &str, records: &[Vec<u8>]) -> Landed {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, config).unwrap();
    let input = dir.path().join("lines.txt");
    let mut text = Vec::new();
    for r in records {
        assert!(!r.contains(&b'\n'), "a record of this suite is one line");
        text.extend_from_slice(r);
        text.push(b'\n');
    }
    std::fs::write(&input, text).unwrap();
    let out_dir = dir.path().join("out");
    let mut child = kinesink()
        .args([
            "dry-run",
            "--input-format",
            "lines",
            "--arrival-time",
            "2026-01-02T03:04:05Z",
            "--config",
        ])
        .arg(&cfg)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DRY_RUN_DEADLINE {
            child.kill().unwrap();
            panic!("dry-run did not return within {DRY_RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "dry-run failed: {status}\n{stderr}");
    let mut landed = Landed::default();
    for path in files(&out_dir) {
        let relative = path.strip_prefix(&out_dir).unwrap();
        if relative.extension().is_some_and(|e| e == "parquet") {
            assert!(relative.starts_with("data"), "{}", relative.display());
            let file = std::fs::File::open(&path).unwrap();
            let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
            let rows = parquet::file::reader::FileReader::metadata(&reader)
                .file_metadata()
                .num_rows();
            landed.parquet_rows += usize::try_from(rows).unwrap();
            continue;
        }
        let body = gunzip(&std::fs::read(&path).unwrap());
        if relative.starts_with("errors") {
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let e: serde_json::Value = serde_json::from_slice(line).unwrap();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(e["rawData"].as_str().unwrap())
                    .unwrap();
                let code = e["errorCode"]
                    .as_str()
                    .or(e["lastErrorCode"].as_str())
                    .unwrap()
                    .to_owned();
                let message = e["errorMessage"]
                    .as_str()
                    .or(e["lastErrorMessage"].as_str())
                    .unwrap()
                    .to_owned();
                landed.errors.entry(raw).or_default().push((code, message));
            }
        } else {
            assert!(
                relative.starts_with("data"),
                "{} is outside the configured prefixes",
                relative.display()
            );
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                *landed.data.entry(line.to_vec()).or_default() += 1;
            }
        }
    }
    landed
}

fn config_with_query(query: &str, key: &str) -> String {
    format!(
        "name = \"adv\"\n[source]\nstream = \"s\"\n[processing]\npartition_query = '{query}'\n\
         [destination]\nurl = \"s3://bucket-x\"\nprefix = \"data/{key}=!{{partitionKeyFromQuery:{key}}}/\"\n\
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\"\n"
    )
}

fn healthy(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!(r#"{{"id": "r{i}", "event_type": "type{}"}}"#, i % 3).into_bytes())
        .collect()
}

/// The issue's poison queries, and the legal ones that are too big to run.
const POISON_QUERIES: [&str; 5] = [
    "last(range(infinite)) | tostring",
    "def f: [f]; f",
    "[repeat(1)] | length | tostring",
    "reduce range(0; 3000000000) as $i (0; . + 1) | tostring",
    "[range(0; 300000000)] | length | tostring",
];

#[test]
fn a_poison_query_fails_only_its_record_and_the_dry_run_returns() {
    for q in POISON_QUERIES {
        let query =
            format!(r#"{{event_type: (if .id == "poison" then ({q}) else .event_type end)}}"#);
        let mut records = healthy(20);
        let poison = br#"{"id": "poison", "event_type": "type0"}"#.to_vec();
        records.insert(10, poison.clone());
        let landed = dry_run(&config_with_query(&query, "event_type"), &records);
        for r in &records {
            assert_eq!(landed.places(r), 1, "{q}: {}", String::from_utf8_lossy(r));
        }
        let (code, message) = landed
            .error_of(&poison)
            .expect("the poison record is in the error output");
        assert_eq!(code, "DynamicPartitioning.MetadataExtractionFailed", "{q}");
        assert!(message.contains("was stopped"), "{q}: {message}");
        for r in records.iter().filter(|r| **r != poison) {
            assert_eq!(landed.data.get(r), Some(&1), "{q}");
        }
    }
}

/// Deep, huge, non-JSON records and key values that try to leave their partition.
fn hostile_records() -> Vec<Vec<u8>> {
    let event = |k: &str| serde_json::json!({"k": k, "n": 1}).to_string().into_bytes();
    let deep = |depth: usize| {
        let mut r = br#"{"k": "deep", "n": "#.to_vec();
        r.extend(std::iter::repeat_n(b'[', depth));
        r.extend(std::iter::repeat_n(b']', depth));
        r.push(b'}');
        r
    };
    let long = "y".repeat(3_000);
    let mut records = vec![
        vec![b'['; 100_000],
        deep(100_000),
        b"not json".to_vec(),
        b"\xff{\"k\": \"a\"}".to_vec(),
    ];
    for k in [
        "..",
        ".",
        "/",
        "../../escape",
        "a/b",
        "",
        "\t",
        "\u{7f}\u{1}",
        "é/ü",
        "日本",
        "%2e%2e",
        &long,
    ] {
        records.push(event(k));
    }
    for size in [1 << 20, 10_000_000] {
        let mut r = br#"{"k": "big", "n": 3, "pad": ""#.to_vec();
        r.extend(std::iter::repeat_n(b'p', size));
        r.extend_from_slice(b"\"}");
        records.push(r);
    }
    // Distinct records only, so that each can be found once.
    for (i, r) in records.iter().enumerate() {
        assert!(!records[..i].contains(r));
    }
    records
}

#[test]
fn hostile_records_each_land_once_below_the_prefixes_in_ndjson_and_parquet() {
    let records = hostile_records();
    for query in ["{k: .k}", "{k: (.k | tostring)}"] {
        let ndjson = dry_run(&config_with_query(query, "k"), &records);
        for r in &records {
            assert_eq!(
                ndjson.places(r),
                1,
                "{query}: {}",
                String::from_utf8_lossy(&r[..r.len().min(80)])
            );
        }
        let parquet = dry_run(
            &format!(
                "{}[format]\ntype = \"parquet\"\nschema = \"k string, n bigint\"\n",
                config_with_query(query, "k")
            ),
            &records,
        );
        let errors: usize = parquet.errors.values().map(Vec::len).sum();
        assert_eq!(parquet.parquet_rows + errors, records.len(), "{query}");
        for raw in parquet.errors.keys() {
            assert!(records.contains(raw), "{query}");
        }
    }
}
