//! A fast in-process Kinesis Data Streams stand-in for load and chaos tests.
//!
//! Speaks the JSON 1.1 protocol the AWS SDK uses (`X-Amz-Target: Kinesis_20131202.<Operation>`)
//! for the operations kinesink and its tests call: CreateStream, DeleteStream,
//! DescribeStreamSummary, ListShards, GetShardIterator, GetRecords, PutRecords, SplitShard,
//! MergeShards, and enhanced fan-out: RegisterStreamConsumer, DescribeStreamConsumer and
//! SubscribeToShard (an `application/vnd.amazon.eventstream` response body of
//! `initial-response` then `SubscribeToShardEvent` messages, framed with the SDK's own
//! event-stream codec; served over HTTP/1.1, where the real service needs HTTP/2). Records are kept in memory with their base64 text, so GetRecords answers as fast
//! as the worker asks. Per-shard read limits of the real service (5 GetRecords calls per second,
//! 2 MB/s with bursts of up to 10 MB per call) can be switched on and off; a throttled call gets
//! `ProvisionedThroughputExceededException` like the real service.
//!
//! Sequence numbers are 56-digit decimal strings, increasing across the stream, so they order
//! like real ones. Shards close on split and merge, report their children at their end
//! (`ChildShards`, no `NextShardIterator`) and list their parents. A closed shard can be made to
//! pass the retention period (no longer listed or readable). A retention window can be set
//! ([`FakeKinesis::set_retention`]): records older than it are dropped as new ones arrive, so a
//! long feed at 128 MB/s needs bounded memory. Not modelled: iterator expiry, encryption, write
//! limits.

mod control_plane;
mod fan_out;
mod reads;
mod shard_log;

pub use shard_log::PreparedRecord;
use shard_log::{ShardLog, StoredRecord, sequence_counter, sequence_text};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// Largest GetRecords answer, as in the real service.
const MAX_RECORDS_PER_CALL: usize = 10_000;
const MAX_BYTES_PER_CALL: usize = 10 * 1024 * 1024;
/// Per-shard read limits of the real service.
const READ_CALLS_PER_SECOND: usize = 5;
const READ_BYTES_PER_SECOND: f64 = 2.0 * 1024.0 * 1024.0;

/// Counters of what the fake served.
#[derive(Debug, Default)]
pub struct FakeKinesisCounters {
    /// GetRecords calls answered with records or an empty page.
    pub get_records: AtomicU64,
    /// Records returned by GetRecords.
    pub records_read: AtomicU64,
    /// Calls refused by the per-shard limits.
    pub throttled: AtomicU64,
    /// Records accepted by PutRecords (and preloads).
    pub records_written: AtomicU64,
    /// SubscribeToShard calls answered with an event stream.
    pub subscriptions: AtomicU64,
    /// Records pushed in SubscribeToShard events.
    pub records_pushed: AtomicU64,
}

struct Shard {
    id: String,
    parent: Option<String>,
    adjacent_parent: Option<String>,
    start_hash: u128,
    end_hash: u128,
    starting_sequence: String,
    ending_sequence: Option<String>,
    records: ShardLog,
    read_calls: std::collections::VecDeque<Instant>,
    read_tokens: f64,
    tokens_at: Instant,
    /// Past the stream's retention: no longer listed or readable.
    expired: bool,
}

impl Shard {
    fn is_open(&self) -> bool {
        self.ending_sequence.is_none()
    }

    /// Applies the read limits: `Err` when this call must be throttled.
    fn admit_read(&mut self, now: Instant) -> Result<(), ()> {
        while self
            .read_calls
            .front()
            .is_some_and(|t| now.duration_since(*t).as_secs_f64() >= 1.0)
        {
            self.read_calls.pop_front();
        }
        let refill = now.duration_since(self.tokens_at).as_secs_f64() * READ_BYTES_PER_SECOND;
        self.read_tokens = (self.read_tokens + refill).min(READ_BYTES_PER_SECOND);
        self.tokens_at = now;
        if self.read_calls.len() >= READ_CALLS_PER_SECOND || self.read_tokens <= 0.0 {
            return Err(());
        }
        self.read_calls.push_back(now);
        Ok(())
    }
}

