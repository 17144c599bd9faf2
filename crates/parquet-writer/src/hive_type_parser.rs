//! A small recursive-descent parser for Hive type strings and column lists.
//!
//! Hand-written on purpose: the grammar is a dozen productions, no maintained crate parses
//! Hive/Glue type strings, and a parser generator would cost more than it saves. It is
//! property-tested (`tests/hive_type_parser_properties.rs`): it never panics, and the canonical
//! rendering of any type parses back to the same type.

use std::collections::HashSet;

use crate::hive_type::{HiveType, MAX_DECIMAL_PRECISION, StructField};

/// Nesting deeper than this is refused, so hostile input cannot overflow the stack.
pub(crate) const MAX_NESTING_DEPTH: usize = 64;

/// A syntax or validity error at a byte offset of the parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeSyntaxError {
    /// Byte offset into the parsed text.
    pub(crate) offset: usize,
    /// What was wrong, e.g. "expected `>`, found `,`".
    pub(crate) reason: String,
}

/// A column as parsed from a column list, with the offset its name starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedColumn {
    pub(crate) name: String,
    pub(crate) hive_type: HiveType,
    pub(crate) offset: usize,
}

/// Parses a whole type string (e.g. a Glue column's `Type`), rejecting trailing text.
pub(crate) fn parse_type(text: &str) -> Result<HiveType, TypeSyntaxError> {
    let mut p = Cursor { text, pos: 0 };
    p.skip_whitespace();
    let t = p.hive_type(0)?;
    p.skip_whitespace();
    if p.pos < text.len() {
        return Err(p.error(format!("unexpected {} after the type", p.describe_next())));
    }
    Ok(t)
}

