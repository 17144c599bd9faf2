//! AWS clients built from the SDK's standard configuration, and the start-up checks that turn
//! unreachable endpoints, missing credentials, streams, tables or buckets into one-line errors.

use kinesink_aws_errors::{
    describe_endpoint, error_chain, is_unreachable, retry_answered_transient, sdk_error_line,
};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_kinesis::error::SdkError;
use kinesink_delivery::Destination;
use kinesink_lease_coordination::{DynamoDbLeaseTable, LeaseError, LeaseTable};
use kinesink_shard_reader::StreamId;

use crate::config::Settings;

/// The three service clients the worker uses.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// The SDK configuration they were built from.
    pub sdk: SdkConfig,
    /// Kinesis (with `source.endpoint_url` if set).
    pub kinesis: aws_sdk_kinesis::Client,
    /// DynamoDB (with `leases.endpoint_url` if set).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// S3 (with `destination.endpoint_url` and `force_path_style`).
    pub s3: aws_sdk_s3::Client,
}

/// A start-up failure: bad environment, unreachable endpoint, missing resource.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

/// Loads the SDK configuration (environment, profiles, `AWS_ENDPOINT_URL*`) and builds clients.
pub async fn clients(
    region: Option<&str>,
    kinesis_endpoint: Option<&str>,
    dynamodb_endpoint: Option<&str>,
    s3_endpoint: Option<&str>,
    force_path_style: bool,
) -> AwsClients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build(),
    );
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    let sdk = loader.load().await;
    let mut k = aws_sdk_kinesis::config::Builder::from(&sdk);
    if let Some(e) = kinesis_endpoint {
        k = k.endpoint_url(e);
    }
    let mut d = aws_sdk_dynamodb::config::Builder::from(&sdk);
    if let Some(e) = dynamodb_endpoint {
        d = d.endpoint_url(e);
    }
    let mut s = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(force_path_style);
    if let Some(e) = s3_endpoint {
        s = s.endpoint_url(e);
    }
    AwsClients {
        kinesis: aws_sdk_kinesis::Client::from_conf(k.build()),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(d.build()),
        s3: aws_sdk_s3::Client::from_conf(s.build()),
        sdk,
    }
}

/// Builds the clients for a validated configuration.
pub async fn clients_for(settings: &Settings) -> AwsClients {
    clients(
        settings.region.as_deref(),
        settings.kinesis_endpoint.as_deref(),
        settings.dynamodb_endpoint.as_deref(),
        settings.s3_endpoint.as_deref(),
        settings.force_path_style,
    )
    .await
}

/// Checks the region and that credentials can be loaded.
///
/// # Errors
/// A one-line message saying what is missing.
pub async fn check_credentials(sdk: &SdkConfig) -> Result<(), StartupError> {
    if sdk.region().is_none() {
        return Err(StartupError(
            "no AWS region: set source.region or AWS_REGION".into(),
        ));
    }
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| StartupError("no AWS credentials provider is configured".into()))?;
    provider.provide_credentials().await.map_err(|e| {
        StartupError(format!(
            "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role): {}",
            error_chain(&e)
        ))
    })?;
    Ok(())
}

