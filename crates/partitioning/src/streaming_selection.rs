//! [`DirectSelection`] evaluated while serde_json parses the record's bytes: no
//! `serde_json::Value` is built, the fields that are not selected are only validated.
//!
//! Guarantees: the result is exactly that of parsing the bytes into a `serde_json::Value` with
//! `serde_json::from_slice` and calling [`DirectSelection::extract`] on it (same acceptance of
//! the input, including serde_json's nesting limit and its "last duplicate key wins" rule, and
//! the same keys or failure). Every value goes through serde_json's `deserialize_any`, the path
//! the `Value` parser takes, so what one accepts the other accepts.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::direct_selection::{DirectSelection, cannot_index};
use crate::jq_number_text;
use crate::partition_keys::PartitionKeys;
use crate::partitioning_failure::{FailureReason, PartitioningFailure};

/// The paths of a [`DirectSelection`] as a tree of field names, built once per query.
#[derive(Debug, Clone)]
pub(crate) struct PathTree {
    nodes: Vec<TreeNode>,
}

#[derive(Debug, Clone, Default)]
struct TreeNode {
    /// Paths that end at this node (select this node's value).
    ends: Vec<usize>,
    /// Paths that go deeper (index this node's value by name).
    deeper: Vec<usize>,
    /// Field name → child node.
    children: Vec<(String, usize)>,
    /// The segment each `deeper` path takes from here (parallel to `deeper`).
    deeper_segments: Vec<String>,
}

/// What a path selected so far.
#[derive(Debug, Clone)]
enum Found<'de> {
    Null,
    Text(Cow<'de, str>),
    Array,
    Object,
    /// `.segment` on a value that is neither object nor null: (what it was, node, position of
    /// the path in that node's `deeper`).
    CannotIndex(&'static str, usize, usize),
}

impl PathTree {
    pub(crate) fn new(selection: &DirectSelection) -> Self {
        let mut nodes = vec![TreeNode::default()];
        for (index, path) in selection.paths.iter().enumerate() {
            let mut node = 0;
            for segment in path {
                nodes[node].deeper.push(index);
                nodes[node].deeper_segments.push(segment.clone());
                node = match nodes[node]
                    .children
                    .iter()
                    .find(|(name, _)| name == segment)
                {
                    Some(&(_, child)) => child,
                    None => {
                        nodes.push(TreeNode::default());
                        let child = nodes.len() - 1;
                        nodes[node].children.push((segment.clone(), child));
                        child
                    }
                };
            }
            nodes[node].ends.push(index);
        }
        Self { nodes }
    }

    /// Parses `bytes` as one JSON value and extracts the selection's keys (a null key is left
    /// out when `omit_null_keys`, see [`crate::MetadataQuery::omitting_null_keys`]).
    pub(crate) fn extract_from_bytes(
        &self,
        selection: &DirectSelection,
        bytes: &[u8],
        omit_null_keys: bool,
    ) -> Result<PartitionKeys, PartitioningFailure> {
        let mut found = vec![Found::Null; selection.paths.len()];
        let mut de = serde_json::Deserializer::from_slice(bytes);
        (NodeSeed {
            tree: self,
            node: 0,
            found: &mut found,
        })
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| {
            PartitioningFailure::from(FailureReason::NotJson {
                detail: e.to_string(),
            })
        })?;
        // Same order of checks as `DirectSelection::extract`: path errors first, then values.
        for f in &found {
            if let Found::CannotIndex(what, node, position) = f {
                return Err(cannot_index(
                    what,
                    &self.nodes[*node].deeper_segments[*position],
                ));
            }
        }
        let mut keys = PartitionKeys::with_capacity(selection.names.len());
        for (name, f) in selection.names.iter().zip(&found) {
            let key = || name.to_string();
            match f {
                Found::Text(text) => keys.push_new_text(name, text)?,
                Found::Null if omit_null_keys => {}
                Found::Null => {
                    return Err(FailureReason::NullOrEmpty {
                        key: key(),
                        null: true,
                    }
                    .into());
                }
                Found::Array => {
                    return Err(FailureReason::NotScalar {
                        key: key(),
                        found: "an array",
                    }
                    .into());
                }
                Found::Object => {
                    return Err(FailureReason::NotScalar {
                        key: key(),
                        found: "an object",
                    }
                    .into());
                }
                Found::CannotIndex(..) => {}
            }
        }
        Ok(keys)
    }
}

/// Deserializes the value at `node`, recording what its paths select.
struct NodeSeed<'t, 'f, 'de> {
    tree: &'t PathTree,
    node: usize,
    found: &'f mut Vec<Found<'de>>,
}

impl<'de> NodeSeed<'_, '_, 'de> {
    /// A value that is not an object: paths ending here select `selected()` (only called when
    /// some path ends here); deeper paths get null (`index_error` `None`: the value is null) or
    /// jq's "cannot index" error.
    fn record(self, selected: impl FnOnce() -> Found<'de>, index_error: Option<&'static str>) {
        let node = &self.tree.nodes[self.node];
        if let Some((&first, rest)) = node.ends.split_first() {
            let selected = selected();
            for &p in rest {
                self.found[p] = selected.clone();
            }
            self.found[first] = selected;
        }
        for (position, &p) in node.deeper.iter().enumerate() {
            self.found[p] = match index_error {
                None => Found::Null,
                Some(what) => Found::CannotIndex(what, self.node, position),
            };
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.record(
            || Found::Text(Cow::Borrowed(if v { "true" } else { "false" })),
            Some("a boolean"),
        );
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.record(
            || Found::Text(Cow::Owned(jq_number_text::integer_text(v))),
            Some("a number"),
        );
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.record(
            || Found::Text(Cow::Owned(jq_number_text::unsigned_text(v))),
            Some("a number"),
        );
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // serde_json's `Value` stores a float it cannot represent (never the case for parsed
        // JSON, which has no NaN or infinity) as null.
        if v.is_finite() {
            self.record(
                || {
                    Found::Text(Cow::Owned(
                        jq_number_text::finite_text(v).unwrap_or_default(),
                    ))
                },
                Some("a number"),
            );
        } else {
            self.record(|| Found::Null, None);
        }
        Ok(())
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        self.record(|| Found::Text(Cow::Borrowed(v)), Some("a string"));
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.record(|| Found::Text(Cow::Owned(v.to_owned())), Some("a string"));
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.record(|| Found::Null, None);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        self.record(|| Found::Array, Some("an array"));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let tree = self.tree;
        let node = &tree.nodes[self.node];
        for &p in &node.ends {
            self.found[p] = Found::Object;
        }
        // A later duplicate of a key replaces what an earlier one selected, as in `Value`.
        for &p in &node.deeper {
            self.found[p] = Found::Null;
        }
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match node.children.iter().find(|(name, _)| **name == *key) {
                Some(&(_, child)) => map.next_value_seed(NodeSeed {
                    tree,
                    node: child,
                    found: &mut *self.found,
                })?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(())
    }
}

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Validates and drops a value through `deserialize_any`: unlike `serde::de::IgnoredAny`,
/// which serde_json skips without its nesting limit, this keeps every check `Value` makes.
pub(crate) struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}
