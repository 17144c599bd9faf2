//! The destination interface objects are written through.

use async_trait::async_trait;

/// An error writing an object; nothing was acknowledged as durable.
#[derive(Debug, thiserror::Error)]
#[error("writing object `{key}` to {destination} failed: {message}")]
pub struct SinkError {
    /// The key that was being written.
    pub key: String,
    /// Where it was being written.
    pub destination: String,
    /// What went wrong, including the underlying cause.
    pub message: String,
}

/// What a successful [`ObjectSink::put`] did.
///
/// Object keys and contents are deterministic (the flush protocol makes a replay or a zombie
/// write the same key with the same bytes), so a key found already written holds the object
/// this put would have written: the put is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    },
}

impl PutOutcome {
    /// The existing object's size when it is known and differs from `expected` (the size of the
    /// body this put carried): by construction this never happens, so it is worth an error
    /// report. `None` for [`PutOutcome::Written`], an unknown size, or the same size.
    #[must_use]
    pub fn size_mismatch(&self, expected: u64) -> Option<u64> {
        match self {
            PutOutcome::AlreadyWritten {
                existing_size: Some(size),
            } if *size != expected => Some(*size),
            _ => None,
        }
    }
}

/// Somewhere objects are written to.
///
/// Guarantees of every implementation: when [`ObjectSink::put`] returns `Ok`, the whole object
/// is durable under that key (readers never see a partial object). With conditional writes
/// (the default of the S3 and file sinks) each key is written at most once: a put of a key that
/// already holds an object changes nothing and returns [`PutOutcome::AlreadyWritten`]; without
/// them, writing the same key with the same bytes again is harmless.
#[async_trait]
pub trait ObjectSink: Send + Sync {
    /// Writes `body` under `key` (relative to the destination root), unless the key is already
    /// written and the sink writes conditionally.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<PutOutcome, SinkError>;

    /// A human-readable name of the destination, e.g. `s3://bucket/root/`.
    fn describe(&self) -> String;
}
