//! GetRecords bodies of the plain shape Kinesis writes, read by a byte scanner.
//!
//! Nearly every GetRecords response is one object with `Records` (objects of strings and one
//! number), `NextShardIterator` and `MillisBehindLatest`, no escapes in any string. serde_json
//! reads such a body at about a third of the speed a scanner that looks for the next quote
//! with `memchr` does (it was ~12% of the worker's CPU). This scanner reads only that shape and
//! answers `None` for anything else (an escape, a control character, an unknown member that is
//! not a plain value, a duplicate member, child shards, bytes after the object, any value the
//! record conversion refuses): the caller then reads the body with serde_json, which gives the
//! result or words the failure. So the scanner never changes what a body means; it is
//! property-tested to give serde_json's page for every body it accepts.

use kinesink_record_deaggregation::KinesisRecord;

use crate::serde_body::kinesis_record;
use crate::source::RecordPage;

/// Reads `body` if it has the plain shape (see the module documentation), reserving room for
/// `capacity` records.
///
/// Guarantees: `Some` only with the page serde_json's reader gives for the same body; `None`
/// otherwise, never a partial page.
pub(crate) fn scan_plain_body(body: &[u8], capacity: usize) -> Option<RecordPage> {
    let mut cursor = Cursor { bytes: body, at: 0 };
    let mut page = RecordPage::default();
    let (mut records, mut iterator, mut behind, mut children) = (false, false, false, false);
    cursor.expect(b'{')?;
    if cursor.peek()? == b'}' {
        cursor.at += 1;
    } else {
        loop {
            let key = cursor.raw_string()?;
            cursor.expect(b':')?;
            match key {
                b"Records" if !records => {
                    records = true;
                    page.records = cursor.records(capacity)?;
                }
                b"NextShardIterator" if !iterator => {
                    iterator = true;
                    page.next_iterator = cursor.optional(Cursor::text)?.map(str::to_owned);
                }
                b"MillisBehindLatest" if !behind => {
                    behind = true;
                    page.millis_behind_latest = cursor.optional(Cursor::integer)?;
                }
                // Child shards are read by serde_json (they come once, at a shard's end); an
                // empty list or null is the same as none.
                b"ChildShards" if !children => {
                    children = true;
                    cursor.empty_list_or_null()?;
                }
                _ => return None,
            }
            if !cursor.next_member()? {
                break;
            }
        }
    }
    cursor.skip_whitespace();
    (cursor.at == body.len()).then_some(page)
}

