//! The configured destination as the S3 or file sink, and as the store of each shard's progress
//! object.

use std::sync::Arc;

use kinesink_delivery::{Destination, FileSink, ProgressStore, S3Sink, S3SinkOptions};

use crate::config::{Encryption, Settings};

/// The S3 destination with the configured encryption, ACL and part size.
pub(crate) fn s3_sink(
    settings: &Settings,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    root: &str,
) -> S3Sink {
    let (server_side_encryption, kms_key_id) = match &settings.encryption {
        Encryption::None => (None, None),
        Encryption::Aes256 => (Some(aws_sdk_s3::types::ServerSideEncryption::Aes256), None),
        Encryption::Kms(key) => (
            Some(aws_sdk_s3::types::ServerSideEncryption::AwsKms),
            key.clone(),
        ),
    };
    let options = S3SinkOptions {
        server_side_encryption,
        kms_key_id,
        bucket_owner_full_control: settings.bucket_owner_full_control,
        multipart_part_size: settings.multipart_part_size_bytes,
        conditional_writes: settings.conditional_writes,
    };
    S3Sink::new(client.clone(), bucket, root, options)
}

/// Where each shard's progress object is kept: the destination itself.
pub(crate) fn progress_store(
    settings: &Settings,
    client: &aws_sdk_s3::Client,
) -> Arc<dyn ProgressStore> {
    match &settings.destination {
        Destination::S3 { bucket, root } => Arc::new(s3_sink(settings, client, bucket, root)),
        Destination::Directory(dir) => Arc::new(FileSink::new(dir.clone())),
    }
}
