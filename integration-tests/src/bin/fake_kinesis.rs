//! `fake-kinesis`: the fast Kinesis stand-in as a process, for benchmarks.
//!
//! ```text
//! fake-kinesis --listen 127.0.0.1:4599 --stream bench --shards 4 --preload-events 250000 [--aggregate]
//!              [--preload-file events.jsonl]
//!              [--shard-limits] [--feed-bytes-per-shard 2000000] [--retention-s 60]
//! ```
//! Prints `fake-kinesis: listening on http://…` and `fake-kinesis: preloaded N events` (so
//! scripts can wait for them), then serves until killed. With `--feed-bytes-per-shard`, every
//! shard receives that many bytes of new sample events per second (the shards-per-worker
//! benchmark). Events come from kinesink's own sample-event generator.

use std::time::Duration;

use clap::Parser;
use kinesink_integration_tests::fake_kinesis::{FakeKinesis, PreparedRecord};
use kinesink_record_deaggregation::{AggregationLimits, Aggregator};
use kinesink_sample_data::sample_events::SampleEvents;

#[derive(Parser, Debug)]
#[command(about = "A fast local Kinesis stand-in (JSON 1.1) for kinesink benchmarks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4599")]
    listen: String,
    /// Stream to create at start.
    #[arg(long)]
    stream: Option<String>,
    /// Shards of that stream.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Sample events to store before serving (ids `<stream>-0..`), spread by random partition keys.
    #[arg(long, default_value_t = 0)]
    preload_events: u64,
    /// Store the preloaded events as KPL aggregates (~50 KB each) instead of one record each.
    #[arg(long)]
    aggregate: bool,
    /// Enforce the real per-shard read limits (5 GetRecords/s, 2 MB/s).
    #[arg(long)]
    shard_limits: bool,
    /// Append this many bytes of new events per shard per second while serving.
    #[arg(long, default_value_t = 0)]
    feed_bytes_per_shard: u64,
    /// Keep only records that arrived in the last this many seconds (0: keep all). A feed of
    /// 64 shards x 2 MB/s needs it: without it the fake keeps every record it was fed.
    #[arg(long, default_value_t = 0)]
    retention_s: u64,
    /// Also write the preloaded events as JSON lines to this file (the reference tools' input).
    #[arg(long)]
    dump_events: Option<std::path::PathBuf>,
    /// Preload every line of this file as one event instead of sample events (data shapes the
    /// sample generator does not make; `--preload-events` is ignored).
    #[arg(long)]
    preload_file: Option<std::path::PathBuf>,
}

const EVENT_TIME_MS: i64 = 1_795_345_201_000;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let fake = FakeKinesis::start(&args.listen, args.shard_limits).await;
    if args.retention_s > 0 {
        fake.set_retention(Some(Duration::from_secs(args.retention_s)));
    }
    println!("fake-kinesis: listening on {}", fake.url);
    if let Some(stream) = &args.stream {
        fake.create_stream(stream, args.shards);
        let mut events = SampleEvents::new(stream.clone(), 7);
        let mut aggregator =
            Aggregator::new(AggregationLimits::default()).expect("default limits are valid");
        let mut stored = 0_u64;
        let mut batch = Vec::with_capacity(10_000);
        let mut dump = args.dump_events.as_ref().map(|path| {
            std::io::BufWriter::new(
                std::fs::File::create(path)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display())),
            )
        });
        let mut lines = args.preload_file.as_ref().map(|path| {
            use std::io::BufRead;
            std::io::BufReader::new(
                std::fs::File::open(path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
            )
            .split(b'\n')
        });
        for n in 0.. {
            let data = match lines.as_mut() {
                Some(lines) => match lines.next() {
                    Some(line) => line.expect("reading the preload file"),
                    None => break,
                },
                None if n < args.preload_events => {
                    events
                        .next_event(EVENT_TIME_MS + i64::try_from(n % 3_600_000).unwrap_or(0))
                        .1
                }
                None => break,
            };
            if let Some(out) = dump.as_mut() {
                use std::io::Write;
                out.write_all(&data)
                    .and_then(|()| out.write_all(b"\n"))
                    .expect("writing the events file");
            }
            let key = format!("pk-{}", n % 10_007);
            if args.aggregate {
                if let Some(done) = aggregator
                    .add(&key, None, &data)
                    .expect("a sample event fits an aggregate")
                {
                    batch.push((done.partition_key, done.data));
                }
            } else {
                batch.push((key, data));
            }
            if batch.len() == 10_000 {
                fake.append(stream, batch.drain(..));
            }
            stored += 1;
        }
        if let Some(done) = aggregator.finish() {
            batch.push((done.partition_key, done.data));
        }
        fake.append(stream, batch.drain(..));
        if let Some(mut out) = dump {
            use std::io::Write;
            out.flush().expect("writing the events file");
        }
        println!(
            "fake-kinesis: preloaded {stored} events into {stream} ({:?})",
            fake.shard_sizes(stream)
        );
        if args.feed_bytes_per_shard > 0 {
            let stream = stream.clone();
            let shards = usize::try_from(args.shards).unwrap_or(1);
            let per_tick = args.feed_bytes_per_shard / 10;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            // One ring of events encoded once, shared by every shard (each starts at its own
            // place): appending one stores a counted reference, so feeding 128 MB/s costs a
            // fraction of a core next to the worker under test (ids repeat across laps and
            // shards; this feed measures throughput only).
            let mut generator = SampleEvents::new(format!("{stream}-feed"), 1);
            let ring: Vec<PreparedRecord> = (0..20_000)
                .map(|_| {
                    let (id, data) = generator.next_event(EVENT_TIME_MS);
                    PreparedRecord::new(&id, &data)
                })
                .collect();
            let mut positions: Vec<usize> = (0..shards).map(|i| i * 7_919).collect();
            println!(
                "fake-kinesis: feeding {} bytes/s into each of {shards} shards",
                args.feed_bytes_per_shard
            );
            loop {
                tick.tick().await;
                for (index, position) in positions.iter_mut().enumerate() {
                    let mut bytes = 0;
                    let mut records = Vec::new();
                    while bytes < per_tick {
                        let record = &ring[*position % ring.len()];
                        *position += 1;
                        bytes += record.data_len() as u64;
                        records.push(record.clone());
                    }
                    fake.append_prepared_to_shard(&stream, index, records);
                }
            }
        }
    }
    std::future::pending::<()>().await;
}
