//! `[source]`: the stream read, where shards without a checkpoint start, and how shards are read.

use std::time::Duration;

use kinesink_shard_reader::{StartPosition, StreamId};
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::{ClosedSet, ScalarValue};
use super::{ConfigError, bounds, check_endpoint, err};

/// `source.initial_position`: where a shard without a checkpoint starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InitialPosition {
    /// The oldest record the stream still holds.
    #[default]
    TrimHorizon,
    /// Only records put after the shard is first read.
    Latest,
    /// Records from `source.initial_timestamp` on.
    AtTimestamp,
}

/// `source.reader`: how shards are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReaderKind {
    /// GetRecords polling.
    #[default]
    Polling,
    /// Enhanced fan-out (SubscribeToShard).
    Efo,
}

/// How shards are read (`source.reader`), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// GetRecords polling.
    Polling,
    /// Enhanced fan-out: SubscribeToShard through a registered stream consumer.
    EnhancedFanOut {
        /// The consumer's name (`source.consumer_name`, default `kinesink-<name>`).
        consumer_name: String,
    },
}

/// `[source]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of [source] keys")]
pub(crate) struct SourceSection {
    /// The stream's name (or give `stream_arn`).
    pub(crate) stream: Option<String>,
    /// The stream's ARN (or give `stream`).
    pub(crate) stream_arn: Option<String>,
    /// AWS region; default: the SDK's default chain.
    pub(crate) region: Option<String>,
    /// Kinesis endpoint override.
    pub(crate) endpoint_url: Option<String>,
    /// Where shards without a checkpoint start; default trim_horizon.
    #[serde_as(as = "Option<ClosedSet>")]
    pub(crate) initial_position: Option<InitialPosition>,
    /// RFC 3339 time, with `initial_position = "at_timestamp"`.
    pub(crate) initial_timestamp: Option<String>,
    /// Polling or enhanced fan-out; default polling.
    #[serde_as(as = "Option<ClosedSet>")]
    pub(crate) reader: Option<ReaderKind>,
    /// The enhanced fan-out consumer's name; default `kinesink-<name>`.
    pub(crate) consumer_name: Option<String>,
    /// Records per GetRecords call; default 10000.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) max_records: Option<u32>,
    /// Pause after an empty GetRecords; default 1000.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) idle_time_ms: Option<u64>,
}

/// `[source]`, validated.
#[derive(Debug)]
pub(super) struct ValidSource {
    pub(super) stream: StreamId,
    pub(super) region: Option<String>,
    pub(super) kinesis_endpoint: Option<String>,
    pub(super) initial_position: StartPosition,
    pub(super) reader: Reader,
    pub(super) max_records: u32,
    pub(super) idle_time: Duration,
}

impl SourceSection {
    /// Checks every key; `name` is the delivery name (the default consumer name uses it).
    pub(super) fn validate(self, name: &str) -> Result<ValidSource, ConfigError> {
        let stream = stream(self.stream, self.stream_arn)?;
        let initial_position = initial_position(
            self.initial_position.unwrap_or_default(),
            self.initial_timestamp,
        )?;
        let reader = reader(self.reader.unwrap_or_default(), self.consumer_name, name)?;
        let max_records = bounds::within(
            "source.max_records",
            self.max_records.unwrap_or(10_000),
            &(1..=10_000),
            "records per call, the GetRecords limit",
        )?;
        let idle_time_ms = bounds::within(
            "source.idle_time_ms",
            self.idle_time_ms.unwrap_or(1_000),
            &bounds::IDLE_TIME_MS,
            "milliseconds",
        )?;
        Ok(ValidSource {
            stream,
            region: self.region,
            kinesis_endpoint: check_endpoint("source.endpoint_url", self.endpoint_url)?,
            initial_position,
            reader,
            max_records,
            idle_time: Duration::from_millis(idle_time_ms),
        })
    }
}

fn stream(name: Option<String>, arn: Option<String>) -> Result<StreamId, ConfigError> {
    match (name, arn) {
        (Some(n), None) if !n.is_empty() => Ok(StreamId::Name(n)),
        (None, Some(a)) if a.starts_with("arn:") => Ok(StreamId::Arn(a)),
        (None, Some(a)) => Err(err(format!(
            "config key `source.stream_arn`: `{a}` is not an ARN"
        ))),
        (Some(_), Some(_)) => Err(err(
            "config keys `source.stream` and `source.stream_arn`: give one, not both",
        )),
        _ => Err(err(
            "config key `source.stream` is missing (or give `source.stream_arn`)",
        )),
    }
}

fn initial_position(
    position: InitialPosition,
    timestamp: Option<String>,
) -> Result<StartPosition, ConfigError> {
    match (position, timestamp) {
        (InitialPosition::TrimHorizon, None) => Ok(StartPosition::TrimHorizon),
        (InitialPosition::Latest, None) => Ok(StartPosition::Latest),
        (InitialPosition::AtTimestamp, Some(ts)) => {
            let t = chrono::DateTime::parse_from_rfc3339(&ts).map_err(|e| {
                err(format!(
                    "config key `source.initial_timestamp`: `{ts}` is not an RFC 3339 time: {e}"
                ))
            })?;
            Ok(StartPosition::AtTimestamp(t.timestamp_millis()))
        }
        (InitialPosition::AtTimestamp, None) => Err(err(
            "config key `source.initial_timestamp` is required with initial_position = \"at_timestamp\"",
        )),
        (InitialPosition::TrimHorizon | InitialPosition::Latest, Some(_)) => Err(err(
            "config key `source.initial_timestamp` is only used with initial_position = \"at_timestamp\"",
        )),
    }
}

fn reader(
    kind: ReaderKind,
    consumer_name: Option<String>,
    name: &str,
) -> Result<Reader, ConfigError> {
    match (kind, consumer_name) {
        (ReaderKind::Polling, None) => Ok(Reader::Polling),
        (ReaderKind::Polling, Some(_)) => Err(err(
            "config key `source.consumer_name` is only used with reader = \"efo\"",
        )),
        (ReaderKind::Efo, consumer_name) => {
            let consumer_name = consumer_name.unwrap_or_else(|| format!("kinesink-{name}"));
            if consumer_name.is_empty() || consumer_name.len() > 128 {
                return Err(err(
                    "config key `source.consumer_name`: 1 to 128 characters",
                ));
            }
            Ok(Reader::EnhancedFanOut { consumer_name })
        }
    }
}
