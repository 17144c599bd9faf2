//! The retry class of the crate's errors: whether waiting can fix one.

/// Whether waiting can fix an error (the house split, as `SinkErrorClass` in the delivery crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcebergErrorClass {
    /// A commit conflict left after iceberg-rust's own retries, an unreachable or busy catalog
    /// database, a storage hiccup: retried with backoff, nothing was committed.
    Transient,
    /// Refused for a reason only an operator (or a code change) can fix: a missing table or
    /// namespace, invalid settings or metadata, a feature this build does not have.
    Permanent,
}
