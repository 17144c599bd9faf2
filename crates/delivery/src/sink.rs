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

/// Somewhere objects are written to.
///
/// Guarantees of every implementation: when [`ObjectSink::put`] returns `Ok`, the whole object
/// is durable under that key (readers never see a partial object); writing the same key with
/// the same bytes again is harmless.
#[async_trait]
pub trait ObjectSink: Send + Sync {
    /// Writes `body` under `key` (relative to the destination root).
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError>;

    /// A human-readable name of the destination, e.g. `s3://bucket/root/`.
    fn describe(&self) -> String;
}
