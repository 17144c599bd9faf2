//! Helpers shared by the integration tests: building Kinesis records and framing protobuf bytes
//! as KPL aggregates independently of the crate's own encoder.

#![allow(dead_code, unreachable_pub)]

use kinesink_record_deaggregation::KinesisRecord;
use md5::{Digest, Md5};

/// The KPL magic, written out here from the KPL format description, not taken from the crate.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// A sequence number of Kinesis's usual 56-digit shape.
pub const SEQUENCE_NUMBER: &str = "49590338271490256608559692538361571095921575989136588898";

/// Arrival time used for test records.
pub const ARRIVAL_MS: i64 = 1_795_000_123_456;

/// `MAGIC ++ protobuf ++ MD5(protobuf)`.
pub fn framed(protobuf: &[u8]) -> Vec<u8> {
    let mut data = KPL_MAGIC.to_vec();
    data.extend_from_slice(protobuf);
    data.extend_from_slice(&Md5::digest(protobuf));
    data
}

/// A Kinesis record with this data and the test sequence number and arrival time.
pub fn kinesis_record(data: Vec<u8>) -> KinesisRecord {
    KinesisRecord {
        data,
        partition_key: "shard-key".to_owned(),
        sequence_number: SEQUENCE_NUMBER.to_owned(),
        approximate_arrival_ms: ARRIVAL_MS,
    }
}
