//! Reading a shard by polling: GetShardIterator and GetRecords, and the start positions
//! SubscribeToShard shares with them.

use std::fmt::Write;

use base64::Engine;

use super::*;

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

/// The `ChildShards` of a shard that ended: the shards naming it as a parent.
pub(super) fn children_json(stream: &Stream, shard_id: &str) -> Value {
    let children = stream
        .shards
        .iter()
        .filter(|s| s.parent.as_deref() == Some(shard_id) || s.adjacent_parent.as_deref() == Some(shard_id))
        .map(|s| {
            let parents: Vec<&str> = [s.parent.as_deref(), s.adjacent_parent.as_deref()].into_iter().flatten().collect();
            json!({"ShardId": s.id, "ParentShards": parents, "HashKeyRange": {"StartingHashKey": s.start_hash.to_string(), "EndingHashKey": s.end_hash.to_string()}})
        })
        .collect();
    Value::Array(children)
}

/// Where a read of `shard` starts for a starting position (`kind`, with its sequence number or
/// timestamp); the message of an `InvalidArgumentException` for an unknown kind or a sequence
/// number this fake never made.
pub(super) fn start_position(
    shard: &Shard,
    kind: &str,
    sequence: &str,
    timestamp_s: Option<f64>,
) -> Result<usize, String> {
    let log = &shard.records;
    let counter = || {
        sequence_counter(sequence).ok_or_else(|| {
            format!("StartingSequenceNumber {sequence:?} is not a sequence number of this stream")
        })
    };
    Ok(match kind {
        "TRIM_HORIZON" => log.start(),
        "LATEST" => log.end(),
        "AT_SEQUENCE_NUMBER" => {
            let n = counter()?;
            log.position_where(|r| r.sequence < n)
        }
        "AFTER_SEQUENCE_NUMBER" => {
            let n = counter()?;
            log.position_where(|r| r.sequence <= n)
        }
        "AT_TIMESTAMP" => {
            let ts_ms = timestamp_s.map_or(0, |t| (t * 1000.0) as i64);
            log.position_where(|r| r.arrival_ms < ts_ms)
        }
        other => return Err(format!("unsupported ShardIteratorType {other}")),
    })
}

pub(super) fn get_records(inner: &Inner, request: &Value) -> Response {
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
    let log = &shard.records;
    // A position dropped by the retention window reads from the oldest record kept.
    let start = index.clamp(log.start(), log.end());
    let mut end = start;
    let mut bytes = 0;
    let mut body = String::with_capacity(64 + 200 * limit.min(log.end() - start));
    body.push_str("{\"Records\":[");
    while let Some(r) = log.get(end).filter(|_| end - start < limit) {
        if end > start && bytes + r.record.data_len() > MAX_BYTES_PER_CALL {
            break;
        }
        if end > start {
            body.push(',');
        }
        r.write_json(&mut body);
        bytes += r.record.data_len();
        end += 1;
    }
    body.push(']');
    if limits_on {
        shard.read_tokens -= bytes as f64;
    }
    let behind = log.get(end).map_or(0, |r| (now_ms() - r.arrival_ms).max(0));
    let _ = write!(body, ",\"MillisBehindLatest\":{behind}");
    if shard.ending_sequence.is_some() && end == log.end() {
        body.push_str(",\"ChildShards\":");
        body.push_str(&children_json(stream, &shard_id).to_string());
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

pub(super) fn get_shard_iterator(inner: &Inner, request: &Value) -> Response {
    let Some(name) = stream_name(request) else {
        return error("InvalidArgumentException", "StreamName is required");
    };
    let shard_id = text_field(request, "ShardId").to_owned();
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
    match start_position(
        shard,
        text_field(request, "ShardIteratorType"),
        text_field(request, "StartingSequenceNumber"),
        request.get("Timestamp").and_then(Value::as_f64),
    ) {
        Ok(index) => {
            ok(json!({"ShardIterator": encode_iterator(&name, &shard_id, index)}).to_string())
        }
        Err(message) => error("InvalidArgumentException", &message),
    }
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

    #[tokio::test]
    async fn get_records_from_a_trimmed_position_starts_at_the_oldest_record_kept() {
        let fake = FakeKinesis::start("127.0.0.1:0", false).await;
        fake.create_stream("s", 1);
        {
            let mut streams = fake.inner.streams.lock().unwrap();
            let stream = streams.get_mut("s").unwrap();
            for arrival_ms in [0, 1_000, 60_000, 61_000] {
                stream.append(1, PreparedRecord::new("k", b"x"), arrival_ms, 30_000);
            }
        }
        let request = json!({"ShardIterator": encode_iterator("s", "shardId-000000000000", 0)});
        let response = get_records(&fake.inner, &request);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let page: Value = serde_json::from_slice(&body).expect("the body is JSON");
        let sequences: Vec<&str> = page["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["SequenceNumber"].as_str().unwrap())
            .collect();
        assert_eq!(sequences, [sequence_text(3), sequence_text(4)]);
        assert_eq!(
            decode_iterator(page["NextShardIterator"].as_str().unwrap()),
            Some(("s".into(), "shardId-000000000000".into(), 4)),
            "the next position counts the trimmed records"
        );
    }
}
