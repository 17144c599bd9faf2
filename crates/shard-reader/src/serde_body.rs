//! GetRecords bodies read with serde_json: the reader of every body the plain-body scanner
//! (`plain_body_scanner`) leaves, and the reference that scanner is tested against; also where
//! a record is built from the members of its JSON object ([`kinesis_record`]), for both readers.

use std::borrow::Cow;
use std::fmt;

use kinesink_record_deaggregation::KinesisRecord;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::source::RecordPage;

/// The most records one GetRecords call returns.
pub(crate) const MAX_RECORDS_PER_CALL: usize = 10_000;

/// A GetRecords response body as Kinesis writes it (JSON 1.1); unknown members are ignored.
/// `Records` is read by [`RecordsSeed`], straight into [`KinesisRecord`]s.
struct ResponseBody {
    page: RecordPage,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordBody<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
    partition_key: Option<String>,
    sequence_number: String,
    approximate_arrival_timestamp: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChildShardBody {
    shard_id: String,
}

impl RecordBody<'_> {
    fn into_record(self) -> Result<KinesisRecord, String> {
        kinesis_record(
            self.data.as_bytes(),
            self.partition_key,
            self.sequence_number,
            self.approximate_arrival_timestamp,
        )
    }
}

/// One record from the members of its JSON object: `data` is the base64 text of `Data`,
/// `arrival_seconds` the `ApproximateArrivalTimestamp`. Both body readers (and the records file
/// of `dry-run`) build records here, so they accept and refuse the same values.
///
/// # Errors
/// `Data` that is not base64, an arrival time out of range.
pub(crate) fn kinesis_record(
    data: &[u8],
    partition_key: Option<String>,
    sequence_number: String,
    arrival_seconds: Option<f64>,
) -> Result<KinesisRecord, String> {
    let approximate_arrival_ms = match arrival_seconds {
        None => 0,
        Some(seconds) => arrival_ms(&sequence_number, seconds)?,
    };
    Ok(KinesisRecord {
        data: record_data(&sequence_number, data)?,
        partition_key: partition_key.unwrap_or_default(),
        approximate_arrival_ms,
        sequence_number,
    })
}

/// A record's bytes from the base64 text of its `Data`.
///
/// # Errors
/// Text that is not base64, naming the record.
pub(crate) fn record_data(sequence_number: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    // The decoder the SDK itself uses for blobs (aws-smithy-types wraps base64-simd's
    // STANDARD), so both paths accept and refuse the same texts; ~3x faster than `base64`.
    base64_simd::STANDARD
        .decode_to_vec(data)
        .map_err(|e| format!("record {sequence_number} has Data that is not base64: {e}"))
}

/// A record's arrival time in ms since the epoch from its `ApproximateArrivalTimestamp` in
/// seconds, converted as the SDK converts it.
///
/// # Errors
/// A time out of range, naming the record.
pub(crate) fn arrival_ms(sequence_number: &str, seconds: f64) -> Result<i64, String> {
    aws_smithy_types::DateTime::from_secs_f64(seconds)
        .to_millis()
        .map_err(|e| format!("record {sequence_number} has an unusable arrival timestamp: {e}"))
}

/// Reads the `Records` array into a list reserved for `capacity` records (the call's limit),
/// so a full page never regrows its list.
struct RecordsSeed {
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = Vec<KinesisRecord>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed {
    type Value = Vec<KinesisRecord>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(self.capacity);
        while let Some(record) = seq.next_element::<RecordBody<'de>>()? {
            records.push(record.into_record().map_err(serde::de::Error::custom)?);
        }
        Ok(records)
    }
}

struct ResponseSeed {
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for ResponseSeed {
    type Value = ResponseBody;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResponseSeed {
    type Value = ResponseBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GetRecords response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut page = RecordPage::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "Records" => {
                    page.records = map.next_value_seed(RecordsSeed {
                        capacity: self.capacity,
                    })?;
                }
                "NextShardIterator" => page.next_iterator = map.next_value()?,
                "MillisBehindLatest" => page.millis_behind_latest = map.next_value()?,
                "ChildShards" => {
                    page.child_shard_ids = map
                        .next_value::<Option<Vec<ChildShardBody>>>()?
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| c.shard_id)
                        .collect();
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(ResponseBody { page })
    }
}

/// [`parse_get_records_body`] with serde_json alone: the reader of every body the plain-body
/// scanner leaves, and the reference it is tested against.
pub(crate) fn serde_page(body: &[u8], capacity: usize) -> Result<RecordPage, String> {
    let seed = ResponseSeed {
        capacity: capacity.min(MAX_RECORDS_PER_CALL),
    };
    // A body validated as UTF-8 at once (SIMD) is read as text, so serde_json does not validate
    // every string again; anything else is read as bytes, where serde_json locates the fault.
    let page = match simdutf8::basic::from_utf8(body) {
        Ok(text) => read_response(&mut serde_json::Deserializer::from_str(text), seed),
        Err(_) => read_response(&mut serde_json::Deserializer::from_slice(body), seed),
    };
    page.map_err(|e| format!("GetRecords response is not what Kinesis sends: {e}"))
}

fn read_response<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    seed: ResponseSeed,
) -> serde_json::Result<RecordPage> {
    let body = seed.deserialize(&mut *de)?;
    de.end()?;
    Ok(body.page)
}
