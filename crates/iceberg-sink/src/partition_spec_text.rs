//! The configuration text of `destination.iceberg.partition_spec` (`"event_type, day(ts)"`):
//! parsed into partition items, and bound to a table schema as iceberg-rust's
//! [`PartitionSpec`] / [`UnboundPartitionSpec`].
//!
//! Grammar (whitespace between tokens is ignored, transform names are case-insensitive):
//! `spec := "" | item ("," item)*`, `item := column | transform "(" args ")"`, where a
//! transform is `identity(col)`, `year(col)`, `month(col)`, `day(col)`, `hour(col)`,
//! `bucket(N, col)`, `truncate(W, col)` or `void(col)` (Spark's plural `years`, `months`,
//! `days`, `hours` are accepted too), and a column is a name or a dotted path into structs.
//! The syntax is written here (iceberg-rust 0.10.1 parses transforms only in their metadata
//! form, `bucket[16]`); every check against the schema is iceberg-rust's own
//! ([`Transform::result_type`], [`iceberg::spec::PartitionSpecBuilder`]), reported with the
//! item's column.

use iceberg::spec::{PartitionSpec, Schema, SchemaRef, Transform, UnboundPartitionSpec};

/// Why a `partition_spec` text is not a partition spec (of a schema).
///
/// Guarantees: every variant holds `column`, the 1-based character column in the text where
/// the problem is (the offending token, or the item's start for whole-item problems), and its
/// message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionSpecTextError {
    /// Nothing between two commas, or before the first / after the last comma.
    #[error("column {column}: empty partition item (nothing before this `,` or the end)")]
    EmptyItem {
        /// Where the empty item ends (its `,` or the end of the text).
        column: usize,
    },
    /// A token where another was expected (unbalanced parentheses, two columns in a row).
    #[error("column {column}: expected {expected}, found {found}")]
    Syntax {
        /// Where the unexpected token starts.
        column: usize,
        /// What it is (`` `)` ``, `the end of the text`, or the word).
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A name followed by `(` that is not a transform.
    #[error(
        "column {column}: unknown partition transform `{name}` (expected identity, year, month, \
         day, hour, bucket, truncate or void)"
    )]
    UnknownTransform {
        /// Where the name starts.
        column: usize,
        /// The name as written.
        name: String,
    },
    /// A transform given fewer arguments than it takes.
    #[error("column {column}: `{transform}` is missing {missing}")]
    MissingArgument {
        /// Where the argument is missing (its `,` or the closing `)`).
        column: usize,
        /// The transform as written.
        transform: String,
        /// What is missing.
        missing: &'static str,
    },
    /// A transform given more arguments than it takes.
    #[error("column {column}: `{transform}` takes {takes}; `{extra}` is one too many")]
    ExtraArgument {
        /// Where the first extra argument starts.
        column: usize,
        /// The transform as written.
        transform: String,
        /// What it takes.
        takes: &'static str,
        /// The first extra argument.
        extra: String,
    },
    /// A bucket count or truncation width that is not an integer from 1 to 2^31-1.
    #[error(
        "column {column}: the {argument} of `{transform}` must be a positive integer, not `{found}`"
    )]
    NotPositiveInteger {
        /// Where the argument starts.
        column: usize,
        /// The transform as written.
        transform: String,
        /// `number of buckets` or `width`.
        argument: &'static str,
        /// The argument as written.
        found: String,
    },
    /// A source column the table schema does not have.
    #[error("column {column}: the table schema has no column `{name}`")]
    UnknownColumn {
        /// Where the column name starts.
        column: usize,
        /// The name as written.
        name: String,
    },
    /// A transform the source column's type cannot take (iceberg's `Transform::result_type`).
    #[error("column {column}: `{item}` cannot partition a column of type {source_type}: {reason}")]
    TransformNotApplicable {
        /// Where the item starts.
        column: usize,
        /// The item as written.
        item: String,
        /// The source column's type.
        source_type: String,
        /// iceberg-rust's reason.
        reason: String,
    },
    /// iceberg-rust's spec builder refused the item (a partition name used twice, two time
    /// transforms of one column, a name that is another column's).
    #[error("column {column}: `{item}` is refused: {reason}")]
    Refused {
        /// Where the item starts.
        column: usize,
        /// The item as written.
        item: String,
        /// iceberg-rust's reason.
        reason: String,
    },
}

