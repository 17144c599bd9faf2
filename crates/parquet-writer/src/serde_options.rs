//! The OpenX JSON SerDe options Firehose exposes, and how they match JSON keys to columns.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::hive_type::HiveType;
use crate::table_schema::{SchemaError, TableSchema};

/// Firehose's `OpenXJsonSerDe` settings.
///
/// Guarantees: [`SerdeOptions::default`] is Firehose's default (case-insensitive, no mappings,
/// dots kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerdeOptions {
    /// JSON keys are lowercased before they are matched to (lowercase) column and struct field
    /// names — and, as Firehose documents it for all JSON keys, map keys are lowercased too.
    /// Firehose's default: `true`.
    pub case_insensitive: bool,
    /// Column (or struct field) name → the JSON key holding its value, for keys that are not
    /// valid or not identical column names (e.g. `ts = "timestamp"`). Applies to fields of that
    /// name at every nesting level, as in the OpenX SerDe; a mapped field reads only its key.
    pub column_to_json_key_mappings: BTreeMap<String, String>,
    /// A JSON key containing dots also matches the field named with the dots replaced by
    /// underscores (`a.b` fills `a_b`). Firehose's default: `false`.
    pub convert_dots_in_json_keys_to_underscores: bool,
}

impl Default for SerdeOptions {
    fn default() -> Self {
        Self {
            case_insensitive: true,
            column_to_json_key_mappings: BTreeMap::new(),
            convert_dots_in_json_keys_to_underscores: false,
        }
    }
}

