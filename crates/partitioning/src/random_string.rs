//! `!{firehose:random-string}`: 11 characters that look random but are a pure function of the
//! object, so a replayed object gets the same key.
//!
//! Hash: XXH3-64 (crate `xxhash-rust`) of the caller's seed bytes, with the expression's 0-based
//! occurrence index in the template as the XXH3 seed; the result is written as 16 lowercase hex
//! digits (zero-padded, most significant first) and the first 11 are kept (the hash's top 44
//! bits). Firehose's documented example output, `5abf82daaa5`, has the same shape.
//!
//! Firehose says every occurrence in one prefix "evaluates to a new random string": the
//! occurrence index makes them differ while the seed stays the same.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Length of a random string, as Firehose.
pub(crate) const RANDOM_STRING_LEN: usize = 11;

/// Appends the random string of occurrence `occurrence` for `seed` to `out`.
pub(crate) fn push_random_string(seed: &[u8], occurrence: u32, out: &mut String) {
    let hash = xxh3_64_with_seed(seed, u64::from(occurrence));
    let hex = format!("{hash:016x}");
    out.push_str(&hex[..RANDOM_STRING_LEN]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn random_string(seed: &[u8], occurrence: u32) -> String {
        let mut out = String::new();
        push_random_string(seed, occurrence, &mut out);
        out
    }

    #[test]
    fn the_string_is_the_top_44_bits_of_xxh3_in_lowercase_hex() {
        // XXH3-64 of the empty input with seed 0 is 0x2D06800538D394C2 (the reference value
        // published with the xxHash specification's test vectors).
        assert_eq!(random_string(b"", 0), "2d06800538d");
    }

    proptest! {
        #[test]
        fn the_string_is_11_lowercase_hex_digits_and_depends_only_on_its_inputs(
            seed in proptest::collection::vec(any::<u8>(), 0..64),
            occurrence in 0u32..8,
        ) {
            let s = random_string(&seed, occurrence);
            prop_assert_eq!(s.len(), RANDOM_STRING_LEN);
            prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            prop_assert_eq!(&s, &random_string(&seed, occurrence));
        }

        #[test]
        fn occurrences_in_one_prefix_differ(seed in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_ne!(random_string(&seed, 0), random_string(&seed, 1));
        }
    }
}
