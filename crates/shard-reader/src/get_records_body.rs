//! GetRecords responses read from their JSON bytes, without the SDK's record builders.
//!
//! The SDK stays in charge of the call (endpoint, signing, credentials, retries, errors); a
//! per-call interceptor ([`RecordsBodyTap`]) takes the body of a successful JSON response as
//! it streams in, reads it here (records' `Data` base64-decoded straight from the response
//! bytes into the record's buffer), and hands the SDK an empty page instead. A body of the
//! plain shape Kinesis writes is read by `plain_body_scanner`; any other body, and every
//! failure, by serde_json. The
//! SDK's generic deserializer cost about 16% of the worker's CPU (a String per base64 text, a
//! builder per record); this path is property-tested to give the records the SDK would have
//! given. A response that is not JSON (another protocol), or any error response, is left to
//! the SDK untouched.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;

use crate::plain_body_scanner::scan_plain_body;
use crate::serde_body::{MAX_RECORDS_PER_CALL, serde_page};
use crate::source::RecordPage;

/// The most room reserved up front for a body from its announced length.
const MAX_EXPECTED_BODY: usize = 32 * 1024 * 1024;

/// What the SDK deserializes in place of a body read here: a page without records.
const EMPTY_PAGE: &[u8] = br#"{"Records":[]}"#;

/// Reads a GetRecords JSON response body; `capacity` is the number of records to reserve room
/// for (the call's limit).
///
/// Guarantees: the same records, next iterator, MillisBehindLatest and child shard ids as the
/// SDK's deserializer gives for the same body (arrival times converted by the SDK's own
/// `DateTime::from_secs_f64`, to milliseconds; a missing arrival time is 0 as in
/// `kinesis_record`).
///
/// # Errors
/// A message naming what is wrong: not JSON, a missing `SequenceNumber` or `Data`, `Data` that
/// is not base64, an arrival time out of range.
pub(crate) fn parse_get_records_body(body: &[u8], capacity: usize) -> Result<RecordPage, String> {
    let capacity = capacity.min(MAX_RECORDS_PER_CALL);
    match scan_plain_body(body, capacity) {
        Some(page) => Ok(page),
        None => serde_page(body, capacity),
    }
}

/// Whether a response is one this module reads: a success in the JSON 1.1 protocol.
#[must_use]
pub(crate) fn reads_response(status: u16, content_type: Option<&str>) -> bool {
    (200..300).contains(&status)
        && content_type.is_some_and(|t| {
            let t = t.trim().to_ascii_lowercase();
            t.starts_with("application/x-amz-json-1.1") || t.starts_with("application/json")
        })
}

/// The page read from the body of the call's last attempt, once the SDK has read the body.
pub(crate) type PageSlot = Arc<Mutex<Option<Result<RecordPage, String>>>>;

/// Buffers that responses arriving in several chunks are joined in, kept from call to call:
/// a fresh multi-megabyte buffer per call cost ~3% of the worker's CPU in page faults.
///
/// Guarantees: at most [`KEPT`](Self::KEPT) buffers and [`KEPT_BYTES`](Self::KEPT_BYTES) of
/// capacity are kept; a buffer handed out is empty.
#[derive(Debug, Default)]
pub(crate) struct BodyBuffers {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BodyBuffers {
    /// Buffers kept at most: one per call whose body streams at the same time. A worker polling
    /// 64 shards has dozens of bodies arriving at once; with 4 kept, most calls grew a fresh
    /// buffer by doubling (7% of its CPU in reallocation copies and page faults).
    const KEPT: usize = 64;
    /// Capacity kept at most, whatever the count.
    const KEPT_BYTES: usize = 64 * 1024 * 1024;

    /// An empty buffer with room for `expected` bytes (the response's length when it said so):
    /// the body is then joined without regrowing. The smallest kept buffer that fits, else a
    /// new one of that size (growing a kept one would copy it); with no length announced, the
    /// largest kept buffer.
    fn take(&self, expected: usize) -> Vec<u8> {
        let kept = self.free.lock().ok().and_then(|mut free| {
            let chosen = if expected == 0 {
                free.iter()
                    .enumerate()
                    .max_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)
            } else {
                free.iter()
                    .enumerate()
                    .filter(|(_, b)| b.capacity() >= expected)
                    .min_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)
            };
            chosen.map(|i| free.swap_remove(i))
        });
        kept.unwrap_or_else(|| Vec::with_capacity(expected))
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut free) = self.free.lock() {
            let kept: usize = free.iter().map(Vec::capacity).sum();
            if free.len() < Self::KEPT && kept + buffer.capacity() <= Self::KEPT_BYTES {
                free.push(buffer);
            }
        }
    }
}

