//! Sequence positions: where a user record sits in its Kinesis shard.
//!
//! Owns [`SequencePosition`], the one shape of a record's position used across the workspace
//! (records after deaggregation, the delivery crate's buffers and object names, checkpoints,
//! flush intents and horizons of the lease table and the progress object), and its order: the
//! shard's order, sequence numbers compared as the decimal integers they are.
//!
//! Must never: depend on tokio, the AWS SDK or any I/O, read a clock, or define a stored format
//! (the lease table's attributes and the progress object's JSON are written by their owners,
//! from the two parts of a position).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Where a user record sits in its shard: the Kinesis sequence number of the record that
/// carried it and its sub-sequence number (the position inside a KPL aggregate, and of the
/// sub-record after Firehose-style splitting; 0 for a plain record).
///
/// The sequence number is an `Arc<str>`: all user records of one aggregate share it, and a
/// clone (once per record on the record path) copies no bytes.
///
/// Guarantees: the order ([`Ord`]) is the shard's order: sequence numbers compare as unsigned
/// decimal integers of any length (Kinesis uses up to 56 digits, beyond `u128`; leading zeros
/// do not count), then sub-sequence numbers. Equality and hashing agree with that order, so
/// `"007"/1` equals `"7"/1` (Kinesis never writes leading zeros; [`fmt::Display`] shows the
/// digits as given). A sequence number that is not decimal digits still has a place in the
/// order (by length without leading `'0'`s, then bytewise), but [`SequencePosition::parse`]
/// refuses it.
#[derive(Debug, Clone)]
pub struct SequencePosition {
    /// The Kinesis sequence number (decimal digits), shared with the records that carry it.
    pub sequence_number: Arc<str>,
    /// The sub-sequence number within the Kinesis record (0 when it carried one user record).
    pub sub_sequence_number: u64,
}

impl SequencePosition {
    /// A position from its parts (not checked: see [`SequencePosition::parse`]).
    #[must_use]
    pub fn new(sequence_number: impl Into<Arc<str>>, sub_sequence_number: u64) -> Self {
        Self {
            sequence_number: sequence_number.into(),
            sub_sequence_number,
        }
    }

    /// A position from stored parts; `None` unless `sequence_number` is a decimal number (one
    /// or more ASCII digits).
    #[must_use]
    pub fn parse(sequence_number: &str, sub_sequence_number: u64) -> Option<Self> {
        is_sequence_number(sequence_number).then(|| Self::new(sequence_number, sub_sequence_number))
    }

    /// The digits that carry the number's value (leading zeros removed).
    fn significant_digits(&self) -> &str {
        self.sequence_number.trim_start_matches('0')
    }
}

/// Orders two Kinesis sequence numbers (without sub-sequence) as the shard orders them: as
/// unsigned decimal integers of any length, leading zeros not counted. The order of
/// [`SequencePosition`]s before their sub-sequence numbers.
#[must_use]
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Whether `text` is a Kinesis sequence number: one or more ASCII decimal digits.
#[must_use]
pub fn is_sequence_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

impl Ord for SequencePosition {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_sequence_numbers(&self.sequence_number, &other.sequence_number)
            .then(self.sub_sequence_number.cmp(&other.sub_sequence_number))
    }
}

impl PartialOrd for SequencePosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SequencePosition {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SequencePosition {}

impl Hash for SequencePosition {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.significant_digits().hash(state);
        self.sub_sequence_number.hash(state);
    }
}

