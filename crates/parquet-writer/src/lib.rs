//! Object encoders: turn a sequence of user records into the bytes of one S3 object.
//!
//! Owns: the output formats (newline-delimited records, raw concatenation) and their
//! compression codecs. Parquet conversion by schema arrives here too.
//! Must never: do I/O, read clocks, or silently skip a record it was given.

mod codec;
mod record_encoder;

pub use codec::{Codec, UnknownCodec};
pub use record_encoder::{RecordEncoder, RecordFraming};