/// A per-call interceptor that reads a successful GetRecords body here (see the module
/// documentation) and leaves the SDK an empty page.
///
/// Guarantees: the page is put in the slot only when the SDK has read the whole body; an
/// attempt that fails while the body streams leaves the slot as the SDK's error leaves the
/// call (failed); a retried attempt replaces the page of the earlier one.
#[derive(Clone)]
pub(crate) struct RecordsBodyTap {
    slot: PageSlot,
    capacity: usize,
    buffers: Arc<BodyBuffers>,
}

impl RecordsBodyTap {
    /// A tap for a call asking for up to `capacity` records, and the slot its page lands in.
    pub(crate) fn new(capacity: usize, buffers: Arc<BodyBuffers>) -> (Self, PageSlot) {
        let slot = PageSlot::default();
        (
            Self {
                slot: Arc::clone(&slot),
                capacity,
                buffers,
            },
            slot,
        )
    }
}

impl fmt::Debug for RecordsBodyTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordsBodyTap")
    }
}

impl Intercept for RecordsBodyTap {
    fn name(&self) -> &'static str {
        "RecordsBodyTap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
        if !reads_response(
            response.status().as_u16(),
            response.headers().get("content-type"),
        ) {
            return Ok(());
        }
        // GetRecords answers at most 10 MB of data: base64 and JSON make that < 16 MiB of body.
        let expected = response
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
            .min(MAX_EXPECTED_BODY);
        let inner = response.take_body();
        response.headers_mut().remove("content-length");
        *response.body_mut() = SdkBody::from_body_1_x(TappedBody {
            inner,
            expected,
            first: None,
            joined: None,
            tap: self.clone(),
            done: false,
        });
        Ok(())
    }
}

/// The response body as the SDK reads it: the original body is collected, read into the slot,
/// and replaced by [`EMPTY_PAGE`].
struct TappedBody {
    inner: SdkBody,
    /// The body's length as the response announced it (0 when it did not).
    expected: usize,
    /// The first chunk (often the whole body: then it is read in place).
    first: Option<Bytes>,
    /// Every chunk so far, once there is more than one.
    joined: Option<Vec<u8>>,
    tap: RecordsBodyTap,
    done: bool,
}

impl TappedBody {
    fn collect(&mut self, chunk: Bytes) {
        match (&mut self.joined, self.first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&chunk),
            (None, None) => self.first = Some(chunk),
            (None, Some(first)) => {
                let mut joined = self
                    .tap
                    .buffers
                    .take(self.expected.max(first.len() + chunk.len()));
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&chunk);
                self.joined = Some(joined);
            }
        }
    }

    fn finish(&mut self) {
        let capacity = self.tap.capacity;
        let page = match (self.joined.take(), self.first.take()) {
            (Some(joined), _) => {
                let page = parse_get_records_body(&joined, capacity);
                self.tap.buffers.give_back(joined);
                page
            }
            (None, Some(only)) => parse_get_records_body(&only, capacity),
            (None, None) => parse_get_records_body(b"", capacity),
        };
        if let Ok(mut slot) = self.tap.slot.lock() {
            *slot = Some(page);
        }
    }
}

