//! `processing.transform` throughput: the projection `{id: .event_id, t: .ts}` on every record,
//! JSON parsing and compact output included, one thread, on two shapes of generated events
//! (~300-byte flat events, and ~1 KB events with nested objects and arrays); then, in the same
//! run, the `jq` CLI on the same program and file. Each run checks its output: one record out
//! per record in.
//!
//! Run: `cargo bench -p kinesink-partitioning --bench transform`

use std::hint::black_box;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use kinesink_partitioning::JqTransform;

const PROGRAM: &str = "{id: .event_id, t: .ts}";
const EVENTS: usize = 100_000;

fn flat(i: usize) -> String {
    format!(
        r#"{{"event_id":"{:032x}","ts":"2026-12-02T10:{:02}:{:02}Z","customer":"c-{}","type":"{}","price":{}.{:02},"page":"/p/{}","ua":"Mozilla/5.0 (X11; Linux x86_64)"}}"#,
        i as u128 * 0x9E37_79B9_7F4A_7C15,
        i % 60,
        (i / 60) % 60,
        i % 20_000,
        ["view", "cart", "buy"][i % 3],
        i % 500,
        i % 100,
        i % 100_000
    )
}

fn nested(i: usize) -> String {
    let items: Vec<String> = (0..(i % 5 + 1))
        .map(|k| {
            format!(
                r#"{{"sku":"s-{}","qty":{},"tags":["a","b{k}"]}}"#,
                (i + k) % 997,
                k + 1
            )
        })
        .collect();
    format!(
        r#"{{"event_id":"e-{i}","ts":{},"user":{{"id":{},"geo":{{"country":"DE","city":"Berlin","lat":52.52,"lon":13.405}}}},"items":[{}],"note":"{}"}}"#,
        1_764_633_600_000_u64 + i as u64,
        i % 50_000,
        items.join(","),
        "x".repeat(300 + i % 200)
    )
}

/// Makes event i.
type EventShape = fn(usize) -> String;

fn main() {
    let transform = JqTransform::compile(PROGRAM).expect("the program compiles");
    let shapes: [(&str, EventShape); 2] = [("flat ~300 B", flat), ("nested ~1 KB", nested)];
    println!("program {PROGRAM}, {EVENTS} events per shape, one thread");
    println!(
        "{:<14} {:>16} {:>16} {:>8}",
        "shape", "kinesink rec/s", "jq CLI rec/s", "ratio"
    );
    for (name, make) in shapes {
        let events: Vec<String> = (0..EVENTS).map(make).collect();
        let best = (0..3)
            .map(|_| {
                let start = Instant::now();
                let mut out = 0;
                for e in &events {
                    out += black_box(transform.run(e.as_bytes()).unwrap()).len();
                }
                assert_eq!(out, EVENTS, "one record out per record in");
                EVENTS as f64 / start.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max);
        let path = std::env::temp_dir().join(format!(
            "kinesink-transform-bench-{}.jsonl",
            std::process::id()
        ));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for e in &events {
            writeln!(f, "{e}").unwrap();
        }
        drop(f);
        let jq = (0..3)
            .filter_map(|_| {
                let start = Instant::now();
                let out = Command::new("jq")
                    .arg("-c")
                    .arg(PROGRAM)
                    .arg(&path)
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                let rate = EVENTS as f64 / start.elapsed().as_secs_f64();
                (out.status.success()
                    && out.stdout.iter().filter(|b| **b == b'\n').count() == EVENTS)
                    .then_some(rate)
            })
            .fold(None, |b: Option<f64>, r| Some(b.map_or(r, |b| b.max(r))));
        let _ = std::fs::remove_file(&path);
        match jq {
            Some(jq) => println!("{name:<14} {best:>16.0} {jq:>16.0} {:>7.1}x", best / jq),
            None => println!("{name:<14} {best:>16.0} {:>16} (jq CLI not found)", "-"),
        }
    }
}