/// Checks everything `run` needs before any lease is taken: credentials, the stream, the lease
/// table (created if missing) and the destination.
///
/// # Errors
/// A one-line message naming the config key or endpoint at fault.
pub async fn preflight(
    settings: &Settings,
    aws: &AwsClients,
    table: &DynamoDbLeaseTable,
) -> Result<(), StartupError> {
    check_credentials(&aws.sdk).await?;
    let region = aws.sdk.region().map(Region::as_ref);
    let kinesis_at = describe_endpoint("KINESIS", settings.kinesis_endpoint.as_deref(), region);
    let mut req = aws.kinesis.describe_stream_summary();
    let (key, stream) = match &settings.stream {
        StreamId::Name(n) => {
            req = req.stream_name(n);
            ("source.stream", n)
        }
        StreamId::Arn(a) => {
            req = req.stream_arn(a);
            ("source.stream_arn", a)
        }
    };
    let described = retry_answered_transient(
        "Kinesis DescribeStreamSummary",
        &kinesis_at,
        settings.worker.lease_retry_duration,
        "leases.retry_duration_s",
        || req.clone().send(),
    )
    .await;
    match described {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Err(StartupError(format!(
                "config key `{key}`: stream `{stream}` does not exist at Kinesis endpoint {kinesis_at}"
            )));
        }
        Err(e) if is_unreachable(&e) => {
            return Err(StartupError(format!(
                "cannot reach Kinesis endpoint {kinesis_at}: {}",
                sdk_error_line(&e)
            )));
        }
        Err(e) => {
            return Err(StartupError(format!(
                "Kinesis endpoint {kinesis_at} refused DescribeStreamSummary: {}",
                sdk_error_line(&e)
            )));
        }
    }
    let dynamodb_at = describe_endpoint("DYNAMODB", settings.dynamodb_endpoint.as_deref(), region);
    ensure_lease_table(table, &dynamodb_at, settings.worker.lease_retry_duration).await?;
    match &settings.destination {
        Destination::S3 { bucket, root } => {
            let s3_at = describe_endpoint("S3", settings.s3_endpoint.as_deref(), region);
            let listed = retry_answered_transient(
                "S3 ListObjectsV2",
                &s3_at,
                settings.worker.retry_duration,
                "destination.retry_duration_s",
                || list_prefix(aws, bucket, root),
            )
            .await;
            match listed {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error().is_some_and(
                        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error::is_no_such_bucket,
                    ) =>
                {
                    return Err(StartupError(format!(
                        "config key `destination.url`: bucket `{bucket}` does not exist at S3 endpoint {s3_at}"
                    )));
                }
                Err(e) if is_unreachable(&e) => {
                    return Err(StartupError(format!(
                        "cannot reach S3 endpoint {s3_at}: {}",
                        sdk_error_line(&e)
                    )));
                }
                Err(e) => {
                    return Err(StartupError(format!(
                        "S3 endpoint {s3_at} refused ListObjectsV2 on `{bucket}` (prefix `{root}`): {}",
                        sdk_error_line(&e)
                    )));
                }
            }
        }
        Destination::Directory(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                StartupError(format!(
                    "config key `destination.url`: cannot create directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
    }
    Ok(())
}

/// Lists at most one key under the destination's root: the start-up check that the bucket
/// exists and may be read there. (Not HeadBucket: that needs `s3:ListBucket` without a prefix,
/// which the worker policy's prefix-conditioned statement refuses.)
async fn list_prefix(
    aws: &AwsClients,
    bucket: &str,
    root: &str,
) -> Result<
    aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
    SdkError<
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error,
        aws_sdk_s3::config::http::HttpResponse,
    >,
> {
    aws.s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(root)
        .max_keys(1)
        .send()
        .await
}

/// Creates the lease table if needed. A transient failure (DynamoDB unreachable, 5xx,
/// throttling) is retried for up to `leases.retry_duration_s`, so a fleet restarting during a
/// short outage waits instead of exiting; a permanent one (missing permissions, bad
/// credentials) is an error at once.
async fn ensure_lease_table(
    table: &DynamoDbLeaseTable,
    dynamodb_at: &str,
    retry_duration: Duration,
) -> Result<(), StartupError> {
    let started = tokio::time::Instant::now();
    let mut retry = kinesink_lease_coordination::OutageRetry::new(retry_duration);
    loop {
        let Err(e) = table.ensure_exists().await else {
            return Ok(());
        };
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let verdict = retry.step(now_ms, e.class());
        let message = match &e {
            LeaseError::Unavailable { message, .. } | LeaseError::Refused { message, .. } => {
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            }
            other => other.to_string(),
        };
        match verdict {
            kinesink_lease_coordination::RetryVerdict::RetryAfter(pause) => {
                tracing::warn!(table = %table.table_name(), endpoint = %dynamodb_at, error = %message, ?pause, "the DynamoDB lease table cannot be reached at start-up; retrying (up to leases.retry_duration_s)");
                tokio::time::sleep(pause).await;
            }
            kinesink_lease_coordination::RetryVerdict::GiveUp { failing_for, .. } => {
                return Err(StartupError(format!(
                    "lease table `{}` (config key `leases.table`) at DynamoDB endpoint {dynamodb_at}: unreachable for {} s (leases.retry_duration_s = {}): {message}",
                    table.table_name(),
                    failing_for.as_secs(),
                    retry_duration.as_secs()
                )));
            }
            _ => {
                return Err(StartupError(format!(
                    "lease table `{}` (config key `leases.table`) at DynamoDB endpoint {dynamodb_at}: {message}",
                    table.table_name()
                )));
            }
        }
    }
}

/// Read-only checks for `check-config --online`: credentials, the stream, the lease table (not
/// created), the bucket.
///
/// # Errors
/// A one-line message naming the config key or endpoint at fault.
pub async fn check_online(settings: &Settings, aws: &AwsClients) -> Result<(), StartupError> {
    check_credentials(&aws.sdk).await?;
    let region = aws.sdk.region().map(Region::as_ref);
    let kinesis_at = describe_endpoint("KINESIS", settings.kinesis_endpoint.as_deref(), region);
    let mut req = aws.kinesis.describe_stream_summary();
    req = match &settings.stream {
        StreamId::Name(n) => req.stream_name(n),
        StreamId::Arn(a) => req.stream_arn(a),
    };
    req.send().await.map_err(|e| {
        StartupError(format!(
            "config key `source.stream` at Kinesis endpoint {kinesis_at}: {}",
            sdk_error_line(&e)
        ))
    })?;
    let dynamodb_at = describe_endpoint("DYNAMODB", settings.dynamodb_endpoint.as_deref(), region);
    match aws
        .dynamodb
        .describe_table()
        .table_name(&settings.lease_table)
        .send()
        .await
    {
        Ok(_) => {}
        // `run` creates it; that is fine.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => {
            return Err(StartupError(format!(
                "config key `leases.table` at DynamoDB endpoint {dynamodb_at}: {}",
                sdk_error_line(&e)
            )));
        }
    }
    if let Destination::S3 { bucket, root } = &settings.destination {
        let s3_at = describe_endpoint("S3", settings.s3_endpoint.as_deref(), region);
        list_prefix(aws, bucket, root).await.map_err(|e| {
            StartupError(format!(
                "config key `destination.url`: bucket `{bucket}` at S3 endpoint {s3_at}: {}",
                sdk_error_line(&e)
            ))
        })?;
    }
    Ok(())
}

/// Reads the Parquet schema of `[format.glue]` from the Glue Data Catalog (GetTable, or
/// GetTableVersion for a pinned version).
///
/// # Errors
/// A one-line message naming `format.glue` and the endpoint when the table cannot be read or
/// its columns are not a schema kinesink can write.
pub async fn glue_schema(
    sdk: &SdkConfig,
    glue: &crate::config::GlueSection,
) -> Result<kinesink_parquet_writer::TableSchema, StartupError> {
    let mut conf = aws_sdk_glue::config::Builder::from(sdk);
    if let Some(e) = &glue.endpoint_url {
        conf = conf.endpoint_url(e);
    }
    let client = aws_sdk_glue::Client::from_conf(conf.build());
    let region = sdk.region().map(Region::as_ref);
    let at = describe_endpoint("GLUE", glue.endpoint_url.as_deref(), region);
    let name = format!("{}.{}", glue.database, glue.table);
    let fail = |what: String| {
        StartupError(format!(
            "config key `format.glue`: table {name} at Glue endpoint {at}: {what}"
        ))
    };
    let descriptor = match glue.version.as_deref().filter(|v| *v != "LATEST") {
        None => client
            .get_table()
            .database_name(&glue.database)
            .name(&glue.table)
            .set_catalog_id(glue.catalog_id.clone())
            .send()
            .await
            .map_err(|e| fail(sdk_error_line(&e)))?
            .table
            .and_then(|t| t.storage_descriptor),
        Some(version) => client
            .get_table_version()
            .database_name(&glue.database)
            .table_name(&glue.table)
            .version_id(version)
            .set_catalog_id(glue.catalog_id.clone())
            .send()
            .await
            .map_err(|e| fail(sdk_error_line(&e)))?
            .table_version
            .and_then(|v| v.table)
            .and_then(|t| t.storage_descriptor),
    };
    let columns: Vec<(String, String)> = descriptor
        .map(|d| {
            d.columns
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.name, c.r#type.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if columns.is_empty() {
        return Err(fail("it has no columns".into()));
    }
    kinesink_parquet_writer::TableSchema::from_glue_columns(&columns)
        .map_err(|e| fail(e.to_string()))
}
