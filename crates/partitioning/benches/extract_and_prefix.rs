//! Partition key extraction + prefix evaluation per record, JSON parsing included, on the sample
//! events, one thread; then, in the same run, the `jq` CLI on the same query and events.
//!
//! Events: `$KINESINK_SAMPLE_EVENTS` or `/tmp/events.jsonl`, one JSON event per line, made with
//! `kinesink sample-events --count 100000 > /tmp/events.jsonl`.
//!
//! Criterion groups (throughput in records/s, "elem/s"):
//! - `bytes`: `extract_from_bytes` + `evaluate` (the record is not parsed into a `Value`);
//! - `value`: `serde_json::from_slice::<Value>` + `extract` + `evaluate` (the record is parsed
//!   once, the `Value` would then go on to the format converter);
//! - `value_via_jaq`: the same with the query forced through jaq (`... | .`);
//! - `extract_parsed_value`: `extract` + `evaluate` on already parsed records (what partitioning
//!   adds when the pipeline parses anyway).
//!
//! Then every path once over all events with a wall clock (in-process, records preloaded); and,
//! timed the same way on both sides, kinesink's keys + prefix and `jq -c QUERY EVENTS` each as a
//! process over the events file, from spawn to exit, each output line piped and counted
//! (kinesink's side is this bench binary re-run in a child mode printing each record's prefix),
//! median of 5 interleaved runs, printing records/s and the ratio.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use kinesink_partitioning::{MetadataQuery, PrefixInputs, PrefixKind, PrefixTemplate};

/// The query and prefix of the reference configuration (`../shared/kinesink.example.toml`).
const QUERY: &str = "{event_type: .event_type, country: .country}";
const PREFIX: &str = "events/event_type=!{partitionKeyFromQuery:event_type}/country=!{partitionKeyFromQuery:country}/dt=!{timestamp:yyyy-MM-dd}/";
/// 2026-11-23T09:38:28.560Z, the sample events' first `ts`.
const ARRIVAL_MS: i64 = 1_795_426_708_560;
const CRITERION_BATCH: usize = 10_000;

fn events_path() -> PathBuf {
    std::env::var_os("KINESINK_SAMPLE_EVENTS")
        .map_or_else(|| PathBuf::from("/tmp/events.jsonl"), PathBuf::from)
}

