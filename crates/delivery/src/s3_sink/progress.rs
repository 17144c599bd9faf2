//! Progress objects in S3: PutObject with `If-Match` / `If-None-Match: *` (S3 conditional writes).

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use super::S3Sink;
use crate::progress_store::{ProgressCondition, ProgressStore, ProgressTag, ProgressWrite};
use crate::sink::SinkError;

/// Guarantees: one GetObject per read, one PutObject per write (always a single PutObject, never
/// multipart: progress objects are ~300 bytes), with the sink's encryption and ACL settings; the
/// write is conditional unless the sink's `conditional_writes` is off (then it always writes).
/// 412 PreconditionFailed, 409 ConditionalRequestConflict (a concurrent conditional write) and
/// 404 (the object was deleted under an `If-Match`) are reported as
/// [`ProgressWrite::Conflict`].
#[async_trait]
impl ProgressStore for S3Sink {
    async fn read_progress(&self, key: &str) -> Result<Option<(Vec<u8>, ProgressTag)>, SinkError> {
        let full_key = format!("{}{key}", self.root);
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(self.sdk_error(&full_key, "GetObject", &e)),
        };
        let tag = out
            .e_tag()
            .map(|t| ProgressTag(t.to_owned()))
            .ok_or_else(|| self.error(&full_key, "GetObject returned no ETag".to_owned()))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| self.error(&full_key, format!("reading GetObject body: {e}")))?
            .into_bytes()
            .to_vec();
        Ok(Some((body, tag)))
    }

    async fn write_progress(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: &ProgressCondition,
    ) -> Result<ProgressWrite, SinkError> {
        let full_key = format!("{}{key}", self.root);
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .set_server_side_encryption(self.options.server_side_encryption.clone())
            .set_ssekms_key_id(self.options.kms_key_id.clone())
            .set_acl(self.acl());
        // Stores without conditional writes (`destination.conditional_writes = false`) get a
        // plain PutObject: the progress object then follows the last writer, as the lease row
        // does, and only the lease table fences a paused zombie.
        if self.options.conditional_writes {
            put = match condition {
                ProgressCondition::Absent => put.if_none_match("*"),
                ProgressCondition::Unchanged(tag) => put.if_match(&tag.0),
            };
        }
        match put.send().await {
            Ok(out) => out
                .e_tag()
                .map(|t| ProgressWrite::Written(ProgressTag(t.to_owned())))
                .ok_or_else(|| self.error(&full_key, "PutObject returned no ETag".to_owned())),
            Err(e) => {
                // A missing bucket also answers 404: that is a refusal, not a changed object.
                let no_bucket = e
                    .as_service_error()
                    .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
                    == Some("NoSuchBucket");
                match e.raw_response().map(|r| r.status().as_u16()) {
                    Some(412 | 409) => Ok(ProgressWrite::Conflict),
                    Some(404)
                        if !no_bucket && matches!(condition, ProgressCondition::Unchanged(_)) =>
                    {
                        Ok(ProgressWrite::Conflict)
                    }
                    _ => Err(self.sdk_error(&full_key, "PutObject", &e)),
                }
            }
        }
    }
}
