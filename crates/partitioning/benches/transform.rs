//! `processing.transform` throughput: the projection `{id: .event_id, t: .ts}` on every record,
//! JSON parsing and compact output included, one thread, on four shapes of generated events
//! (~180-byte flat events; ~670-byte events with nested objects, arrays and a long string;
//! ~50-byte events; ~530-byte events of non-ASCII text with escapes, the selected id too); then,
//! in the same run, kinesink's transform and the `jq` CLI each as a process over the same file
//! of lines, timed the same way: from process start to exit, reading the file, writing every
//! output line to a pipe the bench counts (kinesink's side is this bench binary re-run in a
//! child mode). Each run checks its output: one record out per record in.
//!
//! Run: `cargo bench -p kinesink-partitioning --bench transform`

use std::hint::black_box;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use kinesink_partitioning::JqTransform;

const PROGRAM: &str = "{id: .event_id, t: .ts}";
const EVENTS: usize = 100_000;
const ROUNDS: usize = 7;

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

fn small(i: usize) -> String {
    format!(
        r#"{{"event_id":"{i:x}","ts":{},"ok":true,"n":{}}}"#,
        1_764_633_600 + i,
        i % 7
    )
}

/// Text unlike the generated ASCII: non-ASCII letters, escaped quotes, newlines and `\u`
/// escapes in long strings, the selected id itself escaped.
fn escaped(i: usize) -> String {
    format!(
        r#"{{"event_id":"é-\"{i}\"","ts":"2026-12-02T10:{:02}:00Z","msg":"Grüße aus Köln, \"zitiert\"\nzweite Zeile \u00e9\u4e2d — {}","path":"C:\\logs\\{}","tags":["ünïcödé","日本語",{}]}}"#,
        i % 60,
        "ß€".repeat(40 + i % 60),
        i % 1000,
        i % 13
    )
}

/// Makes event i.
type EventShape = fn(usize) -> String;

/// Set (to a file of lines) in the child process: transform every line, print each output.
const CHILD_ENV: &str = "KINESINK_TRANSFORM_BENCH_CHILD";

/// The child mode: what `jq -c PROGRAM FILE` does, with kinesink's transform.
fn transform_file(path: &str) {
    let transform = JqTransform::compile(PROGRAM).expect("the program compiles");
    let input = std::fs::read(path).expect("reading the lines file");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        for record in transform.run(line).expect("the transform runs") {
            out.write_all(record.as_ref()).unwrap();
            out.write_all(b"\n").unwrap();
        }
    }
    out.flush().unwrap();
}

/// Records per second of `command` (stdout piped and its lines counted), timed from spawn to
/// exit; `None` when it fails, is missing, or prints other than one line per event.
fn process_rate(command: &mut Command) -> Option<f64> {
    let start = Instant::now();
    let out = command.stderr(Stdio::null()).output().ok()?;
    let rate = EVENTS as f64 / start.elapsed().as_secs_f64();
    (out.status.success() && out.stdout.iter().filter(|b| **b == b'\n').count() == EVENTS)
        .then_some(rate)
}

fn median_of(mut rates: Vec<f64>) -> Option<f64> {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied()
}

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        transform_file(&path);
        return;
    }
    let transform = JqTransform::compile(PROGRAM).expect("the program compiles");
    let shapes: [(&str, EventShape); 4] = [
        ("flat ~180 B", flat),
        ("nested ~670 B", nested),
        ("small ~50 B", small),
        ("non-ASCII ~530 B", escaped),
    ];
    let events: Vec<Vec<String>> = shapes
        .iter()
        .map(|(_, make)| (0..EVENTS).map(make).collect())
        .collect();
    for ((name, _), events) in shapes.iter().zip(&events) {
        let bytes: usize = events.iter().map(String::len).sum();
        println!("{name}: {} bytes per event on average", bytes / EVENTS);
    }
    // Rounds interleave the shapes, so a slow period of this shared machine falls on every
    // shape alike; each shape's median and best round are printed.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); shapes.len()];
    for _ in 0..ROUNDS {
        for (events, rates) in events.iter().zip(&mut rates) {
            let start = Instant::now();
            let mut out = 0;
            for e in events {
                out += black_box(transform.run(e.as_bytes()).unwrap()).len();
            }
            assert_eq!(out, EVENTS, "one record out per record in");
            rates.push(EVENTS as f64 / start.elapsed().as_secs_f64());
        }
    }
    println!(
        "program {PROGRAM}, {EVENTS} events per shape, one thread, {ROUNDS} interleaved rounds"
    );
    println!(
        "{:<17} {:>13} {:>12} {:>12} {:>15} {:>13} {:>7}",
        "shape",
        "median rec/s",
        "best rec/s",
        "median MB/s",
        "process rec/s",
        "jq CLI rec/s",
        "ratio"
    );
    println!(
        "(the first three in-process on preloaded records; `process rec/s` and jq's: each a process over the same file, spawn to exit, output lines piped and counted; ratio = process / jq, median of 5 interleaved runs)"
    );
    for (((name, _), events), mut rates) in shapes.iter().zip(&events).zip(rates) {
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let best = rates[rates.len() - 1];
        let mean_bytes = events.iter().map(String::len).sum::<usize>() as f64 / EVENTS as f64;
        let mb_s = median * mean_bytes / 1e6;
        let path = std::env::temp_dir().join(format!(
            "kinesink-transform-bench-{}.jsonl",
            std::process::id()
        ));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for e in events {
            writeln!(f, "{e}").unwrap();
        }
        drop(f);
        // Both as processes, rounds interleaved: kinesink's transform (this binary, child
        // mode), then the jq CLI.
        let me = std::env::current_exe().expect("the bench binary");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            ours.extend(process_rate(Command::new(&me).env(CHILD_ENV, &path)));
            theirs.extend(process_rate(
                Command::new("jq").arg("-c").arg(PROGRAM).arg(&path),
            ));
        }
        let ours = median_of(ours).expect("the child mode prints one record per event");
        let jq = median_of(theirs);
        let _ = std::fs::remove_file(&path);
        match jq {
            Some(jq) => println!(
                "{name:<17} {median:>13.0} {best:>12.0} {mb_s:>12.0} {ours:>15.0} {jq:>13.0} {:>6.1}x",
                ours / jq
            ),
            None => println!(
                "{name:<17} {median:>13.0} {best:>12.0} {mb_s:>12.0} {ours:>15.0} {:>13} (jq CLI not found)",
                "-"
            ),
        }
    }
}