/// The bytes between a string's quotes as text JSON allows unescaped: no control character,
/// valid UTF-8.
fn plain_text(raw: &[u8]) -> Option<&str> {
    if raw.iter().any(|&b| b < 0x20) {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After a member or element: `true` on a comma, `false` on `close`.
    fn next_item(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            b if b == close => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    fn next_member(&mut self) -> Option<bool> {
        self.next_item(b'}')
    }

    /// A string's bytes between its quotes, if it has no escape; control characters and
    /// UTF-8 are not checked (see [`Cursor::text`]).
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let rest = &self.bytes[self.at..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' {
            return None;
        }
        self.at += end + 1;
        Some(&rest[..end])
    }

    /// A string JSON allows as it is: no escape, no control character, valid UTF-8.
    fn text(&mut self) -> Option<&'a str> {
        plain_text(self.raw_string()?)
    }

    /// `null` as `None`, anything else read by `read`.
    fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|()| None);
        }
        read(self).map(Some)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.skip_whitespace();
        let found = self.bytes.get(self.at..self.at + word.len())? == word;
        found.then(|| self.at += word.len())
    }

    /// The text of a number as JSON writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number_text(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let b = self.bytes;
        let start = self.at;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.at = i;
        // ASCII digits and signs only.
        std::str::from_utf8(&b[start..i]).ok()
    }

    /// An integer that fits an `i64` (what `MillisBehindLatest` is).
    fn integer(&mut self) -> Option<i64> {
        let text = self.number_text()?;
        if text.contains(['.', 'e', 'E']) {
            return None;
        }
        text.parse().ok()
    }

    /// A finite number, as `f64` (rounded to nearest, as serde_json with `float_roundtrip`).
    fn float(&mut self) -> Option<f64> {
        let value: f64 = self.number_text()?.parse().ok()?;
        value.is_finite().then_some(value)
    }

    fn empty_list_or_null(&mut self) -> Option<()> {
        if self.peek()? == b'n' {
            return self.literal(b"null");
        }
        self.expect(b'[')?;
        self.expect(b']')
    }

    fn records(&mut self, capacity: usize) -> Option<Vec<KinesisRecord>> {
        self.expect(b'[')?;
        let mut records = Vec::with_capacity(capacity);
        if self.peek()? == b']' {
            self.at += 1;
            return Some(records);
        }
        loop {
            records.push(self.record()?);
            if !self.next_item(b']')? {
                return Some(records);
            }
        }
    }

    fn record(&mut self) -> Option<KinesisRecord> {
        self.expect(b'{')?;
        let mut data = None;
        let mut partition_key = None;
        let mut sequence_number = None;
        let mut arrival = None;
        if self.peek()? != b'}' {
            loop {
                let key = self.raw_string()?;
                self.expect(b':')?;
                match key {
                    // Base64 text: anything but its 65 ASCII characters is refused by the
                    // decoder, so neither control characters nor UTF-8 need a check here.
                    b"Data" if data.is_none() => data = Some(self.raw_string()?),
                    b"PartitionKey" if partition_key.is_none() => {
                        partition_key = Some(self.optional(Cursor::text)?);
                    }
                    b"SequenceNumber" if sequence_number.is_none() => {
                        sequence_number = Some(self.text()?);
                    }
                    b"ApproximateArrivalTimestamp" if arrival.is_none() => {
                        arrival = Some(self.optional(Cursor::float)?);
                    }
                    b"Data"
                    | b"PartitionKey"
                    | b"SequenceNumber"
                    | b"ApproximateArrivalTimestamp" => {
                        return None;
                    }
                    // Other members (`EncryptionType`, `KeyId`, ...) are skipped when they are
                    // a plain string, number or null under a plain name.
                    other => {
                        plain_text(other)?;
                        match self.peek()? {
                            b'"' => {
                                self.text()?;
                            }
                            b'n' => self.literal(b"null")?,
                            _ => {
                                self.number_text()?;
                            }
                        }
                    }
                }
                if !self.next_member()? {
                    break;
                }
            }
        } else {
            self.at += 1;
        }
        kinesis_record(
            data?,
            partition_key.flatten().map(str::to_owned),
            sequence_number?.to_owned(),
            arrival.flatten(),
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_body::serde_page;
    use base64::Engine as _;
    use proptest::prelude::*;

    type Parts = (Vec<KinesisRecord>, Option<String>, Option<i64>, Vec<String>);

    fn parts(page: RecordPage) -> Parts {
        (
            page.records,
            page.next_iterator,
            page.millis_behind_latest,
            page.child_shard_ids,
        )
    }

    fn scanned(body: &[u8]) -> Option<Parts> {
        scan_plain_body(body, 16).map(parts)
    }

    /// What serde_json's reader makes of the body.
    fn reference(body: &[u8]) -> Result<Parts, String> {
        serde_page(body, 16).map(parts)
    }

    #[test]
    fn the_body_the_fake_kinesis_and_kinesis_write_is_read_by_the_scanner() {
        let fake = br#"{"Records":[{"SequenceNumber":"4959","ApproximateArrivalTimestamp":1700000000.123,"Data":"aGVsbG8=","PartitionKey":"pk-1"},{"SequenceNumber":"4960","ApproximateArrivalTimestamp":1700000001.000,"Data":"","PartitionKey":"pk-2"}],"MillisBehindLatest":0,"NextShardIterator":"it-2"}"#;
        let kinesis = br#"{"MillisBehindLatest":1500,"NextShardIterator":"AAAA/+=","Records":[{"ApproximateArrivalTimestamp":1.700000000123E9,"Data":"aGVsbG8=","EncryptionType":"NONE","PartitionKey":"pk-1","SequenceNumber":"4959"}],"ChildShards":[]}"#;
        for body in [&fake[..], &kinesis[..]] {
            let got = scanned(body).expect("read by the scanner");
            assert_eq!(Ok(got.clone()), reference(body));
            assert_eq!(got.0[0].data, b"hello");
            assert_eq!(got.0[0].partition_key, "pk-1");
        }
        // The SDK's `DateTime::from_secs_f64` truncates the f64 just below 1700000000.123 s.
        assert_eq!(
            scanned(fake).unwrap().0[0].approximate_arrival_ms,
            1_700_000_000_122
        );
    }

    #[test]
    fn what_the_scanner_does_not_read_is_left_to_serde_json() {
        for body in [
            // An escape in Data (JSON may escape the slash), in a key, in the iterator.
            &br#"{"Records":[{"Data":"\/w==","SequenceNumber":"1"}]}"#[..],
            br#"{"Records":[{"Dat\u0061":"","SequenceNumber":"1"}]}"#,
            br#"{"NextShardIterator":"a\"b","Records":[]}"#,
            // Child shards, an unknown top-level member, an object-valued record member.
            br#"{"ChildShards":[{"ShardId":"s-2"}],"Records":[]}"#,
            br#"{"Records":[],"Extra":1}"#,
            br#"{"Records":[{"Data":"","SequenceNumber":"1","Meta":{"a":1}}]}"#,
            // Duplicates, a missing sequence number, bad base64, bytes after the object.
            br#"{"Records":[],"Records":[]}"#,
            br#"{"Records":[{"Data":"","Data":"","SequenceNumber":"1"}]}"#,
            br#"{"Records":[{"Data":""}]}"#,
            br#"{"Records":[{"Data":"***","SequenceNumber":"1"}]}"#,
            br#"{"Records":[]} x"#,
            // Numbers JSON does not allow, a float where an integer belongs, out of range.
            br#"{"MillisBehindLatest":01,"Records":[]}"#,
            br#"{"MillisBehindLatest":1.0,"Records":[]}"#,
            br#"{"Records":[{"ApproximateArrivalTimestamp":.5,"Data":"","SequenceNumber":"1"}]}"#,
            br#"{"Records":[{"ApproximateArrivalTimestamp":1e400,"Data":"","SequenceNumber":"1"}]}"#,
            b"{\"Records\":[{\"Data\":\"\",\"SequenceNumber\":\"1\",\"PartitionKey\":\"\x01\"}]}",
            b"{\"Records\":[{\"Data\":\"\",\"SequenceNumber\":\"1\",\"PartitionKey\":\"\xFF\"}]}",
        ] {
            assert_eq!(scanned(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    fn plain_text() -> impl Strategy<Value = String> {
        // Text JSON writes without escapes (quote, backslash and control characters excluded).
        "[ !#-\\[\\]-~é€😀]{0,12}"
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![plain_text(), ".{0,12}"]
    }

    /// A body as Kinesis could write it, from serde_json (compact or pretty), with the record
    /// and envelope members in the given orders.
    fn body_strategy(text: fn() -> BoxedStrategy<String>) -> impl Strategy<Value = Vec<u8>> {
        let record = (
            proptest::collection::vec(any::<u8>(), 0..48),
            proptest::option::of(text()),
            "[0-9]{1,56}",
            prop_oneof![
                Just(None),
                (0u64..4_102_444_800_000)
                    .prop_map(|ms| Some(serde_json::json!(ms as f64 / 1000.0))),
                (0u64..4_102_444_800).prop_map(|s| Some(serde_json::json!(s))),
            ],
            proptest::option::of(text()),
            any::<bool>(),
        );
        (
            proptest::collection::vec(record, 0..6),
            proptest::option::of(0i64..86_400_000),
            proptest::option::of(text()),
            any::<bool>(),
        )
            .prop_map(|(records, behind, iterator, pretty)| {
                let records: Vec<_> = records
                    .into_iter()
                    .map(|(data, pk, seq, arrival, extra, null_pk)| {
                        let mut r = serde_json::Map::new();
                        r.insert(
                            "Data".into(),
                            base64::engine::general_purpose::STANDARD
                                .encode(data)
                                .into(),
                        );
                        match pk {
                            Some(pk) => {
                                r.insert("PartitionKey".into(), pk.into());
                            }
                            None if null_pk => {
                                r.insert("PartitionKey".into(), serde_json::Value::Null);
                            }
                            None => {}
                        }
                        r.insert("SequenceNumber".into(), seq.into());
                        if let Some(arrival) = arrival {
                            r.insert("ApproximateArrivalTimestamp".into(), arrival);
                        }
                        if let Some(extra) = extra {
                            r.insert("EncryptionType".into(), extra.into());
                        }
                        serde_json::Value::Object(r)
                    })
                    .collect();
                let body = serde_json::json!({
                    "Records": records,
                    "MillisBehindLatest": behind,
                    "NextShardIterator": iterator,
                });
                if pretty {
                    serde_json::to_vec_pretty(&body).unwrap()
                } else {
                    serde_json::to_vec(&body).unwrap()
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn a_plain_body_is_read_by_the_scanner_as_serde_json_reads_it(
            body in body_strategy(|| plain_text().boxed()),
        ) {
            let got = scanned(&body);
            prop_assert!(got.is_some(), "not read by the scanner: {}", String::from_utf8_lossy(&body));
            prop_assert_eq!(Ok(got.unwrap()), reference(&body));
        }

        #[test]
        fn any_body_the_scanner_reads_means_what_serde_json_says(
            body in body_strategy(|| any_text().boxed()),
        ) {
            if let Some(got) = scanned(&body) {
                prop_assert_eq!(Ok(got), reference(&body));
            }
        }

        #[test]
        fn a_damaged_body_is_never_read_differently_from_serde_json(
            body in body_strategy(|| plain_text().boxed()),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
        ) {
            let mut body = body;
            for (at, kind, byte) in edits {
                const BYTES: &[u8] = b"\"\\,:{}[]0.-e+ nNx\x01\xFF";
                let byte = BYTES[usize::from(byte) % BYTES.len()];
                let i = at.index(body.len() + 1);
                match kind {
                    0 if i < body.len() => body[i] = byte,
                    1 if i < body.len() => { body.remove(i); }
                    _ => body.insert(i, byte),
                }
            }
            if let Some(got) = scanned(&body) {
                prop_assert_eq!(Ok(got), reference(&body), "{}", String::from_utf8_lossy(&body));
            }
        }
    }
}
