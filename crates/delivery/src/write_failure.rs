//! Why a destination write failed, and what to do about it: the retry class of a [`SinkError`]
//! and the pace of its retries.
//!
//! A transient failure (throttling, a 5xx, a timeout, a broken connection) passes by itself and
//! is retried with fast exponential backoff. A permanent one (access denied, no such bucket, a
//! disabled KMS key, a store without conditional writes) only passes once an operator fixes
//! something: it is reported in one line naming the cause and the fix, and retried at a slow,
//! fixed pace, so the pipeline resumes by itself once it is fixed (as Firehose does), but
//! visibly. Both end after the configured retry duration.
//!
//! Pure: no clock reads (elapsed time is passed in), no I/O.

use std::time::Duration;

use crate::sink::{SinkError, SinkErrorClass};

/// Classifies an S3 (or S3-compatible) answer: its HTTP status (`None`: no answer at all) and
/// error code. Returns the class and, for permanent refusals with a known cause, what to fix.
///
/// Guarantees: no answer, 5xx other than 501, 408, 429, and the codes S3 uses for "later"
/// (`SlowDown`, `RequestTimeout`, `InternalError`, `ServiceUnavailable`, `OperationAborted`,
/// `RequestTimeTooSkewed`) are transient; every other 4xx and 501 `NotImplemented` is permanent.
#[must_use]
pub fn classify_s3(
    status: Option<u16>,
    code: Option<&str>,
) -> (SinkErrorClass, Option<&'static str>) {
    const LATER: &[&str] = &[
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
    ];
    if code.is_some_and(|c| LATER.contains(&c)) {
        return (SinkErrorClass::Transient, None);
    }
    let hint = match code {
        Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem") => Some(
            "the worker may not write there: check its IAM policy (deploy/iam: s3:PutObject on the destination prefix) and the bucket policy",
        ),
        Some("NoSuchBucket") => {
            Some("the bucket does not exist (deleted?): create it again, or fix destination.url")
        }
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken") => {
            Some("the worker's AWS credentials are invalid or expired")
        }
        Some(c) if c.starts_with("KMS") => Some(
            "the KMS key cannot be used: check that destination.kms_key_id is enabled and the worker may use it (kms:GenerateDataKey)",
        ),
        Some("NotImplemented") => Some(
            "the store does not support S3 conditional writes: set destination.conditional_writes = false",
        ),
        _ => None,
    };
    match status {
        None | Some(408 | 429) => (SinkErrorClass::Transient, None),
        Some(501) => (SinkErrorClass::Permanent, hint),
        Some(s) if s >= 500 => (SinkErrorClass::Transient, None),
        Some(s) if (400..500).contains(&s) => (SinkErrorClass::Permanent, hint),
        // A 3xx (e.g. a bucket in another region answering 301) cannot be followed by waiting.
        Some(_) => (SinkErrorClass::Permanent, hint),
    }
}

/// Classifies a filesystem error of the `file://` destination: a missing directory or a
/// permission refused is permanent (an operator fixes it), anything else transient.
#[must_use]
pub fn classify_io(kind: std::io::ErrorKind) -> SinkErrorClass {
    match kind {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            SinkErrorClass::Permanent
        }
        _ => SinkErrorClass::Transient,
    }
}

/// The pause between permanent-failure retries.
pub const PERMANENT_RETRY_PACE: Duration = Duration::from_secs(10);

/// When to retry a failed write: the fast backoff's next pause for a transient failure, the
/// slow fixed [`PERMANENT_RETRY_PACE`] for a permanent one; `None` once `retry_duration` since
/// the first failure would be passed.
///
/// Guarantees: never a pause that ends after `retry_duration` from the first failure; the
/// class of each failure picks its own pace (a permanent refusal that turns into throttling is
/// retried fast again).
#[derive(Debug, Clone)]
pub struct WriteRetry {
    retry_duration: Duration,
    transient_attempts: u32,
}

impl WriteRetry {
    /// Retries for up to `retry_duration` from the first failure.
    #[must_use]
    pub fn new(retry_duration: Duration) -> Self {
        Self {
            retry_duration,
            transient_attempts: 0,
        }
    }

    /// The pause before the next attempt after a failure of `class`, `failing_for` after the
    /// first failure; `None`: give up.
    pub fn next_pause(&mut self, failing_for: Duration, class: SinkErrorClass) -> Option<Duration> {
        let pause = match class {
            SinkErrorClass::Permanent => PERMANENT_RETRY_PACE,
            SinkErrorClass::Transient => {
                // 100 ms doubling to 10 s (jitter is the caller's: it has the randomness).
                let exponent = self.transient_attempts.min(7);
                self.transient_attempts += 1;
                (Duration::from_millis(100) * 2_u32.pow(exponent)).min(Duration::from_secs(10))
            }
        };
        let left = self.retry_duration.checked_sub(failing_for)?;
        (!left.is_zero()).then(|| pause.min(left))
    }
}

impl SinkError {
    /// Whether waiting can fix this failure.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        self.class == SinkErrorClass::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_refusals_an_operator_must_fix_are_permanent_with_what_to_fix() {
        for (status, code, fix) in [
            (403, "AccessDenied", "IAM policy"),
            (404, "NoSuchBucket", "create it again"),
            (400, "KMS.DisabledException", "kms_key_id"),
            (501, "NotImplemented", "conditional_writes = false"),
            (403, "InvalidAccessKeyId", "credentials"),
        ] {
            let (class, hint) = classify_s3(Some(status), Some(code));
            assert_eq!(class, SinkErrorClass::Permanent, "{code}");
            assert!(hint.is_some_and(|h| h.contains(fix)), "{code}: {hint:?}");
        }
        assert_eq!(
            classify_s3(Some(400), Some("InvalidArgument")).0,
            SinkErrorClass::Permanent
        );
    }

    #[test]
    fn throttling_server_errors_and_no_answer_are_transient() {
        for (status, code) in [
            (Some(503), Some("SlowDown")),
            (Some(500), Some("InternalError")),
            (Some(502), None),
            (None, None),
            (Some(429), None),
            (Some(400), Some("RequestTimeout")),
            (Some(409), Some("OperationAborted")),
            (Some(403), Some("RequestTimeTooSkewed")),
        ] {
            assert_eq!(
                classify_s3(status, code).0,
                SinkErrorClass::Transient,
                "{status:?} {code:?}"
            );
        }
    }

    #[test]
    fn permanent_failures_are_retried_at_the_slow_pace_and_transient_ones_fast_until_the_retry_duration()
     {
        let mut retry = WriteRetry::new(Duration::from_secs(25));
        assert_eq!(
            retry.next_pause(Duration::ZERO, SinkErrorClass::Transient),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            retry.next_pause(Duration::from_millis(100), SinkErrorClass::Transient),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            retry.next_pause(Duration::from_secs(1), SinkErrorClass::Permanent),
            Some(PERMANENT_RETRY_PACE)
        );
        assert_eq!(
            retry.next_pause(Duration::from_secs(20), SinkErrorClass::Permanent),
            Some(Duration::from_secs(5)),
            "never past the retry duration"
        );
        assert_eq!(
            retry.next_pause(Duration::from_secs(25), SinkErrorClass::Permanent),
            None
        );
        for _ in 0..20 {
            let p = WriteRetry::new(Duration::from_secs(3600))
                .next_pause(Duration::ZERO, SinkErrorClass::Transient)
                .unwrap();
            assert!(p <= Duration::from_secs(10));
        }
    }
}
