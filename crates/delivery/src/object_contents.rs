//! What an object records about the records it holds (its last record and their count), in
//! its S3 user metadata or file attributes: how a write that finds its key taken tells the same
//! object from another one (see `write_once`).

use kinesink_sequence_position::SequencePosition;

/// Which records an object holds, as far as telling two objects of one key apart needs: objects
/// of one key share their first record (the key names it), so the last record and the count
/// identify the records (a Parquet object compacted into other row groups keeps both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectContents {
    /// Position of the last record.
    pub last: SequencePosition,
    /// Number of user records.
    pub records: u64,
}

/// S3 user-metadata name (after `x-amz-meta-`) of [`ObjectContents::last_text`].
pub const LAST_METADATA: &str = "kinesink-last";
/// S3 user-metadata name (after `x-amz-meta-`) of the record count.
pub const RECORDS_METADATA: &str = "kinesink-records";

impl ObjectContents {
    /// The last record as `sequence.subsequence`.
    #[must_use]
    pub fn last_text(&self) -> String {
        format!(
            "{}.{}",
            self.last.sequence_number, self.last.sub_sequence_number
        )
    }

    /// Parses what [`ObjectContents::last_text`] and the record count printed; `None` when
    /// either is malformed.
    #[must_use]
    pub fn parse(last: &str, records: &str) -> Option<Self> {
        let (sequence, sub) = last.trim().split_once('.')?;
        Some(Self {
            last: SequencePosition::parse(sequence, sub.parse().ok()?)?,
            records: records.trim().parse().ok()?,
        })
    }
}
