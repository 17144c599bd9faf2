//! Which parts of an alert expression must return series on a healthy run.
//!
//! An alert expression is data and conditions on that data. On a healthy run the conditions
//! are false, so the whole expression rightly returns nothing; what must exist is the data the
//! conditions read. The rule, applied to the expression as Prometheus prints it:
//! - a comparison with a number (`> 300`, `== 0`, `changes(x[10m]) > 0`), at any depth, is a
//!   threshold: it is removed and the expression it filtered is kept;
//! - a set operation (`or`, `and`, `unless`) or a comparison between two expressions at the top
//!   level: each side must have data on its own (so `read > 0 unless delivered > 0` needs both
//!   the read and the delivered series);
//! - `absent(x)` needs `x`.
//!
//! What remains is evaluated as it is and must return at least one series.
#![allow(dead_code)]

/// The parts of `expr` that must each return at least one series (see the module doc).
pub fn data_parts(expr: &str) -> Vec<String> {
    split_parts(&without_thresholds(expr))
}

fn split_parts(expr: &str) -> Vec<String> {
    let expr = without_outer_parens(expr.trim());
    if let Some(inner) = call_argument(expr, "absent") {
        return split_parts(inner);
    }
    for operators in [
        &["or"][..],
        &["and", "unless"][..],
        &["==", "!=", ">=", "<=", ">", "<"][..],
    ] {
        if let Some((lhs, rhs)) = split_at_top_level(expr, operators) {
            let mut parts = split_parts(lhs);
            parts.extend(split_parts(without_modifiers(rhs)));
            return parts;
        }
    }
    vec![expr.to_owned()]
}

/// The nesting depth of every byte of `expr`: 0 at the top level (outside `()`, `[]`, `{}` and
/// strings; a closing bracket has the depth it returns to).
fn depths(expr: &str) -> Vec<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut out = Vec::with_capacity(expr.len());
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                out.push(depth + 1);
                if b == b'\\' && i + 1 < bytes.len() {
                    out.push(depth + 1);
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' | b'`' => {
                    quote = Some(b);
                    out.push(depth + 1);
                }
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    out.push(depth);
                }
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    out.push(depth);
                }
                _ => out.push(depth),
            },
        }
        i += 1;
    }
    out
}

/// Inside a `{...}` label matcher (where `!=` is a matcher, not a comparison) or a string.
fn in_selector(expr: &str, at: usize) -> bool {
    let mut open = Vec::new();
    let mut quote: Option<u8> = None;
    for (i, b) in expr.bytes().enumerate().take(at) {
        if let Some(q) = quote {
            if b == q && expr.as_bytes().get(i.wrapping_sub(1)) != Some(&b'\\') {
                quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'[' | b'{' => open.push(b),
            b')' | b']' | b'}' => {
                open.pop();
            }
            _ => {}
        }
    }
    quote.is_some() || open.contains(&b'{')
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The comparison operator starting at byte `i`, if any.
fn comparison_at(expr: &str, i: usize) -> Option<&'static str> {
    ["==", "!=", ">=", "<=", ">", "<"]
        .into_iter()
        .find(|op| expr[i..].starts_with(op) && !(op.len() == 1 && expr[i + 1..].starts_with('=')))
}

/// `expr` without its comparisons with a number (thresholds), at any depth.
fn without_thresholds(expr: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < expr.len() {
        if let Some(op) = comparison_at(expr, i).filter(|_| !in_selector(expr, i)) {
            let rest = expr[i + op.len()..].trim_start();
            let rest = rest.strip_prefix("bool ").unwrap_or(rest).trim_start();
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
                .unwrap_or(rest.len());
            let number = &rest[..number_len];
            if !number.is_empty()
                && number.parse::<f64>().is_ok()
                && ends_a_comparison(&rest[number_len..])
            {
                let consumed = expr.len() - rest.len() + number_len;
                while out.ends_with(' ') {
                    out.pop();
                }
                i = consumed;
                continue;
            }
        }
        let c = expr[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Whether the text after a number ends the comparison it is the right side of: the end, a
/// closing parenthesis, a comma or a set operator (not arithmetic: `> 2 * x` compares with
/// `2 * x`, an expression, not with the number 2).
fn ends_a_comparison(after: &str) -> bool {
    let after = after.trim_start();
    after.is_empty()
        || after.starts_with([')', ','])
        || ["and", "or", "unless"].into_iter().any(|op| {
            after
                .strip_prefix(op)
                .is_some_and(|r| r.bytes().next().is_none_or(|b| !is_word(b)))
        })
}

/// `(x)` → `x` when the parentheses enclose the whole expression.
fn without_outer_parens(expr: &str) -> &str {
    let mut e = expr.trim();
    // The first byte opens at depth 1; it encloses everything when nothing before the last
    // byte is back at depth 0.
    while e.starts_with('(') && e.ends_with(')') && depths(e)[..e.len() - 1].iter().all(|&d| d > 0)
    {
        e = e[1..e.len() - 1].trim();
    }
    e
}

fn balanced(expr: &str) -> bool {
    let mut depth = 0i64;
    let mut quote: Option<u8> = None;
    for b in expr.bytes() {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// The argument of `name(...)` when the call is the whole expression.
fn call_argument<'a>(expr: &'a str, name: &str) -> Option<&'a str> {
    let rest = expr.strip_prefix(name)?.trim_start();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    balanced(inner).then_some(inner)
}

/// Splits `expr` at the first top-level occurrence of one of `operators`.
fn split_at_top_level<'a>(expr: &'a str, operators: &[&str]) -> Option<(&'a str, &'a str)> {
    let d = depths(expr);
    let bytes = expr.as_bytes();
    for (i, &depth) in d.iter().enumerate() {
        if depth != 0 || !expr.is_char_boundary(i) {
            continue;
        }
        for op in operators {
            if !expr[i..].starts_with(op) {
                continue;
            }
            let word = op.bytes().all(|b| b.is_ascii_alphabetic());
            if word {
                let before_ok = i == 0 || !is_word(bytes[i - 1]);
                let after_ok = bytes.get(i + op.len()).is_none_or(|&b| !is_word(b));
                if !(before_ok && after_ok) {
                    continue;
                }
            } else if comparison_at(expr, i) != Some(op) {
                continue;
            }
            return Some((&expr[..i], &expr[i + op.len()..]));
        }
    }
    None
}

/// The right side of a binary operator without its modifiers (`bool`, `on (...)`,
/// `ignoring (...)`, `group_left (...)`, `group_right (...)`).
fn without_modifiers(rhs: &str) -> &str {
    let mut rest = rhs.trim_start();
    loop {
        let before = rest;
        for modifier in ["bool", "on", "ignoring", "group_left", "group_right"] {
            if let Some(after) = rest.strip_prefix(modifier) {
                if after.bytes().next().is_some_and(is_word) {
                    continue;
                }
                rest = after.trim_start();
                if let Some(list) = rest.strip_prefix('(') {
                    let close = list.find(')').map_or(list.len(), |c| c + 1);
                    rest = list[close..].trim_start();
                }
            }
        }
        if rest == before {
            return rest;
        }
    }
}
