//! One primitive column's value of a parsed record (e.g. an Apache Iceberg partition source),
//! found and converted exactly as the Parquet writer finds and converts it.
//!
//! The member a column reads is chosen by the converter's rules (`KeyResolver`: case folding,
//! `column_to_json_key_mappings`, dots converted to underscores, the best and then the last
//! matching key; for structs also positional arrays, an empty array being null), and the value
//! is converted by the column buffers' own code (`scalar_value::convert_scalar`).

use crate::conversion_failure::{ConversionFailure, ConversionFailureKind};
use crate::field_error::{FieldError, PathPart, json_kind};
use crate::hive_type::HiveType;
use crate::json_node::{JsonNode, NodeView};
use crate::json_record_parser::ParsedJsonRecord;
use crate::scalar_value::{ScalarValue, convert_scalar};
use crate::serde_options::{KeyResolver, MatchQuality, SerdeOptions, same_text};
use crate::table_schema::TableSchema;

/// Reads one primitive column (top-level, or a field of struct columns) of records.
///
/// Guarantees: for a record the Parquet encoder of the same schema and [`SerdeOptions`]
/// accepts, [`ColumnValueReader::read`] returns exactly the value written in that column of
/// the record's row (`None` for null); if the column's value cannot be converted, it returns
/// the very [`ConversionFailure`] the encoder reports for it (same kind, same message). It
/// converts only this column: a record refused because of another column (or of another
/// member the same column matched first and then replaced) may still read `Ok`, so the caller
/// must still encode the record and route it by that outcome.
#[derive(Debug)]
pub struct ColumnValueReader {
    /// One level per name of the path: the struct level's keys and the field's position.
    levels: Vec<Level>,
    leaf: HiveType,
}

#[derive(Debug)]
struct Level {
    name: String,
    index: usize,
    field_count: usize,
    resolver: KeyResolver,
    /// The JSON key this field reads when present byte for byte ([`KeyResolver::exact_key`]).
    exact_key: String,
    /// How well [`Level::exact_key`] itself resolves to this field (`None` when it resolves
    /// to another field: two fields mapped to one JSON key).
    exact_quality: Option<MatchQuality>,
    /// The byte lengths an ASCII key must have to resolve to this field: the exact key's and
    /// the field name's (dot conversion compares with the name).
    key_lengths: [usize; 2],
}

impl Level {
    fn new(name: String, index: usize, field_count: usize, resolver: KeyResolver) -> Self {
        let exact_key = resolver.exact_key(index).to_owned();
        let exact_quality = resolver
            .resolve(&exact_key)
            .filter(|(field, _)| *field == index)
            .map(|(_, quality)| quality);
        Self {
            key_lengths: [exact_key.len(), name.len()],
            exact_key,
            exact_quality,
            name,
            index,
            field_count,
            resolver,
        }
    }

    /// How well `key` matches this level's field (`None`: it fills another field or none),
    /// exactly as [`KeyResolver::resolve`] answers, with most keys decided without it:
    /// - the exact key resolves as it did when the level was made;
    /// - an ASCII key keeps its length through case folding and dot conversion, and
    ///   [`KeyResolver::resolve`] maps only the exact key (lowercased, when case-insensitive)
    ///   and, through dot conversion, the field name to this field: so an ASCII key of another
    ///   length than both cannot match, nor can one of the same length that is neither the
    ///   exact key nor changed by folding or dot conversion (no uppercase letter, no dot).
    ///
    /// Every other key (non-ASCII, or with uppercase letters or dots) is resolved in full.
    #[inline]
    fn match_quality(&self, key: &str) -> Option<MatchQuality> {
        if same_text(key, &self.exact_key) {
            return self.exact_quality;
        }
        let n = key.len();
        let unchanged_by_resolving = || {
            key.bytes()
                .all(|b| b.is_ascii() && !b.is_ascii_uppercase() && b != b'.')
        };
        if (n != self.key_lengths[0] && n != self.key_lengths[1] && key.is_ascii())
            || unchanged_by_resolving()
        {
            return None;
        }
        self.resolver
            .resolve(key)
            .filter(|(field, _)| *field == self.index)
            .map(|(_, quality)| quality)
    }
}

