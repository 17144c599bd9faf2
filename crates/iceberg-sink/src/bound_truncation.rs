//! Truncated string and binary bounds, as Iceberg's default metrics mode `truncate(16)` stores
//! them (Java's `MetricsModes.Truncate` with `UnicodeUtil` / `BinaryUtil`): a lower bound is
//! the value's prefix, an upper bound the prefix with its last incrementable character (byte)
//! incremented, or no upper bound at all when none can be.
//!
//! A string's prefix is cut by iceberg-rust's own `truncate[W]` transform (code points, as
//! the Iceberg spec defines it); its 0.10.1 transform refuses binary literals (it truncates
//! binary arrays only), so a binary prefix (the first W bytes) and the increments are
//! written here (iceberg-rust has no increment: it stores bounds untruncated).

use iceberg::spec::{Datum, PrimitiveLiteral, Transform};
use iceberg::transform::create_transform_function;

/// How many code points (strings) or bytes (binary) a bound keeps: Iceberg's default metrics
/// mode, `truncate(16)`.
pub const TRUNCATE_LENGTH: u32 = 16;

/// A lower bound for every value `>= value`, of at most `width` code points (string) or
/// bytes (binary): `value`'s prefix. Any other datum is returned unchanged.
///
/// Guarantees: the result is `<= value` and, for a string or binary, a prefix of it.
#[must_use]
pub fn truncated_lower_bound(value: Datum, width: u32) -> Datum {
    match truncated(&value, width) {
        Some(prefix) => prefix,
        None => value,
    }
}

/// An upper bound for every value `<= value`, of at most `width` code points (string) or
/// bytes (binary); `None` when no such bound exists (the prefix holds only code points
/// U+10FFFF, or bytes 0xFF). Any other datum is returned unchanged.
///
/// Guarantees: the result is `>= value`; a value within `width` is returned unchanged; a
/// longer one becomes its prefix with the last character (byte) that can be incremented
/// incremented and everything after it dropped (a string skips the surrogate range: U+D7FF
/// becomes U+E000).
#[must_use]
pub fn truncated_upper_bound(value: Datum, width: u32) -> Option<Datum> {
    let Some(prefix) = truncated(&value, width) else {
        return Some(value);
    };
    if prefix == value {
        return Some(value);
    }
    match prefix.literal() {
        PrimitiveLiteral::String(text) => incremented_string(text).map(Datum::string),
        PrimitiveLiteral::Binary(bytes) => incremented_binary(bytes).map(Datum::binary),
        _ => Some(value),
    }
}

/// `value` cut to `width` code points (a string, by iceberg-rust's `truncate[width]`
/// transform) or bytes (binary); `None` for other types (for numbers the transform means
/// something else).
fn truncated(value: &Datum, width: u32) -> Option<Datum> {
    match value.literal() {
        PrimitiveLiteral::String(_) => create_transform_function(&Transform::Truncate(width))
            .and_then(|truncate| truncate.transform_literal(value))
            .ok()
            .flatten(),
        PrimitiveLiteral::Binary(bytes) => {
            let width = usize::try_from(width).unwrap_or(usize::MAX);
            Some(Datum::binary(bytes.iter().copied().take(width)))
        }
        _ => None,
    }
}

/// The smallest string longer than every string starting with `prefix` of `prefix`'s length:
/// `prefix` up to its last code point below U+10FFFF, that code point incremented.
fn incremented_string(prefix: &str) -> Option<String> {
    let (at, last) = prefix
        .char_indices()
        .rev()
        .find_map(|(at, c)| next_char(c).map(|next| (at, next)))?;
    let mut bound = prefix[..at].to_owned();
    bound.push(last);
    Some(bound)
}

/// The next Unicode scalar value after `c` (skipping surrogates), if any.
fn next_char(c: char) -> Option<char> {
    match c {
        '\u{D7FF}' => Some('\u{E000}'),
        char::MAX => None,
        _ => char::from_u32(u32::from(c) + 1),
    }
}

