//! Records that cannot be converted: the reason, Firehose's error code, and the error record.

use std::fmt;

use base64::Engine;

/// Firehose's error code for a record whose data does not fit the schema.
pub const MALFORMED_DATA_ERROR_CODE: &str = "DataFormatConversion.MalformedData";

/// The error output type (first level of the error prefix) of conversion failures.
pub const FORMAT_CONVERSION_FAILED_OUTPUT_TYPE: &str = "format-conversion-failed";

/// What kind of problem made a record unconvertible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConversionFailureKind {
    /// The record is empty or only whitespace.
    EmptyRecord,
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The bytes are not JSON.
    NotJson,
    /// The JSON is valid but not an object (Firehose refuses arrays and scalars as records).
    NotAJsonObject,
    /// A value has a JSON type that cannot be coerced to its column's type.
    TypeMismatch,
    /// A value is not in a form its column's type accepts (e.g. `"abc"` for an `int`).
    InvalidValue,
    /// A value is well formed but outside its column type's range.
    OutOfRange,
    /// The record is too large to be buffered in one row group.
    TooLarge,
}

/// Why one record was not written: the reason and the Firehose error code to report.
///
/// Guarantees: the encoder that returned it is unchanged by the failed record (no partial row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConversionFailure {
    kind: ConversionFailureKind,
    message: String,
}

impl ConversionFailure {
    pub(crate) fn new(kind: ConversionFailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> ConversionFailureKind {
        self.kind
    }

    /// The human-readable reason, naming the column (e.g. ``column `qty`: "abc" is not a valid int``).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The Firehose error code: [`MALFORMED_DATA_ERROR_CODE`] for every kind, as Firehose
    /// reports data that does not fit the schema.
    #[must_use]
    pub fn error_code(&self) -> &'static str {
        MALFORMED_DATA_ERROR_CODE
    }
}

/// The Glue table a schema was read from, echoed in error records as Firehose does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCatalogTable {
    /// Catalog (account) id.
    pub catalog_id: String,
    /// Glue database.
    pub database_name: String,
    /// Glue table.
    pub table_name: String,
    /// AWS region of the catalog.
    pub region: String,
    /// Table version id (`LATEST` when none was pinned).
    pub version_id: String,
}

/// One line of the `format-conversion-failed` error output, in Firehose's shape.
///
/// Guarantees: [`ConversionErrorRecord::to_json_line`] is one JSON object without a trailing
/// new line with the fields `attemptsMade`, `arrivalTimestamp`, `lastErrorCode`,
/// `lastErrorMessage`, `attemptEndingTimestamp`, `rawData` (base64 of the exact record bytes),
/// `sequenceNumber`, `subSequenceNumber` and, when known, `dataCatalogTable`. Times are given by
/// the caller (this crate reads no clock).
#[derive(Debug, Clone, Copy)]
pub struct ConversionErrorRecord<'a> {
    /// The record's bytes as received.
    pub raw_data: &'a [u8],
    /// The failure.
    pub failure: &'a ConversionFailure,
    /// Approximate arrival time of the record, ms since the epoch.
    pub arrival_timestamp_ms: i64,
    /// When the conversion was attempted, ms since the epoch.
    pub attempt_ending_timestamp_ms: i64,
    /// The record's Kinesis sequence number.
    pub sequence_number: &'a str,
    /// Sub-sequence number inside a KPL aggregate (`None` for a plain record).
    pub sub_sequence_number: Option<u64>,
    /// The Glue table, when the schema came from Glue.
    pub data_catalog_table: Option<&'a DataCatalogTable>,
}

impl ConversionErrorRecord<'_> {
    /// The record as a JSON line (without the new line).
    #[must_use]
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut value = serde_json::json!({
            "attemptsMade": 1,
            "arrivalTimestamp": self.arrival_timestamp_ms,
            "lastErrorCode": self.failure.error_code(),
            "lastErrorMessage": self.failure.message(),
            "attemptEndingTimestamp": self.attempt_ending_timestamp_ms,
            "rawData": base64::engine::general_purpose::STANDARD.encode(self.raw_data),
            "sequenceNumber": self.sequence_number,
            "subSequenceNumber": self.sub_sequence_number,
        });
        if let (Some(table), Some(object)) = (self.data_catalog_table, value.as_object_mut()) {
            object.insert(
                "dataCatalogTable".to_owned(),
                serde_json::json!({
                    "catalogId": table.catalog_id,
                    "databaseName": table.database_name,
                    "tableName": table.table_name,
                    "region": table.region,
                    "versionId": table.version_id,
                }),
            );
        }
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

impl fmt::Display for ConversionFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConversionFailureKind::EmptyRecord => "empty record",
            ConversionFailureKind::NotUtf8 => "not UTF-8",
            ConversionFailureKind::NotJson => "not JSON",
            ConversionFailureKind::NotAJsonObject => "not a JSON object",
            ConversionFailureKind::TypeMismatch => "type mismatch",
            ConversionFailureKind::InvalidValue => "invalid value",
            ConversionFailureKind::OutOfRange => "out of range",
            ConversionFailureKind::TooLarge => "too large",
        })
    }
}
