//! Positions of user records within a shard.

use std::cmp::Ordering;
use std::fmt;

/// Where a user record sits in its shard: the Kinesis sequence number of the record that
/// carried it and its sub-sequence number inside a KPL aggregate (0 otherwise).
///
/// Guarantees: ordering is the shard's order. Sequence numbers are compared as unsigned
/// decimal integers of any length (Kinesis uses up to 56 digits, beyond `u128`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordPosition {
    /// The Kinesis sequence number (decimal digits), shared with the records that carry it.
    pub sequence_number: std::sync::Arc<str>,
    /// The sub-sequence number within an aggregate.
    pub sub_sequence_number: u64,
}

impl RecordPosition {
    /// A position from its parts.
    #[must_use]
    pub fn new(sequence_number: impl Into<std::sync::Arc<str>>, sub_sequence_number: u64) -> Self {
        Self {
            sequence_number: sequence_number.into(),
            sub_sequence_number,
        }
    }
}

fn compare_decimal(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Ord for RecordPosition {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_decimal(&self.sequence_number, &other.sequence_number)
            .then(self.sub_sequence_number.cmp(&other.sub_sequence_number))
    }
}

impl PartialOrd for RecordPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RecordPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sequence_number, self.sub_sequence_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fifty_six_digit_sequence_numbers_order_numerically() {
        let a = RecordPosition::new(
            "49590338271490256608559692538361571095921575989136588898",
            0,
        );
        let b = RecordPosition::new(
            "49590338271490256608559692538361571095921575989136588899",
            0,
        );
        let short = RecordPosition::new("9", 0);
        assert!(a < b);
        assert!(short < a, "fewer digits means smaller");
    }

    #[test]
    fn sub_sequence_orders_records_of_one_aggregate() {
        assert!(RecordPosition::new("12", 0) < RecordPosition::new("12", 1));
        assert!(RecordPosition::new("12", 99) < RecordPosition::new("13", 0));
    }

    proptest! {
        #[test]
        fn ordering_matches_u128_ordering(a in any::<u64>(), b in any::<u64>(), sa in 0u64..5, sb in 0u64..5) {
            let pa = RecordPosition::new(a.to_string(), sa);
            let pb = RecordPosition::new(b.to_string(), sb);
            prop_assert_eq!(pa.cmp(&pb), (a, sa).cmp(&(b, sb)));
        }
    }
}
