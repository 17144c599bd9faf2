//! `[processing.lambda]`: Firehose's Lambda processor (its `LambdaArn`, `BufferSizeInMBs`,
//! `BufferIntervalInSeconds` and `NumberOfRetries`), and a local endpoint for tests.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize, Serializer};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::{ConfigScalar, ScalarValue};
use super::{ConfigError, bounds, err};

/// A size in MiB with up to three decimals (`buffer_size_mib = 0.5`), kept in thousandths of a
/// MiB so the configuration stays comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MilliMebibytes(pub(crate) u64);

impl MilliMebibytes {
    fn bytes(self) -> usize {
        usize::try_from(self.0 * 1024 * 1024 / 1000).unwrap_or(usize::MAX)
    }
}

impl ConfigScalar for MilliMebibytes {
    fn expected() -> String {
        "a number of MiB like 1 or 0.5".to_owned()
    }
    fn from_integer(value: i128) -> Option<Self> {
        u64::try_from(value)
            .ok()
            .and_then(|v| v.checked_mul(1000))
            .map(Self)
    }
    fn from_float(value: f64) -> Option<Self> {
        // In range and finite: the product fits a u64 and is not negative.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let thousandths = (value.is_finite() && (0.0..=1e12).contains(&value))
            .then(|| (value * 1000.0).round() as u64);
        thousandths.map(Self)
    }
    fn from_text(text: &str) -> Option<Self> {
        text.trim().parse::<f64>().ok().and_then(Self::from_float)
    }
}

impl Serialize for MilliMebibytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[allow(clippy::cast_precision_loss)]
        serializer.serialize_f64(self.0 as f64 / 1000.0)
    }
}

/// `[processing.lambda]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of [processing.lambda] keys"
)]
pub(crate) struct LambdaSection {
    /// The function's name or ARN; empty or absent: no Lambda processor.
    pub(crate) function: Option<String>,
    /// Records per invocation, as request bytes (Firehose `BufferSizeInMBs`, 0.2..3).
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) buffer_size_mib: Option<MilliMebibytes>,
    /// Longest wait of a record for its invocation (Firehose `BufferIntervalInSeconds`, 0..900).
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) buffer_interval_s: Option<u64>,
    /// Retries of a failed invocation (Firehose `NumberOfRetries`, 0..300).
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) retries: Option<u32>,
    /// Lambda's endpoint (a local stand-in); empty: AWS's.
    pub(crate) endpoint_url: Option<String>,
}

/// Firehose's range of `BufferSizeInMBs` for the Lambda processor, in thousandths of a MiB.
const BUFFER_SIZE_MILLI_MIB: RangeInclusive<u64> = 200..=3_000;
/// Firehose's range of `BufferIntervalInSeconds` for the Lambda processor.
const BUFFER_INTERVAL_S: RangeInclusive<u64> = 0..=900;
/// Firehose's range of `NumberOfRetries`.
const RETRIES: RangeInclusive<u32> = 0..=300;

/// The Lambda processor, validated: what the worker and `dry-run` build it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaConfig {
    /// The function's name or ARN (not empty).
    pub function: String,
    /// Cut a batch before its request would pass this many bytes.
    pub buffer_size_bytes: usize,
    /// Cut a batch (at a recorded flush point) once its oldest record waited this long.
    pub buffer_interval_ms: u64,
    /// Retries of a failed invocation.
    pub retries: u32,
    /// Lambda's endpoint, when not AWS's.
    pub endpoint_url: Option<String>,
}

impl LambdaSection {
    /// Checks every key; `None` when no function is named (the processor is off).
    pub(super) fn validate(self) -> Result<Option<LambdaConfig>, ConfigError> {
        let function = self.function.unwrap_or_default().trim().to_owned();
        if function.is_empty() {
            return Ok(None);
        }
        let size = self.buffer_size_mib.unwrap_or(MilliMebibytes(1_000));
        if !BUFFER_SIZE_MILLI_MIB.contains(&size.0) {
            #[allow(clippy::cast_precision_loss)]
            return Err(err(format!(
                "config key `processing.lambda.buffer_size_mib`: must be 0.2..=3 (MiB of records per invocation, Firehose BufferSizeInMBs), got {}",
                size.0 as f64 / 1000.0
            )));
        }
        let interval = bounds::within(
            "processing.lambda.buffer_interval_s",
            self.buffer_interval_s.unwrap_or(60),
            &BUFFER_INTERVAL_S,
            "seconds a record waits for its invocation, Firehose BufferIntervalInSeconds",
        )?;
        let retries = bounds::within(
            "processing.lambda.retries",
            self.retries.unwrap_or(3),
            &RETRIES,
            "retries of a failed invocation, Firehose NumberOfRetries",
        )?;
        let endpoint_url = self
            .endpoint_url
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty());
        if let Some(e) = &endpoint_url
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(err(format!(
                "config key `processing.lambda.endpoint_url`: `{e}` is not an http:// or https:// URL"
            )));
        }
        Ok(Some(LambdaConfig {
            function,
            buffer_size_bytes: size.bytes(),
            buffer_interval_ms: interval * 1000,
            retries,
            endpoint_url,
        }))
    }
}
