//! The fast path of `processing.transform` for a projection `{name: .path, ...}` (the shape
//! [`DirectSelection`] recognises on jaq's parse tree), run while serde_json parses the record:
//! only the selected values become jaq values, the rest of the record is validated and dropped.
//!
//! Guarantees: when [`Projection::run`] answers, its output is byte for byte what jaq prints
//! for the same program on the same record (each selected value goes through the same
//! `Val::deserialize` and the same printer; every other value through serde_json's
//! `deserialize_any`, as jaq's parse does, so the same bytes are accepted; a later duplicate key
//! wins, as in jaq's object). It does not answer (`None`) when the record is not JSON or a path
//! indexes something that is neither an object nor null: jaq then runs and gives its own error.

use std::fmt;

use jaq_json::Val;
use serde::Deserialize as _;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::direct_selection::DirectSelection;
use crate::streaming_selection::{KeySeed, Skip};

/// A recognised projection, ready to run on records.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    /// Each output name as jaq prints an object key (a JSON string), in program order.
    printed_names: Vec<String>,
    /// The selected paths as a tree; node 0 is the record.
    nodes: Vec<PathNode>,
    /// How many output values there are (one per name).
    outputs: usize,
}

#[derive(Debug, Clone, Default)]
struct PathNode {
    /// Outputs whose path ends here (then the node has no children).
    ends: Vec<usize>,
    /// Outputs whose path goes below this node.
    below: Vec<usize>,
    /// Field name → child node.
    children: Vec<(String, usize)>,
}

/// What an output's path found so far.
#[derive(Debug, Clone)]
enum Slot {
    /// A missing field, or a field below a null: jq's `null`.
    Null,
    Value(Val),
    /// A path went through a boolean, number, string or array: jq raises an error.
    CannotIndex,
}

impl Projection {
    /// Recognises `program` as a projection whose paths are not prefixes of one another
    /// (`{a: .x, b: .x.y}` runs on jaq), or `None`.
    pub(crate) fn recognize(program: &str) -> Option<Self> {
        let selection = DirectSelection::recognize(program)?;
        for (i, p) in selection.paths.iter().enumerate() {
            for (j, q) in selection.paths.iter().enumerate() {
                if i != j && p.len() < q.len() && q.starts_with(p) {
                    return None;
                }
            }
        }
        let mut nodes = vec![PathNode::default()];
        for (output, path) in selection.paths.iter().enumerate() {
            let mut node = 0;
            for segment in path {
                nodes[node].below.push(output);
                node = if let Some(&(_, child)) = nodes[node]
                    .children
                    .iter()
                    .find(|(name, _)| name == segment)
                {
                    child
                } else {
                    nodes.push(PathNode::default());
                    let child = nodes.len() - 1;
                    nodes[node].children.push((segment.clone(), child));
                    child
                };
            }
            nodes[node].ends.push(output);
        }
        let printed_names = selection
            .names
            .iter()
            .map(|name| jaq_printed(&serde_json::Value::String(name.to_string())))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            printed_names,
            nodes,
            outputs: selection.paths.len(),
        })
    }

    /// The program's one output on `record`, as compact JSON, or `None` when jaq must run
    /// (the record is not JSON, or the program raises an error on it).
    pub(crate) fn run(&self, record: &[u8]) -> Option<Vec<u8>> {
        let mut slots: Slots = smallvec::smallvec![Slot::Null; self.outputs];
        // The whole record's UTF-8 checked at once (std's check runs word by word over ASCII),
        // so serde_json need not check each string again. Bytes that are not UTF-8 are never
        // JSON that serde_json accepts (it checks each string's UTF-8, and any byte outside
        // strings that is not ASCII is a syntax error): jaq then runs and words the error.
        let text = std::str::from_utf8(record).ok()?;
        let mut de = serde_json::Deserializer::from_str(text);
        NodeSeed {
            nodes: &self.nodes,
            node: 0,
            slots: &mut slots,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .ok()?;
        // Projections are usually much smaller than their record: grown as needed.
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        for (i, (name, slot)) in self.printed_names.iter().zip(&slots).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            match slot {
                Slot::Null => out.extend_from_slice(b"null"),
                // jaq's own printer, writing to the buffer directly: the same bytes as its
                // `Display` (which `run_with_jaq` prints with) for a value parsed from JSON,
                // whose strings are valid UTF-8, without going through `fmt` for each string.
                Slot::Value(v) => jaq_json::write::write(&mut out, &PRINTER, 0, v).ok()?,
                Slot::CannotIndex => return None,
            }
        }
        out.push(b'}');
        Some(out)
    }
}

/// jaq's compact printer (`Display` prints with the same default).
static PRINTER: std::sync::LazyLock<jaq_json::write::Pp> =
    std::sync::LazyLock::new(jaq_json::write::Pp::default);

/// `value` as jaq prints it.
fn jaq_printed(value: &serde_json::Value) -> Option<String> {
    let text = serde_json::to_string(value).ok()?;
    let val = Val::deserialize(&mut serde_json::Deserializer::from_str(&text)).ok()?;
    Some(val.to_string())
}

/// The outputs' values, inline for the usual few outputs (no allocation per record).
type Slots = smallvec::SmallVec<[Slot; 4]>;

/// Deserializes the value at `node`, filling the slots of the outputs at or below it.
struct NodeSeed<'n, 's> {
    nodes: &'n [PathNode],
    node: usize,
    slots: &'s mut Slots,
}

impl NodeSeed<'_, '_> {
    /// The value here is not an object: outputs below get null (`null`) or jq's error.
    fn not_an_object(self, null: bool) {
        for &output in &self.nodes[self.node].below {
            self.slots[output] = if null { Slot::Null } else { Slot::CannotIndex };
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let node = &self.nodes[self.node];
        if let Some((&first, rest)) = node.ends.split_first() {
            // A selected value (the paths are no prefixes of others: nothing below it).
            let value = Val::deserialize(deserializer)?;
            for &output in rest {
                self.slots[output] = Slot::Value(value.clone());
            }
            self.slots[first] = Slot::Value(value);
            return Ok(());
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.not_an_object(false);
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.not_an_object(false);
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.not_an_object(false);
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.not_an_object(false);
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.not_an_object(false);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.not_an_object(true);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        self.not_an_object(false);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let nodes = self.nodes;
        let node = &nodes[self.node];
        // A later duplicate of a key replaces what an earlier one selected, as in jaq's object.
        for &output in &node.below {
            self.slots[output] = Slot::Null;
        }
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match node.children.iter().find(|(name, _)| **name == *key) {
                Some(&(_, child)) => map.next_value_seed(NodeSeed {
                    nodes,
                    node: child,
                    slots: &mut *self.slots,
                })?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(())
    }
}
