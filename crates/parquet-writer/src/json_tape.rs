//! Raw record bytes → a flat, reusable tape of JSON nodes, for `append_bytes`.
//!
//! The tape borrows strings from the input by offset (only strings with escapes are copied),
//! and its vectors are reused from record to record, so parsing a record allocates nothing in
//! the steady state — unlike `serde_json::Value`, which allocates every key, string and map
//! node. A hand-written scanner (`scanner`) tokenises the common case, one well-formed document;
//! serde_json (through a `DeserializeSeed`) parses everything else and words every error.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::json_node::{JsonNode, NodeView};
use crate::serde_options::same_text;

mod scanner;

/// Where a string's text is.
#[derive(Debug, Clone, Copy)]
enum Text {
    /// `len` bytes at `start` of the input.
    Input { start: u32, len: u32 },
    /// `len` bytes at `start` of the tape's unescaped-text buffer.
    Unescaped { start: u32, len: u32 },
}

#[derive(Debug, Clone, Copy)]
enum TapeNode {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Text),
    /// An object member's key; its value follows.
    Key(Text),
    /// An array; its items follow, up to (excluding) `end`.
    Array {
        end: u32,
        len: u32,
    },
    /// An object; `Key`, value pairs follow, up to (excluding) `end`.
    Object {
        end: u32,
        members: u32,
    },
}

/// One or more JSON documents of a record, as a tape.
#[derive(Debug, Default)]
pub(crate) struct JsonTape {
    nodes: Vec<TapeNode>,
    unescaped: String,
    /// Index of the first node of each document.
    roots: Vec<u32>,
}

/// Why bytes could not be put on the tape.
#[derive(Debug)]
pub(crate) enum TapeError {
    /// The record is 4 GiB or larger.
    TooLarge,
    /// Not JSON (serde_json's message).
    Syntax(String),
}

impl JsonTape {
    /// Parses every JSON document of `input` (one, or several concatenated), replacing the
    /// tape's previous content.
    pub(crate) fn parse(&mut self, input: &str) -> Result<(), TapeError> {
        if u32::try_from(input.len()).is_err() {
            return Err(TapeError::TooLarge);
        }
        self.nodes.clear();
        self.unescaped.clear();
        self.roots.clear();
        // The common case (one well-formed document) by the fast scanner; anything it
        // declines is parsed by serde_json below, which also words every error.
        if scanner::scan_single_document(self, input).is_ok() {
            return Ok(());
        }
        self.parse_with_serde(input)
    }

    /// [`JsonTape::parse`] by serde_json alone (the scanner's fallback and its reference).
    fn parse_with_serde(&mut self, input: &str) -> Result<(), TapeError> {
        self.nodes.clear();
        self.unescaped.clear();
        self.roots.clear();
        let mut de = serde_json::Deserializer::from_str(input);
        self.roots.push(0);
        TapeSeed {
            tape: self,
            base: input.as_ptr() as usize,
            input_len: input.len(),
        }
        .deserialize(&mut de)
        .map_err(|e| TapeError::Syntax(e.to_string()))?;
        if de.end().is_ok() {
            return Ok(());
        }
        // Several concatenated documents (`{"a":1}{"a":2}`): split them, then parse each.
        self.nodes.clear();
        self.unescaped.clear();
        self.roots.clear();
        let base = input.as_ptr() as usize;
        let mut stream =
            serde_json::Deserializer::from_str(input).into_iter::<serde::de::IgnoredAny>();
        let mut start = 0;
        while let Some(document) = stream.next() {
            document.map_err(|e| TapeError::Syntax(e.to_string()))?;
            let end = stream.byte_offset();
            let root = u32::try_from(self.nodes.len()).map_err(|_| TapeError::TooLarge)?;
            self.roots.push(root);
            let mut de = serde_json::Deserializer::from_str(&input[start..end]);
            TapeSeed {
                tape: self,
                base,
                input_len: input.len(),
            }
            .deserialize(&mut de)
            .map_err(|e| TapeError::Syntax(e.to_string()))?;
            start = end;
        }
        Ok(())
    }

