//! The destination interface objects are written through.

use async_trait::async_trait;

use crate::object_contents::ObjectContents;

/// Whether waiting can fix a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkErrorClass {
    /// Throttling, a 5xx, a timeout, a broken connection: retried with fast backoff.
    Transient,
    /// Refused for a reason only an operator can fix: reported, retried at a slow fixed pace.
    Permanent,
}

/// An error writing an object; nothing was acknowledged as durable.
#[derive(Debug, thiserror::Error)]
#[error("writing object `{key}` to {destination} failed: {message}")]
pub struct SinkError {
    /// The key that was being written.
    pub key: String,
    /// Where it was being written.
    pub destination: String,
    /// What went wrong, including the underlying cause (and, for a permanent refusal with a
    /// known cause, what to fix).
    pub message: String,
    /// Whether waiting can fix it (see [`SinkErrorClass`]).
    pub class: SinkErrorClass,
}

/// What a successful [`ObjectSink::put`] did.
///
/// A key found already written usually holds the object this put would have written (a replay
/// or a zombie wrote it first), but not always: cuts by size are not recorded in the lease, so
/// a replay with another `buffer_size_mib` or format cuts differently. Which records the
/// existing object holds is reported ([`PutOutcome::AlreadyWritten::existing_contents`]) so the
/// caller ([`crate::write_once`]) can tell the two apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// This put created the object (or, without conditional writes, wrote it again).
    Written,
    /// The key already held an object, which was left as it was (conditional write refused
    /// with 412 PreconditionFailed, or the file existed): no second copy, no second
    /// ObjectCreated notification, no second version.
    AlreadyWritten {
        /// The existing object's size in bytes, where it could be read cheaply (HeadObject, file
        /// metadata); `None` when that read failed.
        existing_size: Option<u64>,
        /// Which records the existing object holds, as recorded when it was written (S3 user
        /// metadata, the file sink's sidecar); `None` for an object written without it (an
        /// older kinesink version, or without conditional writes).
        existing_contents: Option<ObjectContents>,
    },
}

/// Somewhere objects are written to.
///
/// Guarantees of every implementation: when [`ObjectSink::put`] returns `Ok`, the whole object
/// is durable under that key (readers never see a partial object). With conditional writes
/// (the default of the S3 and file sinks) each key is written at most once: a put of a key that
/// already holds an object changes nothing and returns [`PutOutcome::AlreadyWritten`] with what
/// the existing object holds; without them, writing the same key with the same bytes again is
/// harmless. Every object written records `contents` (which records it holds) where a later
/// put of its key reads it back.
#[async_trait]
pub trait ObjectSink: Send + Sync {
    /// Writes `body` under `key` (relative to the destination root), unless the key is already
    /// written and the sink writes conditionally; `contents` says which records `body` holds.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError>;

    /// A human-readable name of the destination, e.g. `s3://bucket/root/`.
    fn describe(&self) -> String;
}
