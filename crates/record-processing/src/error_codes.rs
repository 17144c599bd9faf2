//! The `errorCode` strings and `!{firehose:error-output-type}` values of records the
//! processors could not process. Stable: they are part of the error output's format.

/// A record that does not decompress (not gzip, truncated, corrupt, or larger than
/// [`crate::MAX_DECOMPRESSED_BYTES`] decompressed).
pub const DECOMPRESSION_FAILED: &str = "Decompression.Failed";

/// The `!{firehose:error-output-type}` of [`DECOMPRESSION_FAILED`] records (Firehose writes
/// the record's compressed bytes as `rawData` under this type).
pub const DECOMPRESSION_FAILED_OUTPUT_TYPE: &str = "decompression-failed";

/// A record that is not a CloudWatch Logs subscription envelope (goes to `processing-failed`).
pub const CLOUDWATCH_LOGS_INVALID_ENVELOPE: &str = "CloudWatchLogs.InvalidEnvelope";

// The Lambda processor. Every Lambda failure goes to `processing-failed`, as Firehose writes it.
// Sources, so the codes can be checked: "AWS doc" = Firehose Developer Guide, Monitor Amazon Data
// Firehose Using CloudWatch Logs, Lambda invocation errors
// (https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-logs.html);
// "observed" = the code and message Firehose writes in its error output, as captured in public
// error-output records, not in AWS's documentation; "pattern" = not seen anywhere, named the way
// AWS names Lambda's exceptions in that table (`Lambda.` + Lambda's error name).

/// The function's response is not Firehose's response format: not JSON, no `records` array, an
/// entry whose `result` is not `Ok`/`Dropped`/`ProcessingFailed`, `Ok` without `data`, `data`
/// that is not base64, `metadata.partitionKeys` that is not an object of strings. AWS doc.
pub const LAMBDA_JSON_PROCESSING_EXCEPTION: &str = "Lambda.JsonProcessingException";

/// The response holds no entry with this record's `recordId`. AWS doc.
pub const LAMBDA_MISSING_RECORD_ID: &str = "Lambda.MissingRecordId";

/// The response holds more than one entry with this record's `recordId`. AWS doc.
pub const LAMBDA_DUPLICATED_RECORD_ID: &str = "Lambda.DuplicatedRecordId";

/// The function returned `ProcessingFailed` for the record. Observed (message "ProcessingFailed
/// status set for record").
pub const LAMBDA_PROCESSING_FAILED_STATUS: &str = "Lambda.ProcessingFailedStatus";

/// The function raised an error (Invoke answered with `X-Amz-Function-Error`), on every attempt;
/// also a response larger than Lambda's payload limit (Lambda itself refuses such a response as
/// a function error). Observed (message "The Lambda function was successfully invoked but it
/// returned an error result.").
pub const LAMBDA_FUNCTION_ERROR: &str = "Lambda.FunctionError";

/// The invocation timed out on every attempt. Observed (message "The Lambda function invocation
/// timed out. Increase the Timeout setting in the Lambda function.").
pub const LAMBDA_FUNCTION_TIMED_OUT: &str = "Lambda.FunctionTimedOut";

/// Lambda throttled every attempt (HTTP 429, `TooManyRequestsException`). AWS doc.
pub const LAMBDA_INVOKE_LIMIT_EXCEEDED: &str = "Lambda.InvokeLimitExceeded";

/// The caller may not invoke the function (HTTP 403). AWS doc.
pub const LAMBDA_INVOKE_ACCESS_DENIED: &str = "Lambda.InvokeAccessDenied";

/// The function does not exist (HTTP 404, `ResourceNotFoundException`). AWS doc.
pub const LAMBDA_RESOURCE_NOT_FOUND: &str = "Lambda.ResourceNotFound";

/// One record whose request alone would exceed Lambda's 6 MB invoke payload limit
/// ([`crate::lambda_event::MAX_INVOKE_PAYLOAD_BYTES`]): it is never sent. Pattern (Lambda answers
/// such a request with `RequestTooLargeException`; Firehose's own records are at most 1 MiB and
/// never reach it).
pub const LAMBDA_REQUEST_TOO_LARGE: &str = "Lambda.RequestTooLargeException";

/// Every attempt failed without an answer from Lambda (connection refused or reset, a DNS
/// failure): kinesink's own code, AWS names none.
pub const LAMBDA_NETWORK_ERROR: &str = "Lambda.NetworkError";
