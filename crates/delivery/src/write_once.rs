//! Writing an object once without ever taking another object's records for its own.
//!
//! With conditional writes a key already written is normally the same object written by a replay
//! or a zombie: done. But cuts by size are not recorded in the lease, so a replay after a config
//! change (`buffer_size_mib`, format) or a `leases reset` can cut an object with the same first
//! record (the same key) and more records. Taking that key as done would move the checkpoint past
//! records no object holds. So every object records which records it holds ([`ObjectContents`]:
//! its last record and count), and [`write_once`] compares: the same → done; different → the
//! object goes under a deterministic alternative key ([`alternative_key`]). That may duplicate
//! records in this rare case, and never loses one.

use crate::object_contents::ObjectContents;
use crate::sink::{ObjectSink, PutOutcome, SinkError};

/// The key an object goes under when its own key holds other records: `key` with
/// `-<last sequence number>-<last sub-sequence number>` inserted before the extension (the part
/// of the file name after the first record's `-<sequence>-<sub>`), e.g.
/// `p/n-shardId-1-4959-0.gz` → `p/n-shardId-1-4959-0-5012-3.gz`. Deterministic, so a replay of
/// the same records names the same alternative.
#[must_use]
pub fn alternative_key(key: &str, contents: &ObjectContents) -> String {
    let name_start = key.rfind('/').map_or(0, |i| i + 1);
    let name = &key[name_start..];
    let insert_at = name
        .char_indices()
        .filter(|&(_, c)| c == '.')
        .map(|(i, _)| i)
        .find(|&i| ends_with_position(&name[..i]))
        .unwrap_or(name.len());
    let at = name_start + insert_at;
    format!(
        "{}-{}-{}{}",
        &key[..at],
        contents.last.sequence_number,
        contents.last.sub_sequence_number,
        &key[at..]
    )
}

/// Whether `s` ends with `-<digits>-<digits>` (an object key's first-record position).
fn ends_with_position(s: &str) -> bool {
    let digits_then_dash = |s: &str| -> Option<usize> {
        let rest = s.trim_end_matches(|c: char| c.is_ascii_digit());
        (rest.len() < s.len() && rest.ends_with('-')).then(|| rest.len() - 1)
    };
    digits_then_dash(s)
        .and_then(|end| digits_then_dash(&s[..end]))
        .is_some()
}

/// Whether an existing object (an [`PutOutcome::AlreadyWritten`]) holds the records of the
/// object this put carried (`contents`, `size` bytes): the same recorded contents, or, for an
/// object written without them (an older version), the same size.
fn holds_same_records(outcome: &PutOutcome, contents: &ObjectContents, size: u64) -> bool {
    match outcome {
        PutOutcome::Written => true,
        PutOutcome::AlreadyWritten {
            existing_contents: Some(existing),
            ..
        } => existing == contents,
        PutOutcome::AlreadyWritten {
            existing_contents: None,
            existing_size,
        } => *existing_size == Some(size),
    }
}

/// Where [`write_once`] put an object's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The key that holds the records now.
    pub key: String,
    /// What the put under that key did.
    pub outcome: PutOutcome,
    /// When the object's own key held other records: that key (`key` is then its
    /// [`alternative_key`]).
    pub diverted_from: Option<String>,
}

/// Writes `body` (holding `contents`) under `key`, or, when `key` already holds an object with
/// other records, under [`alternative_key`] (with the same rule). The body is borrowed: each
/// put takes one copy of it (one in all, but for the rare second put), so a caller that keeps
/// its object for a retry copies nothing itself.
///
/// Guarantees: on `Ok` the records of `body` are durable under [`Placement::key`], in this
/// object or in one holding the same records. An existing object with the same contents (or,
/// without recorded contents, the same size) is done: no second copy.
///
/// # Errors
/// The sink failed, or the alternative key too holds other records (the same first and last
/// record with another count; not expected): nothing is taken as written, so the caller retries
/// and never moves past these records.
pub async fn write_once(
    sink: &dyn ObjectSink,
    key: &str,
    body: &[u8],
    contents: &ObjectContents,
) -> Result<Placement, SinkError> {
    let size = body.len() as u64;
    let outcome = sink.put(key, body.to_vec(), contents).await?;
    if holds_same_records(&outcome, contents, size) {
        return Ok(Placement {
            key: key.to_owned(),
            outcome,
            diverted_from: None,
        });
    }
    let alternative = alternative_key(key, contents);
    let second = sink.put(&alternative, body.to_vec(), contents).await?;
    if holds_same_records(&second, contents, size) {
        return Ok(Placement {
            key: alternative,
            outcome: second,
            diverted_from: Some(key.to_owned()),
        });
    }
    Err(SinkError {
        key: alternative,
        destination: sink.describe(),
        message: format!(
            "both `{key}` and its alternative key already hold objects with other records than this one (last record {}, {} records); not written",
            contents.last, contents.records
        ),
        class: crate::SinkErrorClass::Transient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySink;
    use kinesink_sequence_position::SequencePosition;

    fn contents(last: &str, sub: u64, records: u64) -> ObjectContents {
        ObjectContents {
            last: SequencePosition::new(last, sub),
            records,
        }
    }

    #[test]
    fn the_alternative_key_inserts_the_last_position_before_the_extension() {
        let c = contents("5012", 3, 9);
        assert_eq!(
            alternative_key("2026/11/22/10/n-shardId-000000000001-4959-0.gz", &c),
            "2026/11/22/10/n-shardId-000000000001-4959-0-5012-3.gz"
        );
        assert_eq!(
            alternative_key("p.v1/my.name-s-1-0.json.gz", &c),
            "p.v1/my.name-s-1-0-5012-3.json.gz"
        );
        assert_eq!(alternative_key("p/n-s-1-0", &c), "p/n-s-1-0-5012-3");
    }

    #[test]
    fn contents_print_and_parse_back() {
        let c = contents(
            "49590338271490256608559692538361571095921575989136588898",
            7,
            12,
        );
        assert_eq!(
            ObjectContents::parse(&c.last_text(), &c.records.to_string()),
            Some(c)
        );
        assert_eq!(ObjectContents::parse("12", "3"), None);
        assert_eq!(ObjectContents::parse("x.1", "3"), None);
    }

    #[tokio::test]
    async fn a_key_holding_other_records_sends_the_object_to_the_alternative_key_and_the_same_records_are_done()
     {
        let sink = MemorySink::new();
        let short = contents("20", 0, 2);
        let long = contents("40", 0, 4);
        write_once(&sink, "k-1-0.gz", b"ab", &short).await.unwrap();
        let placed = write_once(&sink, "k-1-0.gz", b"abcd", &long).await.unwrap();
        assert_eq!(placed.key, "k-1-0-40-0.gz");
        assert_eq!(placed.outcome, PutOutcome::Written);
        assert_eq!(placed.diverted_from.as_deref(), Some("k-1-0.gz"));
        // A replay of either object is done, with no third object.
        let again = write_once(&sink, "k-1-0.gz", b"abcd", &long).await.unwrap();
        assert_eq!(again.key, "k-1-0-40-0.gz");
        assert!(matches!(again.outcome, PutOutcome::AlreadyWritten { .. }));
        // Same records, other bytes (a compacted Parquet object): done.
        let same = write_once(&sink, "k-1-0.gz", b"xyz", &short).await.unwrap();
        assert_eq!(same.key, "k-1-0.gz");
        assert_eq!(same.diverted_from, None);
        assert_eq!(sink.objects().len(), 2);
    }
}
