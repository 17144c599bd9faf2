//! The Kinesis implementation of [`ShardSource`] (aws-sdk-kinesis, GetRecords polling).

use kinesink_aws_errors::sdk_error_line;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_smithy_types::DateTime;
use kinesink_record_deaggregation::KinesisRecord;

use crate::get_records_body::{BodyBuffers, RecordsBodyTap};
use crate::source::{RecordPage, ShardInfo, ShardSource, SourceError, StartPosition};

/// How the stream is named in requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamId {
    /// By stream name (in the client's account and region).
    Name(String),
    /// By stream ARN.
    Arn(String),
}

/// Reads a Kinesis stream with ListShards / GetShardIterator / GetRecords.
#[derive(Debug, Clone)]
pub struct KinesisShardSource {
    client: Client,
    stream: StreamId,
    read_bodies: bool,
    pages_read_here: Arc<AtomicU64>,
    body_buffers: Arc<BodyBuffers>,
}

impl KinesisShardSource {
    /// A source for `stream` reached through `client`. GetRecords bodies are read by
    /// kinesink's own JSON reader, not the SDK's record builders (the SDK still makes, signs, retries and fails the calls).
    #[must_use]
    pub fn new(client: Client, stream: StreamId) -> Self {
        Self {
            client,
            stream,
            read_bodies: true,
            pages_read_here: Arc::default(),
            body_buffers: Arc::default(),
        }
    }

    /// A source whose GetRecords records are deserialized by the SDK: the reference the faster
    /// [`KinesisShardSource::new`] is tested against.
    #[must_use]
    pub fn with_sdk_record_decoding(client: Client, stream: StreamId) -> Self {
        Self {
            client,
            stream,
            read_bodies: false,
            pages_read_here: Arc::default(),
            body_buffers: Arc::default(),
        }
    }

    /// GetRecords pages read by kinesink's own body reader so far (the others, if any, were
    /// responses in a protocol it leaves to the SDK).
    #[must_use]
    pub fn pages_read_here(&self) -> u64 {
        self.pages_read_here.load(Ordering::Relaxed)
    }
}

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> SourceError {
    SourceError::Unavailable(sdk_error_line(e))
}

#[async_trait]
impl ShardSource for KinesisShardSource {
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, SourceError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.client.list_shards();
            req = match (&token, &self.stream) {
                (Some(t), _) => req.next_token(t),
                (None, StreamId::Name(n)) => req.stream_name(n),
                (None, StreamId::Arn(a)) => req.stream_arn(a),
            };
            let out = req.send().await.map_err(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => {
                    SourceError::NotFound(s.to_string())
                }
                Some(s) if s.is_limit_exceeded_exception() => SourceError::Throttled(s.to_string()),
                _ => unavailable(&e),
            })?;
            for s in out.shards() {
                let parent_shard_ids = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect();
                let closed = s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_some();
                shards.push(ShardInfo {
                    shard_id: s.shard_id().to_owned(),
                    parent_shard_ids,
                    closed,
                });
            }
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(shards)
    }

    async fn shard_iterator(
        &self,
        shard_id: &str,
        position: &StartPosition,
    ) -> Result<String, SourceError> {
        let mut req = self.client.get_shard_iterator().shard_id(shard_id);
        req = match &self.stream {
            StreamId::Name(n) => req.stream_name(n),
            StreamId::Arn(a) => req.stream_arn(a),
        };
        req = match position {
            StartPosition::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            StartPosition::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            StartPosition::AtTimestamp(ms) => req
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from_millis(*ms)),
            StartPosition::AtSequence(s) => req
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(s),
            StartPosition::AfterSequence(s) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(s),
        };
        let out = req.send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_resource_not_found_exception() => SourceError::NotFound(s.to_string()),
            Some(s) if s.is_provisioned_throughput_exceeded_exception() => {
                SourceError::Throttled(s.to_string())
            }
            _ => unavailable(&e),
        })?;
        out.shard_iterator.ok_or_else(|| {
            SourceError::Unavailable(format!(
                "GetShardIterator for {shard_id} returned no iterator"
            ))
        })
    }

    async fn get_records(&self, iterator: &str, limit: u32) -> Result<RecordPage, SourceError> {
        let request = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        let (out, page) = if self.read_bodies {
            let (tap, slot) = RecordsBodyTap::new(limit as usize, Arc::clone(&self.body_buffers));
            let out = request.customize().interceptor(tap).send().await;
            let page = slot.lock().ok().and_then(|mut s| s.take());
            (out, page)
        } else {
            (request.send().await, None)
        };
        let out = out.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_expired_iterator_exception() => SourceError::ExpiredIterator,
            Some(s)
                if s.is_provisioned_throughput_exceeded_exception()
                    || s.is_kms_throttling_exception() =>
            {
                SourceError::Throttled(s.to_string())
            }
            Some(s) if s.is_resource_not_found_exception() => SourceError::NotFound(s.to_string()),
            _ => unavailable(&e),
        })?;
        if let Some(page) = page {
            self.pages_read_here.fetch_add(1, Ordering::Relaxed);
            return page.map_err(SourceError::Unavailable);
        }
        let records = out
            .records
            .into_iter()
            .map(kinesis_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordPage {
            records,
            next_iterator: out.next_shard_iterator,
            millis_behind_latest: out.millis_behind_latest,
            child_shard_ids: out
                .child_shards
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.shard_id)
                .collect(),
        })
    }
}

/// A record as the SDK returns it (GetRecords or a SubscribeToShard event), as kinesink reads it.
pub(crate) fn kinesis_record(
    r: aws_sdk_kinesis::types::Record,
) -> Result<KinesisRecord, SourceError> {
    let arrival = r
        .approximate_arrival_timestamp
        .as_ref()
        .map(|t| t.to_millis())
        .transpose()
        .map_err(|e| {
            SourceError::Unavailable(format!(
                "record {} has an unusable arrival timestamp: {e}",
                r.sequence_number
            ))
        })?;
    Ok(KinesisRecord {
        data: r.data.into_inner(),
        partition_key: r.partition_key.unwrap_or_default(),
        // A record without an arrival time is impossible from Kinesis; 0 keeps it, visibly.
        approximate_arrival_ms: arrival.unwrap_or(0),
        sequence_number: r.sequence_number,
    })
}
