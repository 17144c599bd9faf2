//! Sample data: deterministic events (the same seed gives the same bytes) for the demo, the
//! tests and the benches, and a producer that puts them into a Kinesis stream.
//!
//! Owns: the sample event generator ([`sample_events::SampleEvents`]) and PutRecords with
//! retries of partial failures ([`producer::produce`]). Must never: be used by the worker's
//! record path (nothing in delivery, lease-coordination, shard-reader or the worker depends
//! on it), or reach a stream other than the one it is given.

pub mod producer;
pub mod sample_events;
