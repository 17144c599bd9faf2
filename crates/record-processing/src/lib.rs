//! Firehose's record processors, as pure functions: what happens to a record's bytes between
//! KPL deaggregation and JSON/delimited splitting, and the pure core of the Lambda processor.
//!
//! Owns: decompression ([`Decompression`], Firehose's Decompression processor: gzip, with a
//! bound on the decompressed size so no record can exhaust memory) and CloudWatch Logs message
//! extraction ([`cloudwatch_logs::extract_messages`], Firehose's CloudWatchLogProcessing
//! `DataMessageExtraction`: one record per log event `message`, `CONTROL_MESSAGE` envelopes
//! dropped), and the error codes of their failures ([`error_codes`]).
//!
//! Owns the Lambda processor's formats and decisions, without invoking anything: the
//! `recordId` of a record from its position ([`lambda_record_id`]), the request event
//! ([`lambda_event`]), the response read into one outcome per record with Firehose's error codes
//! ([`lambda_response`]), the deterministic batching state machine whose time cuts are recorded
//! before they are invoked ([`lambda_batching`]), and which failed invocations are retried
//! after how long ([`lambda_retry`]). The shell (the `delivery` crate) invokes, records cuts and
//! feeds the outcomes on.
//!
//! Must never: depend on tokio, an AWS SDK crate or a clock (time is passed in); panic, hang or
//! allocate without bound on any input (every failure is returned, for the error output); drop
//! a record except a `CONTROL_MESSAGE` envelope, a `DATA_MESSAGE` without log events, or a
//! record the Lambda function returned as `Dropped`, which the caller counts.

pub mod cloudwatch_logs;
mod decompression;
pub mod error_codes;
pub mod lambda_batching;
pub mod lambda_event;
pub mod lambda_record_id;
pub mod lambda_response;
pub mod lambda_retry;

pub use cloudwatch_logs::{Envelope, EnvelopeError};
pub use decompression::{Decompression, DecompressionError, MAX_DECOMPRESSED_BYTES};

/// The processors a delivery runs, in Firehose's order after KPL deaggregation:
/// [`Decompression`], then CloudWatch Logs message extraction. Both off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Processors {
    /// `processing.decompression`.
    pub decompression: Decompression,
    /// `processing.cloudwatch_logs_message_extraction`: each `DATA_MESSAGE` envelope becomes
    /// one record per log event; `CONTROL_MESSAGE` envelopes are dropped (and counted).
    pub cloudwatch_logs_message_extraction: bool,
}

impl Processors {
    /// Whether every processor is off (records pass unchanged).
    #[must_use]
    pub fn is_off(&self) -> bool {
        self.decompression == Decompression::None && !self.cloudwatch_logs_message_extraction
    }
}
