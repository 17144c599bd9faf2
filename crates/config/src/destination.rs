//! `[destination]`: where objects go, how they are named, buffered, encrypted and written.

use std::time::Duration;

use kinesink_delivery::{BufferLimits, Destination, PartitionLimit, PartitionLimitAction};
use kinesink_partitioning::{OutputPrefixes, OutputPrefixesError, Tz};
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::{ClosedSet, ScalarValue};
use super::{
    ConfigError, DEFAULT_BUFFER_INTERVAL_S, DEFAULT_BUFFER_SIZE_MIB, bounds, check_endpoint, err,
};

/// `destination.sse`: server-side encryption, spelled as S3 does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) enum Sse {
    /// The bucket's default.
    #[default]
    #[serde(rename = "none")]
    None,
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS, with `destination.kms_key_id` or the AWS managed key.
    #[serde(rename = "aws:kms")]
    AwsKms,
}

/// `destination.on_partition_limit`: what happens to a record of a partition beyond the limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnPartitionLimit {
    /// To the error output (`activePartitionExceeded`), as Firehose.
    #[default]
    ErrorOutput,
    /// Flush the least recently used partition to make room.
    FlushLeastRecentlyUsed,
}

/// Server-side encryption of written objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// The bucket's default.
    None,
    /// SSE-S3.
    Aes256,
    /// SSE-KMS with an optional key id.
    Kms(Option<String>),
}

/// `[destination]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a table of [destination] keys")]
pub(crate) struct DestinationSection {
    /// `s3://bucket[/root]` or `file:///absolute/dir`.
    pub(crate) url: String,
    /// S3 endpoint override.
    pub(crate) endpoint_url: Option<String>,
    /// Path-style S3 addressing.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) force_path_style: Option<bool>,
    /// Firehose `BufferingHints.SizeInMBs`.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) buffer_size_mib: Option<u64>,
    /// Firehose `BufferingHints.IntervalInSeconds`.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) buffer_interval_s: Option<u64>,
    /// Object extension; default from the format and compression.
    pub(crate) file_extension: Option<String>,
    /// Server-side encryption; default none.
    #[serde_as(as = "Option<ClosedSet>")]
    #[serde(default)]
    pub(crate) sse: Option<Sse>,
    /// KMS key, with `sse = "aws:kms"`.
    pub(crate) kms_key_id: Option<String>,
    /// Data prefix, in Firehose's prefix language.
    pub(crate) prefix: Option<String>,
    /// Error-output prefix, in Firehose's prefix language.
    pub(crate) error_output_prefix: Option<String>,
    /// Source record backup prefix (Firehose `S3BackupMode` `Enabled`); empty or absent: off.
    pub(crate) backup_prefix: Option<String>,
    /// Open partitions per shard.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) max_active_partitions: Option<usize>,
    /// Beyond the partition limit; default error-output.
    #[serde_as(as = "Option<ClosedSet>")]
    #[serde(default)]
    pub(crate) on_partition_limit: Option<OnPartitionLimit>,
    /// What all buffers of the worker hold together.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) memory_budget_mib: Option<u64>,
    /// How long failing object writes are retried.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) retry_duration_s: Option<u64>,
    /// Canned ACL bucket-owner-full-control.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) bucket_owner_full_control: Option<bool>,
    /// Objects above this are multipart uploads.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) multipart_part_size_mib: Option<u64>,
    /// Write each object once (`If-None-Match: *`); default true.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) conditional_writes: Option<bool>,
    /// `[destination.iceberg]`: deliver into Iceberg tables.
    pub(crate) iceberg: Option<super::iceberg::IcebergSection>,
}

/// `[destination]`, validated.
#[derive(Debug)]
pub(super) struct ValidDestination {
    pub(super) destination: Destination,
    pub(super) s3_endpoint: Option<String>,
    pub(super) force_path_style: bool,
    pub(super) buffer: BufferLimits,
    pub(super) file_extension: String,
    pub(super) encryption: Encryption,
    pub(super) prefixes: OutputPrefixes,
    pub(super) partition_limit: PartitionLimit,
    pub(super) memory_budget_bytes: usize,
    pub(super) retry_duration: Duration,
    pub(super) bucket_owner_full_control: bool,
    pub(super) multipart_part_size_bytes: usize,
    pub(super) conditional_writes: bool,
}