/// Parses `name type, name type, ...` (commas and/or new lines between columns).
///
/// Errors carry the column name when the problem is inside a column's type.
pub(crate) fn parse_columns(
    text: &str,
) -> Result<Vec<ParsedColumn>, (Option<String>, TypeSyntaxError)> {
    let mut p = Cursor { text, pos: 0 };
    let mut columns: Vec<ParsedColumn> = Vec::new();
    let mut seen = HashSet::new();
    loop {
        p.skip_whitespace();
        if p.pos >= text.len() {
            break;
        }
        let offset = p.pos;
        let name = p.identifier("a column name").map_err(|e| (None, e))?;
        if !seen.insert(name.clone()) {
            return Err((
                Some(name.clone()),
                TypeSyntaxError {
                    offset,
                    reason: format!("duplicate column `{name}`"),
                },
            ));
        }
        let name_end = p.pos;
        p.skip_whitespace();
        if p.pos == name_end {
            return Err((
                Some(name),
                p.error(format!(
                    "expected whitespace and a type after the column name, found {}",
                    p.describe_next()
                )),
            ));
        }
        let hive_type = p.hive_type(0).map_err(|e| (Some(name.clone()), e))?;
        let line_break = p.skip_whitespace();
        columns.push(ParsedColumn {
            name: name.clone(),
            hive_type,
            offset,
        });
        match p.peek() {
            None => break,
            Some(',') => p.pos += 1,
            Some(_) if line_break => {}
            Some(_) => {
                return Err((
                    Some(name),
                    p.error(format!(
                        "expected `,` or a new line after the column's type, found {}",
                        p.describe_next()
                    )),
                ));
            }
        }
    }
    if columns.is_empty() {
        return Err((
            None,
            TypeSyntaxError {
                offset: 0,
                reason: "the schema has no columns".to_owned(),
            },
        ));
    }
    Ok(columns)
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn error(&self, reason: String) -> TypeSyntaxError {
        TypeSyntaxError {
            offset: self.pos,
            reason,
        }
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end of the text".to_owned(),
            Some(_) => {
                let rest = &self.text[self.pos..];
                let word: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(20)
                    .collect();
                format!("`{word}`")
            }
        }
    }

    /// Skips whitespace; returns whether it contained a new line.
    fn skip_whitespace(&mut self) -> bool {
        let mut line_break = false;
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            line_break |= c == '\n';
            self.pos += c.len_utf8();
        }
        line_break
    }

    fn expect(&mut self, wanted: char) -> Result<(), TypeSyntaxError> {
        self.skip_whitespace();
        if self.peek() == Some(wanted) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!(
                "expected `{wanted}`, found {}",
                self.describe_next()
            )))
        }
    }

    /// A word of ASCII letters, digits and underscores (possibly empty).
    fn word(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        &self.text[start..self.pos]
    }

    /// A plain or backquoted identifier, lowercased.
    fn identifier(&mut self, what: &str) -> Result<String, TypeSyntaxError> {
        if self.peek() == Some('`') {
            let start = self.pos;
            self.pos += 1;
            let mut name = String::new();
            loop {
                match self.peek() {
                    None => {
                        return Err(TypeSyntaxError {
                            offset: start,
                            reason: "unterminated backquoted name".to_owned(),
                        });
                    }
                    Some('`') => {
                        self.pos += 1;
                        if self.peek() == Some('`') {
                            self.pos += 1;
                            name.push('`');
                        } else {
                            break;
                        }
                    }
                    Some(c) => {
                        self.pos += c.len_utf8();
                        name.push(c);
                    }
                }
            }
            if name.is_empty() {
                return Err(TypeSyntaxError {
                    offset: start,
                    reason: format!("{what} must not be empty"),
                });
            }
            Ok(name.to_lowercase())
        } else {
            let word = self.word();
            if word.is_empty() {
                return Err(self.error(format!("expected {what}, found {}", self.describe_next())));
            }
            Ok(word.to_ascii_lowercase())
        }
    }

    fn number(&mut self, what: &str) -> Result<u8, TypeSyntaxError> {
        self.skip_whitespace();
        let start = self.pos;
        let word = self.word();
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
            self.pos = start;
            return Err(self.error(format!(
                "expected {what} (a number), found {}",
                self.describe_next()
            )));
        }
        word.parse::<u8>().map_err(|_| TypeSyntaxError {
            offset: start,
            reason: format!("{what} `{word}` is too large"),
        })
    }

    fn hive_type(&mut self, depth: usize) -> Result<HiveType, TypeSyntaxError> {
        if depth > MAX_NESTING_DEPTH {
            return Err(self.error(format!(
                "types nested deeper than {MAX_NESTING_DEPTH} levels are not supported"
            )));
        }
        self.skip_whitespace();
        let start = self.pos;
        let word = self.word().to_ascii_lowercase();
        let t = match word.as_str() {
            "string" => HiveType::String,
            "varchar" | "char" => {
                self.expect('(')?;
                self.skip_whitespace();
                let digits_at = self.pos;
                let digits = self.word();
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    self.pos = digits_at;
                    return Err(self.error(format!(
                        "expected the {word} length, found {}",
                        self.describe_next()
                    )));
                }
                self.expect(')')?;
                HiveType::String
            }
            "tinyint" => HiveType::TinyInt,
            "smallint" => HiveType::SmallInt,
            "int" | "integer" => HiveType::Int,
            "bigint" => HiveType::BigInt,
            "float" => HiveType::Float,
            "double" => HiveType::Double,
            "boolean" => HiveType::Boolean,
            "timestamp" => HiveType::Timestamp,
            "date" => HiveType::Date,
            "binary" => HiveType::Binary,
            "decimal" => self.decimal(start)?,
            "array" => {
                self.expect('<')?;
                let element = self.hive_type(depth + 1)?;
                self.expect('>')?;
                HiveType::Array(Box::new(element))
            }
            "map" => {
                self.expect('<')?;
                self.skip_whitespace();
                let key_at = self.pos;
                let key = self.hive_type(depth + 1)?;
                if !key.is_primitive() {
                    return Err(TypeSyntaxError {
                        offset: key_at,
                        reason: format!("a map key must be a primitive type, not `{key}`"),
                    });
                }
                self.expect(',')?;
                let value = self.hive_type(depth + 1)?;
                self.expect('>')?;
                HiveType::Map(Box::new(key), Box::new(value))
            }
            "struct" => self.struct_fields(depth)?,
            "" => {
                return Err(self.error(format!("expected a type, found {}", self.describe_next())));
            }
            other => {
                return Err(TypeSyntaxError {
                    offset: start,
                    reason: format!("unknown type `{other}`"),
                });
            }
        };
        Ok(t)
    }

    fn decimal(&mut self, start: usize) -> Result<HiveType, TypeSyntaxError> {
        let before = self.pos;
        self.skip_whitespace();
        if self.peek() != Some('(') {
            self.pos = before;
            return Ok(HiveType::Decimal {
                precision: 10,
                scale: 0,
            });
        }
        self.pos += 1;
        let precision = self.number("the decimal precision")?;
        self.skip_whitespace();
        let scale = if self.peek() == Some(',') {
            self.pos += 1;
            self.number("the decimal scale")?
        } else {
            0
        };
        self.expect(')')?;
        if precision == 0 || precision > MAX_DECIMAL_PRECISION {
            return Err(TypeSyntaxError {
                offset: start,
                reason: format!("decimal precision must be 1..=38, not {precision}"),
            });
        }
        if scale > precision {
            return Err(TypeSyntaxError {
                offset: start,
                reason: format!("decimal scale {scale} is larger than its precision {precision}"),
            });
        }
        Ok(HiveType::Decimal { precision, scale })
    }

    fn struct_fields(&mut self, depth: usize) -> Result<HiveType, TypeSyntaxError> {
        self.expect('<')?;
        let mut fields = Vec::new();
        let mut seen = HashSet::new();
        loop {
            self.skip_whitespace();
            let name_at = self.pos;
            let name = self.identifier("a struct field name")?;
            if !seen.insert(name.clone()) {
                return Err(TypeSyntaxError {
                    offset: name_at,
                    reason: format!("duplicate struct field `{name}`"),
                });
            }
            self.expect(':')?;
            let hive_type = self.hive_type(depth + 1)?;
            fields.push(StructField { name, hive_type });
            self.skip_whitespace();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('>') => {
                    self.pos += 1;
                    return Ok(HiveType::Struct(fields));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected `,` or `>` in struct, found {}",
                        self.describe_next()
                    )));
                }
            }
        }
    }
}