impl PartitionSpecTextError {
    /// The 1-based character column in the text where the problem is.
    #[must_use]
    pub fn column(&self) -> usize {
        match self {
            Self::EmptyItem { column }
            | Self::Syntax { column, .. }
            | Self::UnknownTransform { column, .. }
            | Self::MissingArgument { column, .. }
            | Self::ExtraArgument { column, .. }
            | Self::NotPositiveInteger { column, .. }
            | Self::UnknownColumn { column, .. }
            | Self::TransformNotApplicable { column, .. }
            | Self::Refused { column, .. } => *column,
        }
    }
}

/// One item of a `partition_spec` text: a transform of a source column.
///
/// Guarantees: `source` is non-empty and `transform` is one of identity, year, month, day,
/// hour, bucket(N ≥ 1), truncate(W ≥ 1) or void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionItem {
    /// The item as written, without surrounding whitespace.
    pub text: String,
    /// 1-based character column where the item starts.
    pub column: usize,
    /// The source column's name (a dotted path for a struct's field).
    pub source: String,
    /// 1-based character column where the source column's name starts.
    pub source_column: usize,
    /// The transform.
    pub transform: Transform,
}

impl PartitionItem {
    /// The partition field's name, as Iceberg's Spark DDL names it: the column for identity,
    /// `<col>_year|_month|_day|_hour`, `<col>_bucket_<N>`, `<col>_trunc_<W>`, `<col>_null`
    /// for void.
    #[must_use]
    pub fn field_name(&self) -> String {
        let source = &self.source;
        match self.transform {
            Transform::Year => format!("{source}_year"),
            Transform::Month => format!("{source}_month"),
            Transform::Day => format!("{source}_day"),
            Transform::Hour => format!("{source}_hour"),
            Transform::Bucket(n) => format!("{source}_bucket_{n}"),
            Transform::Truncate(w) => format!("{source}_trunc_{w}"),
            Transform::Void => format!("{source}_null"),
            Transform::Identity | Transform::Unknown => source.clone(),
        }
    }
}

/// A parsed `partition_spec` text: its items in order, not yet checked against a schema.
///
/// Guarantees: no items means unpartitioned (the text was empty or whitespace).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionSpecText {
    items: Vec<PartitionItem>,
}

impl PartitionSpecText {
    /// The items, in the order written (the partition tuple's order).
    #[must_use]
    pub fn items(&self) -> &[PartitionItem] {
        &self.items
    }

    /// Whether the text declares no partition field.
    #[must_use]
    pub fn is_unpartitioned(&self) -> bool {
        self.items.is_empty()
    }

    /// The spec bound to `schema` (spec id 0, field ids from 1000 in item order).
    ///
    /// Guarantees: each field's source is the schema's field of that (dotted) name, its
    /// transform applies to the field's type (iceberg's `Transform::result_type`), and
    /// iceberg-rust's `PartitionSpecBuilder` accepted every field; otherwise the error names
    /// the first item that fails, with its column.
    pub fn bind(
        &self,
        schema: impl Into<SchemaRef>,
    ) -> Result<PartitionSpec, PartitionSpecTextError> {
        let schema: SchemaRef = schema.into();
        let mut builder = PartitionSpec::builder(schema.clone());
        for item in &self.items {
            let source = schema.field_by_name(&item.source).ok_or_else(|| {
                PartitionSpecTextError::UnknownColumn {
                    column: item.source_column,
                    name: item.source.clone(),
                }
            })?;
            if let Err(e) = item.transform.result_type(&source.field_type) {
                return Err(PartitionSpecTextError::TransformNotApplicable {
                    column: item.column,
                    item: item.text.clone(),
                    source_type: source.field_type.to_string(),
                    reason: e.message().to_string(),
                });
            }
            builder = builder
                .add_partition_field(&item.source, item.field_name(), item.transform)
                .map_err(|e| PartitionSpecTextError::Refused {
                    column: item.column,
                    item: item.text.clone(),
                    reason: e.message().to_string(),
                })?;
        }
        builder
            .build()
            .map_err(|e| PartitionSpecTextError::Refused {
                column: 1,
                item: String::new(),
                reason: e.message().to_string(),
            })
    }

