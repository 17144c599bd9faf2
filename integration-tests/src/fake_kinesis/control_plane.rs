//! The control plane: ListShards, DescribeStreamSummary, SplitShard and MergeShards.

use super::*;

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

pub(super) fn list_shards(inner: &Inner, request: &Value) -> Response {
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

pub(super) fn describe_stream_summary(inner: &Inner, request: &Value) -> Response {
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

pub(super) fn split_shard(inner: &Inner, request: &Value) -> Response {
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

pub(super) fn merge_shards(inner: &Inner, request: &Value) -> Response {
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
