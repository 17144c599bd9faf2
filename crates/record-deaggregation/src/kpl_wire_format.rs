//! The KPL aggregated record format: framing constants and the protobuf messages of the KPL's
//! `messages.proto`, declared with `prost` derive (no code generation step).
//!
//! A KPL aggregate is `MAGIC ++ protobuf(AggregatedRecord) ++ MD5(protobuf)`.

use std::ops::Range;

use bytes::Bytes;
use prost::Message;

/// The four bytes every KPL aggregate starts with.
pub(crate) const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// Length of the MD5 digest that ends every KPL aggregate.
pub(crate) const DIGEST_LEN: usize = 16;

/// Bytes an aggregate spends on framing: the magic and the digest.
pub(crate) const FRAMING_LEN: usize = MAGIC.len() + DIGEST_LEN;

/// `AggregatedRecord`: the tables of keys and the user records that index into them.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AggregatedRecord {
    /// Partition keys, each stored once and referenced by index.
    #[prost(string, repeated, tag = "1")]
    pub(crate) partition_key_table: Vec<String>,
    /// Explicit hash keys, each stored once and referenced by index.
    #[prost(string, repeated, tag = "2")]
    pub(crate) explicit_hash_key_table: Vec<String>,
    /// The user records, in the order they were added.
    #[prost(message, repeated, tag = "3")]
    pub(crate) records: Vec<Record>,
}

/// `Record`: one user record.
///
/// `partition_key_index` and `data` are `required` in the KPL's proto2 schema. They are declared
/// `optional` here so that a missing one is detected, as the official protobuf runtimes do
/// (prost would otherwise decode a missing field as its default).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Record {
    /// Index into `partition_key_table` (required).
    #[prost(uint64, optional, tag = "1")]
    pub(crate) partition_key_index: Option<u64>,
    /// Index into `explicit_hash_key_table`, when the record has an explicit hash key.
    #[prost(uint64, optional, tag = "2")]
    pub(crate) explicit_hash_key_index: Option<u64>,
    /// The user record's data (required). `Bytes`, so decoding from a `Bytes` buffer slices the
    /// aggregate instead of copying every user record twice.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub(crate) data: Option<Bytes>,
    /// KPL tags: carried by the format, unused by Kinesis consumers.
    #[prost(message, repeated, tag = "4")]
    pub(crate) tags: Vec<Tag>,
}

/// `Tag`: a key (required) and an optional value.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Tag {
    /// The tag's key (required).
    #[prost(string, optional, tag = "1")]
    pub(crate) key: Option<String>,
    /// The tag's value.
    #[prost(string, optional, tag = "2")]
    pub(crate) value: Option<String>,
}

/// Where the protobuf bytes sit in `data` when it is framed as a KPL aggregate: `data` is long
/// enough, starts with the magic and ends with the MD5 of the bytes between. `None` means "not an
/// aggregate".
/// Whether `data` starts with the KPL magic: `false` means it is certainly a plain record
/// (a cheap test before [`crate::deaggregate`], which also checks the MD5).
#[must_use]
pub fn may_be_aggregate(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

pub(crate) fn aggregate_protobuf_range(data: &[u8]) -> Option<Range<usize>> {
    let rest = data.strip_prefix(&MAGIC)?;
    let protobuf_len = rest.len().checked_sub(DIGEST_LEN)?;
    let (protobuf, digest) = rest.split_at(protobuf_len);
    (crate::md5_digest::md5(protobuf).as_slice() == digest)
        .then_some(MAGIC.len()..MAGIC.len() + protobuf_len)
}

/// Encodes `message` framed as a KPL aggregate: magic, the protobuf bytes, their MD5.
pub(crate) fn encode_framed(message: &AggregatedRecord) -> Vec<u8> {
    let protobuf_len = message.encoded_len();
    let mut framed = Vec::with_capacity(FRAMING_LEN + protobuf_len);
    framed.extend_from_slice(&MAGIC);
    message.encode_raw(&mut framed);
    let digest = crate::md5_digest::md5(&framed[MAGIC.len()..]);
    framed.extend_from_slice(&digest);
    framed
}
