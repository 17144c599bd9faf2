//! How kinesink describes an AWS SDK error in a log line or an error message: one line, the
//! same for every service (Kinesis, DynamoDB, S3, Glue), so an operator reads one shape
//! whichever adapter failed.
//!
//! Owns: the text of an SDK error (service code and message, or the cause chain of a failure
//! that never reached the service); which errors every AWS service means as "later"
//! ([`is_answered_transient`]) or as "no answer at all" ([`is_unreachable`]); and the start-up
//! retry of answers that pass ([`retry_answered_transient`]).
//! Must never: decide what an error means for a running worker (its retry classes belong to
//! each adapter, which knows its service's codes), or depend on a service crate (`aws-sdk-*`):
//! it reads only the generic smithy error types.

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// One line describing an SDK error: `Code: message` for an error the service answered with,
/// the whole cause chain (`dispatch failure: io error: connection refused`) otherwise.
/// Whitespace (the SDK's multi-line messages included) is collapsed to single spaces.
pub fn sdk_error_line<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(s) => one_line(&format!(
            "{}: {}",
            s.err().code().unwrap_or("service error"),
            s.err().message().unwrap_or("(no message)")
        )),
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            one_line(&text)
        }
    }
}

/// An error and every error in its `source()` chain, joined by `": "`, on one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    one_line(&text)
}

/// Whether the call never got an answer: the endpoint could not be reached, or timed out.
pub fn is_unreachable<E, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))
}

/// Error codes with which AWS services (and S3-compatible stores) say "later", not "no".
pub const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "RequestTimeout",
];

/// Whether the service answered, but with a failure that passes (a 5xx, throttling, or an
/// answer cut off): worth retrying at start-up. An endpoint that does not answer at all is not
/// (a wrong `endpoint_url` should fail at once), nor is a refusal (no such stream or bucket,
/// access denied).
pub fn is_answered_transient<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error()
                || s.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        SdkError::ResponseError(_) => true,
        _ => false,
    }
}

/// Runs a start-up check, retrying answers that pass ([`is_answered_transient`]) with
/// exponential backoff for up to `retry_duration` (the config key `retry_key` sets it; it is
/// named in the WARN logged before each retry), so a worker restarted during a short S3 or
/// Kinesis brown-out waits instead of exiting. Returns the last error once that time is spent,
/// or at once for any other error.
///
/// # Errors
/// The check's error: a refusal or an unreachable endpoint at once, an answer that passes once
/// `retry_duration` is spent.
pub async fn retry_answered_transient<T, E, F, Fut>(
    what: &str,
    endpoint: &str,
    retry_duration: Duration,
    retry_key: &str,
    mut check: F,
) -> Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
        .build();
    // The retry duration is a deadline, not a sum of jittered delays: the last pause is cut to
    // end at the deadline, where one more check runs before the error is returned.
    let deadline = tokio::time::Instant::now() + retry_duration;
    loop {
        match check().await {
            Err(e) if is_answered_transient(&e) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return Err(e);
                }
                let pause = delays.next().unwrap_or(left).min(left);
                tracing::warn!(endpoint = %endpoint, error = %sdk_error_line(&e), ?pause, "{what} failed at start-up; retrying (up to {retry_key})");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

/// How an endpoint is named in an error line: the configured value, else the
/// `AWS_ENDPOINT_URL_<SERVICE_ENV>` or `AWS_ENDPOINT_URL` variable in force, else the region's
/// default endpoint.
pub fn describe_endpoint(
    service_env: &str,
    configured: Option<&str>,
    region: Option<&str>,
) -> String {
    if let Some(c) = configured {
        return c.to_owned();
    }
    for var in [
        format!("AWS_ENDPOINT_URL_{service_env}"),
        "AWS_ENDPOINT_URL".to_owned(),
    ] {
        if let Ok(v) = std::env::var(&var)
            && !v.is_empty()
        {
            return v;
        }
    }
    format!(
        "the default AWS endpoint of region {}",
        region.unwrap_or("?")
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    #[derive(Debug)]
    struct ServiceFailure(ErrorMetadata);

    impl std::fmt::Display for ServiceFailure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("service failure")
        }
    }
    impl std::error::Error for ServiceFailure {}
    impl ProvideErrorMetadata for ServiceFailure {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        )
    }

    #[test]
    fn a_service_answer_is_described_by_its_code_and_message_on_one_line() {
        let e: SdkError<ServiceFailure, HttpResponse> = SdkError::service_error(
            ServiceFailure(
                ErrorMetadata::builder()
                    .code("NoSuchBucket")
                    .message("The specified bucket\n  does not exist")
                    .build(),
            ),
            response(404),
        );
        assert_eq!(
            sdk_error_line(&e),
            "NoSuchBucket: The specified bucket does not exist"
        );
    }

    #[test]
    fn a_service_answer_without_code_or_message_says_so() {
        let e: SdkError<ServiceFailure, HttpResponse> = SdkError::service_error(
            ServiceFailure(ErrorMetadata::builder().build()),
            response(500),
        );
        assert_eq!(sdk_error_line(&e), "service error: (no message)");
    }

    #[test]
    fn a_failure_that_never_reached_the_service_is_described_by_its_cause_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e: SdkError<ServiceFailure, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let line = sdk_error_line(&e);
        assert!(line.starts_with("dispatch failure"), "{line}");
        assert!(line.ends_with("connection refused"), "{line}");
        assert!(!line.contains('\n'));
    }

    fn answer(status: u16, code: Option<&str>) -> SdkError<ServiceFailure, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        SdkError::service_error(ServiceFailure(meta.build()), response(status))
    }

    #[test]
    fn a_5xx_or_a_throttling_code_passes_and_a_refusal_does_not() {
        assert!(is_answered_transient(&answer(503, None)));
        assert!(is_answered_transient(&answer(
            400,
            Some("ThrottlingException")
        )));
        assert!(is_answered_transient(&answer(503, Some("SlowDown"))));
        assert!(!is_answered_transient(&answer(404, Some("NoSuchBucket"))));
        assert!(!is_answered_transient(&answer(403, Some("AccessDenied"))));
        assert!(!is_answered_transient(&answer(
            400,
            Some("ResourceNotFoundException")
        )));
    }

    #[test]
    fn an_endpoint_that_does_not_answer_is_unreachable_and_not_retried_at_start_up() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e: SdkError<ServiceFailure, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        assert!(is_unreachable(&e));
        assert!(!is_answered_transient(&e));
        assert!(!is_unreachable(&answer(503, None)));
    }

    #[tokio::test(start_paused = true)]
    async fn start_up_checks_retry_answers_that_pass_until_the_retry_duration_then_return_the_error()
     {
        let mut calls = 0;
        let started = tokio::time::Instant::now();
        let result: Result<(), _> =
            retry_answered_transient("check", "here", Duration::from_secs(30), "k", || {
                calls += 1;
                async { Err(answer(503, None)) }
            })
            .await;
        assert!(result.is_err());
        assert!(calls > 2, "retried: {calls} calls");
        let waited = started.elapsed();
        assert!(
            waited <= Duration::from_secs(31) && waited >= Duration::from_secs(30),
            "waited {waited:?}"
        );
        // A refusal is returned at once.
        let mut calls = 0;
        let _ = retry_answered_transient("check", "here", Duration::from_secs(30), "k", || {
            calls += 1;
            async { Err::<(), _>(answer(403, Some("AccessDenied"))) }
        })
        .await;
        assert_eq!(calls, 1);
    }
}
