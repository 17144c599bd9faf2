//! The function's response, read against the request it answers: one outcome per record sent.
//!
//! Firehose's response format: `{"records": [{"recordId", "result": "Ok" | "Dropped" |
//! "ProcessingFailed", "data": "<base64>", "metadata": {"partitionKeys": {"k": "v"}}}]}`.
//!
//! What each defect does (codes in [`crate::error_codes`]; each failed record goes to
//! `processing-failed` with its bytes as sent, nothing is lost):
//!
//! | defect | records affected | code |
//! |---|---|---|
//! | response over [`MAX_INVOKE_PAYLOAD_BYTES`] | all (nothing is parsed) | `Lambda.FunctionError` |
//! | not JSON, or no `records` array | all | `Lambda.JsonProcessingException` |
//! | no entry with a sent `recordId` | that record | `Lambda.MissingRecordId` |
//! | two or more entries with one `recordId` | that record | `Lambda.DuplicatedRecordId` |
//! | `result` not `Ok`/`Dropped`/`ProcessingFailed`; `Ok` without `data`; `data` not base64; `metadata.partitionKeys` not an object of strings | that record | `Lambda.JsonProcessingException` |
//! | `result` is `ProcessingFailed` | that record | `Lambda.ProcessingFailedStatus` |
//! | an entry whose `recordId` was not sent (or that has none) | none: it is not one of ours; counted in [`DecodedResponse::unknown_record_ids`], and named in the message of the records reported missing (a function that rewrote an id) | — |
//!
//! A response too large for Lambda never reaches Firehose (Lambda refuses it, a function error),
//! hence `Lambda.FunctionError`. Defects are per record where a record can be named, so one bad
//! entry fails one record, not its whole batch. A decoded response is final: it is not retried
//! (Firehose's error output shows one attempt for these codes).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde_json::Value;

use crate::error_codes::{
    LAMBDA_DUPLICATED_RECORD_ID, LAMBDA_FUNCTION_ERROR, LAMBDA_JSON_PROCESSING_EXCEPTION,
    LAMBDA_MISSING_RECORD_ID, LAMBDA_PROCESSING_FAILED_STATUS,
};
use crate::lambda_event::MAX_INVOKE_PAYLOAD_BYTES;
use crate::lambda_record_id::RecordId;

/// Standard base64, padding optional (functions written in several languages pad or not).
const DATA_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest text taken from a response into a message.
const QUOTED_CHARS: usize = 64;

/// Most unknown ids kept in [`DecodedResponse::unknown_record_ids`].
const UNKNOWN_IDS_KEPT: usize = 8;

/// Why a record did not come back as `Ok` or `Dropped`: it goes to the error output
/// (`processing-failed`) with this code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaFailure {
    /// One of the `LAMBDA_*` codes of [`crate::error_codes`], or `Lambda.` and Lambda's own
    /// error name for an invocation Lambda refused ([`crate::lambda_retry`]).
    pub error_code: Cow<'static, str>,
    /// What happened, naming the record's id or the response's defect.
    pub error_message: String,
}

/// What became of one record sent to the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// `result: Ok`: the record is replaced by `data`.
    Ok {
        /// The decoded `data` (possibly empty).
        data: Vec<u8>,
        /// `metadata.partitionKeys`, when given: the record's `partitionKeyFromLambda` keys.
        partition_keys: Option<BTreeMap<String, String>>,
    },
    /// `result: Dropped`: the record is intentionally not delivered (counted, not an error).
    Dropped,
    /// The record goes to the error output.
    Failed(LambdaFailure),
}

/// A response read against the record ids sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedResponse {
    /// One outcome per sent record, in the order sent.
    pub outcomes: Vec<RecordOutcome>,
    /// Entries whose `recordId` was not sent, or that have none (for a warning and a metric).
    pub unknown_entries: usize,
    /// The first few of those `recordId`s (at most 8, each at most 64 characters).
    pub unknown_record_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ResponseIn {
    records: Vec<Value>,
}

