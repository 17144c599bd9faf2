//! Enhanced fan-out: a [`ShardSource`] that reads shards with SubscribeToShard (aws-sdk-kinesis
//! event streams) instead of GetRecords polling.
//!
//! The pull interface of [`ShardSource`] is kept: a shard "iterator" here is a position token
//! (`efo|<shard>|<kind>|<value>`), and `get_records` returns the next SubscribeToShard event of
//! the shard's subscription, opening one at the token's position when there is none (first call,
//! after an error, or when a subscription ended — the service ends each after 5 minutes). The
//! next token is AFTER_SEQUENCE_NUMBER of the event's continuation sequence number, so a new
//! subscription resumes exactly where the last event ended; the final event of a closed shard
//! carries its child shards and no continuation, which ends the shard like GetRecords does.
//! Everything else — checkpoints, backoff, shard ends — stays in [`crate::ShardReader`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEventStream,
};
use aws_smithy_types::DateTime;
use tokio::sync::Mutex;

use crate::kinesis_source::{KinesisShardSource, kinesis_record};
use crate::source::{RecordPage, ShardInfo, ShardSource, SourceError, StartPosition};
use kinesink_aws_errors::sdk_error_line;

type Receiver = aws_sdk_kinesis::primitives::event_stream::EventReceiver<
    SubscribeToShardEventStream,
    aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError,
>;

struct Subscription {
    /// The token the next event continues from.
    token: String,
    receiver: Receiver,
}

/// Reads shards through an enhanced fan-out consumer.
///
/// Guarantees: records come in shard order without gaps or repeats across resubscriptions (each
/// subscription starts after the last delivered event's continuation sequence number); shard
/// listing is the same ListShards as polling.
pub struct KinesisEfoSource {
    listing: KinesisShardSource,
    client: Client,
    consumer_arn: String,
    subscriptions: std::sync::Mutex<HashMap<String, Arc<Mutex<Option<Subscription>>>>>,
}

impl std::fmt::Debug for KinesisEfoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisEfoSource")
            .field("consumer_arn", &self.consumer_arn)
            .finish_non_exhaustive()
    }
}

