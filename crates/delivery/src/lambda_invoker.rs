//! The Lambda Invoke call behind a small trait: a real implementation on `aws-sdk-lambda`
//! ([`SdkLambdaInvoker`]) and an in-memory one running a closure ([`FnLambdaInvoker`]).
//!
//! An invocation either returns the function's response payload (to be read by
//! `kinesink_record_processing::lambda_response::decode_response`, never retried) or fails
//! with an [`InvokeFailure`], classified the way
//! `kinesink_record_processing::lambda_retry::RetryPolicy` decides on retries: an HTTP status
//! with Lambda's error name, a function error (`X-Amz-Function-Error`), a timeout, or no answer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::Blob;
use kinesink_aws_errors::sdk_error_line;
pub use kinesink_record_processing::lambda_retry::InvokeFailure;

/// Invokes a Lambda function synchronously (`RequestResponse`).
///
/// Guarantees of every implementation: `Ok` carries the function's whole response payload (it
/// may be malformed: the caller reads it); `Err` means no usable response, classified.
#[async_trait]
pub trait LambdaInvoker: Send + Sync + std::fmt::Debug {
    /// Invokes `function` (a name or an ARN) with `payload` (a JSON event).
    ///
    /// # Errors
    /// [`InvokeFailure`]: an error status, a function error, a timeout, or no answer.
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Vec<u8>, InvokeFailure>;
}

/// Invokes functions with `aws-sdk-lambda`. Build its client with the SDK's retries off (the
/// Lambda stage retries per its `RetryPolicy`) and, for a local stand-in, an endpoint URL.
#[derive(Debug, Clone)]
pub struct SdkLambdaInvoker {
    client: Client,
    timeout: Duration,
}

impl SdkLambdaInvoker {
    /// An invoker on `client`, giving up on an invocation after `timeout` (then
    /// [`InvokeFailure::Timeout`]).
    #[must_use]
    pub fn new(client: Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }
}

/// Lambda's error message in a function error's payload (`{"errorMessage": "…"}`), or the
/// payload's start.
fn function_error_message(kind: &str, payload: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&payload[..payload.len().min(200)]).into());
    format!("{kind}: {message}")
}

#[async_trait]
impl LambdaInvoker for SdkLambdaInvoker {
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Vec<u8>, InvokeFailure> {
        let call = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload))
            .send();
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => return Err(InvokeFailure::Timeout),
        };
        match answer {
            Ok(output) => {
                let body = output.payload().map(|b| b.as_ref().to_vec());
                let body = body.unwrap_or_default();
                match output.function_error() {
                    Some(kind) => Err(InvokeFailure::FunctionError {
                        message: function_error_message(kind, &body),
                    }),
                    None => Ok(body),
                }
            }
            Err(SdkError::ServiceError(e)) => Err(InvokeFailure::Status {
                status: e.raw().status().as_u16(),
                error_type: e.err().code().map(str::to_owned),
                message: e.err().message().unwrap_or("(no message)").to_owned(),
            }),
            Err(SdkError::TimeoutError(_)) => Err(InvokeFailure::Timeout),
            Err(e @ SdkError::DispatchFailure(_)) if is_timeout(&e) => Err(InvokeFailure::Timeout),
            Err(e) => Err(InvokeFailure::Network {
                message: sdk_error_line(&e),
            }),
        }
    }
}

fn is_timeout<E, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::DispatchFailure(d) => d.is_timeout(),
        _ => false,
    }
}

/// The signature of an in-memory function: `(function, request) -> response`.
pub type LambdaFn = dyn Fn(&str, &[u8]) -> Result<Vec<u8>, InvokeFailure> + Send + Sync;

/// Runs a closure as the function (tests, dry-runs without AWS). Guarantees: each call runs the
/// closure once with the request's bytes and returns what it returns.
#[derive(Clone)]
pub struct FnLambdaInvoker {
    function: Arc<LambdaFn>,
}

impl FnLambdaInvoker {
    /// An invoker running `function`.
    pub fn new(
        function: impl Fn(&str, &[u8]) -> Result<Vec<u8>, InvokeFailure> + Send + Sync + 'static,
    ) -> Self {
        Self {
            function: Arc::new(function),
        }
    }
}

impl std::fmt::Debug for FnLambdaInvoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnLambdaInvoker")
    }
}

#[async_trait]
impl LambdaInvoker for FnLambdaInvoker {
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Vec<u8>, InvokeFailure> {
        (self.function)(function, &payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_errors_message_is_taken_from_its_error_message_field() {
        let text =
            function_error_message("Unhandled", br#"{"errorMessage":"boom","errorType":"E"}"#);
        assert_eq!(text, "Unhandled: boom");
        let raw = function_error_message("Handled", b"not json");
        assert_eq!(raw, "Handled: not json");
    }

    #[tokio::test]
    async fn the_in_memory_invoker_runs_its_closure_with_the_request() {
        let invoker = FnLambdaInvoker::new(|name, request| {
            let mut out = name.as_bytes().to_vec();
            out.extend_from_slice(request);
            Ok(out)
        });
        assert_eq!(invoker.invoke("f", b"-x".to_vec()).await.unwrap(), b"f-x");
    }
}
