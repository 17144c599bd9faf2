//! The request kinesink sends a Firehose Lambda processor: Firehose's data-transformation event
//! for a Kinesis Data Stream source, byte for byte the same for the same records.
//!
//! ```json
//! {"invocationId": "…", "deliveryStreamArn": "…", "sourceKinesisStreamArn": "…", "region": "…",
//!  "records": [{"recordId": "…", "approximateArrivalTimestamp": 1672443354228, "data": "<base64>",
//!               "kinesisRecordMetadata": {"shardId": "shardId-000000000000", "partitionKey": "…",
//!                                         "approximateArrivalTimestamp": 1672443354228,
//!                                         "sequenceNumber": "…", "subsequenceNumber": 0}}]}
//! ```
//!
//! Field names and order are Firehose's. Types follow the events Firehose really sends (captured
//! from live streams): both timestamps are numbers (ms since the epoch) and `subsequenceNumber`
//! is a number. (AWS's hand-written sample event in the Lambda Developer Guide shows an ISO
//! string and `""` in `kinesisRecordMetadata`; the live events do not.) Firehose's top-level
//! `approximateArrivalTimestamp` is when Firehose read the record; kinesink puts the record's
//! Kinesis arrival time in both, so a replay sends the same bytes.
//!
//! A request is assembled from records encoded once each ([`encode_record`]), so its size is
//! known exactly before it is built ([`request_size`]): what batching counts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use kinesink_sequence_position::SequencePosition;
use serde::{Deserialize, Serialize};

use crate::lambda_record_id::RecordId;

/// Lambda's payload limit for a synchronous invocation, for the request and for the response
/// alike: 6 MB, 6,291,456 bytes. No request kinesink builds is larger; a response that is
/// larger is refused ([`crate::lambda_response`]).
pub const MAX_INVOKE_PAYLOAD_BYTES: usize = 6_291_456;

/// Longest [`InvocationId`]: sizes are counted as if every id were this long.
pub const MAX_INVOCATION_ID_BYTES: usize = 64;

/// What every request of one shard's Lambda processor says besides its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaEnvelope {
    /// `deliveryStreamArn`: the ARN the function is told it runs for (kinesink's delivery name
    /// in an ARN of the user's choosing, or Firehose's, for functions that look at it).
    pub delivery_stream_arn: String,
    /// `sourceKinesisStreamArn`: the stream the records come from.
    pub source_kinesis_stream_arn: String,
    /// `region`.
    pub region: String,
    /// `kinesisRecordMetadata.shardId` of every record: the shard these requests read.
    pub shard_id: String,
}

/// One record as the Lambda processor receives it (after the processors before it, in
/// Firehose's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaInputRecord {
    /// Where it sits in the shard; records made from one Kinesis record share it.
    pub position: SequencePosition,
    /// Its bytes (`data`, sent in base64).
    pub data: Bytes,
    /// The Kinesis partition key.
    pub partition_key: String,
    /// The Kinesis approximate arrival time, ms since the epoch.
    pub approximate_arrival_ms: i64,
}

/// A request's `invocationId`: 1 to [`MAX_INVOCATION_ID_BYTES`] ASCII letters, digits, `-`, `_`,
/// `.` or `:` (a UUID fits). Guarantees: it needs no escaping in JSON, so the request size
/// counted with the longest id is an upper bound for any id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationId(String);

/// An `invocationId` that [`InvocationId::new`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an invocationId is 1 to {MAX_INVOCATION_ID_BYTES} ASCII letters, digits, `-`, `_`, `.` or `:`, not {0:?}"
)]
pub struct InvalidInvocationId(pub String);

impl InvocationId {
    /// Checks `text` (see [`InvocationId`]).
    ///
    /// # Errors
    /// [`InvalidInvocationId`]: empty, too long, or another character.
    pub fn new(text: impl Into<String>) -> Result<Self, InvalidInvocationId> {
        let text = text.into();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
        if text.is_empty() || text.len() > MAX_INVOCATION_ID_BYTES || !text.bytes().all(allowed) {
            return Err(InvalidInvocationId(text));
        }
        Ok(Self(text))
    }

    /// The id as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordOut<'a> {
    record_id: &'a str,
    approximate_arrival_timestamp: i64,
    data: String,
    kinesis_record_metadata: MetadataOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataOut<'a> {
    shard_id: &'a str,
    partition_key: &'a str,
    approximate_arrival_timestamp: i64,
    sequence_number: &'a str,
    subsequence_number: u64,
}

/// One entry of a request's `records`, as JSON bytes. Guarantees: the same envelope, id and
/// record always give the same bytes.
#[must_use]
pub fn encode_record(
    envelope: &LambdaEnvelope,
    record_id: &RecordId,
    record: &LambdaInputRecord,
) -> Vec<u8> {
    let out = RecordOut {
        record_id: record_id.as_str(),
        approximate_arrival_timestamp: record.approximate_arrival_ms,
        data: STANDARD.encode(&record.data),
        kinesis_record_metadata: MetadataOut {
            shard_id: &envelope.shard_id,
            partition_key: &record.partition_key,
            approximate_arrival_timestamp: record.approximate_arrival_ms,
            sequence_number: &record.position.sequence_number,
            subsequence_number: record.position.sub_sequence_number,
        },
    };
    serde_json::to_vec(&out).expect("strings and integers always serialize")
}