struct Stream {
    name: String,
    created_s: f64,
    shards: Vec<Shard>,
    next_sequence: u128,
}

impl Stream {
    fn sequence(&mut self) -> u128 {
        self.next_sequence += 1;
        self.next_sequence
    }

    fn new_shard(
        &mut self,
        start_hash: u128,
        end_hash: u128,
        parent: Option<String>,
        adjacent_parent: Option<String>,
    ) {
        let id = format!("shardId-{:012}", self.shards.len());
        let starting_sequence = sequence_text(self.next_sequence + 1);
        self.shards.push(Shard {
            id,
            parent,
            adjacent_parent,
            start_hash,
            end_hash,
            starting_sequence,
            ending_sequence: None,
            records: ShardLog::default(),
            read_calls: std::collections::VecDeque::new(),
            read_tokens: READ_BYTES_PER_SECOND,
            tokens_at: Instant::now(),
            expired: false,
        });
    }

    fn shard_mut(&mut self, id: &str) -> Option<&mut Shard> {
        self.shards.iter_mut().find(|s| s.id == id && !s.expired)
    }

    fn close(&mut self, id: &str) {
        let ending = sequence_text(self.next_sequence);
        if let Some(shard) = self.shard_mut(id) {
            shard.ending_sequence = Some(ending);
        }
    }

    /// Stores `record` in the open shard whose hash range holds `hash`, dropping that shard's
    /// records older than `retention_ms` (0: keep all); returns (sequence number, shard id).
    fn append(
        &mut self,
        hash: u128,
        record: PreparedRecord,
        arrival_ms: i64,
        retention_ms: i64,
    ) -> Option<(String, String)> {
        let sequence = self.sequence();
        let shard = self
            .shards
            .iter_mut()
            .find(|s| s.is_open() && s.start_hash <= hash && hash <= s.end_hash)?;
        shard.records.push(StoredRecord {
            sequence,
            record,
            arrival_ms,
        });
        if retention_ms > 0 {
            shard.records.trim_before(arrival_ms - retention_ms);
        }
        Some((sequence_text(sequence), shard.id.clone()))
    }
}

struct Inner {
    streams: Mutex<BTreeMap<String, Stream>>,
    limits: AtomicBool,
    counters: Arc<FakeKinesisCounters>,
    /// Registered consumers: consumer ARN → stream name.
    consumers: Mutex<BTreeMap<String, String>>,
    /// How long one SubscribeToShard stream lasts (5 minutes in the real service).
    subscription_ms: AtomicU64,
    /// Records older than this are dropped as new ones arrive; 0 keeps every record.
    retention_ms: AtomicU64,
}

impl Inner {
    fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention_ms.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
    }
}

