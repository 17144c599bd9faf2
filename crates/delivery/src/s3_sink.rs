//! The S3 destination (aws-sdk-s3 PutObject).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::sink::{ObjectSink, SinkError};

/// Options of S3 writes.
#[derive(Debug, Clone, Default)]
pub struct S3SinkOptions {
    /// Server-side encryption (`AES256`, `aws:kms`), or none.
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
}

/// Writes objects with one PutObject each (objects are bounded by the buffer size hint).
///
/// Guarantees: `Ok` means S3 acknowledged the whole object (PutObject is atomic).
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: Client,
    bucket: String,
    root: String,
    options: S3SinkOptions,
}

impl S3Sink {
    /// A sink writing `root + key` into `bucket`.
    #[must_use]
    pub fn new(client: Client, bucket: impl Into<String>, root: impl Into<String>, options: S3SinkOptions) -> Self {
        Self { client, bucket: bucket.into(), root: root.into(), options }
    }
}

#[async_trait]
impl ObjectSink for S3Sink {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        let full_key = format!("{}{key}", self.root);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .body(ByteStream::from(body))
            .set_server_side_encryption(self.options.server_side_encryption.clone())
            .set_ssekms_key_id(self.options.kms_key_id.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SinkError { key: full_key, destination: self.describe(), message: sdk_error_line(&e) })
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.root)
    }
}

/// One line describing an SDK error: `Code: message` for service errors, the cause chain otherwise.
fn sdk_error_line<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = match e {
        SdkError::ServiceError(s) => {
            format!("{}: {}", s.err().code().unwrap_or("service error"), s.err().message().unwrap_or("(no message)"))
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
