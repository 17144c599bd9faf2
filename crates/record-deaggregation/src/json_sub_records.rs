//! Finding the JSON objects in a record of Firehose's JSON sub-record type.

use std::ops::Range;

use serde::de::IgnoredAny;

use crate::SplitDefect;

/// The byte ranges of the top-level JSON objects in `data`, each from its `{` to its `}`.
///
/// Accepts objects back to back or separated by JSON whitespace. Fails when `data` is not UTF-8,
/// is not a sequence of JSON values, or holds a top-level value that is not an object. Returns an
/// empty list when `data` holds only whitespace.
pub(crate) fn object_spans(data: &[u8]) -> Result<Vec<Range<usize>>, SplitDefect> {
    let text = std::str::from_utf8(data).map_err(|error| SplitDefect::NotUtf8 {
        valid_up_to: error.valid_up_to(),
    })?;
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    let mut spans = Vec::new();
    loop {
        let before = values.byte_offset();
        match values.next() {
            None => return Ok(spans),
            Some(Err(error)) => {
                return Err(SplitDefect::InvalidJson {
                    message: error.to_string(),
                });
            }
            Some(Ok(IgnoredAny)) => {
                let end = values.byte_offset();
                let value = text[before..end].trim_start_matches(is_json_whitespace);
                let start = end - value.len();
                if !value.starts_with('{') {
                    return Err(SplitDefect::NotAnObject { offset: start });
                }
                spans.push(start..end);
            }
        }
    }
}

/// JSON's insignificant whitespace (RFC 8259): space, tab, line feed, carriage return.
fn is_json_whitespace(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\r')
}