    /// Bytes of memory the tape holds between records.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<TapeNode>()
            + self.unescaped.capacity()
            + self.roots.capacity() * 4
    }

    /// The documents parsed, in input order.
    pub(crate) fn documents<'a>(
        &'a self,
        input: &'a str,
    ) -> impl ExactSizeIterator<Item = TapeRef<'a>> + 'a {
        self.roots.iter().map(move |&index| TapeRef {
            tape: self,
            input,
            index,
        })
    }

    fn push(&mut self, node: TapeNode) -> Result<u32, TapeError> {
        let index = u32::try_from(self.nodes.len()).map_err(|_| TapeError::TooLarge)?;
        self.nodes.push(node);
        Ok(index)
    }

    fn len_u32(&self) -> u32 {
        // Bounded by the input length (checked < 4 GiB): each node consumes input bytes.
        u32::try_from(self.nodes.len()).unwrap_or(u32::MAX)
    }
}

struct TapeSeed<'t> {
    tape: &'t mut JsonTape,
    base: usize,
    input_len: usize,
}

impl TapeSeed<'_> {
    #[inline]
    fn text(&mut self, s: &str, borrowed: bool) -> Text {
        let offset = (s.as_ptr() as usize).wrapping_sub(self.base);
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        if borrowed && offset <= self.input_len && s.len() <= self.input_len - offset {
            // In the input: offsets fit u32 because the input does.
            Text::Input {
                start: u32::try_from(offset).unwrap_or(0),
                len,
            }
        } else {
            let start = u32::try_from(self.tape.unescaped.len()).unwrap_or(u32::MAX);
            self.tape.unescaped.push_str(s);
            Text::Unescaped { start, len }
        }
    }

    fn reborrow(&mut self) -> TapeSeed<'_> {
        TapeSeed {
            tape: self.tape,
            base: self.base,
            input_len: self.input_len,
        }
    }
}

fn custom<E: serde::de::Error>(_: TapeError) -> E {
    E::custom("record too large")
}

impl<'de> DeserializeSeed<'de> for TapeSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TapeSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.tape.push(TapeNode::Bool(v)).map(drop).map_err(custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.tape.push(TapeNode::Int(v)).map(drop).map_err(custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        let node = i64::try_from(v).map_or(TapeNode::UInt(v), TapeNode::Int);
        self.tape.push(node).map(drop).map_err(custom)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.tape.push(TapeNode::Float(v)).map(drop).map_err(custom)
    }

    fn visit_borrowed_str<E: serde::de::Error>(mut self, v: &'de str) -> Result<(), E> {
        let text = self.text(v, true);
        self.tape
            .push(TapeNode::Str(text))
            .map(drop)
            .map_err(custom)
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<(), E> {
        let text = self.text(v, false);
        self.tape
            .push(TapeNode::Str(text))
            .map(drop)
            .map_err(custom)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.tape.push(TapeNode::Null).map(drop).map_err(custom)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let at = self
            .tape
            .push(TapeNode::Array { end: 0, len: 0 })
            .map_err(custom)?;
        let mut len = 0u32;
        while seq.next_element_seed(self.reborrow())?.is_some() {
            len += 1;
        }
        let end = self.tape.len_u32();
        self.tape.nodes[at as usize] = TapeNode::Array { end, len };
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let at = self
            .tape
            .push(TapeNode::Object { end: 0, members: 0 })
            .map_err(custom)?;
        let mut members = 0u32;
        while map.next_key_seed(KeySeed(self.reborrow()))?.is_some() {
            map.next_value_seed(self.reborrow())?;
            members += 1;
        }
        let end = self.tape.len_u32();
        self.tape.nodes[at as usize] = TapeNode::Object { end, members };
        Ok(())
    }
}

/// Puts an object key on the tape.
struct KeySeed<'t>(TapeSeed<'t>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(mut self, v: &'de str) -> Result<(), E> {
        let text = self.0.text(v, true);
        self.0
            .tape
            .push(TapeNode::Key(text))
            .map(drop)
            .map_err(custom)
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<(), E> {
        let text = self.0.text(v, false);
        self.0
            .tape
            .push(TapeNode::Key(text))
            .map(drop)
            .map_err(custom)
    }
}

/// A node of a parsed tape.
#[derive(Clone, Copy)]
pub(crate) struct TapeRef<'a> {
    tape: &'a JsonTape,
    input: &'a str,
    index: u32,
}

