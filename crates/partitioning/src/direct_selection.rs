//! The fast path for the common query shape `{name: .path.to.field, ...}`.
//!
//! The shape is recognised on jaq's own parse tree (jaq-core's parser, nothing hand-parsed):
//! an object whose keys are literal names (`name`, `"name"`) and whose values are plain field
//! paths (`.a.b`, `."a b"`, `.["a"]`, or the `{name}` shorthand), without `?`, variables,
//! interpolation or duplicate names. Such a query is evaluated directly on a
//! `serde_json::Value` (or while parsing the bytes, see [`crate::streaming_selection`]) with
//! jq's semantics: a missing field or a field of `null` is `null`; indexing a boolean, number,
//! string or array with a name is an error.

use std::sync::Arc;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::Term;
use jaq_core::path::{Opt, Part};
use serde_json::Value;

use crate::partition_keys::{PartitionKeys, json_scalar_text};
use crate::partitioning_failure::{FailureReason, MAX_PARTITION_KEYS, PartitioningFailure};

/// A recognised `{name: .path, ...}` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectSelection {
    /// Output names, in query order (unique).
    pub(crate) names: Vec<Arc<str>>,
    /// Field path of each name (never empty).
    pub(crate) paths: Vec<Vec<String>>,
}

impl DirectSelection {
    /// Recognises the shape, or `None` (then jaq runs the query).
    pub(crate) fn recognize(query: &str) -> Option<Self> {
        let Term::Obj(entries) = jaq_core::load::parse(query, |p| p.term())? else {
            return None;
        };
        if entries.is_empty() || entries.len() > MAX_PARTITION_KEYS {
            return None;
        }
        let mut names: Vec<Arc<str>> = Vec::with_capacity(entries.len());
        let mut paths = Vec::with_capacity(entries.len());
        for (key, value) in &entries {
            let name = literal_text(key)?;
            let path = match value {
                None => vec![name.clone()],
                Some(Term::Path(head, path)) if matches!(**head, Term::Id) => path
                    .0
                    .iter()
                    .map(|(part, opt)| match (part, opt) {
                        (Part::Index(t), Opt::Essential) => literal_text(t),
                        _ => None,
                    })
                    .collect::<Option<Vec<String>>>()?,
                Some(_) => return None,
            };
            if path.is_empty() || names.iter().any(|n| **n == *name) {
                return None;
            }
            names.push(Arc::from(name));
            paths.push(path);
        }
        Some(Self { names, paths })
    }

    /// Extracts the keys from a parsed record, with the same results as jaq running the query
    /// (the first failing path in query order fails the record; then each value in order must be
    /// a non-empty scalar, or null when `omit_null_keys`: that key is left out).
    pub(crate) fn extract(
        &self,
        record: &Value,
        omit_null_keys: bool,
    ) -> Result<PartitionKeys, PartitioningFailure> {
        let mut selected: [&Value; MAX_PARTITION_KEYS] = [&Value::Null; MAX_PARTITION_KEYS];
        for (slot, path) in selected.iter_mut().zip(&self.paths) {
            *slot = select(record, path)?;
        }
        let mut keys = PartitionKeys::with_capacity(self.names.len());
        for (name, value) in self.names.iter().zip(selected) {
            if omit_null_keys && value.is_null() {
                continue;
            }
            let text = json_scalar_text(name, value)?;
            keys.push_new_text(name, &text)?;
        }
        Ok(keys)
    }
}

/// Follows `path` from `value` with jq's `.a.b` semantics.
fn select<'v>(mut value: &'v Value, path: &[String]) -> Result<&'v Value, PartitioningFailure> {
    for segment in path {
        value = match value {
            Value::Object(map) => map.get(segment.as_str()).unwrap_or(&Value::Null),
            Value::Null => &Value::Null,
            Value::Bool(_) => return Err(cannot_index("a boolean", segment)),
            Value::Number(_) => return Err(cannot_index("a number", segment)),
            Value::String(_) => return Err(cannot_index("a string", segment)),
            Value::Array(_) => return Err(cannot_index("an array", segment)),
        };
    }
    Ok(value)
}

