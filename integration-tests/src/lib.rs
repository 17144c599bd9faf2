//! Test infrastructure shared by the end-to-end tests and the benchmarks: a fast fake Kinesis.
//!
//! Must never: be used by the worker itself, or reach a real AWS endpoint.

pub mod fake_kinesis;