impl<'a> TapeRef<'a> {
    #[inline]
    fn node(self) -> TapeNode {
        self.tape.nodes[self.index as usize]
    }

    #[inline]
    fn text(self, text: Text) -> &'a str {
        let (source, start, len) = match text {
            Text::Input { start, len } => (self.input, start, len),
            Text::Unescaped { start, len } => (self.tape.unescaped.as_str(), start, len),
        };
        source
            .get(start as usize..(start + len) as usize)
            .unwrap_or_default()
    }

    #[inline]
    fn at(self, index: u32) -> Self {
        Self { index, ..self }
    }

    /// Index of the node after this one and its descendants.
    #[inline]
    fn next_index(self) -> u32 {
        match self.node() {
            TapeNode::Array { end, .. } | TapeNode::Object { end, .. } => end,
            _ => self.index + 1,
        }
    }
}

/// The items of a tape array.
pub(crate) struct TapeItems<'a> {
    next: TapeRef<'a>,
    end: u32,
}

impl<'a> Iterator for TapeItems<'a> {
    type Item = TapeRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<TapeRef<'a>> {
        if self.next.index >= self.end {
            return None;
        }
        let item = self.next;
        self.next = item.at(item.next_index());
        Some(item)
    }
}

/// The members of a tape object.
pub(crate) struct TapeMembers<'a> {
    next: TapeRef<'a>,
    end: u32,
}

impl<'a> Iterator for TapeMembers<'a> {
    type Item = (&'a str, TapeRef<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next.index >= self.end {
            return None;
        }
        let key = match self.next.node() {
            TapeNode::Key(text) => self.next.text(text),
            _ => "",
        };
        let value = self.next.at(self.next.index + 1);
        self.next = value.at(value.next_index());
        Some((key, value))
    }
}

impl<'a> JsonNode<'a> for TapeRef<'a> {
    type Items = TapeItems<'a>;
    type Members = TapeMembers<'a>;
    const INDEXED_MEMBERS: bool = false;

    #[inline]
    fn view(self) -> NodeView<'a, TapeItems<'a>> {
        match self.node() {
            TapeNode::Null | TapeNode::Key(_) => NodeView::Null,
            TapeNode::Bool(b) => NodeView::Bool(b),
            TapeNode::Int(i) => NodeView::Int(i),
            TapeNode::UInt(u) => NodeView::UInt(u),
            TapeNode::Float(f) => NodeView::Float(f),
            TapeNode::Str(text) => NodeView::Str(self.text(text)),
            TapeNode::Array { end, len } => NodeView::Array(
                TapeItems {
                    next: self.at(self.index + 1),
                    end,
                },
                len as usize,
            ),
            TapeNode::Object { .. } => NodeView::Object,
        }
    }

    #[inline]
    fn member(self, key: &str) -> Option<Self> {
        self.members()
            .find(|(k, _)| same_text(k, key))
            .map(|(_, v)| v)
    }

    #[inline]
    fn members(self) -> TapeMembers<'a> {
        let end = match self.node() {
            TapeNode::Object { end, .. } => end,
            _ => self.index,
        };
        TapeMembers {
            next: self.at(self.index + 1),
            end,
        }
    }

    #[inline]
    fn member_count(self) -> usize {
        match self.node() {
            TapeNode::Object { members, .. } => members as usize,
            _ => 0,
        }
    }

    fn write_json(self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        match self.view() {
            NodeView::Null => out.extend_from_slice(b"null"),
            NodeView::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            NodeView::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            NodeView::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
            NodeView::Float(f) => {
                let _ = serde_json::to_writer(&mut *out, &f);
            }
            NodeView::Str(s) => {
                let _ = serde_json::to_writer(&mut *out, s);
            }
            NodeView::Array(items, _) => {
                out.push(b'[');
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            NodeView::Object => {
                out.push(b'{');
                for (i, (key, value)) in self.members().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, key);
                    out.push(b':');
                    value.write_json(out);
                }
                out.push(b'}');
            }
        }
    }
}