/// Reads `payload`, the function's answer to a request that carried `sent` (in order).
/// Guarantees: never panics, on any bytes; exactly one outcome per sent record, in order; a
/// record is `Ok` or `Dropped` only when exactly one well-formed entry carries its id.
#[must_use]
pub fn decode_response(payload: &[u8], sent: &[RecordId]) -> DecodedResponse {
    if payload.len() > MAX_INVOKE_PAYLOAD_BYTES {
        return every_record_fails(
            sent,
            &LambdaFailure {
                error_code: Cow::Borrowed(LAMBDA_FUNCTION_ERROR),
                error_message: format!(
                    "The Lambda function returned {} bytes, more than Lambda's {MAX_INVOKE_PAYLOAD_BYTES}-byte response payload limit.",
                    payload.len()
                ),
            },
        );
    }
    let response: ResponseIn = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => {
            return every_record_fails(
                sent,
                &LambdaFailure {
                    error_code: Cow::Borrowed(LAMBDA_JSON_PROCESSING_EXCEPTION),
                    error_message: format!(
                        "There was an error parsing returned records from the Lambda function: the response is not {{\"records\": [...]}} ({}). Ensure that the returned records follow the status model required by Firehose.",
                        quoted(&e.to_string(), 200)
                    ),
                },
            );
        }
    };
    let index: HashMap<&str, usize> = sent
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut entries: Vec<Vec<&serde_json::Map<String, Value>>> = vec![Vec::new(); sent.len()];
    let mut unknown_entries = 0;
    let mut unknown_record_ids = Vec::new();
    for entry in &response.records {
        let object = entry.as_object();
        let id = object
            .and_then(|o| o.get("recordId"))
            .and_then(Value::as_str);
        match (object, id.and_then(|id| index.get(id))) {
            (Some(object), Some(&i)) => entries[i].push(object),
            _ => {
                unknown_entries += 1;
                if unknown_record_ids.len() < UNKNOWN_IDS_KEPT {
                    unknown_record_ids.push(match id {
                        Some(id) => quoted(id, QUOTED_CHARS),
                        None => "(no recordId)".to_owned(),
                    });
                }
            }
        }
    }
    let outcomes = sent
        .iter()
        .zip(entries)
        .map(|(id, found)| match found.as_slice() {
            [] => RecordOutcome::Failed(missing(id, unknown_entries, &unknown_record_ids)),
            [entry] => outcome_of(id, entry),
            several => RecordOutcome::Failed(LambdaFailure {
                error_code: Cow::Borrowed(LAMBDA_DUPLICATED_RECORD_ID),
                error_message: format!(
                    "Multiple records were returned with the same record Id: recordId {id} came back {} times. Ensure that the Lambda function returns a unique record Id for each record.",
                    several.len()
                ),
            }),
        })
        .collect();
    DecodedResponse {
        outcomes,
        unknown_entries,
        unknown_record_ids,
    }
}

/// The same failure for every record of a batch (a response that cannot be read, or an
/// invocation that failed for good): nothing is lost, each goes to the error output.
#[must_use]
pub fn every_record_fails(sent: &[RecordId], failure: &LambdaFailure) -> DecodedResponse {
    DecodedResponse {
        outcomes: vec![RecordOutcome::Failed(failure.clone()); sent.len()],
        unknown_entries: 0,
        unknown_record_ids: Vec::new(),
    }
}

fn missing(id: &RecordId, unknown_entries: usize, unknown_ids: &[String]) -> LambdaFailure {
    let mut message = format!(
        "One or more record Ids were not returned: recordId {id} is not in the response. Ensure that the Lambda function returns all received record Ids."
    );
    if unknown_entries > 0 {
        message.push_str(&format!(
            " The response holds {unknown_entries} record(s) with a recordId that was not sent: {}.",
            unknown_ids.join(", ")
        ));
    }
    LambdaFailure {
        error_code: Cow::Borrowed(LAMBDA_MISSING_RECORD_ID),
        error_message: message,
    }
}

fn invalid(id: &RecordId, what: &str) -> RecordOutcome {
    RecordOutcome::Failed(LambdaFailure {
        error_code: Cow::Borrowed(LAMBDA_JSON_PROCESSING_EXCEPTION),
        error_message: format!(
            "The returned record {id} does not follow the status model required by Firehose: {what}."
        ),
    })
}

fn outcome_of(id: &RecordId, entry: &serde_json::Map<String, Value>) -> RecordOutcome {
    match entry.get("result").and_then(Value::as_str) {
        Some("Ok") => {}
        Some("Dropped") => return RecordOutcome::Dropped,
        Some("ProcessingFailed") => {
            return RecordOutcome::Failed(LambdaFailure {
                error_code: Cow::Borrowed(LAMBDA_PROCESSING_FAILED_STATUS),
                error_message: format!("ProcessingFailed status set for record {id}."),
            });
        }
        Some(other) => {
            return invalid(
                id,
                &format!(
                    "result is \"{}\", not Ok, Dropped or ProcessingFailed",
                    quoted(other, QUOTED_CHARS)
                ),
            );
        }
        None => return invalid(id, "result is missing or not a string"),
    }
    let Some(text) = entry.get("data").and_then(Value::as_str) else {
        return invalid(id, "result Ok without a string data");
    };
    let data = match DATA_BASE64.decode(text) {
        Ok(data) => data,
        Err(e) => return invalid(id, &format!("data is not base64 ({e})")),
    };
    match partition_keys(entry) {
        Ok(partition_keys) => RecordOutcome::Ok {
            data,
            partition_keys,
        },
        Err(what) => invalid(id, &what),
    }
}

fn partition_keys(
    entry: &serde_json::Map<String, Value>,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let keys = match entry.get("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(metadata)) => match metadata.get("partitionKeys") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(keys)) => keys,
            Some(_) => return Err("metadata.partitionKeys is not an object".into()),
        },
        Some(_) => return Err("metadata is not an object".into()),
    };
    keys.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!(
                "metadata.partitionKeys.{} is not a string",
                quoted(k, QUOTED_CHARS)
            )),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// At most `max` characters of `text`, marked when cut.
fn quoted(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[path = "lambda_response/tests.rs"]
mod tests;
