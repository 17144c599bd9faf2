//! How kinesink describes an AWS SDK error in a log line or an error message: one line, the
//! same for every service (Kinesis, DynamoDB, S3, Glue), so an operator reads one shape
//! whichever adapter failed.
//!
//! Owns: the text of an SDK error (service code and message, or the cause chain of a failure
//! that never reached the service). Must never: decide what an error means for the caller
//! (retry classes belong to each adapter, which knows its service's codes), call AWS, or
//! depend on a service crate (`aws-sdk-*`): it reads only the generic smithy error types.

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
}