    /// The spec bound to `schema` ([`Self::bind`]), as the unbound spec a table is created
    /// with (source ids from `schema`, field ids kept).
    pub fn unbound(&self, schema: &Schema) -> Result<UnboundPartitionSpec, PartitionSpecTextError> {
        Ok(self.bind(schema.clone())?.into_unbound())
    }
}

/// Parses a `partition_spec` text (grammar in the module doc).
///
/// Guarantees: an empty or whitespace-only text is unpartitioned; otherwise every item is
/// well-formed or the error gives the 1-based character column of the first problem.
pub fn parse_partition_spec(text: &str) -> Result<PartitionSpecText, PartitionSpecTextError> {
    let tokens = tokens(text);
    if tokens.len() == 1 {
        return Ok(PartitionSpecText::default());
    }
    let chars: Vec<char> = text.chars().collect();
    let mut parser = Parser {
        tokens,
        at: 0,
        chars,
    };
    let mut items = Vec::new();
    loop {
        items.push(parser.item()?);
        let next = parser.next();
        match next.kind {
            TokenKind::Comma => {}
            TokenKind::End => return Ok(PartitionSpecText { items }),
            _ => {
                return Err(PartitionSpecTextError::Syntax {
                    column: next.column,
                    found: next.describe(),
                    expected: "`,` between partition items, or the end of the text",
                });
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    Word(String),
    Open,
    Close,
    Comma,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// 1-based character column of the token's first character.
    column: usize,
    /// 0-based character index one past the token's last character.
    end: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(word) => format!("`{word}`"),
            TokenKind::Open => "`(`".to_string(),
            TokenKind::Close => "`)`".to_string(),
            TokenKind::Comma => "`,`".to_string(),
            TokenKind::End => "the end of the text".to_string(),
        }
    }
}

/// The text's tokens: words (runs of characters other than whitespace, `,`, `(`, `)`),
/// punctuation, and a final `End`.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let single = match c {
            ',' => Some(TokenKind::Comma),
            '(' => Some(TokenKind::Open),
            ')' => Some(TokenKind::Close),
            _ => None,
        };
        if let Some(kind) = single {
            tokens.push(Token {
                kind,
                column: i + 1,
                end: i + 1,
            });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && !is_delimiter(chars[i]) {
                i += 1;
            }
            let word = chars[start..i].iter().collect();
            tokens.push(Token {
                kind: TokenKind::Word(word),
                column: start + 1,
                end: i,
            });
        }
    }
    tokens.push(Token {
        kind: TokenKind::End,
        column: chars.len() + 1,
        end: chars.len(),
    });
    tokens
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')')
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    chars: Vec<char>,
}

/// A transform's name as written and what it takes: `None` = one column, `Some(argument)` =
/// a positive integer (`argument` names it) and then a column.
struct TransformName {
    written: String,
    integer: Option<&'static str>,
}

