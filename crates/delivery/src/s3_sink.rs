//! The S3 destination (aws-sdk-s3 PutObject, multipart upload for large objects).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, ServerSideEncryption,
};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use kinesink_aws_errors::sdk_error_line;

use crate::object_contents::{LAST_METADATA, ObjectContents, RECORDS_METADATA};
use crate::sink::SinkErrorClass;
use crate::sink::{ObjectSink, PutOutcome, SinkError};
use crate::write_failure::classify_s3;

mod progress;

/// Options of S3 writes.
#[derive(Debug, Clone)]
pub struct S3SinkOptions {
    /// Server-side encryption (`AES256`, `aws:kms`), or none.
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
    /// Send the canned ACL `bucket-owner-full-control` with every object (for buckets owned by
    /// another account that still use ACLs).
    pub bucket_owner_full_control: bool,
    /// Objects larger than this are uploaded with multipart upload in parts of this size (at
    /// least 5 MiB, S3's minimum part size); smaller ones with one PutObject.
    pub multipart_part_size: usize,
    /// Send `If-None-Match: *` with PutObject and CompleteMultipartUpload (S3 conditional
    /// writes), so each key is written once; off for S3-compatible stores without them.
    pub conditional_writes: bool,
}

/// S3's smallest part size (except for the last part of an upload).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Parts of one object uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;

impl Default for S3SinkOptions {
    fn default() -> Self {
        Self {
            server_side_encryption: None,
            kms_key_id: None,
            bucket_owner_full_control: false,
            multipart_part_size: 8 * 1024 * 1024,
            conditional_writes: true,
        }
    }
}

/// Writes objects to S3: one PutObject for objects up to the part size, a multipart upload for
/// larger ones.
///
/// Guarantees: `Ok` means S3 holds the whole object (PutObject and CompleteMultipartUpload are
/// atomic: readers never see a partial object). With conditional writes (the default) both send
/// `If-None-Match: *`: a key already written answers 412 PreconditionFailed, which is
/// [`PutOutcome::AlreadyWritten`] (the existing object's size and recorded contents read with
/// HeadObject), so each object is created once (one ObjectCreated notification, one version in
/// a versioned bucket). Every object carries which records it holds as user metadata
/// (`x-amz-meta-kinesink-last` = last record's `sequence.subsequence`,
/// `x-amz-meta-kinesink-records` = record count), set by PutObject and CreateMultipartUpload.
/// A multipart upload that fails or finds its key written is aborted (best effort); one
/// orphaned by a crash is aborted later by [`S3Sink::abort_stale_uploads`], which the worker
/// runs at start and every hour.
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: Client,
    bucket: String,
    root: String,
    options: S3SinkOptions,
}

impl S3Sink {
    /// A sink writing `root + key` into `bucket`. A part size below [`MIN_PART_SIZE`] is raised
    /// to it.
    #[must_use]
    pub fn new(
        client: Client,
        bucket: impl Into<String>,
        root: impl Into<String>,
        mut options: S3SinkOptions,
    ) -> Self {
        options.multipart_part_size = options.multipart_part_size.max(MIN_PART_SIZE);
        Self {
            client,
            bucket: bucket.into(),
            root: root.into(),
            options,
        }
    }

    fn acl(&self) -> Option<ObjectCannedAcl> {
        self.options
            .bucket_owner_full_control
            .then_some(ObjectCannedAcl::BucketOwnerFullControl)
    }

    /// A failure that is not an S3 answer (a malformed answer, a body cut off): transient.
    fn error(&self, key: &str, message: String) -> SinkError {
        SinkError {
            key: key.to_owned(),
            destination: self.describe(),
            message,
            class: SinkErrorClass::Transient,
        }
    }

