//! The retry class of an AWS SDK failure that reached us through iceberg-rust's Glue catalog.
//!
//! iceberg-rust 0.10.1 (`iceberg-catalog-glue`) turns every Glue SDK failure it does not map
//! itself (a missing table or namespace, a commit conflict) into an `ErrorKind::Unexpected`
//! error whose source is only text: `aws sdk error: {the SdkError's Debug}`. Unexpected errors
//! are transient for kinesink (a locked SQLite file, a dropped connection), so without a look
//! at that text an `AccessDeniedException` from Glue would be retried forever. This module
//! reads the service's error code and HTTP status back out of the text.
//!
//! Pure: it reads a string and nothing else.

use crate::error_class::IcebergErrorClass;

/// The prefix iceberg-rust's Glue catalog gives the source of an SDK failure.
const GLUE_SDK_ERROR_PREFIX: &str = "aws sdk error: ";

/// The prefix iceberg-rust's Glue catalog gives the source of a request it could not build.
const GLUE_BUILD_ERROR_PREFIX: &str = "aws build error: ";

/// Error codes that pass by themselves although their status is 4xx.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ConcurrentModificationException",
    "ConcurrentRunsExceededException",
    "OperationTimeoutException",
    "ResourceNotReadyException",
    "InternalServiceException",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// The retry class of an SDK failure described by `source` (the text of an iceberg-rust
/// error's source), or `None` when it is not an AWS SDK failure's description.
///
/// Guarantees: an answer of the service with a 4xx status and an error code that is not a
/// throttling, timeout or concurrency code (`AccessDeniedException`, `ValidationException`,
/// `InvalidInputException`, `EntityNotFoundException`, `ResourceNumberLimitExceededException`,
/// …) is [`IcebergErrorClass::Permanent`]: only an operator can fix it (an IAM policy, a
/// name). A 5xx or 429 answer, a throttling code, and every failure without an answer (the
/// request was never sent or its response was lost: `DispatchFailure`, `TimeoutError`,
/// `ResponseError`) are [`IcebergErrorClass::Transient`]. A request the SDK could not build is
/// permanent.
#[must_use]
pub fn sdk_error_class(source: &str) -> Option<IcebergErrorClass> {
    if source.starts_with(GLUE_BUILD_ERROR_PREFIX) {
        return Some(IcebergErrorClass::Permanent);
    }
    let debug = source.strip_prefix(GLUE_SDK_ERROR_PREFIX)?;
    if debug.starts_with("ConstructionFailure") {
        return Some(IcebergErrorClass::Permanent);
    }
    if !debug.starts_with("ServiceError") {
        return Some(IcebergErrorClass::Transient);
    }
    let code = error_code(debug);
    let status = http_status(debug);
    let transient = code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
        || status.is_none_or(|s| s >= 500 || s == 429);
    Some(if transient {
        IcebergErrorClass::Transient
    } else {
        IcebergErrorClass::Permanent
    })
}

/// The service's error code in an `SdkError`'s Debug text: `code: Some("…")` of its metadata.
fn error_code(debug: &str) -> Option<&str> {
    let start = debug.find("code: Some(\"")? + "code: Some(\"".len();
    let len = debug[start..].find('"')?;
    Some(&debug[start..start + len])
}

/// The HTTP status in an `SdkError`'s Debug text: `status: StatusCode(…)` of its raw response.
fn http_status(debug: &str) -> Option<u16> {
    let start = debug.find("StatusCode(")? + "StatusCode(".len();
    let len = debug[start..].find(')')?;
    debug[start..start + len].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::config::http::HttpResponse;
    use aws_sdk_glue::error::{ErrorMetadata, SdkError};
    use aws_sdk_glue::operation::get_table::GetTableError;
    use aws_sdk_glue::operation::update_table::UpdateTableError;

    /// What iceberg-rust's Glue catalog makes the source text of an SDK failure
    /// (`iceberg_catalog_glue::error::from_aws_sdk_error`, private there).
    fn as_iceberg_source<E: std::fmt::Debug>(error: &SdkError<E, HttpResponse>) -> String {
        format!("aws sdk error: {error:?}")
    }

    fn answer(status: u16, code: &str) -> SdkError<GetTableError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("refused by the test")
            .build();
        SdkError::service_error(
            GetTableError::generic(meta),
            HttpResponse::new(
                status.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            ),
        )
    }

    #[test]
    fn glue_refusals_an_operator_must_fix_are_permanent() {
        for code in [
            "AccessDeniedException",
            "ValidationException",
            "InvalidInputException",
            "EntityNotFoundException",
            "ResourceNumberLimitExceededException",
        ] {
            let text = as_iceberg_source(&answer(400, code));
            assert_eq!(
                sdk_error_class(&text),
                Some(IcebergErrorClass::Permanent),
                "{code}: {text}"
            );
        }
    }

    #[test]
    fn glue_throttling_server_errors_and_concurrent_changes_are_transient() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (400, "ConcurrentModificationException"),
            (400, "OperationTimeoutException"),
            (429, "TooManyRequests"),
            (500, "InternalServiceException"),
            (503, "ServiceUnavailable"),
        ] {
            let text = as_iceberg_source(&answer(status, code));
            assert_eq!(
                sdk_error_class(&text),
                Some(IcebergErrorClass::Transient),
                "{status} {code}: {text}"
            );
        }
    }

    #[test]
    fn a_modelled_glue_exception_is_classified_by_its_code_too() {
        let meta = ErrorMetadata::builder()
            .code("AccessDeniedException")
            .build();
        let e: SdkError<UpdateTableError, HttpResponse> = SdkError::service_error(
            UpdateTableError::generic(meta),
            HttpResponse::new(
                403.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            ),
        );
        assert_eq!(
            sdk_error_class(&as_iceberg_source(&e)),
            Some(IcebergErrorClass::Permanent)
        );
    }

    #[test]
    fn a_failure_without_an_answer_is_transient() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e: SdkError<GetTableError, HttpResponse> = SdkError::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::io(Box::new(io)),
        );
        assert_eq!(
            sdk_error_class(&as_iceberg_source(&e)),
            Some(IcebergErrorClass::Transient)
        );
        let e: SdkError<GetTableError, HttpResponse> =
            SdkError::timeout_error("read timed out".to_owned());
        assert_eq!(
            sdk_error_class(&as_iceberg_source(&e)),
            Some(IcebergErrorClass::Transient)
        );
    }

    #[test]
    fn a_request_the_sdk_could_not_build_is_permanent() {
        let e: SdkError<GetTableError, HttpResponse> =
            SdkError::construction_failure("missing field `name`".to_owned());
        assert_eq!(
            sdk_error_class(&as_iceberg_source(&e)),
            Some(IcebergErrorClass::Permanent)
        );
        assert_eq!(
            sdk_error_class("aws build error: BuildError { kind: MissingField }"),
            Some(IcebergErrorClass::Permanent)
        );
    }

    #[test]
    fn other_text_is_not_an_sdk_failure() {
        assert_eq!(sdk_error_class("database is locked"), None);
        assert_eq!(sdk_error_class(""), None);
    }
}
