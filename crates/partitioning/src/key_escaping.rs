//! Makes a partition key value safe to place inside an S3 key.
//!
//! The rule (percent-encoding crate, plus one line for the leading dot):
//! - kept as is: ASCII letters and digits and `-` `_` `.` `~` (RFC 3986 "unreserved");
//! - except a `.` in FIRST position, which is percent-encoded (`%2E`): a value can then never
//!   form, alone or next to other values, a `.` or `..` path segment;
//! - every other byte of the value's UTF-8 encoding, `/` and `%` included, becomes `%XX`
//!   (uppercase hex), the escaping Hive uses for partition directories.
//!
//! Consequences: the result is never empty when the value is not, contains no `/` (so a value
//! never adds or removes a path segment), and distinct values stay distinct (`%` itself is
//! encoded, so the encoding can be reversed).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but ASCII alphanumerics and `-` `_` `.` `~`.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Appends the S3-safe form of `value` to `out` (see the module documentation for the rule).
pub(crate) fn push_escaped(value: &str, out: &mut String) {
    let rest = match value.strip_prefix('.') {
        Some(rest) => {
            out.push_str("%2E");
            rest
        }
        None => value,
    };
    // Most values need no escaping at all: one scan and one copy.
    if rest.bytes().all(is_unreserved) {
        out.push_str(rest);
    } else {
        out.extend(utf8_percent_encode(rest, NOT_UNRESERVED));
    }
}

/// The bytes [`NOT_UNRESERVED`] leaves as they are.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        push_escaped(value, &mut out);
        out
    }

    /// Reverses the encoding (test oracle for injectivity).
    fn unescape(s: &str) -> Vec<u8> {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn unreserved_characters_are_kept() {
        assert_eq!(escaped("Click_2026-11.v1~x"), "Click_2026-11.v1~x");
    }

    #[test]
    fn slashes_percent_signs_and_other_bytes_are_percent_encoded_in_uppercase_hex() {
        assert_eq!(escaped("a/b"), "a%2Fb");
        assert_eq!(escaped("100%"), "100%25");
        assert_eq!(escaped("a b=c:d"), "a%20b%3Dc%3Ad");
        assert_eq!(escaped("München"), "M%C3%BCnchen");
    }

    #[test]
    fn a_leading_dot_is_encoded_so_dot_segments_cannot_be_formed() {
        assert_eq!(escaped("."), "%2E");
        assert_eq!(escaped(".."), "%2E.");
        assert_eq!(escaped("../x"), "%2E.%2Fx");
        assert_eq!(escaped("1.5"), "1.5");
    }

    proptest! {
        #[test]
        fn the_copy_fast_path_writes_what_the_percent_encoder_writes(
            value in prop_oneof!["[a-zA-Z0-9._~-]{0,20}", "[a-zA-Z0-9._~-]{0,8}.[a-zA-Z0-9._~-]{0,8}", ".{0,20}"],
        ) {
            let (dot, rest) = match value.strip_prefix('.') {
                Some(rest) => ("%2E", rest),
                None => ("", value.as_str()),
            };
            let reference = format!("{dot}{}", utf8_percent_encode(rest, NOT_UNRESERVED));
            prop_assert_eq!(escaped(&value), reference);
        }

        #[test]
        fn the_encoding_is_reversible_slash_free_and_never_starts_with_a_dot(value in ".{1,20}") {
            let e = escaped(&value);
            prop_assert_eq!(unescape(&e), value.as_bytes().to_vec());
            prop_assert!(!e.contains('/'));
            prop_assert!(!e.starts_with('.'));
            prop_assert!(!e.is_empty());
            prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        }
    }
}
