//! Partitioning: where in the bucket a record's object goes.
//!
//! Owns: evaluating S3 key prefixes from record metadata (today Firehose's legacy default
//! prefix; the full `!{namespace:value}` prefix language arrives with its own issue).
//! Must never: read the wall clock (times are passed in: a record's approximate arrival
//! time), do I/O, or depend on AWS SDK types.

mod legacy_prefix;

pub use legacy_prefix::{LegacyPrefix, PrefixTimeError};