impl Parser {
    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].clone();
        if token.kind != TokenKind::End {
            self.at += 1;
        }
        token
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn item(&mut self) -> Result<PartitionItem, PartitionSpecTextError> {
        let first = self.next();
        let word = match &first.kind {
            TokenKind::Word(word) => word.clone(),
            TokenKind::Comma | TokenKind::End => {
                return Err(PartitionSpecTextError::EmptyItem {
                    column: first.column,
                });
            }
            TokenKind::Open | TokenKind::Close => {
                return Err(PartitionSpecTextError::Syntax {
                    column: first.column,
                    found: first.describe(),
                    expected: "a column or a transform",
                });
            }
        };
        if self.peek().kind != TokenKind::Open {
            return Ok(PartitionItem {
                text: word.clone(),
                column: first.column,
                source: word,
                source_column: first.column,
                transform: Transform::Identity,
            });
        }
        self.next();
        let (arguments, close) = self.arguments(&word)?;
        let text = self.chars[first.column - 1..close.end].iter().collect();
        let (transform, source) = transform_of(&word, first.column, &arguments, &close)?;
        Ok(PartitionItem {
            text,
            column: first.column,
            source: source.0,
            source_column: source.1,
            transform,
        })
    }

    /// The arguments after `(` up to the matching `)`: each word with its column, and the `)`.
    fn arguments(
        &mut self,
        transform: &str,
    ) -> Result<(Vec<(String, usize)>, Token), PartitionSpecTextError> {
        let mut arguments = Vec::new();
        if self.peek().kind == TokenKind::Close {
            return Ok((arguments, self.next()));
        }
        loop {
            let token = self.next();
            match token.kind {
                TokenKind::Word(word) => arguments.push((word, token.column)),
                TokenKind::Comma | TokenKind::Close => {
                    return Err(PartitionSpecTextError::MissingArgument {
                        column: token.column,
                        transform: transform.to_string(),
                        missing: "an argument before this",
                    });
                }
                _ => {
                    return Err(PartitionSpecTextError::Syntax {
                        column: token.column,
                        found: token.describe(),
                        expected: "a transform argument",
                    });
                }
            }
            let after = self.next();
            match after.kind {
                TokenKind::Comma => {}
                TokenKind::Close => return Ok((arguments, after)),
                _ => {
                    return Err(PartitionSpecTextError::Syntax {
                        column: after.column,
                        found: after.describe(),
                        expected: "`,` or `)` after a transform argument",
                    });
                }
            }
        }
    }
}

/// The transform named `word` applied to `arguments`, and its source column with the
/// column where it starts.
fn transform_of(
    word: &str,
    column: usize,
    arguments: &[(String, usize)],
    close: &Token,
) -> Result<(Transform, (String, usize)), PartitionSpecTextError> {
    let name = transform_name(word).ok_or_else(|| PartitionSpecTextError::UnknownTransform {
        column,
        name: word.to_string(),
    })?;
    let takes = match name.integer {
        None => 1,
        Some(_) => 2,
    };
    if let Some((extra, at)) = arguments.get(takes) {
        return Err(PartitionSpecTextError::ExtraArgument {
            column: *at,
            transform: name.written,
            takes: if takes == 1 {
                "one column"
            } else {
                "an integer and a column"
            },
            extra: extra.clone(),
        });
    }
    if arguments.len() < takes {
        return Err(PartitionSpecTextError::MissingArgument {
            column: close.column,
            transform: name.written,
            missing: match (name.integer, arguments.len()) {
                (None, _) => "its column",
                (Some(_), 0) => "its integer and its column",
                (Some(_), _) => "its column (after the integer)",
            },
        });
    }
    let source = arguments[takes - 1].clone();
    let transform = match name.integer {
        None => match word.to_ascii_lowercase().as_str() {
            "identity" => Transform::Identity,
            "year" | "years" => Transform::Year,
            "month" | "months" => Transform::Month,
            "day" | "days" => Transform::Day,
            "hour" | "hours" => Transform::Hour,
            _ => Transform::Void,
        },
        Some(argument) => {
            let (text, at) = &arguments[0];
            let value = text
                .parse::<i32>()
                .ok()
                .filter(|v| *v >= 1)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| PartitionSpecTextError::NotPositiveInteger {
                    column: *at,
                    transform: name.written.clone(),
                    argument,
                    found: text.clone(),
                })?;
            if argument == BUCKETS {
                Transform::Bucket(value)
            } else {
                Transform::Truncate(value)
            }
        }
    };
    Ok((transform, source))
}

const BUCKETS: &str = "number of buckets";
const WIDTH: &str = "width";

fn transform_name(word: &str) -> Option<TransformName> {
    let integer = match word.to_ascii_lowercase().as_str() {
        "identity" | "year" | "years" | "month" | "months" | "day" | "days" | "hour" | "hours"
        | "void" => None,
        "bucket" => Some(BUCKETS),
        "truncate" => Some(WIDTH),
        _ => return None,
    };
    Some(TransformName {
        written: word.to_string(),
        integer,
    })
}

#[cfg(test)]
mod tests;
