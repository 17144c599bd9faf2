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
//! pass the retention period (no longer listed or readable). Not modelled: iterator expiry,
//! encryption, write limits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
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

struct StoredRecord {
    sequence_number: String,
    data_base64: String,
    data_len: usize,
    partition_key: String,
    arrival_ms: i64,
}

struct Shard {
    id: String,
    parent: Option<String>,
    adjacent_parent: Option<String>,
    start_hash: u128,
    end_hash: u128,
    starting_sequence: String,
    ending_sequence: Option<String>,
    records: Vec<StoredRecord>,
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
    fn sequence(&mut self) -> String {
        self.next_sequence += 1;
        format!("49{:054}", self.next_sequence)
    }

    fn new_shard(
        &mut self,
        start_hash: u128,
        end_hash: u128,
        parent: Option<String>,
        adjacent_parent: Option<String>,
    ) {
        let id = format!("shardId-{:012}", self.shards.len());
        let starting_sequence = format!("49{:054}", self.next_sequence + 1);
        self.shards.push(Shard {
            id,
            parent,
            adjacent_parent,
            start_hash,
            end_hash,
            starting_sequence,
            ending_sequence: None,
            records: Vec::new(),
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
        let ending = format!("49{:054}", self.next_sequence);
        if let Some(shard) = self.shard_mut(id) {
            shard.ending_sequence = Some(ending);
        }
    }

    fn append(
        &mut self,
        hash: u128,
        partition_key: String,
        data_base64: String,
        data_len: usize,
        arrival_ms: i64,
    ) -> Option<(String, String)> {
        let sequence_number = self.sequence();
        let shard = self
            .shards
            .iter_mut()
            .find(|s| s.is_open() && s.start_hash <= hash && hash <= s.end_hash)?;
        shard.records.push(StoredRecord {
            sequence_number: sequence_number.clone(),
            data_base64,
            data_len,
            partition_key,
            arrival_ms,
        });
        Some((sequence_number, shard.id.clone()))
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
        let mut streams = self.inner.streams.lock().expect("lock");
        let Some(s) = streams.get_mut(stream) else {
            return 0;
        };
        let arrival = now_ms();
        let mut stored = 0;
        for (partition_key, data) in records {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
            if s.append(
                hash_key_of(&partition_key),
                partition_key,
                encoded,
                data.len(),
                arrival,
            )
            .is_some()
            {
                stored += 1;
            }
        }
        self.inner
            .counters
            .records_written
            .fetch_add(stored as u64, Ordering::Relaxed);
        stored
    }

    /// Appends records directly to the `shard_index`-th shard (its lowest hash key), whatever
    /// their partition keys; returns how many were stored (0 if that shard is closed).
    pub fn append_to_shard(
        &self,
        stream: &str,
        shard_index: usize,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> usize {
        let mut streams = self.inner.streams.lock().expect("lock");
        let Some(s) = streams.get_mut(stream) else {
            return 0;
        };
        let Some(hash) = s
            .shards
            .get(shard_index)
            .filter(|sh| sh.is_open())
            .map(|sh| sh.start_hash)
        else {
            return 0;
        };
        let arrival = now_ms();
        let mut stored = 0;
        for (partition_key, data) in records {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
            if s.append(hash, partition_key, encoded, data.len(), arrival)
                .is_some()
            {
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

fn encode_iterator(stream: &str, shard: &str, index: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{stream}|{shard}|{index}"))
}

fn decode_iterator(iterator: &str) -> Option<(String, String, usize)> {
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(iterator)
            .ok()?,
    )
    .ok()?;
    let mut parts = text.splitn(3, '|');
    let stream = parts.next()?.to_owned();
    let shard = parts.next()?.to_owned();
    let index = parts.next()?.parse().ok()?;
    Some((stream, shard, index))
}

fn shard_json(shard: &Shard) -> Value {
    let mut range = json!({"StartingSequenceNumber": shard.starting_sequence});
    if let Some(end) = &shard.ending_sequence {
        range["EndingSequenceNumber"] = json!(end);
    }
    let mut value = json!({
        "ShardId": shard.id,
        "HashKeyRange": {"StartingHashKey": shard.start_hash.to_string(), "EndingHashKey": shard.end_hash.to_string()},
        "SequenceNumberRange": range,
    });
    if let Some(p) = &shard.parent {
        value["ParentShardId"] = json!(p);
    }
    if let Some(p) = &shard.adjacent_parent {
        value["AdjacentParentShardId"] = json!(p);
    }
    value
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
        "GetRecords" => get_records(&inner, &request),
        "PutRecords" => put_records(&inner, &request),
        "GetShardIterator" => get_shard_iterator(&inner, &request),
        "ListShards" => list_shards(&inner, &request),
        "DescribeStreamSummary" => describe_stream_summary(&inner, &request),
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
        "SplitShard" => split_shard(&inner, &request),
        "RegisterStreamConsumer" => register_consumer(&inner, &request),
        "DescribeStreamConsumer" => describe_consumer(&inner, &request),
        "SubscribeToShard" => subscribe_to_shard(&inner, &request),
        "MergeShards" => merge_shards(&inner, &request),
        other => error(
            "UnknownOperationException",
            &format!("the fake Kinesis does not implement {other}"),
        ),
    }
}

fn get_records(inner: &Inner, request: &Value) -> Response {
    let Some(iterator) = request.get("ShardIterator").and_then(Value::as_str) else {
        return error("InvalidArgumentException", "ShardIterator is required");
    };
    let Some((stream_name, shard_id, index)) = decode_iterator(iterator) else {
        return error("InvalidArgumentException", "invalid ShardIterator");
    };
    let limit = request
        .get("Limit")
        .and_then(Value::as_u64)
        .map_or(MAX_RECORDS_PER_CALL, |l| {
            usize::try_from(l).unwrap_or(MAX_RECORDS_PER_CALL)
        })
        .min(MAX_RECORDS_PER_CALL);
    let limits_on = inner.limits.load(Ordering::Relaxed);
    let mut streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get_mut(&stream_name) else {
        return error("ResourceNotFoundException", "stream not found");
    };
    let children: Vec<Value> = stream
        .shards
        .iter()
        .filter(|s| s.parent.as_deref() == Some(shard_id.as_str()) || s.adjacent_parent.as_deref() == Some(shard_id.as_str()))
        .map(|s| {
            let parents: Vec<&str> = [s.parent.as_deref(), s.adjacent_parent.as_deref()].into_iter().flatten().collect();
            json!({"ShardId": s.id, "ParentShards": parents, "HashKeyRange": {"StartingHashKey": s.start_hash.to_string(), "EndingHashKey": s.end_hash.to_string()}})
        })
        .collect();
    let Some(shard) = stream.shard_mut(&shard_id) else {
        return error("ResourceNotFoundException", "shard not found");
    };
    if limits_on && shard.admit_read(Instant::now()).is_err() {
        inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
        return error(
            "ProvisionedThroughputExceededException",
            "Rate exceeded for shard (fake: 5 reads/s, 2 MB/s)",
        );
    }
    let start = index.min(shard.records.len());
    let mut end = start;
    let mut bytes = 0;
    let mut body = String::with_capacity(64 + 200 * limit.min(shard.records.len() - start));
    body.push_str("{\"Records\":[");
    while end < shard.records.len() && end - start < limit {
        let r = &shard.records[end];
        if end > start && bytes + r.data_len > MAX_BYTES_PER_CALL {
            break;
        }
        if end > start {
            body.push(',');
        }
        body.push_str("{\"SequenceNumber\":\"");
        body.push_str(&r.sequence_number);
        body.push_str("\",\"ApproximateArrivalTimestamp\":");
        body.push_str(&format!(
            "{}.{:03}",
            r.arrival_ms.div_euclid(1000),
            r.arrival_ms.rem_euclid(1000)
        ));
        body.push_str(",\"Data\":\"");
        body.push_str(&r.data_base64);
        body.push_str("\",\"PartitionKey\":");
        body.push_str(&serde_json::to_string(&r.partition_key).unwrap_or_default());
        body.push('}');
        bytes += r.data_len;
        end += 1;
    }
    body.push(']');
    if limits_on {
        shard.read_tokens -= bytes as f64;
    }
    let behind = if end < shard.records.len() {
        (now_ms() - shard.records[end].arrival_ms).max(0)
    } else {
        0
    };
    body.push_str(&format!(",\"MillisBehindLatest\":{behind}"));
    if shard.ending_sequence.is_some() && end == shard.records.len() {
        body.push_str(",\"ChildShards\":");
        body.push_str(&Value::Array(children).to_string());
    } else {
        body.push_str(",\"NextShardIterator\":\"");
        body.push_str(&encode_iterator(&stream_name, &shard_id, end));
        body.push('"');
    }
    body.push('}');
    drop(streams);
    inner.counters.get_records.fetch_add(1, Ordering::Relaxed);
    inner
        .counters
        .records_read
        .fetch_add((end - start) as u64, Ordering::Relaxed);
    ok(body)
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
        let data_len = data.len() / 4 * 3;
        match stream.append(hash, partition_key, data, data_len, arrival) {
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

fn get_shard_iterator(inner: &Inner, request: &Value) -> Response {
    let Some(name) = stream_name(request) else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let shard_id = text_field(request, "ShardId").to_owned();
    let kind = text_field(request, "ShardIteratorType");
    let streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get(&name) else {
        return error("ResourceNotFoundException", "stream not found");
    };
    let Some(shard) = stream
        .shards
        .iter()
        .find(|s| s.id == shard_id && !s.expired)
    else {
        return error("ResourceNotFoundException", "shard not found");
    };
    let sequence = text_field(request, "StartingSequenceNumber");
    let after = |s: &str| {
        shard.records.partition_point(|r| {
            (r.sequence_number.len(), r.sequence_number.as_str()) <= (s.len(), s)
        })
    };
    let at = |s: &str| {
        shard.records.partition_point(|r| {
            (r.sequence_number.len(), r.sequence_number.as_str()) < (s.len(), s)
        })
    };
    let index = match kind {
        "TRIM_HORIZON" => 0,
        "LATEST" => shard.records.len(),
        "AT_SEQUENCE_NUMBER" => at(sequence),
        "AFTER_SEQUENCE_NUMBER" => after(sequence),
        "AT_TIMESTAMP" => {
            let ts_ms = request
                .get("Timestamp")
                .and_then(Value::as_f64)
                .map_or(0, |t| (t * 1000.0) as i64);
            shard.records.partition_point(|r| r.arrival_ms < ts_ms)
        }
        other => {
            return error(
                "InvalidArgumentException",
                &format!("unsupported ShardIteratorType {other}"),
            );
        }
    };
    ok(json!({"ShardIterator": encode_iterator(&name, &shard_id, index)}).to_string())
}

fn list_shards(inner: &Inner, request: &Value) -> Response {
    let name = stream_name(request).or_else(|| {
        request
            .get("NextToken")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let Some(name) = name else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get(&name) else {
        return error("ResourceNotFoundException", "stream not found");
    };
    let shards: Vec<Value> = stream
        .shards
        .iter()
        .filter(|s| !s.expired)
        .map(shard_json)
        .collect();
    ok(json!({"Shards": shards}).to_string())
}

fn describe_stream_summary(inner: &Inner, request: &Value) -> Response {
    let Some(name) = stream_name(request) else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get(&name) else {
        return error(
            "ResourceNotFoundException",
            &format!("Stream {name} under account 000000000000 not found."),
        );
    };
    let open = stream.shards.iter().filter(|s| s.is_open()).count();
    ok(json!({"StreamDescriptionSummary": {
        "StreamName": stream.name,
        "StreamARN": stream_arn(&stream.name),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": stream.created_s,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
        "OpenShardCount": open,
        "ConsumerCount": 0,
    }})
    .to_string())
}

fn split_shard(inner: &Inner, request: &Value) -> Response {
    let Some(name) = stream_name(request) else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let shard_id = text_field(request, "ShardToSplit").to_owned();
    let Some(middle) = request
        .get("NewStartingHashKey")
        .and_then(Value::as_str)
        .and_then(|h| h.parse::<u128>().ok())
    else {
        return error("InvalidArgumentException", "NewStartingHashKey is required");
    };
    let mut streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get_mut(&name) else {
        return error("ResourceNotFoundException", "stream not found");
    };
    let Some(parent) = stream
        .shards
        .iter()
        .find(|s| s.id == shard_id && s.is_open())
    else {
        return error("ResourceNotFoundException", "open shard not found");
    };
    let (start, end) = (parent.start_hash, parent.end_hash);
    if middle <= start || middle > end {
        return error(
            "InvalidArgumentException",
            "NewStartingHashKey is outside the shard's range",
        );
    }
    stream.close(&shard_id);
    stream.new_shard(start, middle - 1, Some(shard_id.clone()), None);
    stream.new_shard(middle, end, Some(shard_id), None);
    ok("{}".into())
}

fn merge_shards(inner: &Inner, request: &Value) -> Response {
    let Some(name) = stream_name(request) else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let first = text_field(request, "ShardToMerge").to_owned();
    let second = text_field(request, "AdjacentShardToMerge").to_owned();
    let mut streams = inner.streams.lock().expect("lock");
    let Some(stream) = streams.get_mut(&name) else {
        return error("ResourceNotFoundException", "stream not found");
    };
    let range = |id: &str| {
        stream
            .shards
            .iter()
            .find(|s| s.id == id && s.is_open())
            .map(|s| (s.start_hash, s.end_hash))
    };
    let (Some(a), Some(b)) = (range(&first), range(&second)) else {
        return error("ResourceNotFoundException", "open shards not found");
    };
    if a.1.checked_add(1) != Some(b.0) && b.1.checked_add(1) != Some(a.0) {
        return error("InvalidArgumentException", "the shards are not adjacent");
    }
    stream.close(&first);
    stream.close(&second);
    stream.new_shard(a.0.min(b.0), a.1.max(b.1), Some(first), Some(second));
    ok("{}".into())
}

fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

fn consumer_json(arn: &str, stream: &str) -> Value {
    let name = arn
        .rsplit_once("/consumer/")
        .map_or("", |(_, rest)| rest.split(':').next().unwrap_or(""));
    json!({"ConsumerName": name, "ConsumerARN": arn, "ConsumerStatus": "ACTIVE", "ConsumerCreationTimestamp": 1_795_345_201.0, "StreamARN": stream_arn(stream)})
}

fn register_consumer(inner: &Inner, request: &Value) -> Response {
    let (Some(stream), Some(name)) = (
        stream_name(request),
        request.get("ConsumerName").and_then(Value::as_str),
    ) else {
        return error(
            "InvalidArgumentException",
            "StreamARN and ConsumerName are required",
        );
    };
    if !inner.streams.lock().expect("lock").contains_key(&stream) {
        return error("ResourceNotFoundException", "stream not found");
    }
    let arn = format!("{}/consumer/{name}:1795345201", stream_arn(&stream));
    let mut consumers = inner.consumers.lock().expect("lock");
    if consumers.contains_key(&arn) {
        return error("ResourceInUseException", &format!("consumer {name} exists"));
    }
    consumers.insert(arn.clone(), stream.clone());
    ok(json!({"Consumer": consumer_json(&arn, &stream)}).to_string())
}

fn describe_consumer(inner: &Inner, request: &Value) -> Response {
    let consumers = inner.consumers.lock().expect("lock");
    let found = match request.get("ConsumerARN").and_then(Value::as_str) {
        Some(arn) => consumers.get_key_value(arn),
        None => {
            let name = text_field(request, "ConsumerName");
            let stream = stream_name(request).unwrap_or_default();
            consumers
                .iter()
                .find(|(arn, s)| **s == stream && arn.contains(&format!("/consumer/{name}:")))
        }
    };
    match found {
        Some((arn, stream)) => {
            ok(json!({"ConsumerDescription": consumer_json(arn, stream)}).to_string())
        }
        None => error("ResourceNotFoundException", "consumer not found"),
    }
}

fn event_message(event_type: &str, payload: Vec<u8>) -> Bytes {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let message = Message::new(payload)
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .expect("an event fits a frame");
    Bytes::from(out)
}

/// One SubscribeToShard event from `index`: (message, next index, whether the shard ended).
fn next_event(stream: &Stream, shard_id: &str, index: usize) -> Option<(Bytes, usize, bool, u64)> {
    let shard = stream
        .shards
        .iter()
        .find(|s| s.id == shard_id && !s.expired)?;
    let end = (index + MAX_RECORDS_PER_CALL).min(shard.records.len());
    let records: Vec<Value> = shard.records[index.min(end)..end]
        .iter()
        .map(|r| {
            json!({"SequenceNumber": r.sequence_number, "ApproximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0,
                   "Data": r.data_base64, "PartitionKey": r.partition_key})
        })
        .collect();
    let behind = if end < shard.records.len() {
        (now_ms() - shard.records[end].arrival_ms).max(0)
    } else {
        0
    };
    let ended = shard.ending_sequence.is_some() && end == shard.records.len();
    let continuation = match end.checked_sub(1).and_then(|i| shard.records.get(i)) {
        Some(r) => r.sequence_number.clone(),
        None => shard.starting_sequence.clone(),
    };
    let mut payload = json!({"Records": records, "MillisBehindLatest": behind});
    if ended {
        let children: Vec<Value> = stream
            .shards
            .iter()
            .filter(|s| s.parent.as_deref() == Some(shard_id) || s.adjacent_parent.as_deref() == Some(shard_id))
            .map(|s| {
                let parents: Vec<&str> = [s.parent.as_deref(), s.adjacent_parent.as_deref()].into_iter().flatten().collect();
                json!({"ShardId": s.id, "ParentShards": parents, "HashKeyRange": {"StartingHashKey": s.start_hash.to_string(), "EndingHashKey": s.end_hash.to_string()}})
            })
            .collect();
        payload["ChildShards"] = Value::Array(children);
    } else {
        payload["ContinuationSequenceNumber"] = json!(continuation);
    }
    let pushed = (end - index.min(end)) as u64;
    Some((
        event_message("SubscribeToShardEvent", payload.to_string().into_bytes()),
        end,
        ended,
        pushed,
    ))
}

fn subscribe_to_shard(inner: &Arc<Inner>, request: &Value) -> Response {
    let arn = text_field(request, "ConsumerARN").to_owned();
    let Some(stream_name) = inner.consumers.lock().expect("lock").get(&arn).cloned() else {
        return error("ResourceNotFoundException", "consumer not found");
    };
    let shard_id = text_field(request, "ShardId").to_owned();
    let position = request
        .get("StartingPosition")
        .cloned()
        .unwrap_or(Value::Null);
    let kind = position.get("Type").and_then(Value::as_str).unwrap_or("");
    let sequence = position
        .get("SequenceNumber")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let start = {
        let streams = inner.streams.lock().expect("lock");
        let Some(shard) = streams
            .get(&stream_name)
            .and_then(|s| s.shards.iter().find(|sh| sh.id == shard_id && !sh.expired))
        else {
            return error("ResourceNotFoundException", "shard not found");
        };
        let key = |s: &str| (s.len(), s.to_owned());
        match kind {
            "TRIM_HORIZON" => 0,
            "LATEST" => shard.records.len(),
            "AT_SEQUENCE_NUMBER" => shard
                .records
                .partition_point(|r| key(&r.sequence_number) < key(&sequence)),
            "AFTER_SEQUENCE_NUMBER" => shard
                .records
                .partition_point(|r| key(&r.sequence_number) <= key(&sequence)),
            "AT_TIMESTAMP" => {
                let ts_ms = position
                    .get("Timestamp")
                    .and_then(Value::as_f64)
                    .map_or(0, |t| (t * 1000.0) as i64);
                shard.records.partition_point(|r| r.arrival_ms < ts_ms)
            }
            other => {
                return error(
                    "InvalidArgumentException",
                    &format!("unsupported StartingPosition type {other}"),
                );
            }
        }
    };
    inner.counters.subscriptions.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let inner = inner.clone();
    let lasts = std::time::Duration::from_millis(inner.subscription_ms.load(Ordering::Relaxed));
    tokio::spawn(async move {
        let started = Instant::now();
        let mut index = start;
        if tx
            .send(event_message("initial-response", b"{}".to_vec()))
            .await
            .is_err()
        {
            return;
        }
        while started.elapsed() < lasts {
            let event = {
                let streams = inner.streams.lock().expect("lock");
                streams
                    .get(&stream_name)
                    .and_then(|s| next_event(s, &shard_id, index))
            };
            let Some((message, next, ended, pushed)) = event else {
                return;
            };
            inner
                .counters
                .records_pushed
                .fetch_add(pushed, Ordering::Relaxed);
            let idle = next == index;
            index = next;
            if tx.send(message).await.is_err() || ended {
                return;
            }
            if idle {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    (
        StatusCode::OK,
        [("content-type", "application/vnd.amazon.eventstream")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterators_round_trip_and_garbage_is_refused() {
        let it = encode_iterator("s", "shardId-000000000001", 42);
        assert_eq!(
            decode_iterator(&it),
            Some(("s".into(), "shardId-000000000001".into(), 42))
        );
        assert_eq!(decode_iterator("not base64 !"), None);
    }

    #[test]
    fn read_limits_allow_five_calls_a_second_and_refuse_reads_past_the_byte_budget() {
        let mut stream = Stream {
            name: "s".into(),
            created_s: 0.0,
            shards: Vec::new(),
            next_sequence: 0,
        };
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
    fn sequence_numbers_increase_across_shards_and_records_route_by_hash_range() {
        let mut stream = Stream {
            name: "s".into(),
            created_s: 0.0,
            shards: Vec::new(),
            next_sequence: 0,
        };
        stream.new_shard(0, u128::MAX / 2, None, None);
        stream.new_shard(u128::MAX / 2 + 1, u128::MAX, None, None);
        let (a, shard_a) = stream.append(1, "k".into(), String::new(), 0, 0).unwrap();
        let (b, shard_b) = stream
            .append(u128::MAX, "k".into(), String::new(), 0, 0)
            .unwrap();
        assert!(a < b && a.len() == 56 && b.len() == 56);
        assert_eq!(
            (shard_a.as_str(), shard_b.as_str()),
            ("shardId-000000000000", "shardId-000000000001")
        );
    }
}
