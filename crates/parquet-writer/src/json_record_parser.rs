//! Raw record bytes parsed once into a reusable tape, for callers that need a field of the
//! record (e.g. a partition key) and then its row, without parsing twice or building a
//! `serde_json::Value`.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::conversion_failure::{ConversionFailure, ConversionFailureKind};
use crate::json_node::{JsonNode, NodeView};
use crate::json_tape::{JsonTape, TapeError, TapeRef};
use crate::serde_options::same_text;

/// Parses records into a tape whose memory is reused from record to record.
///
/// Guarantees: [`JsonRecordParser::parse`] accepts exactly what
/// [`crate::ParquetObjectEncoder::append_bytes`] accepts as JSON (UTF-8, non-empty, one or
/// more concatenated JSON documents) and refuses the rest with the same [`ConversionFailure`].
#[derive(Debug, Default)]
pub struct JsonRecordParser {
    tape: JsonTape,
}

/// A record parsed by a [`JsonRecordParser`], valid until the parser parses the next one.
#[derive(Debug, Clone, Copy)]
pub struct ParsedJsonRecord<'a> {
    pub(crate) tape: &'a JsonTape,
    pub(crate) text: &'a str,
}

impl JsonRecordParser {
    /// A parser with no memory reserved yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one record.
    ///
    /// # Errors
    /// A [`ConversionFailure`] (`NotUtf8`, `EmptyRecord`, `NotJson`, `TooLarge`).
    pub fn parse<'a>(
        &'a mut self,
        record: &'a [u8],
    ) -> Result<ParsedJsonRecord<'a>, ConversionFailure> {
        // simdutf8 validates valid text several times faster than std; std words the failure.
        let text = simdutf8::basic::from_utf8(record)
            .or_else(|_| std::str::from_utf8(record))
            .map_err(|e| {
                ConversionFailure::new(
                    ConversionFailureKind::NotUtf8,
                    format!("the record is not UTF-8: {e}"),
                )
            })?;
        if text.trim_ascii().is_empty() {
            return Err(ConversionFailure::new(
                ConversionFailureKind::EmptyRecord,
                "the record is empty",
            ));
        }
        self.tape.parse(text).map_err(|e| match e {
            TapeError::TooLarge => ConversionFailure::new(
                ConversionFailureKind::TooLarge,
                "the record is 4 GiB or larger",
            ),
            TapeError::Syntax(message) => ConversionFailure::new(
                ConversionFailureKind::NotJson,
                format!("the record is not valid JSON: {message}"),
            ),
        })?;
        Ok(ParsedJsonRecord {
            tape: &self.tape,
            text,
        })
    }

    /// Bytes of memory the parser holds between records.
    #[must_use]
    pub fn allocated_bytes(&self) -> usize {
        self.tape.allocated_bytes()
    }
}

impl<'a> ParsedJsonRecord<'a> {
    /// Number of concatenated JSON documents in the record (each becomes a row).
    #[must_use]
    pub fn document_count(&self) -> usize {
        self.documents().len()
    }

    /// The string value of the member named exactly `key` of the first document, when that
    /// document is an object and the member is a string (e.g. a partition key).
    #[must_use]
    pub fn top_level_str(&self, key: &str) -> Option<&'a str> {
        let first = self.documents().next()?;
        match first.member(key)?.view() {
            NodeView::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text at a field path (`["a", "b"]` is jq's `.a.b`) of a record that is one JSON
    /// document, for partition keys: a string's text, or an integer of magnitude at most 2^53
    /// in JSON notation (`42`, `-7`). Of duplicate member names the last counts, as in a
    /// `serde_json::Value`.
    ///
    /// Guarantees: `None` for anything else (several documents, a missing member, a path
    /// through a non-object, null, booleans, floats, larger integers, arrays, objects), so a
    /// caller can fall back to a slower path that explains why the value is unusable or, for
    /// numbers, writes them as jq 1.6 prints them (Firehose's jq holds numbers as doubles: an
    /// integer beyond 2^53 prints rounded, so its digits are not its text).
    #[must_use]
    pub fn text_at_path(&self, path: &[String]) -> Option<Cow<'a, str>> {
        let mut documents = self.documents();
        if documents.len() != 1 {
            return None;
        }
        text_below(documents.next()?, path)
    }

    /// [`ParsedJsonRecord::text_at_path`] of every path in `paths`, in order, in one walk over
    /// the document's members (asking for each path on its own walks them once per path).
    ///
    /// Guarantees: item `i` equals `text_at_path(&paths[i])`.
    #[must_use]
    pub fn texts_at_paths(&self, paths: &[Vec<String>]) -> PathTexts<'a> {
        const AT_ONCE: usize = 8;
        let mut documents = self.documents();
        if documents.len() != 1 || paths.len() > AT_ONCE || paths.iter().any(Vec::is_empty) {
            return paths.iter().map(|p| self.text_at_path(p)).collect();
        }
        let Some(document) = documents.next() else {
            return paths.iter().map(|_| None).collect();
        };
        if !matches!(document.view(), NodeView::Object) {
            return paths.iter().map(|_| None).collect();
        }
        // The last member of each path's first name, as `text_at_path` takes it.
        let mut found: [Option<TapeRef<'a>>; AT_ONCE] = [None; AT_ONCE];
        for (name, value) in document.members() {
            for (slot, path) in found.iter_mut().zip(paths) {
                if same_text(name, &path[0]) {
                    *slot = Some(value);
                }
            }
        }
        found
            .iter()
            .zip(paths)
            .map(|(node, path)| node.and_then(|node| text_below(node, &path[1..])))
            .collect()
    }

    pub(crate) fn documents(&self) -> impl ExactSizeIterator<Item = TapeRef<'a>> + 'a {
        self.tape.documents(self.text)
    }
}

/// The texts [`ParsedJsonRecord::texts_at_paths`] gives, one per path (held inline for up to
/// four paths).
pub type PathTexts<'a> = SmallVec<[Option<Cow<'a, str>>; 4]>;

/// Integers up to this magnitude are exact doubles, printed by jq 1.6 as their digits.
const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// The text at `path` below `node`: the last member of each name, down to a string or an
/// integer that is an exact double.
fn text_below<'a>(mut node: TapeRef<'a>, path: &[String]) -> Option<Cow<'a, str>> {
    for segment in path {
        if !matches!(node.view(), NodeView::Object) {
            return None;
        }
        node = node
            .members()
            .filter(|(name, _)| same_text(name, segment))
            .last()?
            .1;
    }
    match node.view() {
        NodeView::Str(s) => Some(Cow::Borrowed(s)),
        NodeView::Int(i) if i.unsigned_abs() <= EXACT_INTEGER_LIMIT => {
            Some(Cow::Owned(i.to_string()))
        }
        NodeView::UInt(u) if u <= EXACT_INTEGER_LIMIT => Some(Cow::Owned(u.to_string())),
        _ => None,
    }
}
