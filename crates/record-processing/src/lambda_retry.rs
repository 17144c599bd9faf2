//! Which failed invocations of the Lambda processor are tried again, after how long, and what
//! every record of the batch becomes when the retries are spent (Firehose's `NumberOfRetries`).
//!
//! Retried: throttling (429), Lambda's 5xx errors, timeouts, connection failures, and function
//! errors (Firehose's error output shows `attemptsMade` 4 for `Lambda.FunctionError` and
//! `Lambda.FunctionTimedOut` with the default 3 retries). Not retried: answers that another try
//! cannot change (access denied, no such function, other 4xx). A response that arrived is read
//! by [`crate::lambda_response`] and never retried here.
//!
//! Backoff: exponential from `base_delay_ms`, doubling per attempt up to `max_delay_ms`, with
//! "equal jitter" (half the delay fixed, half spread) taken from a seed the caller gives (for
//! instance a hash of the batch's first recordId), so the same batch and attempt always wait
//! the same time: the policy reads no clock and no random source.

use std::borrow::Cow;

use crate::error_codes::{
    LAMBDA_FUNCTION_ERROR, LAMBDA_FUNCTION_TIMED_OUT, LAMBDA_INVOKE_ACCESS_DENIED,
    LAMBDA_INVOKE_LIMIT_EXCEEDED, LAMBDA_NETWORK_ERROR, LAMBDA_REQUEST_TOO_LARGE,
    LAMBDA_RESOURCE_NOT_FOUND,
};
use crate::lambda_response::LambdaFailure;

/// How one invocation failed, as the shell saw it (no response to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeFailure {
    /// Lambda answered with an error status. `error_type` is Lambda's error name when it gave
    /// one (`TooManyRequestsException`, `ServiceException`, `ENILimitReachedException`, …).
    Status {
        /// The HTTP status.
        status: u16,
        /// Lambda's error name, if any.
        error_type: Option<String>,
        /// Lambda's message.
        message: String,
    },
    /// The function ran and raised an error (`X-Amz-Function-Error`).
    FunctionError {
        /// The function's `errorMessage`, if any.
        message: String,
    },
    /// No answer in time (the client's timeout, or the function's).
    Timeout,
    /// No answer at all: connection refused or reset, DNS failure.
    Network {
        /// What the client said.
        message: String,
    },
}

/// Firehose's `NumberOfRetries` and the backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (Firehose's default is 3: at most 4 attempts).
    pub retries: u32,
    /// Delay before the first retry, before jitter.
    pub base_delay_ms: u64,
    /// Longest delay, before jitter.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    /// 3 retries, 1 s doubling up to 30 s.
    fn default() -> Self {
        Self {
            retries: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 30_000,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Invoke the same request again after this many milliseconds.
    RetryAfter {
        /// The wait.
        delay_ms: u64,
    },
    /// Stop: every record of the batch goes to the error output with this failure.
    GiveUp(LambdaFailure),
}

impl InvokeFailure {
    /// Whether another attempt may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::FunctionError { .. } | Self::Timeout | Self::Network { .. } => true,
        }
    }

    /// The code and message every record of the batch gets when this failure ends the retries.
    /// Guarantees: the code is one of the `LAMBDA_*` codes of [`crate::error_codes`], or
    /// `Lambda.` followed by Lambda's own error name (letters and digits only, at most 64).
    #[must_use]
    pub fn failure(&self, attempts_made: u32) -> LambdaFailure {
        let tries = format!("({attempts_made} attempt(s))");
        let (error_code, error_message): (Cow<'static, str>, String) = match self {
            Self::Status { status: 429, .. } => (
                LAMBDA_INVOKE_LIMIT_EXCEEDED.into(),
                format!(
                    "The Lambda concurrent execution limit is exceeded {tries}. Increase the concurrent execution limit."
                ),
            ),
            Self::Status {
                status: 403,
                message,
                ..
            } => (
                LAMBDA_INVOKE_ACCESS_DENIED.into(),
                format!(
                    "Access was denied. Ensure that the access policy allows access to the Lambda function. ({message})"
                ),
            ),
            Self::Status {
                status: 404,
                message,
                ..
            } => (
                LAMBDA_RESOURCE_NOT_FOUND.into(),
                format!("The specified Lambda function does not exist. ({message})"),
            ),
            Self::Status {
                status: 413,
                message,
                ..
            } => (
                LAMBDA_REQUEST_TOO_LARGE.into(),
                format!("Lambda refused the request as too large. ({message})"),
            ),
            Self::Status {
                status,
                error_type,
                message,
            } => (
                lambda_error_code(error_type.as_deref(), *status),
                format!("Lambda answered HTTP {status} {tries}: {message}"),
            ),
            Self::FunctionError { message } => (
                LAMBDA_FUNCTION_ERROR.into(),
                format!(
                    "The Lambda function was successfully invoked but it returned an error result {tries}: {message}"
                ),
            ),
            Self::Timeout => (
                LAMBDA_FUNCTION_TIMED_OUT.into(),
                format!(
                    "The Lambda function invocation timed out {tries}. Increase the Timeout setting in the Lambda function."
                ),
            ),
            Self::Network { message } => (
                LAMBDA_NETWORK_ERROR.into(),
                format!("Lambda could not be reached {tries}: {message}"),
            ),
        };
        LambdaFailure {
            error_code,
            error_message,
        }
    }
}

/// `Lambda.<Lambda's error name>` (Firehose's pattern: `Lambda.ENILimitReachedException`), or
/// `Lambda.ServiceException` / `Lambda.InvokeFailed` without a usable name.
fn lambda_error_code(error_type: Option<&str>, status: u16) -> Cow<'static, str> {
    let name: String = error_type
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    match (name.is_empty(), status >= 500) {
        (false, _) => format!("Lambda.{name}").into(),
        (true, true) => "Lambda.ServiceException".into(),
        (true, false) => "Lambda.InvokeFailed".into(),
    }
}

impl RetryPolicy {
    /// What to do after attempt number `attempts_made` (1 for the first) failed with `failure`.
    /// Guarantees: at most `retries` retries; the same arguments always give the same decision;
    /// a delay is within `[d/2, d]` for `d = min(max_delay_ms, base_delay_ms * 2^(attempt-1))`.
    #[must_use]
    pub fn decide(&self, attempts_made: u32, failure: &InvokeFailure, seed: u64) -> RetryDecision {
        if failure.is_retryable() && attempts_made <= self.retries {
            RetryDecision::RetryAfter {
                delay_ms: self.delay_ms(attempts_made, seed),
            }
        } else {
            RetryDecision::GiveUp(failure.failure(attempts_made))
        }
    }

    /// The wait before retry number `retry` (1 for the first), jittered by `seed`.
    #[must_use]
    pub fn delay_ms(&self, retry: u32, seed: u64) -> u64 {
        let doublings = retry.saturating_sub(1).min(63);
        let delay = self
            .base_delay_ms
            .saturating_mul(1_u64 << doublings)
            .min(self.max_delay_ms);
        let half = delay / 2;
        half + splitmix64(seed ^ u64::from(retry)) % (delay - half + 1)
    }
}

/// SplitMix64: a fixed, well-mixed hash of a number (stable across builds and platforms).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "lambda_retry/tests.rs"]
mod tests;