impl http_body::Body for TappedBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.collect(data);
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    this.done = true;
                    this.finish();
                    return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                        EMPTY_PAGE,
                    )))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    #[test]
    fn a_response_as_kinesis_writes_it_gives_its_records_iterator_lag_and_children() {
        // `\/` in Data: JSON may escape the slash of base64; the text is unescaped first.
        let body = br#"{"ChildShards":[{"HashKeyRange":{"EndingHashKey":"1","StartingHashKey":"0"},"ParentShards":["shardId-000000000000"],"ShardId":"shardId-000000000002"}],
            "MillisBehindLatest":1500,"NextShardIterator":null,
            "Records":[{"ApproximateArrivalTimestamp":1.700000000123E9,"Data":"aGVsbG8=","EncryptionType":"NONE","PartitionKey":"pk-1","SequenceNumber":"4959"},
                       {"ApproximateArrivalTimestamp":1700000001,"Data":"\/\/8=","PartitionKey":"pk-2","SequenceNumber":"4960"}]}"#;
        let page = parse_get_records_body(body, 10).unwrap();
        assert_eq!(page.next_iterator, None);
        assert_eq!(page.millis_behind_latest, Some(1500));
        assert_eq!(page.child_shard_ids, ["shardId-000000000002"]);
        let got: Vec<_> = page
            .records
            .iter()
            .map(|r| {
                (
                    r.data.clone(),
                    r.partition_key.as_str(),
                    r.sequence_number.as_str(),
                    r.approximate_arrival_ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // The SDK's `DateTime::from_secs_f64` truncates 1700000000.123 s (an f64 just
                // below it) to ...122 ms; the same conversion keeps polling and EFO in agreement.
                (b"hello".to_vec(), "pk-1", "4959", 1_700_000_000_122),
                (vec![0xFF, 0xFF], "pk-2", "4960", 1_700_000_001_000)
            ]
        );
    }

    #[test]
    fn a_body_kinesis_would_not_send_is_refused_with_what_is_wrong() {
        let not_base64 = br#"{"Records":[{"Data":"***","PartitionKey":"p","SequenceNumber":"7"}]}"#;
        let e = parse_get_records_body(not_base64, 10).unwrap_err();
        assert!(e.contains("record 7 has Data that is not base64"), "{e}");
        let no_sequence = br#"{"Records":[{"Data":"","PartitionKey":"p"}]}"#;
        let e = parse_get_records_body(no_sequence, 10).unwrap_err();
        assert!(e.contains("SequenceNumber"), "{e}");
        let e = parse_get_records_body(b"<html>", 10).unwrap_err();
        assert!(e.contains("not what Kinesis sends"), "{e}");
        // Not UTF-8 (read as bytes, not text): serde_json says where.
        let not_utf8 =
            b"{\"Records\":[{\"Data\":\"\",\"PartitionKey\":\"\xFF\",\"SequenceNumber\":\"7\"}]}";
        let e = parse_get_records_body(not_utf8, 10).unwrap_err();
        assert!(
            e.contains("invalid unicode") && e.contains("column 40"),
            "{e}"
        );
    }

    /// A body that arrives in the given chunks.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = aws_smithy_types::body::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.get_mut()
                    .0
                    .pop_front()
                    .map(|c| Ok(http_body::Frame::data(c))),
            )
        }
    }

    async fn read_through_tap(
        chunks: &[&[u8]],
        buffers: &Arc<BodyBuffers>,
    ) -> (Vec<u8>, RecordPage) {
        use http_body_util::BodyExt as _;
        let (tap, slot) = RecordsBodyTap::new(100, Arc::clone(buffers));
        let body = TappedBody {
            inner: SdkBody::from_body_1_x(Chunks(
                chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect(),
            )),
            expected: chunks.iter().map(|c| c.len()).sum(),
            first: None,
            joined: None,
            tap,
            done: false,
        };
        let seen_by_sdk = body.collect().await.unwrap().to_bytes().to_vec();
        let page = slot.lock().unwrap().take().expect("page read").unwrap();
        (seen_by_sdk, page)
    }

    #[tokio::test]
    async fn a_body_in_one_or_many_chunks_is_read_whole_and_the_sdk_sees_an_empty_page() {
        let body = br#"{"MillisBehindLatest":7,"NextShardIterator":"it-2","Records":[{"Data":"YQ==","PartitionKey":"p","SequenceNumber":"1"},{"Data":"Yg==","PartitionKey":"p","SequenceNumber":"2"}]}"#;
        let buffers = Arc::new(BodyBuffers::default());
        for cut in [
            vec![body.len()],
            vec![10, 60, body.len()],
            (1..=body.len()).collect(),
        ] {
            let mut chunks = Vec::new();
            let mut start = 0;
            for end in cut {
                chunks.push(&body[start..end]);
                start = end;
            }
            let (sdk, page) = read_through_tap(&chunks, &buffers).await;
            assert_eq!(sdk, EMPTY_PAGE);
            assert_eq!(page.next_iterator.as_deref(), Some("it-2"));
            assert_eq!(page.millis_behind_latest, Some(7));
            let data: Vec<_> = page.records.iter().map(|r| r.data.clone()).collect();
            assert_eq!(
                data,
                [b"a".to_vec(), b"b".to_vec()],
                "{} chunks",
                chunks.len()
            );
        }
        let kept = buffers.free.lock().unwrap();
        assert_eq!(
            kept.len(),
            1,
            "one joining buffer, reused by the later calls"
        );
        assert!(kept[0].is_empty() && kept[0].capacity() >= body.len());
        assert_eq!(
            kept[0].capacity(),
            body.len(),
            "room for the announced length reserved once, not grown by doubling"
        );
    }

    #[test]
    fn a_buffer_taken_has_room_for_the_announced_body_and_kept_buffers_are_bounded() {
        let buffers = BodyBuffers::default();
        for size in [1_000, 50_000, 400_000] {
            buffers.give_back(Vec::with_capacity(size));
        }
        let taken = buffers.take(40_000);
        assert!(taken.is_empty());
        assert_eq!(
            taken.capacity(),
            50_000,
            "the smallest kept buffer that fits"
        );
        let fresh = buffers.take(1_000_000);
        assert!(fresh.capacity() >= 1_000_000);
        assert_eq!(
            buffers.free.lock().unwrap().len(),
            2,
            "none kept fits: a new one, the kept ones stay"
        );
        let unannounced = buffers.take(0);
        assert_eq!(
            unannounced.capacity(),
            400_000,
            "no length announced: the largest kept"
        );
        for _ in 0..2 * BodyBuffers::KEPT {
            buffers.give_back(Vec::with_capacity(1_000));
        }
        assert_eq!(buffers.free.lock().unwrap().len(), BodyBuffers::KEPT);
        let huge = BodyBuffers::default();
        huge.give_back(Vec::with_capacity(BodyBuffers::KEPT_BYTES));
        huge.give_back(Vec::with_capacity(1));
        assert_eq!(
            huge.free.lock().unwrap().len(),
            1,
            "no more than KEPT_BYTES of capacity is kept"
        );
    }

    #[test]
    fn only_successful_json_responses_are_read_here() {
        assert!(reads_response(200, Some("application/x-amz-json-1.1")));
        assert!(reads_response(200, Some("application/json")));
        assert!(!reads_response(400, Some("application/x-amz-json-1.1")));
        assert!(!reads_response(500, Some("application/x-amz-json-1.1")));
        assert!(!reads_response(200, Some("application/cbor")));
        assert!(!reads_response(200, None));
    }

    proptest! {
        #[test]
        fn records_written_as_kinesis_writes_them_read_back_as_the_sdk_reads_them(
            records in proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..64),
                    "[ -~é]{0,12}",
                    "[0-9]{1,56}",
                    proptest::option::of(0u64..4_102_444_800_000),
                ),
                0..8,
            ),
            behind in proptest::option::of(0i64..86_400_000),
            iterator in proptest::option::of("[A-Za-z0-9/+=]{1,40}"),
        ) {
            let body = serde_json::json!({
                "Records": records.iter().map(|(data, pk, seq, ms)| {
                    let mut r = serde_json::json!({
                        "Data": base64::engine::general_purpose::STANDARD.encode(data),
                        "PartitionKey": pk,
                        "SequenceNumber": seq,
                    });
                    if let Some(ms) = ms {
                        // Seconds with a fraction, as Kinesis writes them.
                        r["ApproximateArrivalTimestamp"] = serde_json::json!(*ms as f64 / 1000.0);
                    }
                    r
                }).collect::<Vec<_>>(),
                "MillisBehindLatest": behind,
                "NextShardIterator": iterator,
            });
            let page = parse_get_records_body(&serde_json::to_vec(&body).unwrap(), 4).unwrap();
            prop_assert_eq!(page.next_iterator, iterator);
            prop_assert_eq!(page.millis_behind_latest, behind);
            prop_assert_eq!(page.records.len(), records.len());
            for (got, (data, pk, seq, ms)) in page.records.iter().zip(&records) {
                prop_assert_eq!(&got.data, data);
                prop_assert_eq!(&got.partition_key, pk);
                prop_assert_eq!(&got.sequence_number, seq);
                // The SDK's conversion of the same seconds.
                let sdk = ms.map_or(0, |ms| aws_smithy_types::DateTime::from_secs_f64(ms as f64 / 1000.0).to_millis().unwrap());
                prop_assert_eq!(got.approximate_arrival_ms, sdk);
            }
        }
    }
}
