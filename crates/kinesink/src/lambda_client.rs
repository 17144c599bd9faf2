//! The Lambda processor's invoker, built from the SDK configuration and `[processing.lambda]`:
//! `aws-sdk-lambda` with the SDK's retries off (the Lambda stage retries per
//! `processing.lambda.retries`), long enough timeouts for a function, and the endpoint override.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use kinesink_delivery::{LambdaProcessor, LambdaRetryPolicy, SdkLambdaInvoker};
use kinesink_shard_reader::StreamId;

use crate::config::Settings;

/// Longest wait for one invocation: Lambda's longest function timeout (15 minutes) would hold
/// a shard too long; Firehose gives its Lambda processor 5 minutes.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(300);

/// The account of an ARN (`arn:partition:service:region:account:…`), if it has one.
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The Lambda processor of `settings`, if one is configured, invoking through `sdk`'s
/// credentials and region; `stream_arn` is the source stream's ARN when known (else one is
/// made from its name, in account 000000000000).
pub fn processor(
    settings: &Settings,
    sdk: &SdkConfig,
    stream_arn: Option<String>,
) -> Option<LambdaProcessor> {
    let lambda = settings.lambda.as_ref()?;
    let region = sdk.region().map_or("us-east-1", Region::as_ref).to_owned();
    let mut conf = aws_sdk_lambda::config::Builder::from(sdk)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(INVOKE_TIMEOUT)
                .build(),
        );
    if let Some(e) = &lambda.endpoint_url {
        conf = conf.endpoint_url(e);
    }
    let client = aws_sdk_lambda::Client::from_conf(conf.build());
    let stream_arn = stream_arn.unwrap_or_else(|| match &settings.stream {
        StreamId::Arn(a) => a.clone(),
        StreamId::Name(n) => format!("arn:aws:kinesis:{region}:000000000000:stream/{n}"),
    });
    let account = arn_account(&stream_arn)
        .unwrap_or("000000000000")
        .to_owned();
    Some(LambdaProcessor {
        function: lambda.function.clone(),
        buffer_size_bytes: lambda.buffer_size_bytes,
        buffer_interval_ms: lambda.buffer_interval_ms,
        retry: LambdaRetryPolicy {
            retries: lambda.retries,
            ..LambdaRetryPolicy::default()
        },
        invoker: Arc::new(SdkLambdaInvoker::new(client, INVOKE_TIMEOUT)),
        delivery_stream_arn: format!(
            "arn:aws:firehose:{region}:{account}:deliverystream/{}",
            settings.worker.name
        ),
        source_kinesis_stream_arn: stream_arn,
        region,
    })
}

/// The SDK configuration for a `dry-run` with a Lambda processor (the environment's
/// credentials; `source.region` or the environment's region).
pub async fn sdk_for_dry_run(settings: &Settings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    loader.load().await
}

/// The Lambda processor of a `dry-run` of shard `shard_id`, when one is configured: its
/// batches start at the first record the dry-run delivers (no flush intent outlives a
/// dry-run).
pub async fn dry_run_shell(
    settings: &Settings,
    shard_id: &str,
) -> Option<kinesink_delivery::LambdaShell> {
    settings.lambda.as_ref()?;
    let sdk = sdk_for_dry_run(settings).await;
    processor(settings, &sdk, None).map(|p| p.for_shard(shard_id, None, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_read_from_an_arn() {
        assert_eq!(
            arn_account("arn:aws:kinesis:eu-west-1:123456789012:stream/s"),
            Some("123456789012")
        );
        assert_eq!(arn_account("clickstream"), None);
    }
}