fn load_events() -> Option<Vec<Vec<u8>>> {
    let text = std::fs::read(events_path()).ok()?;
    Some(
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

struct Setup {
    query: MetadataQuery,
    jaq_query: MetadataQuery,
    prefix: PrefixTemplate,
}

impl Setup {
    fn new() -> Self {
        let query = MetadataQuery::compile(QUERY).expect("the reference query compiles");
        assert!(query.runs_without_jaq());
        let jaq_query = MetadataQuery::compile(&format!("{QUERY} | .")).expect("compiles");
        assert!(!jaq_query.runs_without_jaq());
        let prefix =
            PrefixTemplate::parse(PREFIX, PrefixKind::Data).expect("the reference prefix parses");
        query
            .check_template(&prefix)
            .expect("the query outputs the prefix keys");
        Self {
            query,
            jaq_query,
            prefix,
        }
    }

    fn prefix_of(&self, keys: &kinesink_partitioning::PartitionKeys, i: usize) -> String {
        let inputs = PrefixInputs {
            partition_keys: keys,
            oldest_arrival_ms: ARRIVAL_MS + i as i64,
            error_output_type: None,
            random_string_seed: b"",
        };
        self.prefix.evaluate(&inputs).expect("the prefix evaluates")
    }

    fn prefix_from_bytes(&self, record: &[u8], i: usize) -> String {
        let keys = self
            .query
            .extract_from_bytes(record)
            .expect("sample events have both keys");
        self.prefix_of(&keys, i)
    }

    fn prefix_from_value(&self, query: &MetadataQuery, record: &[u8], i: usize) -> String {
        let value: serde_json::Value =
            serde_json::from_slice(record).expect("sample events are JSON");
        let keys = query.extract(&value).expect("sample events have both keys");
        black_box(&value);
        self.prefix_of(&keys, i)
    }
}

fn criterion_benches(c: &mut Criterion, setup: &Setup, events: &[Vec<u8>]) {
    let batch = &events[..events.len().min(CRITERION_BATCH)];
    let parsed: Vec<serde_json::Value> = batch
        .iter()
        .map(|r| serde_json::from_slice(r).expect("sample events are JSON"))
        .collect();
    let mut group = c.benchmark_group("extract_and_prefix");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    group.bench_function("bytes", |b| {
        b.iter(|| {
            for (i, r) in batch.iter().enumerate() {
                black_box(setup.prefix_from_bytes(r, i));
            }
        });
    });
    group.bench_function("value", |b| {
        b.iter(|| {
            for (i, r) in batch.iter().enumerate() {
                black_box(setup.prefix_from_value(&setup.query, r, i));
            }
        });
    });
    group.bench_function("value_via_jaq", |b| {
        b.iter(|| {
            for (i, r) in batch.iter().enumerate() {
                black_box(setup.prefix_from_value(&setup.jaq_query, r, i));
            }
        });
    });
    group.bench_function("extract_parsed_value", |b| {
        b.iter(|| {
            for (i, v) in parsed.iter().enumerate() {
                let keys = setup
                    .query
                    .extract(v)
                    .expect("sample events have both keys");
                black_box(setup.prefix_of(&keys, i));
            }
        });
    });
    group.finish();
}

/// Records per second of `f` over all events, best of three passes (wall clock, one thread).
fn records_per_second(events: &[Vec<u8>], mut f: impl FnMut(&[u8], usize) -> String) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for (i, r) in events.iter().enumerate() {
                black_box(f(r, i));
            }
            events.len() as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Set in the child process: print each event's prefix, one line per event.
const CHILD_ENV: &str = "KINESINK_PREFIX_BENCH_CHILD";

/// The child mode: what `jq -c QUERY EVENTS` does, with kinesink's keys and prefix.
fn prefixes_of_file() {
    let setup = Setup::new();
    let input = std::fs::read(events_path()).expect("reading the events file");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    for (i, line) in input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        out.write_all(setup.prefix_from_bytes(line, i).as_bytes())
            .unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

/// Records per second of `command` (stdout piped, its lines counted), timed from spawn to exit;
/// `None` when it fails, is missing, or prints other than one line per event.
fn process_rate(command: &mut Command, event_count: usize) -> Option<f64> {
    let start = Instant::now();
    let out = command.stderr(Stdio::null()).output().ok()?;
    let rate = event_count as f64 / start.elapsed().as_secs_f64();
    (out.status.success() && out.stdout.iter().filter(|b| **b == b'\n').count() == event_count)
        .then_some(rate)
}

/// Medians of 5 interleaved runs: (kinesink as a process, the `jq` CLI).
fn process_rates(event_count: usize) -> (Option<f64>, Option<f64>) {
    let me = std::env::current_exe().expect("the bench binary");
    let (mut ours, mut jq) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ours.extend(process_rate(
            Command::new(&me).env(CHILD_ENV, "1"),
            event_count,
        ));
        jq.extend(process_rate(
            Command::new("jq").arg("-c").arg(QUERY).arg(events_path()),
            event_count,
        ));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    (median(ours), median(jq))
}

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        prefixes_of_file();
        return;
    }
    let Some(events) = load_events() else {
        eprintln!(
            "no sample events at {}: run `kinesink sample-events --count 100000 > /tmp/events.jsonl` \
             (or set KINESINK_SAMPLE_EVENTS)",
            events_path().display()
        );
        return;
    };
    let setup = Setup::new();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &setup, &events);
    c.final_summary();

    println!(
        "\n{} events from {}; query {QUERY}; prefix {PREFIX}",
        events.len(),
        events_path().display()
    );
    let bytes = records_per_second(&events, |r, i| setup.prefix_from_bytes(r, i));
    let value = records_per_second(&events, |r, i| setup.prefix_from_value(&setup.query, r, i));
    let via_jaq = records_per_second(&events, |r, i| {
        setup.prefix_from_value(&setup.jaq_query, r, i)
    });
    println!("kinesink bytes  -> keys -> prefix: {bytes:>12.0} records/s");
    println!(
        "kinesink Value  -> keys -> prefix: {value:>12.0} records/s (serde_json::Value parse included)"
    );
    println!("kinesink Value  -> jaq  -> prefix: {via_jaq:>12.0} records/s");
    match process_rates(events.len()) {
        (Some(ours), Some(jq)) => {
            println!(
                "as processes over the file (spawn to exit, output piped; median of 5): kinesink keys -> prefix {ours:>10.0} records/s, jq -c '{QUERY}' {jq:>10.0} records/s"
            );
            println!("ratio kinesink/jq {:.1}x (timed the same way)", ours / jq);
        }
        (ours, None) => println!(
            "kinesink as a process: {ours:?} records/s; jq CLI not found or failed: install it (`apt-get install -y jq`) for the comparison"
        ),
        (None, _) => panic!("the child mode did not print one prefix per event"),
    }
}
