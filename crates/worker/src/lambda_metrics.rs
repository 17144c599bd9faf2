//! The Lambda processor's metrics (names in `kinesink_metric_names`, after Firehose's).

use kinesink_delivery::LambdaShell;
use kinesink_metric_names as m;

/// Adds what `lambda` did since the last call to the Lambda metrics.
pub(crate) fn export(lambda: &mut LambdaShell) {
    let calls = lambda.take_invocations();
    let records = lambda.stage.take_counts();
    for (name, value) in [
        (m::LAMBDA_INVOCATIONS, calls.invocations),
        (m::LAMBDA_EXECUTE_PROCESSING_MICROSECONDS, calls.micros),
        (m::LAMBDA_EXECUTE_PROCESSING_SUCCESS, calls.succeeded),
        (m::LAMBDA_RETRIES, calls.retries),
        (m::LAMBDA_SUCCEED_PROCESSING_RECORDS, records.ok_records),
        (m::LAMBDA_SUCCEED_PROCESSING_BYTES, records.ok_bytes),
        (m::LAMBDA_DROPPED, records.dropped),
        (m::LAMBDA_FAILED, records.failed),
    ] {
        if value > 0 {
            metrics::counter!(name).increment(value);
        }
    }
}
