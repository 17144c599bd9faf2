//! The Iceberg destination (work in progress).