impl SerdeOptions {
    /// Checks that every mapped name is a column or struct field of `schema`, so a typo in the
    /// configuration is reported instead of silently mapping nothing.
    ///
    /// # Errors
    /// A [`SchemaError`] naming the first mapping whose name is in no struct of the schema.
    pub fn validate_against(&self, schema: &TableSchema) -> Result<(), SchemaError> {
        fn collect<'a>(t: &'a HiveType, names: &mut Vec<&'a str>) {
            match t {
                HiveType::Array(e) => collect(e, names),
                HiveType::Map(k, v) => {
                    collect(k, names);
                    collect(v, names);
                }
                HiveType::Struct(fields) => {
                    for f in fields {
                        names.push(&f.name);
                        collect(&f.hive_type, names);
                    }
                }
                _ => {}
            }
        }
        let mut names = Vec::new();
        for c in schema.columns() {
            names.push(c.name.as_str());
            collect(&c.hive_type, &mut names);
        }
        for mapped in self.column_to_json_key_mappings.keys() {
            if !names.contains(&mapped.to_lowercase().as_str()) {
                return Err(SchemaError {
                    column: Some(mapped.clone()),
                    position: 1,
                    reason: "column_to_json_key_mappings names a column that is not in the schema"
                        .to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// How well a JSON key matched a field; a better (smaller) match replaces a worse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum MatchQuality {
    /// The key is byte-for-byte the field's JSON key.
    Exact,
    /// Equal after lowercasing the JSON key.
    CaseFolded,
    /// Equal after lowercasing and replacing dots with underscores.
    DotsConverted,
}

type FastMap = HashMap<String, usize, foldhash::fast::RandomState>;

/// Member positions for which the field seen there last is remembered.
const HINTED_POSITIONS: usize = 64;
const NO_HINT: u32 = u32::MAX;

/// Resolves the JSON keys of one struct level (or the top-level record) to field indexes.
///
/// Guarantees (with the converter): for each field, the value chosen is the one whose key
/// matches best ([`MatchQuality`]); among equally good keys the last in the object's order wins
/// (so a key repeated in the JSON text keeps its last value, as `serde_json::Value` does).
/// [`KeyResolver::resolve_at`] gives the same answers as [`KeyResolver::resolve`]; it only
/// remembers which field the key at each position had last time (records of one stream
/// usually list their keys in the same order), so that most keys cost one comparison.
#[derive(Debug)]
pub(crate) struct KeyResolver {
    /// The JSON key each field reads (mapping or field name; lowercased when case-insensitive).
    json_keys: Vec<String>,
    /// Normalised JSON key → field index.
    by_key: FastMap,
    /// Field name → index, for keys matched after dot conversion (OpenX compares those with the
    /// field name itself).
    by_name: FastMap,
    /// Member position → the field whose exact key was there last (shared by all encoders of a
    /// format; a stale hint only costs the hash lookup).
    hints: Box<[AtomicU32]>,
    case_insensitive: bool,
    convert_dots: bool,
}

impl KeyResolver {
    pub(crate) fn new<'a>(
        field_names: impl Iterator<Item = &'a str>,
        options: &SerdeOptions,
    ) -> Self {
        let mut json_keys = Vec::new();
        let mut by_key = FastMap::default();
        let mut by_name = FastMap::default();
        for (i, name) in field_names.enumerate() {
            let mapped = options
                .column_to_json_key_mappings
                .iter()
                .find(|(column, _)| column.to_lowercase() == name)
                .map_or(name, |(_, key)| key.as_str());
            let key = if options.case_insensitive {
                mapped.to_lowercase()
            } else {
                mapped.to_owned()
            };
            by_key.entry(key.clone()).or_insert(i);
            by_name.entry(name.to_owned()).or_insert(i);
            json_keys.push(key);
        }
        let hints = (0..HINTED_POSITIONS.min(json_keys.len() * 2))
            .map(|_| AtomicU32::new(NO_HINT))
            .collect();
        Self {
            json_keys,
            by_key,
            by_name,
            hints,
            case_insensitive: options.case_insensitive,
            convert_dots: options.convert_dots_in_json_keys_to_underscores,
        }
    }

    /// The JSON key field `index` reads when it is present exactly.
    #[inline]
    pub(crate) fn exact_key(&self, index: usize) -> &str {
        &self.json_keys[index]
    }

    /// Whether keys that are not byte-for-byte equal can still match (so a field missing from
    /// the exact lookup needs a scan of the object's keys).
    #[inline]
    pub(crate) fn matches_inexactly(&self) -> bool {
        self.case_insensitive || self.convert_dots
    }

    /// [`KeyResolver::resolve`] for the key at `position` among its object's members, trying the
    /// field found at that position last time first.
    #[inline]
    pub(crate) fn resolve_at(&self, position: usize, key: &str) -> Option<(usize, MatchQuality)> {
        let Some(hint) = self.hints.get(position) else {
            return self.resolve(key);
        };
        let hinted = hint.load(Ordering::Relaxed) as usize;
        if self
            .json_keys
            .get(hinted)
            .is_some_and(|k| same_text(k, key))
        {
            return Some((hinted, MatchQuality::Exact));
        }
        let resolved = self.resolve(key);
        if let Some((field, MatchQuality::Exact)) = resolved {
            hint.store(u32::try_from(field).unwrap_or(NO_HINT), Ordering::Relaxed);
        }
        resolved
    }

    /// The field a JSON key fills, and how well it matches; `None` for unknown keys.
    #[inline]
    pub(crate) fn resolve(&self, key: &str) -> Option<(usize, MatchQuality)> {
        let folded: Cow<'_, str> = if self.case_insensitive {
            fold_case(key)
        } else {
            Cow::Borrowed(key)
        };
        if let Some(&i) = self.by_key.get(folded.as_ref()) {
            let quality = if folded.as_ref() == key {
                MatchQuality::Exact
            } else {
                MatchQuality::CaseFolded
            };
            return Some((i, quality));
        }
        if self.convert_dots && key.contains('.') {
            let converted = folded.replace('.', "_");
            if let Some(&i) = self.by_name.get(&converted) {
                return Some((i, MatchQuality::DotsConverted));
            }
        }
        None
    }
}

/// Lowercases a key, borrowing it when it has no uppercase letters.
#[inline]
pub(crate) fn fold_case(key: &str) -> Cow<'_, str> {
    if key.is_ascii() {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(key.to_ascii_lowercase())
        } else {
            Cow::Borrowed(key)
        }
    } else {
        let lower = key.to_lowercase();
        if lower == key {
            Cow::Borrowed(key)
        } else {
            Cow::Owned(lower)
        }
    }
}

/// Byte equality of two keys, without a `memcmp` call for the short keys JSON records have
/// (the comparison runs for nearly every member of every record): keys of up to 16 bytes are
/// compared as two overlapping machine words (or bytes) covering every byte.
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    #[inline]
    fn word4(s: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]])
    }
    #[inline]
    fn word8(s: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::same_text;

    proptest! {
        #[test]
        fn same_text_agrees_with_string_equality(
            a in "[ab\u{e9}]{0,20}", b in "[ab\u{e9}]{0,20}", copy in any::<bool>()
        ) {
            // Mostly-equal pairs (a copy with one byte changed) exercise every word boundary.
            let b = if copy && !a.is_empty() {
                let mut bytes = a.clone().into_bytes();
                let i = b.len() % bytes.len();
                if bytes[i] == b'a' { bytes[i] = b'b'; }
                String::from_utf8(bytes).unwrap_or(b)
            } else { b };
            prop_assert_eq!(same_text(&a, &b), a == b, "{:?} vs {:?}", a, b);
            prop_assert!(same_text(&a, &a.clone()));
        }
    }
}
