//! Enhanced fan-out: RegisterStreamConsumer, DescribeStreamConsumer and SubscribeToShard.

use std::fmt::Write;

use super::reads::{children_json, start_position};
use super::*;

fn consumer_json(arn: &str, stream: &str) -> Value {
    let name = arn
        .rsplit_once("/consumer/")
        .map_or("", |(_, rest)| rest.split(':').next().unwrap_or(""));
    json!({"ConsumerName": name, "ConsumerARN": arn, "ConsumerStatus": "ACTIVE", "ConsumerCreationTimestamp": 1_795_345_201.0, "StreamARN": stream_arn(stream)})
}

pub(super) fn register_consumer(inner: &Inner, request: &Value) -> Response {
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

pub(super) fn describe_consumer(inner: &Inner, request: &Value) -> Response {
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

/// One SubscribeToShard event from `index`: (message, next index, whether the shard ended,
/// records pushed).
fn next_event(stream: &Stream, shard_id: &str, index: usize) -> Option<(Bytes, usize, bool, u64)> {
    let (payload, start, end, ended) = event_payload(stream, shard_id, index)?;
    Some((
        event_message("SubscribeToShardEvent", payload.into_bytes()),
        end,
        ended,
        (end - start) as u64,
    ))
}

/// The JSON of one SubscribeToShardEvent from `index`: (payload, first position pushed, next
/// position, whether the shard ended). A position dropped by the retention window pushes from
/// the oldest record kept. `ContinuationSequenceNumber` is the sequence number a renewed
/// subscription (`AFTER_SEQUENCE_NUMBER`) resumes from at the next position exactly, also for
/// an empty or trimmed shard.
fn event_payload(
    stream: &Stream,
    shard_id: &str,
    index: usize,
) -> Option<(String, usize, usize, bool)> {
    let shard = stream
        .shards
        .iter()
        .find(|s| s.id == shard_id && !s.expired)?;
    let log = &shard.records;
    let start = index.clamp(log.start(), log.end());
    let end = (start + MAX_RECORDS_PER_CALL).min(log.end());
    let mut payload = String::from("{\"Records\":[");
    for position in start..end {
        if position > start {
            payload.push(',');
        }
        if let Some(r) = log.get(position) {
            r.write_json(&mut payload);
        }
    }
    let behind = log.get(end).map_or(0, |r| (now_ms() - r.arrival_ms).max(0));
    let _ = write!(payload, "],\"MillisBehindLatest\":{behind}");
    let ended = shard.ending_sequence.is_some() && end == log.end();
    if ended {
        payload.push_str(",\"ChildShards\":");
        payload.push_str(&children_json(stream, shard_id).to_string());
    } else {
        let first = sequence_counter(&shard.starting_sequence).unwrap_or(1);
        let continuation = sequence_text(log.sequence_before(end, first));
        let _ = write!(
            payload,
            ",\"ContinuationSequenceNumber\":\"{continuation}\""
        );
    }
    payload.push('}');
    Some((payload, start, end, ended))
}

pub(super) fn subscribe_to_shard(inner: &Arc<Inner>, request: &Value) -> Response {
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
        .unwrap_or("");
    let start = {
        let streams = inner.streams.lock().expect("lock");
        let Some(shard) = streams
            .get(&stream_name)
            .and_then(|s| s.shards.iter().find(|sh| sh.id == shard_id && !sh.expired))
        else {
            return error("ResourceNotFoundException", "shard not found");
        };
        let timestamp = position.get("Timestamp").and_then(Value::as_f64);
        match start_position(shard, kind, sequence, timestamp) {
            Ok(index) => index,
            Err(message) => return error("InvalidArgumentException", &message),
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

    fn one_shard_stream() -> Stream {
        let mut stream = Stream {
            name: "s".into(),
            created_s: 0.0,
            shards: Vec::new(),
            next_sequence: 0,
        };
        stream.new_shard(0, u128::MAX, None, None);
        stream
    }

    fn continuation_of(stream: &Stream, index: usize) -> String {
        let (payload, ..) = event_payload(stream, "shardId-000000000000", index).unwrap();
        let event: Value = serde_json::from_str(&payload).expect("the event is JSON");
        event["ContinuationSequenceNumber"]
            .as_str()
            .expect("an open shard's event has a continuation")
            .to_owned()
    }

    #[test]
    fn a_subscription_renewed_after_an_empty_shards_continuation_reads_its_first_record() {
        let mut stream = one_shard_stream();
        let continuation = continuation_of(&stream, 0);
        stream.append(1, PreparedRecord::new("k", b"first"), 1_000, 0);
        let resumed = start_position(
            &stream.shards[0],
            "AFTER_SEQUENCE_NUMBER",
            &continuation,
            None,
        );
        assert_eq!(resumed, Ok(0), "the first record is not skipped");
    }

    #[test]
    fn events_from_a_trimmed_position_push_the_oldest_record_kept_and_continue_after_it() {
        let mut stream = one_shard_stream();
        for arrival_ms in [0, 1_000, 60_000] {
            stream.append(1, PreparedRecord::new("k", b"x"), arrival_ms, 30_000);
        }
        let (payload, start, end, ended) =
            event_payload(&stream, "shardId-000000000000", 0).unwrap();
        assert_eq!((start, end, ended), (2, 3, false));
        let event: Value = serde_json::from_str(&payload).unwrap();
        let records = event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            event["ContinuationSequenceNumber"], records[0]["SequenceNumber"],
            "a renewal resumes after the last record pushed"
        );
    }
}