/// `prefix` up to its last byte below 0xFF, that byte incremented.
fn incremented_binary(prefix: &[u8]) -> Option<Vec<u8>> {
    let at = prefix.iter().rposition(|b| *b != u8::MAX)?;
    let mut bound = prefix[..=at].to_vec();
    bound[at] += 1;
    Some(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(text: &str) -> Datum {
        truncated_lower_bound(Datum::string(text), TRUNCATE_LENGTH)
    }

    fn upper(text: &str) -> Option<Datum> {
        truncated_upper_bound(Datum::string(text), TRUNCATE_LENGTH)
    }

    #[test]
    fn a_string_within_sixteen_code_points_is_its_own_lower_and_upper_bound() {
        let exact = "sixteen-chars-ok";
        assert_eq!(exact.chars().count(), 16);
        assert_eq!(lower(exact), Datum::string(exact));
        assert_eq!(upper(exact), Some(Datum::string(exact)));
    }

    #[test]
    fn a_longer_string_is_cut_to_sixteen_code_points_and_its_upper_bound_incremented() {
        let long = "abcdefghijklmnopqrstuvwxyz";
        assert_eq!(lower(long), Datum::string("abcdefghijklmnop"));
        assert_eq!(upper(long), Some(Datum::string("abcdefghijklmnoq")));
        assert!(lower(long) <= Datum::string(long));
        assert!(upper(long).unwrap() >= Datum::string(long));
    }

    #[test]
    fn multi_byte_characters_count_as_one_code_point_each() {
        // 17 code points, 2 to 4 bytes each: the cut falls on a character, never inside one.
        let long = "ééééééééééééééé😀x";
        assert_eq!(long.chars().count(), 17);
        assert_eq!(lower(long), Datum::string("ééééééééééééééé😀"));
        assert_eq!(upper(long), Some(Datum::string("ééééééééééééééé😁")));
    }

    #[test]
    fn the_upper_bound_increments_the_last_code_point_below_the_maximum_and_drops_the_rest() {
        let long = format!("abc{}", "\u{10FFFF}".repeat(14));
        assert_eq!(upper(&long), Some(Datum::string("abd")));
        let surrogate_gap = format!("{}\u{D7FF}zz", "a".repeat(15));
        assert_eq!(
            upper(&surrogate_gap),
            Some(Datum::string(format!("{}\u{E000}", "a".repeat(15))))
        );
    }

    #[test]
    fn a_string_of_only_maximum_code_points_has_no_upper_bound() {
        let maximal = "\u{10FFFF}".repeat(17);
        assert_eq!(upper(&maximal), None);
        assert_eq!(lower(&maximal), Datum::string("\u{10FFFF}".repeat(16)));
    }

    #[test]
    fn binary_is_cut_to_sixteen_bytes_and_its_upper_bound_increments_the_last_byte_below_ff() {
        let long: Vec<u8> = (0u8..20).collect();
        let cut = |v: &[u8]| truncated_lower_bound(Datum::binary(v.to_vec()), TRUNCATE_LENGTH);
        let up = |v: &[u8]| truncated_upper_bound(Datum::binary(v.to_vec()), TRUNCATE_LENGTH);
        assert_eq!(cut(&long), Datum::binary(0u8..16));
        let mut expected: Vec<u8> = (0u8..15).collect();
        expected.push(16);
        assert_eq!(up(&long), Some(Datum::binary(expected)));
        let mut trailing_ff = vec![7u8; 14];
        trailing_ff.extend([0xFF, 0xFF, 0xFF, 0x00]);
        let mut bumped = vec![7u8; 13];
        bumped.push(8);
        assert_eq!(up(&trailing_ff), Some(Datum::binary(bumped)));
        assert_eq!(up(&[0xFF; 17]), None);
        assert_eq!(up(&[0xFF; 16]), Some(Datum::binary([0xFF; 16])));
    }

    #[test]
    fn numbers_are_never_truncated() {
        let big = Datum::long(123_456_789_012_345_i64);
        assert_eq!(truncated_lower_bound(big.clone(), 2), big);
        assert_eq!(truncated_upper_bound(big.clone(), 2), Some(big));
    }
}
