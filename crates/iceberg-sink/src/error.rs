//! The crate's one error type and its retry class.

pub use crate::error_class::IcebergErrorClass;
use crate::sdk_error_class::sdk_error_class;

/// An Iceberg catalog or commit operation that failed.
///
/// Guarantees: [`IcebergSinkError::class`] says whether retrying can help; `message` names
/// what was being done to which table or catalog, and `source` keeps iceberg-rust's error
/// (kind, context, cause) when there is one. A commit that failed with this error may still
/// have reached the catalog when the failure came after the catalog's compare-and-swap (an
/// unknown commit state): the next fenced commit of the same shards tells (it is refused with
/// the positions the table holds).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct IcebergSinkError {
    /// What was being done (`"commit to analytics.events"`, `"open the sql catalog"`).
    pub operation: String,
    /// What went wrong, and for a permanent failure what to fix.
    pub message: String,
    /// Whether waiting can fix it.
    pub class: IcebergErrorClass,
    /// iceberg-rust's error, when the failure came from it (boxed: it is large).
    #[source]
    pub source: Option<Box<iceberg::Error>>,
}

impl IcebergSinkError {
    /// An error of ours (settings, arguments), not iceberg-rust's.
    pub(crate) fn permanent(operation: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            operation: operation.into(),
            message: message.into(),
            class: IcebergErrorClass::Permanent,
            source: None,
        }
    }

    /// An iceberg-rust error, classified by its kind ([`class_of`]).
    pub(crate) fn from_iceberg(operation: impl Into<String>, error: iceberg::Error) -> Self {
        Self {
            operation: operation.into(),
            message: error.to_string(),
            class: class_of(&error),
            source: Some(Box::new(error)),
        }
    }

    /// Whether waiting can fix it.
    #[must_use]
    pub fn class(&self) -> IcebergErrorClass {
        self.class
    }
}

/// The retry class of an iceberg-rust error.
///
/// Retryable errors (iceberg-rust marks commit conflicts so) and `CatalogCommitConflicts` are
/// transient; so is `Unexpected`, the kind iceberg-rust gives sqlx and storage failures (a
/// locked SQLite file, a dropped Postgres connection, an S3 5xx), which usually pass, except
/// an AWS SDK failure of the Glue catalog that only an operator can fix (an
/// `AccessDeniedException`, a `ValidationException`: [`sdk_error_class`]) and a REST catalog's
/// answer an operator must fix (401, 403, 404...: [`rest_status_class`]). Every other kind
/// (missing table or namespace, invalid data, unsupported feature, a precondition of
/// iceberg-rust's own) is permanent.
#[must_use]
pub fn class_of(error: &iceberg::Error) -> IcebergErrorClass {
    use iceberg::ErrorKind;
    if error.retryable() {
        return IcebergErrorClass::Transient;
    }
    match error.kind() {
        ErrorKind::CatalogCommitConflicts => IcebergErrorClass::Transient,
        ErrorKind::Unexpected => std::error::Error::source(error)
            .and_then(|source| sdk_error_class(&source.to_string()))
            .or_else(|| rest_status_class(error))
            .unwrap_or(IcebergErrorClass::Transient),
        _ => IcebergErrorClass::Permanent,
    }
}

/// What iceberg-catalog-rest 0.10.1 says (as `Unexpected`, the HTTP status in its context)
/// when a REST catalog answers with a status it has no meaning for.
const REST_UNEXPECTED_STATUS: &str = "Received response with unexpected status code";

/// The class of a REST catalog's unexpected answer: a 4xx other than 408 and 429 (401 or 403:
/// the token or credential; 400; a `catalog_uri` whose path serves no catalog: 404) is
/// permanent, only an operator can fix it; 5xx, 408 and 429 are transient. `None` for any
/// other error.
fn rest_status_class(error: &iceberg::Error) -> Option<IcebergErrorClass> {
    if error.message() != REST_UNEXPECTED_STATUS {
        return None;
    }
    let text = error.to_string();
    let status: u16 = text.split("status: ").nth(1)?.get(..3)?.parse().ok()?;
    Some(match status {
        408 | 429 => IcebergErrorClass::Transient,
        400..=499 => IcebergErrorClass::Permanent,
        _ => IcebergErrorClass::Transient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::{Error, ErrorKind};

    #[test]
    fn commit_conflicts_and_unexpected_failures_are_transient() {
        for kind in [ErrorKind::CatalogCommitConflicts, ErrorKind::Unexpected] {
            assert_eq!(
                class_of(&Error::new(kind, "x")),
                IcebergErrorClass::Transient
            );
        }
        let retryable = Error::new(ErrorKind::DataInvalid, "x").with_retryable(true);
        assert_eq!(class_of(&retryable), IcebergErrorClass::Transient);
    }

    #[test]
    fn an_unexpected_error_from_a_glue_refusal_an_operator_must_fix_is_permanent() {
        // As iceberg-rust's Glue catalog reports an SDK failure: Unexpected, the SDK error's
        // Debug text as source.
        let glue = |debug: &str| {
            Error::new(
                ErrorKind::Unexpected,
                "Operation failed for hitting aws sdk error",
            )
            .with_source(std::io::Error::other(format!("aws sdk error: {debug}")))
        };
        let denied = glue(
            r#"ServiceError(ServiceError { source: Unhandled(Unhandled { source: ErrorMetadata { code: Some("AccessDeniedException"), message: Some("no"), extras: None }, meta: ErrorMetadata { code: Some("AccessDeniedException") } }), raw: Response { status: StatusCode(400), headers: Headers { headers: {} }, body: SdkBody { inner: Taken, retryable: true }, extensions: Extensions } })"#,
        );
        assert_eq!(class_of(&denied), IcebergErrorClass::Permanent);
        let refused =
            glue("DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io } })");
        assert_eq!(class_of(&refused), IcebergErrorClass::Transient);
    }

    #[test]
    fn a_rest_catalog_refusing_the_credentials_or_the_path_is_permanent_its_outages_transient() {
        let answered = |status: &str| {
            Error::new(ErrorKind::Unexpected, REST_UNEXPECTED_STATUS)
                .with_context("status", status)
                .with_context("headers", "{}")
        };
        for status in ["401 Unauthorized", "403 Forbidden", "404 Not Found"] {
            assert_eq!(
                class_of(&answered(status)),
                IcebergErrorClass::Permanent,
                "{status}"
            );
        }
        for status in [
            "503 Service Unavailable",
            "429 Too Many Requests",
            "500 Internal",
        ] {
            assert_eq!(
                class_of(&answered(status)),
                IcebergErrorClass::Transient,
                "{status}"
            );
        }
    }

    #[test]
    fn missing_tables_invalid_data_and_preconditions_are_permanent() {
        for kind in [
            ErrorKind::TableNotFound,
            ErrorKind::NamespaceNotFound,
            ErrorKind::DataInvalid,
            ErrorKind::FeatureUnsupported,
            ErrorKind::PreconditionFailed,
        ] {
            assert_eq!(
                class_of(&Error::new(kind, "x")),
                IcebergErrorClass::Permanent
            );
        }
    }
}
