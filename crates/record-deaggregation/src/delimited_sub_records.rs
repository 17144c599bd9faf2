//! Finding the pieces of a record of Firehose's DELIMITED sub-record type.

use std::ops::Range;

use memchr::memmem;

/// The byte ranges of the non-empty pieces of `data` between occurrences of `delimiter`
/// (leftmost, non-overlapping), in order. A leading, trailing or repeated delimiter makes no
/// piece. `delimiter` must not be empty.
pub(crate) fn piece_spans(data: &[u8], delimiter: &[u8]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut piece_start = 0;
    for delimiter_start in memmem::find_iter(data, delimiter) {
        if delimiter_start > piece_start {
            spans.push(piece_start..delimiter_start);
        }
        piece_start = delimiter_start + delimiter.len();
    }
    if data.len() > piece_start {
        spans.push(piece_start..data.len());
    }
    spans
}
