//! `[processing]`: KPL and Firehose record deaggregation, the record processors (decompression,
//! CloudWatch Logs message extraction), the partition-key query, the time zone of prefixes, and
//! the stall timeout.

use std::sync::Arc;
use std::time::Duration;

use kinesink_partitioning::{JqTransform, MetadataQuery, Tz};
use kinesink_record_deaggregation::{Delimiter, SubRecordFormat};
use kinesink_record_processing::{Decompression, Processors};
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::{ClosedSet, ScalarValue};
use super::{ConfigError, bounds, err};

/// `processing.record_deaggregation`: Firehose's multi-record split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RecordDeaggregation {
    /// One record is one record.
    #[default]
    None,
    /// Concatenated JSON objects.
    Json,
    /// Records separated by `processing.delimiter_base64`.
    Delimited,
}

/// `processing.decompression`: Firehose's Decompression processor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DecompressionKind {
    /// Records pass unchanged.
    #[default]
    None,
    /// Each record is gzip (CloudWatch Logs subscriptions write gzip).
    Gzip,
}

/// `[processing]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of [processing] keys"
)]
pub(crate) struct ProcessingSection {
    /// Unpack KPL aggregated records; default true.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) kpl_deaggregation: Option<bool>,
    /// Firehose's Decompression processor; default none.
    #[serde_as(as = "Option<ClosedSet>")]
    pub(crate) decompression: Option<DecompressionKind>,
    /// CloudWatch Logs envelopes -> one record per log event `message`; default false.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) cloudwatch_logs_message_extraction: Option<bool>,
    /// Firehose record splitting; default none.
    #[serde_as(as = "Option<ClosedSet>")]
    pub(crate) record_deaggregation: Option<RecordDeaggregation>,
    /// The delimiter, base64, with `record_deaggregation = "delimited"`.
    pub(crate) delimiter_base64: Option<String>,
    /// jq program run on each JSON record; each output becomes a record.
    pub(crate) transform: Option<String>,
    /// jq query whose object values become partition keys.
    pub(crate) partition_query: Option<String>,
    /// IANA time zone of `!{timestamp:...}` in prefixes; default UTC.
    pub(crate) time_zone: Option<String>,
    /// A held shard without progress this long is reported stalled.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) stall_timeout_s: Option<u64>,
    /// `[processing.lambda]`: Firehose's Lambda processor.
    pub(crate) lambda: Option<super::LambdaSection>,
}

/// `[processing]`, validated (the query is checked against the prefix by the caller).
#[derive(Debug)]
pub(super) struct ValidProcessing {
    pub(super) kpl_deaggregation: bool,
    pub(super) processors: Processors,
    pub(super) transform: Option<Arc<JqTransform>>,
    pub(super) record_split: Option<SubRecordFormat>,
    pub(super) query: Option<Arc<MetadataQuery>>,
    pub(super) time_zone: Tz,
    pub(super) stall_timeout: Duration,
    pub(super) lambda: Option<super::LambdaConfig>,
}

impl ProcessingSection {
    /// Checks every key.
    pub(super) fn validate(self) -> Result<ValidProcessing, ConfigError> {
        let record_split = record_split(
            self.record_deaggregation.unwrap_or_default(),
            self.delimiter_base64,
        )?;
        // Each log event is one record already; splitting it would number sub-records at
        // positions another log event of the envelope also takes.
        if self.cloudwatch_logs_message_extraction == Some(true) && record_split.is_some() {
            return Err(err(
                "config keys `processing.cloudwatch_logs_message_extraction` and `processing.record_deaggregation`: use one (each log event is one record)",
            ));
        }
        let time_zone: Tz = match self.time_zone.as_deref() {
            None => Tz::UTC,
            Some(z) => z.parse().map_err(|_| {
                err(format!(
                    "config key `processing.time_zone`: `{z}` is not an IANA time zone like UTC or Europe/Berlin"
                ))
            })?,
        };
        let query = self
            .partition_query
            .as_deref()
            .map(|q| {
                MetadataQuery::compile(q)
                    .map(Arc::new)
                    .map_err(|e| err(format!("config key `processing.partition_query`: {e}")))
            })
            .transpose()?;
        let transform = (self.transform.as_deref())
            .filter(|t| !t.trim().is_empty())
            .map(|t| JqTransform::compile(t).map(Arc::new))
            .transpose()
            .map_err(|e| err(format!("config key `processing.transform`: {e}")))?;
        let stall_timeout_s = bounds::within(
            "processing.stall_timeout_s",
            self.stall_timeout_s.unwrap_or(300),
            &(10..=86_400),
            "seconds without progress before a shard is reported stalled",
        )?;
        let lambda = self.lambda.unwrap_or_default().validate()?;
        Ok(ValidProcessing {
            lambda,
            kpl_deaggregation: self.kpl_deaggregation.unwrap_or(true),
            processors: Processors {
                decompression: match self.decompression.unwrap_or_default() {
                    DecompressionKind::None => Decompression::None,
                    DecompressionKind::Gzip => Decompression::Gzip,
                },
                cloudwatch_logs_message_extraction: self
                    .cloudwatch_logs_message_extraction
                    .unwrap_or(false),
            },
            record_split,
            transform,
            query,
            time_zone,
            stall_timeout: Duration::from_secs(stall_timeout_s),
        })
    }
}

fn record_split(
    kind: RecordDeaggregation,
    delimiter_base64: Option<String>,
) -> Result<Option<SubRecordFormat>, ConfigError> {
    match (kind, delimiter_base64) {
        (RecordDeaggregation::None, None) => Ok(None),
        (RecordDeaggregation::Json, None) => Ok(Some(SubRecordFormat::Json)),
        (RecordDeaggregation::Delimited, Some(b64)) => {
            use base64::Engine;
            let d = base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .map_err(|e| {
                    err(format!(
                        "config key `processing.delimiter_base64`: not base64: {e}"
                    ))
                })?;
            let d = Delimiter::new(d).map_err(|_| {
                err("config key `processing.delimiter_base64`: the delimiter must not be empty")
            })?;
            Ok(Some(SubRecordFormat::Delimited(d)))
        }
        (RecordDeaggregation::Delimited, None) => Err(err(
            "config key `processing.delimiter_base64` is required with record_deaggregation = \"delimited\"",
        )),
        (RecordDeaggregation::None | RecordDeaggregation::Json, Some(_)) => Err(err(
            "config key `processing.delimiter_base64` is only used with record_deaggregation = \"delimited\"",
        )),
    }
}