/// A running fake on 127.0.0.1; stops when dropped.
pub struct FakeKinesis {
    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_KINESIS` or `source.endpoint_url`.
    pub url: String,
    /// What it served.
    pub counters: Arc<FakeKinesisCounters>,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKinesis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// The hash key Kinesis derives from a partition key: its MD5 as a 128-bit big-endian number.
#[must_use]
pub fn hash_key_of(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

impl FakeKinesis {
    /// Starts the fake on `listen` (use `127.0.0.1:0` for any free port).
    ///
    /// # Panics
    /// The address cannot be bound.
    pub async fn start(listen: &str, shard_limits: bool) -> Self {
        let counters = Arc::new(FakeKinesisCounters::default());
        let inner = Arc::new(Inner {
            streams: Mutex::new(BTreeMap::new()),
            limits: AtomicBool::new(shard_limits),
            counters: counters.clone(),
            consumers: Mutex::new(BTreeMap::new()),
            subscription_ms: AtomicU64::new(300_000),
            retention_ms: AtomicU64::new(0),
        });
        // PutRecords requests reach 5 MiB of records, base64-encoded in JSON: above axum's 2 MB default.
        let app = axum::Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .expect("the fake Kinesis binds its address");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            counters,
            inner,
            task,
        }
    }

    /// Sets how long each SubscribeToShard stream lasts before it ends and must be renewed.
    pub fn set_subscription_duration(&self, duration: std::time::Duration) {
        self.inner.subscription_ms.store(
            u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Keeps only records younger than `retention` (by arrival) from now on: older ones are
    /// dropped as new records arrive, and reads from a dropped position start at the oldest
    /// record kept. `None` (the default) keeps every record.
    pub fn set_retention(&self, retention: Option<std::time::Duration>) {
        let ms = retention.map_or(0, |r| {
            u64::try_from(r.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.inner.retention_ms.store(ms, Ordering::Relaxed);
    }

    /// Turns the per-shard read limits on or off.
    pub fn set_shard_limits(&self, on: bool) {
        self.inner.limits.store(on, Ordering::Relaxed);
    }

    /// Creates a stream of `shards` shards with even hash ranges (no-op if it exists).
    pub fn create_stream(&self, name: &str, shards: u32) {
        create_stream(&self.inner, name, shards);
    }

    /// Appends records directly (no HTTP), routed by partition key like PutRecords; returns how
    /// many were stored.
    pub fn append(
        &self,
        stream: &str,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> usize {
        self.store(
            stream,
            None,
            records
                .into_iter()
                .map(|(key, data)| PreparedRecord::new(&key, &data)),
        )
    }

    /// Appends records directly to the `shard_index`-th shard (its lowest hash key), whatever
    /// their partition keys; returns how many were stored (0 if that shard is closed).
    pub fn append_to_shard(
        &self,
        stream: &str,
        shard_index: usize,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> usize {
        self.append_prepared_to_shard(
            stream,
            shard_index,
            records
                .into_iter()
                .map(|(key, data)| PreparedRecord::new(&key, &data)),
        )
    }

    /// Like [`append_to_shard`](Self::append_to_shard) for records encoded once
    /// ([`PreparedRecord`]): storing one copies no bytes, so a feed can append the same
    /// prepared events at 100+ MB/s on a fraction of a core.
    pub fn append_prepared_to_shard(
        &self,
        stream: &str,
        shard_index: usize,
        records: impl IntoIterator<Item = PreparedRecord>,
    ) -> usize {
        self.store(stream, Some(shard_index), records)
    }

    /// Stores records in the `shard_index`-th shard if given (0 stored if it is closed), else
    /// in the shard each partition key routes to; returns how many were stored.
    fn store(
        &self,
        stream: &str,
        shard_index: Option<usize>,
        records: impl IntoIterator<Item = PreparedRecord>,
    ) -> usize {
        let mut streams = self.inner.streams.lock().expect("lock");
        let Some(s) = streams.get_mut(stream) else {
            return 0;
        };
        let shard_hash = match shard_index {
            None => None,
            Some(index) => match s.shards.get(index).filter(|sh| sh.is_open()) {
                Some(shard) => Some(shard.start_hash),
                None => return 0,
            },
        };
        let arrival = now_ms();
        let retention = self.inner.retention_ms();
        let mut stored = 0;
        for record in records {
            let hash = shard_hash.unwrap_or_else(|| hash_key_of(record.partition_key()));
            if s.append(hash, record, arrival, retention).is_some() {
                stored += 1;
            }
        }
        self.inner
            .counters
            .records_written
            .fetch_add(stored as u64, Ordering::Relaxed);
        stored
    }

    /// Makes a closed shard pass the stream's retention period: it is no longer listed, and
    /// reading it answers `ResourceNotFoundException`. Returns false for an open or unknown shard.
    pub fn expire_shard(&self, stream: &str, shard_id: &str) -> bool {
        let mut streams = self.inner.streams.lock().expect("lock");
        let Some(shard) = streams
            .get_mut(stream)
            .and_then(|s| s.shards.iter_mut().find(|sh| sh.id == shard_id))
        else {
            return false;
        };
        if shard.is_open() {
            return false;
        }
        shard.expired = true;
        shard.records.clear();
        true
    }

    /// Records stored per shard id.
    #[must_use]
    pub fn shard_sizes(&self, stream: &str) -> BTreeMap<String, usize> {
        let streams = self.inner.streams.lock().expect("lock");
        streams
            .get(stream)
            .map(|s| {
                s.shards
                    .iter()
                    .map(|sh| (sh.id.clone(), sh.records.len()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn create_stream(inner: &Inner, name: &str, shards: u32) {
    let mut streams = inner.streams.lock().expect("lock");
    if streams.contains_key(name) {
        return;
    }
    let mut stream = Stream {
        name: name.to_owned(),
        created_s: now_ms() as f64 / 1000.0,
        shards: Vec::new(),
        next_sequence: 0,
    };
    let count = u128::from(shards.max(1));
    let width = u128::MAX / count;
    for i in 0..count {
        let start = i * width;
        let end = if i + 1 == count {
            u128::MAX
        } else {
            (i + 1) * width - 1
        };
        stream.new_shard(start, end, None, None);
    }
    streams.insert(name.to_owned(), stream);
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

fn ok(body: String) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body,
    )
        .into_response()
}

/// A string member of a request, or "" when it is missing or not a string.
fn text_field<'a>(request: &'a Value, key: &str) -> &'a str {
    request.get(key).and_then(Value::as_str).unwrap_or("")
}

fn stream_name(request: &Value) -> Option<String> {
    if let Some(n) = request.get("StreamName").and_then(Value::as_str) {
        return Some(n.to_owned());
    }
    request
        .get("StreamARN")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit_once("stream/"))
        .map(|(_, n)| n.to_owned())
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(operation) = target.strip_prefix("Kinesis_20131202.") else {
        return error(
            "UnknownOperationException",
            &format!("unsupported target `{target}`"),
        );
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error("SerializationException", &e.to_string()),
    };
    match operation {
        "GetRecords" => reads::get_records(&inner, &request),
        "PutRecords" => put_records(&inner, &request),
        "GetShardIterator" => reads::get_shard_iterator(&inner, &request),
        "ListShards" => control_plane::list_shards(&inner, &request),
        "DescribeStreamSummary" => control_plane::describe_stream_summary(&inner, &request),
        "CreateStream" => {
            let Some(name) = stream_name(&request) else {
                return error("InvalidArgumentException", "StreamName is required");
            };
            let shards = request
                .get("ShardCount")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            create_stream(&inner, &name, u32::try_from(shards).unwrap_or(1));
            ok("{}".into())
        }
        "DeleteStream" => {
            if let Some(name) = stream_name(&request) {
                inner.streams.lock().expect("lock").remove(&name);
            }
            ok("{}".into())
        }
        "SplitShard" => control_plane::split_shard(&inner, &request),
        "RegisterStreamConsumer" => fan_out::register_consumer(&inner, &request),
        "DescribeStreamConsumer" => fan_out::describe_consumer(&inner, &request),
        "SubscribeToShard" => fan_out::subscribe_to_shard(&inner, &request),
        "MergeShards" => control_plane::merge_shards(&inner, &request),
        other => error(
            "UnknownOperationException",
            &format!("the fake Kinesis does not implement {other}"),
        ),
    }
}

fn put_records(inner: &Inner, request: &Value) -> Response {
    let Some(name) = stream_name(request) else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let Some(records) = request.get("Records").and_then(Value::as_array) else {
        return error("InvalidArgumentException", "Records is required");
    };
    let mut streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get_mut(&name) else {
        return error("ResourceNotFoundException", "stream not found");
    };
    let arrival = now_ms();
    let retention = inner.retention_ms();
    let mut results = Vec::with_capacity(records.len());
    let mut failed = 0;
    for r in records {
        let data = r
            .get("Data")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let partition_key = r
            .get("PartitionKey")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let hash = match r.get("ExplicitHashKey").and_then(Value::as_str) {
            Some(h) => h.parse::<u128>().unwrap_or(0),
            None => hash_key_of(&partition_key),
        };
        let record = PreparedRecord::from_base64(partition_key, data);
        match stream.append(hash, record, arrival, retention) {
            Some((sequence, shard)) => {
                results.push(json!({"SequenceNumber": sequence, "ShardId": shard}))
            }
            None => {
                failed += 1;
                results.push(json!({"ErrorCode": "InternalFailure", "ErrorMessage": "no open shard for the hash key"}));
            }
        }
    }
    drop(streams);
    inner
        .counters
        .records_written
        .fetch_add((records.len() - failed) as u64, Ordering::Relaxed);
    ok(json!({"FailedRecordCount": failed, "Records": results}).to_string())
}

fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_stream() -> Stream {
        Stream {
            name: "s".into(),
            created_s: 0.0,
            shards: Vec::new(),
            next_sequence: 0,
        }
    }

    #[test]
    fn read_limits_allow_five_calls_a_second_and_refuse_reads_past_the_byte_budget() {
        let mut stream = empty_stream();
        stream.new_shard(0, u128::MAX, None, None);
        let shard = &mut stream.shards[0];
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(shard.admit_read(t0).is_ok());
        }
        assert!(
            shard.admit_read(t0).is_err(),
            "the sixth call in a second is throttled"
        );
        let t1 = t0 + std::time::Duration::from_millis(1001);
        assert!(shard.admit_read(t1).is_ok());
        shard.read_tokens = -4.0 * READ_BYTES_PER_SECOND; // a 6 MB answer
        let t2 = t1 + std::time::Duration::from_millis(1001);
        assert!(
            shard.admit_read(t2).is_err(),
            "after a large read, calls wait for the byte budget"
        );
        let t3 = t2 + std::time::Duration::from_secs(3);
        assert!(shard.admit_read(t3).is_ok());
    }

    #[test]
    fn a_retention_window_drops_records_older_than_it_as_new_ones_arrive() {
        let mut stream = empty_stream();
        stream.new_shard(0, u128::MAX, None, None);
        for arrival_ms in [0, 10_000, 20_000, 30_000] {
            stream.append(1, PreparedRecord::new("k", b"x"), arrival_ms, 15_000);
        }
        let log = &stream.shards[0].records;
        assert_eq!(
            (log.start(), log.end()),
            (2, 4),
            "records that arrived more than 15 s before the newest are gone, positions kept"
        );
        stream.append(1, PreparedRecord::new("k", b"x"), 31_000, 0);
        assert_eq!(
            stream.shards[0].records.len(),
            3,
            "a retention of 0 keeps every record"
        );
    }

    #[test]
    fn sequence_numbers_increase_across_shards_and_records_route_by_hash_range() {
        let mut stream = empty_stream();
        stream.new_shard(0, u128::MAX / 2, None, None);
        stream.new_shard(u128::MAX / 2 + 1, u128::MAX, None, None);
        let (a, shard_a) = stream
            .append(1, PreparedRecord::new("k", b""), 0, 0)
            .unwrap();
        let (b, shard_b) = stream
            .append(u128::MAX, PreparedRecord::new("k", b""), 0, 0)
            .unwrap();
        assert!(a < b && a.len() == 56 && b.len() == 56);
        assert_eq!(
            (shard_a.as_str(), shard_b.as_str()),
            ("shardId-000000000000", "shardId-000000000001")
        );
    }
}
