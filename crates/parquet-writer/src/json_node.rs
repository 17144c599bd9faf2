//! A read-only view of a parsed JSON value, so one converter serves every JSON representation
//! (`serde_json::Value` from the pipeline, and the tape `append_bytes` parses into).

use serde_json::Value;

/// What a JSON node is, with its scalar payload or its array items.
pub(crate) enum NodeView<'a, I> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
    /// The items and how many there are.
    Array(I, usize),
    Object,
}

/// A handle to a parsed JSON node the row converter can read.
pub(crate) trait JsonNode<'a>: Copy {
    /// Iterator over an array's items.
    type Items: Iterator<Item = Self>;
    /// Iterator over an object's members, in the representation's order.
    type Members: Iterator<Item = (&'a str, Self)>;
    /// Whether [`JsonNode::member`] is a map lookup (cheaper than scanning the members).
    const INDEXED_MEMBERS: bool;

    /// The node's kind and payload.
    fn view(self) -> NodeView<'a, Self::Items>;
    /// The member named exactly `key` of an object node (`None` for other nodes).
    fn member(self, key: &str) -> Option<Self>;
    /// The members of an object node (empty for other nodes).
    fn members(self) -> Self::Members;
    /// The number of members of an object node.
    fn member_count(self) -> usize;
    /// Appends the node as compact JSON text.
    fn write_json(self, out: &mut Vec<u8>);
}

type ValueMembers<'a> =
    std::iter::Map<serde_json::map::Iter<'a>, fn((&'a String, &'a Value)) -> (&'a str, &'a Value)>;

fn member_entry<'a>((k, v): (&'a String, &'a Value)) -> (&'a str, &'a Value) {
    (k.as_str(), v)
}

impl<'a> JsonNode<'a> for &'a Value {
    type Items = std::slice::Iter<'a, Value>;
    type Members = ValueMembers<'a>;
    const INDEXED_MEMBERS: bool = true;

    #[inline]
    fn view(self) -> NodeView<'a, Self::Items> {
        match self {
            Value::Null => NodeView::Null,
            Value::Bool(b) => NodeView::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    NodeView::Int(i)
                } else if let Some(u) = n.as_u64() {
                    NodeView::UInt(u)
                } else {
                    NodeView::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => NodeView::Str(s),
            Value::Array(a) => NodeView::Array(a.iter(), a.len()),
            Value::Object(_) => NodeView::Object,
        }
    }

    #[inline]
    fn member(self, key: &str) -> Option<Self> {
        self.as_object().and_then(|o| o.get(key))
    }

    fn members(self) -> Self::Members {
        static EMPTY: std::sync::LazyLock<serde_json::Map<String, Value>> =
            std::sync::LazyLock::new(serde_json::Map::new);
        let object = self.as_object().unwrap_or(&EMPTY);
        object.iter().map(member_entry as fn(_) -> _)
    }

    fn member_count(self) -> usize {
        self.as_object().map_or(0, serde_json::Map::len)
    }

    fn write_json(self, out: &mut Vec<u8>) {
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(out, self);
    }
}