/// Why a column path names no primitive column of a schema.
///
/// Guarantees: `path` is the path asked for, dotted; `reason` says which name is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{path}`: {reason}")]
pub struct ColumnPathError {
    /// The path asked for, its names joined with dots.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl TableSchema {
    /// A reader of the primitive column at `column_path` (`["ts"]`, or `["a", "b"]` for field
    /// `b` of struct column `a`; names compared case-insensitively, schema names being
    /// lowercase), for records converted with `options`.
    ///
    /// # Errors
    /// [`ColumnPathError`] if the path is empty, a name is not a column (or field), a name
    /// other than the last is not a struct, or the last is not primitive.
    pub fn column_value_reader(
        &self,
        column_path: &[&str],
        options: &SerdeOptions,
    ) -> Result<ColumnValueReader, ColumnPathError> {
        let refuse = |reason: String| ColumnPathError {
            path: column_path.join("."),
            reason,
        };
        let Some((first, rest)) = column_path.split_first() else {
            return Err(refuse("an empty column path".to_owned()));
        };
        let mut fields: Vec<(&str, &HiveType)> = self
            .columns()
            .iter()
            .map(|c| (c.name.as_str(), &c.hive_type))
            .collect();
        let mut levels = Vec::with_capacity(column_path.len());
        let mut current = *first;
        let mut rest = rest.iter();
        loop {
            let wanted = current.to_lowercase();
            let Some(index) = fields.iter().position(|(name, _)| *name == wanted) else {
                return Err(refuse(format!("no column or field `{current}`")));
            };
            let hive_type = fields[index].1;
            let resolver = KeyResolver::new(fields.iter().map(|(name, _)| *name), options);
            levels.push(Level::new(wanted, index, fields.len(), resolver));
            match (rest.next(), hive_type) {
                (None, leaf) if leaf.is_primitive() => {
                    return Ok(ColumnValueReader {
                        levels,
                        leaf: leaf.clone(),
                    });
                }
                (None, other) => {
                    return Err(refuse(format!("`{current}` is {other}, not primitive")));
                }
                (Some(next), HiveType::Struct(children)) => {
                    fields = children
                        .iter()
                        .map(|f| (f.name.as_str(), &f.hive_type))
                        .collect();
                    current = next;
                }
                (Some(_), other) => {
                    return Err(refuse(format!("`{current}` is {other}, not a struct")));
                }
            }
        }
    }
}

impl ColumnValueReader {
    /// The column's Hive type (primitive).
    #[must_use]
    pub fn hive_type(&self) -> &HiveType {
        &self.leaf
    }