/// Registers (or finds) the stream consumer `name` and waits until it is ACTIVE; returns its ARN.
///
/// # Errors
/// The stream or consumer cannot be reached, or the consumer does not become ACTIVE in 60 s.
pub async fn register_consumer(
    client: &Client,
    stream_arn: &str,
    name: &str,
) -> Result<String, SourceError> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        SourceError::Unavailable(format!("{what} consumer `{name}`: {e}"))
    };
    match client
        .register_stream_consumer()
        .stream_arn(stream_arn)
        .consumer_name(name)
        .send()
        .await
    {
        Ok(out) => {
            tracing::info!(consumer = %name, arn = ?out.consumer().map(|c| c.consumer_arn()), "registered stream consumer")
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(unavailable("registering", &sdk_error_line(&e))),
    }
    for _ in 0..120 {
        let out = client
            .describe_stream_consumer()
            .stream_arn(stream_arn)
            .consumer_name(name)
            .send()
            .await
            .map_err(|e| unavailable("describing", &sdk_error_line(&e)))?;
        if let Some(d) = out.consumer_description()
            && d.consumer_status() == &ConsumerStatus::Active
        {
            return Ok(d.consumer_arn().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(SourceError::Unavailable(format!(
        "stream consumer `{name}` did not become ACTIVE within 60 s"
    )))
}

fn token(shard_id: &str, position: &StartPosition) -> String {
    match position {
        StartPosition::TrimHorizon => format!("efo|{shard_id}|TRIM_HORIZON|"),
        StartPosition::Latest => format!("efo|{shard_id}|LATEST|"),
        StartPosition::AtTimestamp(ms) => format!("efo|{shard_id}|AT_TIMESTAMP|{ms}"),
        StartPosition::AtSequence(s) => format!("efo|{shard_id}|AT_SEQUENCE_NUMBER|{s}"),
        StartPosition::AfterSequence(s) => format!("efo|{shard_id}|AFTER_SEQUENCE_NUMBER|{s}"),
    }
}

fn parse_token(token: &str) -> Result<(String, StartingPosition), SourceError> {
    let bad = || SourceError::Unavailable(format!("not an enhanced fan-out position: {token}"));
    let mut parts = token.splitn(4, '|');
    if parts.next() != Some("efo") {
        return Err(bad());
    }
    let shard = parts.next().ok_or_else(bad)?.to_owned();
    let kind = parts.next().ok_or_else(bad)?;
    let value = parts.next().unwrap_or("");
    let builder = StartingPosition::builder().r#type(ShardIteratorType::from(kind));
    let builder = match kind {
        "AT_TIMESTAMP" => {
            builder.timestamp(DateTime::from_millis(value.parse().map_err(|_| bad())?))
        }
        "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER" => builder.sequence_number(value),
        "TRIM_HORIZON" | "LATEST" => builder,
        _ => return Err(bad()),
    };
    Ok((shard, builder.build().map_err(|_| bad())?))
}

impl KinesisEfoSource {
    /// A source reading through the registered consumer `consumer_arn`; `listing` lists shards.
    #[must_use]
    pub fn new(
        client: Client,
        listing: KinesisShardSource,
        consumer_arn: impl Into<String>,
    ) -> Self {
        Self {
            listing,
            client,
            consumer_arn: consumer_arn.into(),
            subscriptions: std::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn subscribe(&self, token: &str) -> Result<Subscription, SourceError> {
        let (shard_id, position) = parse_token(token)?;
        let out = self
            .client
            .subscribe_to_shard()
            .consumer_arn(&self.consumer_arn)
            .shard_id(&shard_id)
            .starting_position(position)
            .send()
            .await
            .map_err(|e| {
                let line = e.to_string();
                match e.as_service_error() {
                    Some(s) if s.is_resource_not_found_exception() => {
                        SourceError::NotFound(s.meta().message().unwrap_or(&line).to_owned())
                    }
                    Some(s)
                        if s.is_resource_in_use_exception() || s.is_limit_exceeded_exception() =>
                    {
                        SourceError::Throttled(s.meta().message().unwrap_or(&line).to_owned())
                    }
                    _ => SourceError::Unavailable(format!(
                        "SubscribeToShard {shard_id}: {}",
                        sdk_error_line(&e)
                    )),
                }
            })?;
        metrics::counter!(kinesink_metric_names::SUBSCRIPTIONS, "shard_id" => shard_id)
            .increment(1);
        Ok(Subscription {
            token: token.to_owned(),
            receiver: out.event_stream,
        })
    }
}

#[async_trait]
impl ShardSource for KinesisEfoSource {
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, SourceError> {
        self.listing.list_shards().await
    }

    async fn shard_iterator(
        &self,
        shard_id: &str,
        position: &StartPosition,
    ) -> Result<String, SourceError> {
        Ok(token(shard_id, position))
    }

    async fn get_records(&self, iterator: &str, _limit: u32) -> Result<RecordPage, SourceError> {
        let (shard_id, _) = parse_token(iterator)?;
        let slot = self
            .subscriptions
            .lock()
            .map_err(|_| SourceError::Unavailable("subscription map poisoned".into()))?
            .entry(shard_id.clone())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        // A subscription that ended (the service ends each after 5 minutes) is renewed once per
        // call from the same position; a second immediate end returns an empty page.
        for _ in 0..2 {
            let reusable = slot.as_ref().is_some_and(|s| s.token == iterator);
            if !reusable {
                *slot = Some(self.subscribe(iterator).await?);
            }
            let subscription = slot.as_mut().expect("set above");
            loop {
                match subscription.receiver.recv().await {
                    Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(event))) => {
                        let records = event
                            .records
                            .into_iter()
                            .map(kinesis_record)
                            .collect::<Result<Vec<_>, _>>()?;
                        let child_shard_ids: Vec<String> = event
                            .child_shards
                            .unwrap_or_default()
                            .into_iter()
                            .map(|c| c.shard_id)
                            .collect();
                        let next_iterator = if child_shard_ids.is_empty()
                            || !event.continuation_sequence_number.is_empty()
                        {
                            let next = token(
                                &shard_id,
                                &StartPosition::AfterSequence(event.continuation_sequence_number),
                            );
                            subscription.token.clone_from(&next);
                            Some(next)
                        } else {
                            *slot = None;
                            if let Ok(mut map) = self.subscriptions.lock() {
                                map.remove(&shard_id);
                            }
                            None
                        };
                        return Ok(RecordPage {
                            records,
                            next_iterator,
                            millis_behind_latest: Some(event.millis_behind_latest),
                            child_shard_ids,
                        });
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        *slot = None;
                        return Err(SourceError::Unavailable(format!(
                            "SubscribeToShard {shard_id} stream: {}",
                            sdk_error_line(&e)
                        )));
                    }
                }
            }
            *slot = None;
        }
        Ok(RecordPage {
            records: Vec::new(),
            next_iterator: Some(iterator.to_owned()),
            millis_behind_latest: None,
            child_shard_ids: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_tokens_round_trip_to_starting_positions() {
        for position in [
            StartPosition::TrimHorizon,
            StartPosition::Latest,
            StartPosition::AtTimestamp(1_795_345_201_000),
            StartPosition::AtSequence("4959".into()),
            StartPosition::AfterSequence("4960".into()),
        ] {
            let (shard, starting) = parse_token(&token("shardId-000000000001", &position)).unwrap();
            assert_eq!(shard, "shardId-000000000001");
            match position {
                StartPosition::AfterSequence(s) | StartPosition::AtSequence(s) => {
                    assert_eq!(starting.sequence_number(), Some(s.as_str()))
                }
                StartPosition::AtTimestamp(ms) => {
                    assert_eq!(starting.timestamp().unwrap().to_millis().unwrap(), ms)
                }
                _ => assert_eq!(starting.sequence_number(), None),
            }
        }
        assert!(parse_token("AAAA-polling-iterator").is_err());
    }
}