impl fmt::Display for SequencePosition {
    /// `sequence/sub-sequence`, as logs and `kinesink leases list` show positions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sequence_number, self.sub_sequence_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of(p: &SequencePosition) -> u64 {
        let mut h = DefaultHasher::new();
        p.hash(&mut h);
        h.finish()
    }

    #[test]
    fn fifty_six_digit_sequence_numbers_order_numerically() {
        let a = SequencePosition::new(
            "49590338271490256608559692538361571095921575989136588898",
            0,
        );
        let b = SequencePosition::new(
            "49590338271490256608559692538361571095921575989136588899",
            0,
        );
        let short = SequencePosition::new("9", 0);
        assert!(a < b);
        assert!(short < a, "fewer digits means smaller");
    }

    #[test]
    fn sub_sequence_orders_records_of_one_aggregate() {
        assert!(SequencePosition::new("12", 0) < SequencePosition::new("12", 1));
        assert!(SequencePosition::new("12", 99) < SequencePosition::new("13", 0));
    }

    #[test]
    fn leading_zeros_do_not_count() {
        let padded = SequencePosition::new("0012", 3);
        let plain = SequencePosition::new("12", 3);
        assert_eq!(padded.cmp(&plain), Ordering::Equal);
        assert_eq!(padded, plain);
        assert_eq!(hash_of(&padded), hash_of(&plain));
        assert!(SequencePosition::new("0099", 0) < SequencePosition::new("100", 0));
        assert_eq!(
            SequencePosition::new("0", 0),
            SequencePosition::new("000", 0)
        );
        assert_eq!(padded.to_string(), "0012/3", "shown as given");
    }

    #[test]
    fn display_is_sequence_slash_sub_sequence() {
        assert_eq!(SequencePosition::new("4959", 7).to_string(), "4959/7");
    }

    #[test]
    fn parse_accepts_decimal_numbers_only() {
        assert_eq!(
            SequencePosition::parse("4959", 2),
            Some(SequencePosition::new("4959", 2))
        );
        assert_eq!(SequencePosition::parse("", 0), None);
        assert_eq!(SequencePosition::parse("12a", 0), None);
        assert_eq!(SequencePosition::parse("-1", 0), None);
        assert_eq!(SequencePosition::parse(" 1", 0), None);
    }

    /// Decimal text of a number, sometimes with leading zeros.
    fn decimal(n: u128, zeros: usize) -> String {
        format!("{}{n}", "0".repeat(zeros))
    }

    /// Any text at all: the order is total even over what `parse` refuses.
    fn any_position() -> impl Strategy<Value = SequencePosition> {
        (
            prop_oneof!["[0-9]{0,60}", "0{0,3}[0-9]{0,3}", ".{0,6}"],
            0u64..4,
        )
            .prop_map(|(s, n)| SequencePosition::new(s, n))
    }

    proptest! {
        #[test]
        fn ordering_matches_u128_ordering(
            a in any::<u128>(), b in any::<u128>(),
            za in 0usize..3, zb in 0usize..3,
            sa in any::<u64>(), sb in any::<u64>(),
        ) {
            let pa = SequencePosition::new(decimal(a, za), sa);
            let pb = SequencePosition::new(decimal(b, zb), sb);
            prop_assert_eq!(pa.cmp(&pb), (a, sa).cmp(&(b, sb)));
            prop_assert_eq!(pa == pb, (a, sa) == (b, sb));
        }

        #[test]
        fn small_numbers_order_as_u128_too(a in 0u128..1000, b in 0u128..1000, sa in 0u64..3, sb in 0u64..3) {
            // Dense: equal numbers and neighbours come up often.
            let pa = SequencePosition::new(a.to_string(), sa);
            let pb = SequencePosition::new(b.to_string(), sb);
            prop_assert_eq!(pa.cmp(&pb), (a, sa).cmp(&(b, sb)));
        }

        #[test]
        fn sequence_numbers_alone_order_as_u128(a in any::<u128>(), b in any::<u128>(), za in 0usize..3, zb in 0usize..3) {
            prop_assert_eq!(compare_sequence_numbers(&decimal(a, za), &decimal(b, zb)), a.cmp(&b));
        }

        #[test]
        fn sub_sequence_breaks_ties_of_one_sequence_number(
            seq in "[1-9][0-9]{0,60}", sa in any::<u64>(), sb in any::<u64>(),
        ) {
            let pa = SequencePosition::new(seq.as_str(), sa);
            let pb = SequencePosition::new(seq.as_str(), sb);
            prop_assert_eq!(pa.cmp(&pb), sa.cmp(&sb));
        }

        #[test]
        fn a_larger_sequence_number_wins_over_any_sub_sequence(
            seq in "[1-9][0-9]{0,60}", sa in any::<u64>(), sb in any::<u64>(),
        ) {
            let smaller = SequencePosition::new(seq.as_str(), sa);
            let larger = SequencePosition::new(format!("{seq}0"), sb);
            prop_assert!(smaller < larger);
        }

        #[test]
        fn the_order_is_a_total_order(a in any_position(), b in any_position(), c in any_position()) {
            // Reflexive and consistent with Eq, Hash and PartialOrd.
            prop_assert_eq!(a.cmp(&a), Ordering::Equal);
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
            if a == b {
                prop_assert_eq!(hash_of(&a), hash_of(&b));
            }
            prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
            // Antisymmetric.
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            // Transitive.
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            if a < b && b <= c {
                prop_assert!(a < c);
            }
        }

        #[test]
        fn sorting_agrees_with_u128_sorting(mut ns in proptest::collection::vec((any::<u128>(), 0u64..3), 0..20)) {
            let mut positions: Vec<SequencePosition> =
                ns.iter().map(|(n, s)| SequencePosition::new(n.to_string(), *s)).collect();
            positions.sort();
            ns.sort();
            let expected: Vec<SequencePosition> =
                ns.iter().map(|(n, s)| SequencePosition::new(n.to_string(), *s)).collect();
            prop_assert_eq!(positions, expected);
        }
    }
}
