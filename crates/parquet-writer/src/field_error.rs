//! Where in a record a conversion failed, and the wording of failure messages.

use crate::conversion_failure::{ConversionFailure, ConversionFailureKind};
use crate::hive_type::HiveType;
use crate::json_node::NodeView;

/// A failure inside a record, with the path to the value (innermost part first).
pub(crate) struct FieldError {
    pub(crate) kind: ConversionFailureKind,
    pub(crate) detail: String,
    path: Vec<PathPart>,
}

pub(crate) enum PathPart {
    Field(String),
    Index(usize),
    MapValue(String),
}

impl FieldError {
    pub(crate) fn new(kind: ConversionFailureKind, detail: String) -> Self {
        Self {
            kind,
            detail,
            path: Vec::new(),
        }
    }

    pub(crate) fn within(mut self, part: PathPart) -> Self {
        self.path.push(part);
        self
    }

    pub(crate) fn into_failure(self) -> ConversionFailure {
        let mut path = String::new();
        for part in self.path.iter().rev() {
            match part {
                PathPart::Field(name) if path.is_empty() => path.push_str(name),
                PathPart::Field(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                PathPart::Index(i) => path.push_str(&format!("[{i}]")),
                PathPart::MapValue(key) => path.push_str(&format!("[{key:?}]")),
            }
        }
        ConversionFailure::new(self.kind, format!("column `{path}`: {}", self.detail))
    }
}

/// At most this many characters of an offending value are quoted in a message.
const QUOTED_VALUE_CHARS: usize = 60;

pub(crate) fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTED_VALUE_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

pub(crate) fn json_kind<I>(view: &NodeView<'_, I>) -> &'static str {
    match view {
        NodeView::Null => "null",
        NodeView::Bool(_) => "a boolean",
        NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_) => "a number",
        NodeView::Str(_) => "a string",
        NodeView::Array(..) => "an array",
        NodeView::Object => "an object",
    }
}

pub(crate) fn mismatch<I>(expected: &HiveType, view: &NodeView<'_, I>) -> FieldError {
    FieldError::new(
        ConversionFailureKind::TypeMismatch,
        format!("expected {expected}, found {}", json_kind(view)),
    )
}

pub(crate) fn too_large() -> FieldError {
    FieldError::new(
        ConversionFailureKind::TooLarge,
        "the value does not fit in one row group".to_owned(),
    )
}