    /// A failed S3 call (`call`: its name), classified by its answer ([`classify_s3`]); the
    /// message ends with what to fix when the cause is known.
    fn sdk_error<E>(
        &self,
        key: &str,
        call: &str,
        e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> SinkError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.as_service_error().and_then(ProvideErrorMetadata::code);
        let (class, hint) = classify_s3(status, code);
        let mut message = format!("{call}: {}", sdk_error_line(e));
        if let Some(hint) = hint {
            message.push_str(" — ");
            message.push_str(hint);
        }
        SinkError {
            key: key.to_owned(),
            destination: self.describe(),
            message,
            class,
        }
    }

    fn if_none_match(&self) -> Option<String> {
        self.options.conditional_writes.then(|| "*".to_owned())
    }

    /// What the object already at `full_key` holds (after a 412): its size and recorded
    /// contents, read with HeadObject. A failed HeadObject is an error (the write is retried):
    /// taking the key as done without knowing what it holds could lose records.
    async fn existing_object(&self, full_key: &str) -> Result<PutOutcome, SinkError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(full_key)
            .send()
            .await
            .map_err(|e| {
                self.sdk_error(
                    full_key,
                    "the key is already written; reading what it holds (HeadObject) failed",
                    &e,
                )
            })?;
        let existing_contents = head
            .metadata()
            .and_then(|m| ObjectContents::parse(m.get(LAST_METADATA)?, m.get(RECORDS_METADATA)?));
        Ok(PutOutcome::AlreadyWritten {
            existing_size: head.content_length().and_then(|l| u64::try_from(l).ok()),
            existing_contents,
        })
    }

    async fn put_whole(
        &self,
        full_key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError> {
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(full_key)
            .body(ByteStream::from(body))
            .metadata(LAST_METADATA, contents.last_text())
            .metadata(RECORDS_METADATA, contents.records.to_string())
            .set_server_side_encryption(self.options.server_side_encryption.clone())
            .set_ssekms_key_id(self.options.kms_key_id.clone())
            .set_acl(self.acl())
            .set_if_none_match(self.if_none_match())
            .send()
            .await
        {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) if is_precondition_failed(&e) => self.existing_object(full_key).await,
            Err(e) => Err(self.sdk_error(full_key, "PutObject", &e)),
        }
    }

    async fn put_multipart(
        &self,
        full_key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full_key)
            .metadata(LAST_METADATA, contents.last_text())
            .metadata(RECORDS_METADATA, contents.records.to_string())
            .set_server_side_encryption(self.options.server_side_encryption.clone())
            .set_ssekms_key_id(self.options.kms_key_id.clone())
            .set_acl(self.acl())
            .send()
            .await
            .map_err(|e| self.sdk_error(full_key, "CreateMultipartUpload", &e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                self.error(
                    full_key,
                    "CreateMultipartUpload returned no upload id".to_owned(),
                )
            })?
            .to_owned();
        let outcome = self
            .upload_parts_and_complete(full_key, &upload_id, Bytes::from(body))
            .await;
        match outcome {
            Ok(PutOutcome::Written) => Ok(PutOutcome::Written),
            // The key was written meanwhile: the parts uploaded are not needed.
            Ok(PutOutcome::AlreadyWritten { .. }) | Err(_) => {
                if let Err(abort) = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(full_key)
                    .upload_id(&upload_id)
                    .send()
                    .await
                {
                    tracing::warn!(key = %full_key, upload_id = %upload_id, error = %sdk_error_line(&abort), "aborting a failed multipart upload failed; the stale-upload cleanup aborts it later");
                }
                match outcome {
                    Ok(PutOutcome::AlreadyWritten { .. }) => self.existing_object(full_key).await,
                    other => other,
                }
            }
        }
    }

    async fn upload_parts_and_complete(
        &self,
        full_key: &str,
        upload_id: &str,
        body: Bytes,
    ) -> Result<PutOutcome, SinkError> {
        let part_size = self.options.multipart_part_size;
        let parts = (0..body.len().div_ceil(part_size)).map(|index| {
            let chunk = body.slice(index * part_size..((index + 1) * part_size).min(body.len()));
            let part_number = i32::try_from(index + 1).unwrap_or(i32::MAX);
            async move {
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(full_key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .body(ByteStream::from(chunk))
                    .send()
                    .await
                    .map_err(|e| {
                        self.sdk_error(full_key, &format!("UploadPart {part_number}"), &e)
                    })?;
                Ok::<_, SinkError>(
                    CompletedPart::builder()
                        .set_e_tag(uploaded.e_tag().map(str::to_owned))
                        .part_number(part_number)
                        .build(),
                )
            }
        });
        let completed: Vec<CompletedPart> = futures::stream::iter(parts)
            .buffered(PARTS_IN_FLIGHT)
            .try_collect()
            .await?;
        match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full_key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .set_if_none_match(self.if_none_match())
            .send()
            .await
        {
            Ok(_) => Ok(PutOutcome::Written),
            // What the existing object holds is read after the upload is aborted (by the caller).
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyWritten {
                existing_size: None,
                existing_contents: None,
            }),
            Err(e) => Err(self.sdk_error(full_key, "CompleteMultipartUpload", &e)),
        }
    }

    /// Starts a task that aborts multipart uploads orphaned by crashed workers
    /// ([`S3Sink::abort_stale_uploads`]): at once and every hour, those started more than an
    /// hour ago under the sink's root (no live upload of one object lasts that long). Failures
    /// are logged and retried an hour later. Needs a tokio runtime.
    pub fn spawn_stale_upload_cleanup(self) {
        tokio::spawn(async move {
            let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every_hour.tick().await;
                match self
                    .abort_stale_uploads(
                        std::time::SystemTime::now(),
                        std::time::Duration::from_secs(3600),
                    )
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(aborted = n, "aborted stale multipart uploads"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cleaning up stale multipart uploads failed; retrying in an hour")
                    }
                }
            }
        });
    }

    /// Aborts multipart uploads under this sink's root that were started more than `older_than`
    /// before `now` (uploads orphaned by a crashed worker; a live upload of one object takes
    /// seconds to minutes). Returns how many were aborted.
    ///
    /// # Errors
    /// Listing or aborting failed; uploads not reached stay for the next run.
    pub async fn abort_stale_uploads(
        &self,
        now: std::time::SystemTime,
        older_than: std::time::Duration,
    ) -> Result<usize, SinkError> {
        let cutoff = now.checked_sub(older_than).unwrap_or(std::time::UNIX_EPOCH);
        let cutoff_secs = cutoff
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut aborted = 0;
        let mut key_marker: Option<String> = None;
        let mut upload_id_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.root)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(upload_id_marker.clone())
                .send()
                .await
                .map_err(|e| self.sdk_error(&self.root, "ListMultipartUploads", &e))?;
            for upload in page.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                let stale = upload
                    .initiated()
                    .is_none_or(|t| t.as_secs_f64() <= cutoff_secs);
                if !stale {
                    continue;
                }
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .map_err(|e| self.sdk_error(key, "AbortMultipartUpload", &e))?;
                tracing::info!(key = %key, upload_id = %upload_id, "aborted a stale multipart upload");
                aborted += 1;
            }
            if page.is_truncated() != Some(true) {
                return Ok(aborted);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && upload_id_marker.is_none() {
                return Ok(aborted);
            }
        }
    }
}

#[async_trait]
impl ObjectSink for S3Sink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError> {
        let full_key = format!("{}{key}", self.root);
        if body.len() > self.options.multipart_part_size {
            self.put_multipart(&full_key, body, contents).await
        } else {
            self.put_whole(&full_key, body, contents).await
        }
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.root)
    }
}

/// Whether S3 refused a conditional write because the key exists (412 PreconditionFailed).
fn is_precondition_failed<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => {
            s.err().code() == Some("PreconditionFailed") || s.raw().status().as_u16() == 412
        }
        _ => false,
    }
}