/// jq's type error for `.segment` on a value that is neither an object nor null.
pub(crate) fn cannot_index(what: &str, segment: &str) -> PartitioningFailure {
    FailureReason::QueryFailed {
        message: format!("cannot index {what} with \"{segment}\""),
    }
    .into()
}

/// The text of a literal jq string or identifier term (`name`, `"na\u006de"`), else `None`.
fn literal_text(term: &Term<&str>) -> Option<String> {
    let Term::Str(None, parts) = term else {
        return None;
    };
    let mut text = String::new();
    for part in parts {
        match part {
            StrPart::Str(s) => text.push_str(s),
            StrPart::Char(c) => text.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some(text)
}

/// The names of a query that is a literal object (`{a: <anything>, "b": <anything>}`), in
/// order and each once, or `None` when the names are only known at run time.
pub(crate) fn literal_object_names(query: &str) -> Option<Vec<String>> {
    let Term::Obj(entries) = jaq_core::load::parse(query, |p| p.term())? else {
        return None;
    };
    let mut names: Vec<String> = Vec::with_capacity(entries.len());
    for (key, _) in &entries {
        let name = literal_text(key)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(query: &str) -> Option<Vec<(String, Vec<String>)>> {
        DirectSelection::recognize(query)
            .map(|d| d.names.iter().map(|n| n.to_string()).zip(d.paths).collect())
    }

    fn owned(pairs: &[(&str, &[&str])]) -> Option<Vec<(String, Vec<String>)>> {
        Some(
            pairs
                .iter()
                .map(|(n, p)| ((*n).to_owned(), p.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        )
    }

    #[test]
    fn field_paths_in_a_literal_object_are_recognised() {
        assert_eq!(
            shape(
                r#"{customer_id: .customer_id, device: .type.device, "x y": ."a b", z: .["q"], w}"#
            ),
            owned(&[
                ("customer_id", &["customer_id"]),
                ("device", &["type", "device"]),
                ("x y", &["a b"]),
                ("z", &["q"]),
                ("w", &["w"]),
            ])
        );
    }

    #[test]
    fn anything_else_is_left_to_jaq() {
        for query in [
            ".",
            "{}",
            "{a: .}",
            "{a: .x?}",
            "{a: .x[0]}",
            "{a: .x | ascii_downcase}",
            "{a: .ts[0:4]}",
            "{(.k): .v}",
            "{$__loc__}",
            r#"{"\(.k)": .v}"#,
            "{a: .x, a: .y}",
            "{a: .x} | .",
            "{a: .x}, {a: .y}",
            "{a: $x}",
            "not valid jq {",
        ] {
            assert_eq!(shape(query), None, "{query}");
        }
    }

    #[test]
    fn missing_and_null_fields_select_null_and_scalars_cannot_be_indexed() {
        let record = json!({"a": {"b": 1}, "n": null, "s": "x", "arr": [1]});
        let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(select(&record, &path(&["a", "b"])).unwrap(), &json!(1));
        assert_eq!(
            select(&record, &path(&["missing", "deeper"])).unwrap(),
            &Value::Null
        );
        assert_eq!(select(&record, &path(&["n", "x"])).unwrap(), &Value::Null);
        assert_eq!(
            select(&record, &path(&["s", "x"])).unwrap_err().to_string(),
            "the metadata extraction query failed: cannot index a string with \"x\""
        );
        assert!(select(&record, &path(&["arr", "x"])).is_err());
    }

    #[test]
    fn literal_object_names_are_known_whatever_the_values() {
        assert_eq!(
            literal_object_names(r#"{year: .ts | .[0:4], "event type": .event_type, year: 1}"#),
            Some(vec!["year".to_owned(), "event type".to_owned()])
        );
        assert_eq!(literal_object_names("{(.k): 1}"), None);
        assert_eq!(literal_object_names(".x"), None);
    }
}
