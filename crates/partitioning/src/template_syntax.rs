//! The surface syntax of a prefix template: literal text and `!{namespace:value}` expressions.
//!
//! Hand-written (a dozen lines of state, no grammar crate needed): it only splits the text and
//! records 1-based character columns; what a namespace and a value mean is decided by
//! [`crate::PrefixTemplate`].

/// One piece of a template, borrowed from the template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text copied as is.
    Literal(&'a str),
    /// `!{namespace:value}`.
    Expression(Expression<'a>),
}

/// One `!{namespace:value}` expression and where its parts start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expression<'a> {
    /// The text between `!{` and the first `:`.
    pub(crate) namespace: &'a str,
    /// The text between the first `:` and the first `}` after it.
    pub(crate) value: &'a str,
    /// 1-based character column of the `!` that opens the expression.
    pub(crate) column: usize,
    /// 1-based character column of the first character of `namespace`.
    pub(crate) namespace_column: usize,
    /// 1-based character column of the first character of `value`.
    pub(crate) value_column: usize,
}

/// What is wrong with the surface syntax, and at which 1-based character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyntaxError {
    /// `!{` with no `}` after it.
    Unterminated { column: usize },
    /// `!{...}` with no `:` between the braces.
    MissingColon { column: usize },
}

/// Splits `text` into pieces. Literal pieces are never empty; adjacent literal text is one piece.
///
/// Guarantees: concatenating the literal pieces and the expressions (re-written as
/// `!{namespace:value}`) gives `text` back; the sequence `!{` never appears inside a literal
/// (Firehose: "The sequence `!{` can only appear in `!{namespace:value}` expressions").
pub(crate) fn split_pieces(text: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut rest_start = 0;
    while let Some(offset) = text[rest_start..].find("!{") {
        let open = rest_start + offset;
        let column = column_of(text, open);
        let inner_start = open + 2;
        let close = text[inner_start..]
            .find('}')
            .map(|i| inner_start + i)
            .ok_or(SyntaxError::Unterminated { column })?;
        let inner = &text[inner_start..close];
        let colon = inner
            .find(':')
            .ok_or(SyntaxError::MissingColon { column })?;
        if literal_start < open {
            pieces.push(Piece::Literal(&text[literal_start..open]));
        }
        pieces.push(Piece::Expression(Expression {
            namespace: &inner[..colon],
            value: &inner[colon + 1..],
            column,
            namespace_column: column + 2,
            value_column: column + 2 + inner[..colon].chars().count() + 1,
        }));
        literal_start = close + 1;
        rest_start = close + 1;
    }
    if literal_start < text.len() {
        pieces.push(Piece::Literal(&text[literal_start..]));
    }
    Ok(pieces)
}

/// 1-based character column of the byte offset `offset` (a char boundary) in `text`.
pub(crate) fn column_of(text: &str, offset: usize) -> usize {
    text[..offset].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn expression(namespace: &'static str, value: &'static str, column: usize) -> Piece<'static> {
        Piece::Expression(Expression {
            namespace,
            value,
            column,
            namespace_column: column + 2,
            value_column: column + 2 + namespace.chars().count() + 1,
        })
    }

    #[test]
    fn literal_text_and_expressions_are_split_with_their_columns() {
        assert_eq!(
            split_pieces("a/!{timestamp:yyyy}/b!{firehose:random-string}").unwrap(),
            vec![
                Piece::Literal("a/"),
                expression("timestamp", "yyyy", 3),
                Piece::Literal("/b"),
                expression("firehose", "random-string", 22),
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" is two bytes but one column: the `!` is the 3rd character.
        assert_eq!(
            split_pieces("é/!{x:y}").unwrap()[1],
            expression("x", "y", 3)
        );
    }

    #[test]
    fn the_value_ends_at_the_first_closing_brace_and_may_contain_colons() {
        assert_eq!(
            split_pieces("!{a:b:c}}").unwrap(),
            vec![expression("a", "b:c", 1), Piece::Literal("}")]
        );
    }

    #[test]
    fn an_exclamation_mark_or_brace_alone_is_literal_text() {
        assert_eq!(
            split_pieces("a!b{c}").unwrap(),
            vec![Piece::Literal("a!b{c}")]
        );
    }

    #[test]
    fn an_unclosed_expression_is_reported_at_its_opening_column() {
        assert_eq!(
            split_pieces("ab!{timestamp:yyyy"),
            Err(SyntaxError::Unterminated { column: 3 })
        );
    }

    #[test]
    fn an_expression_without_colon_is_reported_at_its_opening_column() {
        assert_eq!(
            split_pieces("x/!{timestamp}"),
            Err(SyntaxError::MissingColon { column: 3 })
        );
    }

    fn rebuild(pieces: &[Piece<'_>]) -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(s) => (*s).to_owned(),
                Piece::Expression(e) => format!("!{{{}:{}}}", e.namespace, e.value),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn splitting_loses_nothing_and_never_panics(text in "[a-z!{}:/é]{0,40}") {
            if let Ok(pieces) = split_pieces(&text) {
                prop_assert_eq!(rebuild(&pieces), text.clone());
                for piece in &pieces {
                    if let Piece::Literal(s) = piece {
                        prop_assert!(!s.is_empty());
                        prop_assert!(!s.contains("!{"), "literal {:?} contains an expression opener", s);
                    }
                }
            }
        }

        #[test]
        fn reported_columns_point_at_the_opening_exclamation_mark(text in "[a-zé/]{0,10}!\\{[a-z]{0,5}") {
            let Err(SyntaxError::Unterminated { column } | SyntaxError::MissingColon { column }) = split_pieces(&text) else {
                return Err(TestCaseError::fail("expected a syntax error"));
            };
            prop_assert_eq!(text.chars().nth(column - 1), Some('!'));
            prop_assert_eq!(text.chars().nth(column), Some('{'));
        }
    }
}
