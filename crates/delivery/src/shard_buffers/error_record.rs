//! The error output: Firehose's error-record format (one JSON line per failed record, its raw
//! bytes in base64) and the error prefix an error object is written under.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One line of the error output, in the shape of Firehose's error records.
/// A record that goes to the error output with `output_type`, `code` and `message`.
pub(super) fn failed_record(
    record: &UserRecord,
    position: &SequencePosition,
    output_type: &str,
    code: &str,
    message: String,
) -> FailedRecord {
    FailedRecord {
        raw_data: record.data.to_vec(),
        partition_key: record.partition_key.clone(),
        position: position.clone(),
        approximate_arrival_ms: record.approximate_arrival_ms,
        error_output_type: output_type.to_owned(),
        error_code: code.to_owned(),
        error_message: message,
    }
}

pub(super) fn error_record_json(shard_id: &str, f: &FailedRecord) -> Vec<u8> {
    use base64::Engine;
    // Firehose names these lastErrorCode/lastErrorMessage in format-conversion error records.
    let (code_key, message_key) = if f.error_output_type == FORMAT_CONVERSION_FAILED_OUTPUT_TYPE {
        ("lastErrorCode", "lastErrorMessage")
    } else {
        ("errorCode", "errorMessage")
    };
    let value = serde_json::json!({
        "attemptsMade": 1,
        "arrivalTimestamp": f.approximate_arrival_ms,
        code_key: f.error_code,
        message_key: f.error_message,
        "rawData": base64::engine::general_purpose::STANDARD.encode(&f.raw_data),
        "partitionKey": f.partition_key,
        "shardId": shard_id,
        "sequenceNumber": &*f.position.sequence_number,
        "subSequenceNumber": f.position.sub_sequence_number,
    });
    serde_json::to_vec(&value).expect("a JSON value always serialises")
}

impl ShardBuffers {
    /// The evaluated error prefix of an object of `output_type` whose oldest record arrived at
    /// `oldest_arrival_ms`.
    pub(super) fn error_prefix(
        &self,
        output_type: &str,
        oldest_arrival_ms: i64,
        seed: &str,
    ) -> Result<String, BufferError> {
        keyless_prefix(
            self.layout.prefixes.error(),
            oldest_arrival_ms,
            Some(output_type),
            seed,
        )
        .map_err(BufferError::ErrorPrefix)
    }
}

/// A prefix without partition keys (the error output's, the backup's) evaluated for an object.
pub(super) fn keyless_prefix(
    template: &kinesink_partitioning::PrefixTemplate,
    oldest_arrival_ms: i64,
    error_output_type: Option<&str>,
    seed: &str,
) -> Result<String, EvaluateError> {
    template.evaluate(&PrefixInputs {
        partition_keys: &PartitionKeys::empty(),
        oldest_arrival_ms,
        error_output_type,
        random_string_seed: seed.as_bytes(),
    })
}