impl DestinationSection {
    /// Checks every key; prefixes are in `time_zone`, and the extension defaults to
    /// `default_extension` (the format's).
    pub(super) fn validate(
        self,
        time_zone: Tz,
        default_extension: &str,
    ) -> Result<ValidDestination, ConfigError> {
        let destination = Destination::parse(&self.url)
            .map_err(|e| err(format!("config key `destination.url`: {e}")))?;
        let size_mib = bounds::within(
            "destination.buffer_size_mib",
            self.buffer_size_mib.unwrap_or(DEFAULT_BUFFER_SIZE_MIB),
            &(1..=128),
            "MiB",
        )?;
        let interval_s = bounds::within(
            "destination.buffer_interval_s",
            self.buffer_interval_s.unwrap_or(DEFAULT_BUFFER_INTERVAL_S),
            &(0..=900),
            "seconds",
        )?;
        let encryption = match (self.sse.unwrap_or_default(), self.kms_key_id) {
            (Sse::None, None) => Encryption::None,
            (Sse::Aes256, None) => Encryption::Aes256,
            (Sse::AwsKms, key) => Encryption::Kms(key),
            (Sse::None | Sse::Aes256, Some(_)) => {
                return Err(err(
                    "config key `destination.kms_key_id` is only used with sse = \"aws:kms\"",
                ));
            }
        };
        let prefixes =
            OutputPrefixes::parse(self.prefix.as_deref(), self.error_output_prefix.as_deref())
                .and_then(|p| p.with_backup(self.backup_prefix.as_deref()))
                .map_err(|e| {
                    let key = match e {
                        OutputPrefixesError::Prefix(_) => "destination.prefix",
                        OutputPrefixesError::BackupPrefix(_)
                        | OutputPrefixesError::PartitionKeyInBackupPrefix(_) => {
                            "destination.backup_prefix"
                        }
                        _ => "destination.error_output_prefix",
                    };
                    err(format!("config key `{key}`: {e}"))
                })?
                .with_time_zone(time_zone);
        let max_active = bounds::within(
            "destination.max_active_partitions",
            self.max_active_partitions.unwrap_or(500),
            &(1..=100_000),
            "partitions per shard",
        )?;
        let action = match self.on_partition_limit.unwrap_or_default() {
            OnPartitionLimit::ErrorOutput => PartitionLimitAction::ErrorOutput,
            OnPartitionLimit::FlushLeastRecentlyUsed => {
                PartitionLimitAction::FlushLeastRecentlyUsed
            }
        };
        let memory_budget_mib = bounds::within(
            "destination.memory_budget_mib",
            self.memory_budget_mib.unwrap_or(1024),
            &(1..=1_048_576),
            "MiB",
        )?;
        let retry_duration_s = bounds::within(
            "destination.retry_duration_s",
            self.retry_duration_s.unwrap_or(86_400),
            &(0..=7 * 86_400),
            "seconds: 7 days, the longest stream retention for which retrying makes sense",
        )?;
        let part_size_mib = bounds::within(
            "destination.multipart_part_size_mib",
            self.multipart_part_size_mib.unwrap_or(8),
            &(5..=5120),
            "MiB, S3's part size limits",
        )?;
        let file_extension = self
            .file_extension
            .unwrap_or_else(|| default_extension.to_owned());
        if file_extension.contains('/') {
            return Err(err(
                "config key `destination.file_extension`: must not contain '/'",
            ));
        }
        Ok(ValidDestination {
            destination,
            s3_endpoint: check_endpoint("destination.endpoint_url", self.endpoint_url)?,
            force_path_style: self.force_path_style.unwrap_or(false),
            buffer: BufferLimits {
                size_bytes: usize::try_from(size_mib * 1024 * 1024).expect("at most 128 MiB"),
                interval_ms: interval_s * 1000,
            },
            file_extension,
            encryption,
            prefixes,
            partition_limit: PartitionLimit { max_active, action },
            memory_budget_bytes: mib_to_bytes("destination.memory_budget_mib", memory_budget_mib)?,
            retry_duration: Duration::from_secs(retry_duration_s),
            bucket_owner_full_control: self.bucket_owner_full_control.unwrap_or(false),
            multipart_part_size_bytes: mib_to_bytes(
                "destination.multipart_part_size_mib",
                part_size_mib,
            )?,
            conditional_writes: self.conditional_writes.unwrap_or(true),
        })
    }
}

fn mib_to_bytes(key: &str, mib: u64) -> Result<usize, ConfigError> {
    usize::try_from(mib * 1024 * 1024)
        .map_err(|_| err(format!("config key `{key}`: too large for this machine")))
}