    /// The column's value in `record`: `None` when it is null or absent.
    ///
    /// A record of several JSON documents (several rows) has a value only if every document
    /// has the same one.
    ///
    /// # Errors
    /// The encoder's [`ConversionFailure`] when the record is not a JSON object or the column's
    /// value cannot be converted (prefixed `document i of n: ` for several documents, as the
    /// encoder does); for documents with different values, an `InvalidValue` failure saying so.
    pub fn read(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<Option<ScalarValue>, ConversionFailure> {
        let documents = record.documents();
        let count = documents.len();
        let mut first: Option<Option<ScalarValue>> = None;
        for (i, document) in documents.enumerate() {
            let value = self.read_document(document).map_err(|e| {
                if count > 1 {
                    ConversionFailure::new(
                        e.kind(),
                        format!("document {} of {count}: {}", i + 1, e.message()),
                    )
                } else {
                    e
                }
            })?;
            match &first {
                None => first = Some(value),
                Some(seen) if same_value(seen.as_ref(), value.as_ref()) => {}
                Some(_) => {
                    return Err(ConversionFailure::new(
                        ConversionFailureKind::InvalidValue,
                        format!(
                            "column `{}`: document {} of {count} has another value than document 1 (a record's documents must share their partition)",
                            self.dotted_path(self.levels.len()),
                            i + 1
                        ),
                    ));
                }
            }
        }
        Ok(first.flatten())
    }

    /// Appends to `out` a key of what [`ColumnValueReader::read`] answers for `record`:
    /// records whose keys are equal read the same value, or fail alike, so a caller can keep
    /// what it made of a value by its key and skip reading and converting it again.
    ///
    /// The key encodes the JSON value the column would convert (absent and null alike; a
    /// string's text, a number as parsed), and the conversion depends on nothing else. Returns
    /// `false` when it gives no key (`out` may then hold part of one): a record of other than
    /// one document, a value that is an array or an object, or a record refused before its
    /// value is reached (not an object, a path through a non-object). Read those with
    /// [`ColumnValueReader::read`].
    pub fn write_value_key(&self, record: &ParsedJsonRecord<'_>, out: &mut Vec<u8>) -> bool {
        let mut documents = record.documents();
        if documents.len() != 1 {
            return false;
        }
        let Some(document) = documents.next() else {
            return false;
        };
        match self.leaf_of(document) {
            Ok(None) => out.push(0),
            Ok(Some(node)) => match node.view() {
                NodeView::Null => out.push(0),
                NodeView::Bool(b) => out.extend_from_slice(&[1, u8::from(b)]),
                NodeView::Int(i) => {
                    out.push(2);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                NodeView::UInt(u) => {
                    out.push(3);
                    out.extend_from_slice(&u.to_le_bytes());
                }
                NodeView::Float(f) => {
                    out.push(4);
                    out.extend_from_slice(&f.to_bits().to_le_bytes());
                }
                NodeView::Str(text) => {
                    out.push(5);
                    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
                NodeView::Array(..) | NodeView::Object => return false,
            },
            Err(_) => return false,
        }
        true
    }

    /// The value in one document (a record's row).
    fn read_document<'a, N: JsonNode<'a>>(
        &self,
        document: N,
    ) -> Result<Option<ScalarValue>, ConversionFailure> {
        let Some(node) = self.leaf_of(document)? else {
            return Ok(None);
        };
        convert_scalar(&self.leaf, node, node.view())
            .map(Some)
            .map_err(|e| self.failure(self.levels.len(), e))
    }

    /// The node holding the column's value in one document; `None` when it is null or absent.
    fn leaf_of<'a, N: JsonNode<'a>>(&self, document: N) -> Result<Option<N>, ConversionFailure> {
        let view = document.view();
        if !matches!(view, NodeView::Object) {
            return Err(ConversionFailure::new(
                ConversionFailureKind::NotAJsonObject,
                format!("the record is {}, not a JSON object", json_kind(&view)),
            ));
        }
        let mut node = document;
        for (depth, level) in self.levels.iter().enumerate() {
            let child = match node.view() {
                NodeView::Object => select_member(level, node),
                NodeView::Array(_, 0) => None,
                NodeView::Array(mut items, _) => items.nth(level.index),
                other => {
                    return Err(self.failure(
                        depth,
                        FieldError::new(
                            ConversionFailureKind::TypeMismatch,
                            format!(
                                "expected a struct (JSON object), found {}",
                                json_kind(&other)
                            ),
                        ),
                    ));
                }
            };
            match child {
                Some(child) if !matches!(child.view(), NodeView::Null) => node = child,
                _ => return Ok(None),
            }
        }
        Ok(Some(node))
    }

    /// `error` at the value of the first `depth` names of the path, as the encoder words it.
    fn failure(&self, depth: usize, error: FieldError) -> ConversionFailure {
        self.levels[..depth]
            .iter()
            .rev()
            .fold(error, |e, level| {
                e.within(PathPart::Field(level.name.clone()))
            })
            .into_failure()
    }

    fn dotted_path(&self, depth: usize) -> String {
        let names: Vec<&str> = self.levels[..depth]
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        names.join(".")
    }
}

/// The member of `object` the converter fills `level`'s field from (`JsonRowConverter`'s
/// `fill_struct_fields`): with many members and map lookups, the exact key if present;
/// otherwise the best-matching key, the last of equally good ones.
fn select_member<'a, N: JsonNode<'a>>(level: &Level, object: N) -> Option<N> {
    let look_up = N::INDEXED_MEMBERS && object.member_count() > 2 * level.field_count;
    if look_up {
        if let Some(value) = object.member(level.resolver.exact_key(level.index)) {
            return Some(value);
        }
        if !level.resolver.matches_inexactly() {
            return None;
        }
    }
    let mut best: Option<(u8, N)> = None;
    for (key, value) in object.members() {
        let Some(quality) = level.match_quality(key) else {
            continue;
        };
        let quality = quality as u8;
        if best.is_none_or(|(seen, _)| quality <= seen) {
            best = Some((quality, value));
        }
    }
    best.map(|(_, value)| value)
}

/// Equality of two documents' values, floats by their bits (so NaN equals itself).
fn same_value(a: Option<&ScalarValue>, b: Option<&ScalarValue>) -> bool {
    match (a, b) {
        (Some(ScalarValue::Float(x)), Some(ScalarValue::Float(y))) => x.to_bits() == y.to_bits(),
        (Some(ScalarValue::Double(x)), Some(ScalarValue::Double(y))) => x.to_bits() == y.to_bits(),
        (a, b) => a == b,
    }
}
