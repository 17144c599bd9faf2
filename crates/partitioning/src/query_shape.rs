//! What a metadata extraction query outputs, as far as its parse tree tells without running it.
//!
//! A query must output one object (its values become the partition keys). Some queries can be
//! seen never to: a literal (`"x"`, `1`, `[...]`), a comparison or logical operator (a
//! boolean), or a plain field path from the record (`.event_type`, `.a.b`), the usual slip for
//! `{event_type: .event_type}`. Those are refused at config load; every other query (object
//! constructions, function calls, conditionals, ...) can only be judged per record and stays
//! allowed.

use jaq_core::load::parse::{BinaryOp, Term};

/// What `query` outputs when its parse tree shows it never outputs an object (e.g. "a field's
/// value", "a string"); `None` when it is, or may be, an object, or does not parse (syntax
/// errors are reported by the compiler).
pub(crate) fn never_an_object(query: &str) -> Option<&'static str> {
    let term = jaq_core::load::parse(query, |p| p.term())?;
    never_an_object_term(&term)
}

fn never_an_object_term(term: &Term<&str>) -> Option<&'static str> {
    match term {
        Term::Num(_) | Term::Neg(_) => Some("a number"),
        Term::Str(..) => Some("a string"),
        Term::Arr(_) => Some("an array"),
        Term::BinOp(_, BinaryOp::Or | BinaryOp::And | BinaryOp::Cmp(_), _) => Some("a boolean"),
        Term::BinOp(_, BinaryOp::Pipe(_), right) => never_an_object_term(right),
        Term::BinOp(left, BinaryOp::Comma, right) => {
            never_an_object_term(left).and(never_an_object_term(right))
        }
        Term::Path(head, path) if matches!(**head, Term::Id) && !path.0.is_empty() => {
            Some("a field's value")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_booleans_and_plain_field_paths_are_never_objects() {
        for (query, outputs) in [
            (".event_type", "a field's value"),
            (".a.b", "a field's value"),
            (r#".["a b"]"#, "a field's value"),
            (".a[0]", "a field's value"),
            (r#""literal""#, "a string"),
            (r#""\(.a)-\(.b)""#, "a string"),
            ("42", "a number"),
            ("-.x", "a number"),
            ("[.a, .b]", "an array"),
            (".a == 1", "a boolean"),
            (".a and .b", "a boolean"),
            (". | .event_type", "a field's value"),
            ("\"a\", \"b\"", "a string"),
        ] {
            assert_eq!(never_an_object(query), Some(outputs), "{query}");
        }
    }

    #[test]
    fn object_constructions_and_queries_known_only_per_record_are_allowed() {
        for query in [
            "{event_type: .event_type}",
            "{a: .a} | .",
            ".",
            ".meta | {a: .a}",
            "if .x then {a: .a} else {b: .b} end",
            "with_entries(.)",
            "to_entries | from_entries",
            ".a // {b: 1}",
            "{a: .a}, .b",
            "not valid jq {",
        ] {
            assert_eq!(never_an_object(query), None, "{query}");
        }
    }
}