/// The request's text before the invocation id, between it and the records, and after them.
fn envelope_parts(envelope: &LambdaEnvelope) -> (String, String) {
    let text = |s: &str| serde_json::to_string(s).expect("a string always serializes");
    let between = format!(
        ",\"deliveryStreamArn\":{},\"sourceKinesisStreamArn\":{},\"region\":{},\"records\":[",
        text(&envelope.delivery_stream_arn),
        text(&envelope.source_kinesis_stream_arn),
        text(&envelope.region),
    );
    ("{\"invocationId\":".to_owned(), between)
}

const REQUEST_END: &str = "]}";

/// Bytes of a request of `envelope` around its records, counting the invocation id as
/// [`MAX_INVOCATION_ID_BYTES`] long.
#[must_use]
pub fn request_overhead(envelope: &LambdaEnvelope) -> usize {
    let (start, between) = envelope_parts(envelope);
    start.len() + 2 + MAX_INVOCATION_ID_BYTES + between.len() + REQUEST_END.len()
}

/// Size of a request with `count` records whose encoded entries add up to `entry_bytes`, given
/// its [`request_overhead`]. Guarantees: never less than the request [`assemble_request`]
/// builds from them, and equal to it when the invocation id is the longest allowed.
#[must_use]
pub fn request_size(overhead: usize, entry_bytes: usize, count: usize) -> usize {
    overhead + entry_bytes + count.saturating_sub(1)
}

/// The request carrying `entries` (from [`encode_record`], in order).
#[must_use]
pub fn assemble_request<'a>(
    envelope: &LambdaEnvelope,
    invocation_id: &InvocationId,
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let (start, between) = envelope_parts(envelope);
    let mut out = Vec::new();
    out.extend_from_slice(start.as_bytes());
    out.push(b'"');
    out.extend_from_slice(invocation_id.as_str().as_bytes());
    out.push(b'"');
    out.extend_from_slice(between.as_bytes());
    for (i, entry) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(entry);
    }
    out.extend_from_slice(REQUEST_END.as_bytes());
    out
}

/// A request read back (what a function, or a test's Invoke stand-in, receives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRequest {
    /// `invocationId`.
    pub invocation_id: String,
    /// `deliveryStreamArn`.
    pub delivery_stream_arn: String,
    /// `sourceKinesisStreamArn`.
    pub source_kinesis_stream_arn: String,
    /// `region`.
    pub region: String,
    /// `records`, in order.
    pub records: Vec<DecodedInputRecord>,
}

/// One entry of [`DecodedRequest::records`], its `data` decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedInputRecord {
    /// `recordId`.
    pub record_id: String,
    /// `approximateArrivalTimestamp` (ms since the epoch).
    pub approximate_arrival_ms: i64,
    /// `data`, base64-decoded.
    pub data: Vec<u8>,
    /// `kinesisRecordMetadata.shardId`.
    pub shard_id: String,
    /// `kinesisRecordMetadata.partitionKey`.
    pub partition_key: String,
    /// `kinesisRecordMetadata.sequenceNumber`.
    pub sequence_number: String,
    /// `kinesisRecordMetadata.subsequenceNumber`.
    pub subsequence_number: u64,
}

/// Why bytes are not a request of this format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestDecodeError {
    /// Not JSON, or JSON without the request's fields and types.
    #[error("not a Firehose Lambda request: {0}")]
    NotARequest(String),
    /// A record's `data` is not base64.
    #[error("record {record_id}: `data` is not base64: {reason}")]
    Base64 {
        /// The record's `recordId`.
        record_id: String,
        /// The decoder's message.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    invocation_id: String,
    delivery_stream_arn: String,
    source_kinesis_stream_arn: String,
    region: String,
    records: Vec<RecordIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordIn {
    record_id: String,
    approximate_arrival_timestamp: i64,
    data: String,
    kinesis_record_metadata: MetadataIn,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataIn {
    shard_id: String,
    partition_key: String,
    sequence_number: String,
    subsequence_number: u64,
}

/// Reads a request of this format. Guarantees: never panics; reads back exactly what
/// [`assemble_request`] wrote.
///
/// # Errors
/// [`RequestDecodeError`]: not this format, or a `data` that is not base64.
pub fn decode_request(bytes: &[u8]) -> Result<DecodedRequest, RequestDecodeError> {
    let raw: RequestIn = serde_json::from_slice(bytes)
        .map_err(|e| RequestDecodeError::NotARequest(e.to_string()))?;
    let records = raw
        .records
        .into_iter()
        .map(|r| {
            let data = STANDARD
                .decode(&r.data)
                .map_err(|e| RequestDecodeError::Base64 {
                    record_id: r.record_id.clone(),
                    reason: e.to_string(),
                })?;
            Ok(DecodedInputRecord {
                record_id: r.record_id,
                approximate_arrival_ms: r.approximate_arrival_timestamp,
                data,
                shard_id: r.kinesis_record_metadata.shard_id,
                partition_key: r.kinesis_record_metadata.partition_key,
                sequence_number: r.kinesis_record_metadata.sequence_number,
                subsequence_number: r.kinesis_record_metadata.subsequence_number,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(DecodedRequest {
        invocation_id: raw.invocation_id,
        delivery_stream_arn: raw.delivery_stream_arn,
        source_kinesis_stream_arn: raw.source_kinesis_stream_arn,
        region: raw.region,
        records,
    })
}

#[cfg(test)]
#[path = "lambda_event/tests.rs"]
mod tests;
