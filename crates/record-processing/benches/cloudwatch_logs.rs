//! Decompression + CloudWatch Logs message extraction, single-threaded, on gzip envelopes of
//! three shapes: short plain-text lines, ~300-byte JSON log lines, and 2 KB lines with escapes
//! (quotes, tabs, unicode). Prints MB/s of decompressed log data for kinesink's path and, as the
//! reference in the same run, the naive path (gunzip, parse into `serde_json::Value`, read
//! `.logEvents[].message`), with their ratio. Each run checks its output: messages out equal log
//! events in.
//!
//! Run: `cargo bench -p kinesink-record-processing --bench cloudwatch_logs`

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use kinesink_record_processing::cloudwatch_logs::{Envelope, extract_messages};
use kinesink_record_processing::{Decompression, MAX_DECOMPRESSED_BYTES};

/// gzip envelopes of `events` log events each, `messages(i)` making event i's message.
fn envelopes(
    count: usize,
    events: usize,
    message: impl Fn(usize) -> String,
) -> (Vec<Vec<u8>>, usize) {
    let mut plain_bytes = 0;
    let records = (0..count)
        .map(|e| {
            let log_events: Vec<serde_json::Value> = (0..events)
                .map(|i| serde_json::json!({"id": format!("{:056}", e * events + i), "timestamp": 1_764_633_600_000_i64 + i as i64, "message": message(e * events + i)}))
                .collect();
            let json = serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "123456789012",
                "logGroup": "/aws/lambda/checkout", "logStream": "2026/12/02/[$LATEST]0123456789abcdef",
                "subscriptionFilters": ["to-kinesis"], "logEvents": log_events})
            .to_string();
            plain_bytes += json.len();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(json.as_bytes()).unwrap();
            gz.finish().unwrap()
        })
        .collect();
    (records, plain_bytes)
}

fn kinesink_path(records: &[Vec<u8>]) -> usize {
    let mut messages = 0;
    for r in records {
        let plain = Decompression::Gzip
            .apply(r, MAX_DECOMPRESSED_BYTES)
            .unwrap()
            .unwrap();
        match extract_messages(&plain).unwrap() {
            Envelope::Data(m) => messages += black_box(m).len(),
            Envelope::Control => {}
        }
    }
    messages
}

fn naive_path(records: &[Vec<u8>]) -> usize {
    let mut messages = 0;
    for r in records {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(r.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        for e in v["logEvents"].as_array().unwrap() {
            black_box(e["message"].as_str().unwrap().as_bytes().to_vec());
            messages += 1;
        }
    }
    messages
}

/// Best of several timed runs (at least `min` long in all) of `f`, and its output.
fn time(min: Duration, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut out = 0;
    let started = Instant::now();
    while started.elapsed() < min {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (best, out)
}

/// Makes log event i's message.
type MessageShape = Box<dyn Fn(usize) -> String>;

fn main() {
    let shapes: Vec<(&str, MessageShape)> = vec![
        (
            "short text lines (~60 B)",
            Box::new(|i| {
                format!(
                    "START RequestId: {:08x} Version: $LATEST",
                    i * 2_654_435_761 % 4_294_967_291
                )
            }),
        ),
        (
            "JSON log lines (~300 B)",
            Box::new(|i| {
                format!(
                    r#"{{"level":"{}","ts":"2026-12-02T10:00:{:02}.{:03}Z","request_id":"{:032x}","path":"/api/v1/orders/{}","status":{},"duration_ms":{},"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}}"#,
                    ["info", "warn", "error"][i % 3],
                    i % 60,
                    i % 1000,
                    i as u128 * 0x9E37_79B9_7F4A_7C15,
                    i % 100_000,
                    [200, 201, 404, 500][i % 4],
                    i % 3000
                )
            }),
        ),
        (
            "2 KB lines with escapes",
            Box::new(|i| {
                format!(
                    "ERROR \"stack\"\t{}\n{}",
                    "é→😀\\".repeat(40),
                    "x".repeat(1800 + i % 100)
                )
            }),
        ),
    ];
    println!(
        "{:<28} {:>14} {:>14} {:>7}",
        "shape", "kinesink MB/s", "naive MB/s", "ratio"
    );
    for (name, message) in shapes {
        let events = 200;
        let (records, plain_bytes) = envelopes(200, events, message);
        let (k, k_out) = time(Duration::from_secs(2), || kinesink_path(&records));
        let (n, n_out) = time(Duration::from_secs(2), || naive_path(&records));
        assert_eq!(k_out, 200 * events, "kinesink: every log event out once");
        assert_eq!(n_out, 200 * events, "reference: every log event out once");
        let mbps = |d: Duration| plain_bytes as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{name:<28} {:>14.0} {:>14.0} {:>6.2}x",
            mbps(k),
            mbps(n),
            n.as_secs_f64() / k.as_secs_f64()
        );
    }
}
