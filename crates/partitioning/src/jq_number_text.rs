//! Numbers as jq 1.6 prints them, the jq Firehose runs its metadata extraction query with: a
//! stream moved from Firehose must land under the same partition key values.
//!
//! jq 1.6 holds every number as an IEEE double and prints it with David Gay's `g_fmt`
//! (`jvp_dtoa_fmt`): the shortest digits that read back as the same double, in plain notation
//! unless the decimal point falls 4 or more places before the first digit or more than 15
//! places after the last one, then as `d.ddde±XX` (at least two exponent digits). So `1.0` and
//! `1e3` print `1` and `1000`, `18446744073709551615` prints `18446744073709552000`, `1e16`
//! prints `1e+16`, `0.00001` prints `1e-05`, `-0` prints `-0`.
//!
//! Not finite numbers have no text here. They only come from jaq arithmetic (JSON has none, and
//! serde_json refuses a literal beyond a double's range such as `1e400`, which jq 1.6 reads as
//! the largest double): jq 1.6 fails on a division by zero, where jaq gives infinity, so a
//! record whose key is infinite or NaN fails rather than guess (jq 1.6 would print an overflow
//! or `infinite` as `1.7976931348623157e+308`, and NaN as `null`).

/// Integers of at most this magnitude are exact doubles, and jq 1.6 prints them as their
/// decimal digits (2^53 has 16 digits: never the exponent form, which needs 16 trailing zeros).
pub(crate) const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// The text jq 1.6 prints for an integer read from JSON (or computed by jaq).
pub(crate) fn integer_text(value: i64) -> String {
    if value.unsigned_abs() <= EXACT_INTEGER_LIMIT {
        itoa::Buffer::new().format(value).to_owned()
    } else {
        // `as` rounds to the nearest double, ties to even: what jq's strtod reads.
        double_text(value as f64)
    }
}

/// [`integer_text`] for unsigned integers (those above `i64::MAX` included).
pub(crate) fn unsigned_text(value: u64) -> String {
    if value <= EXACT_INTEGER_LIMIT {
        itoa::Buffer::new().format(value).to_owned()
    } else {
        double_text(value as f64)
    }
}

/// The text jq 1.6 prints for a finite double, `None` for infinities and NaN (see the module
/// documentation).
pub(crate) fn finite_text(value: f64) -> Option<String> {
    value.is_finite().then(|| double_text(value))
}

/// The text jq 1.6 prints for a finite double.
fn double_text(value: f64) -> String {
    // Rust's `{:e}` writes the shortest digits that read back as the same double, as dtoa's
    // mode 0 does: `d[.ddd]e<exp>`, with `0e0` for zero.
    let shortest = format!("{:e}", value.abs());
    let (mantissa, exponent) = shortest
        .split_once('e')
        .expect("`{:e}` of a finite double has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    let digits = tie_to_even(
        mantissa.chars().filter(|c| *c != '.').collect(),
        exponent,
        value.abs(),
    );
    let count = i32::try_from(digits.len()).expect("a double has at most 17 shortest digits");
    // Position of the decimal point relative to the first digit, as dtoa's `decpt`.
    let point = exponent + 1;
    let mut text = String::with_capacity(24);
    if value.is_sign_negative() {
        text.push('-');
    }
    if point <= -4 || point > count + 15 {
        text.push_str(&digits[..1]);
        if digits.len() > 1 {
            text.push('.');
            text.push_str(&digits[1..]);
        }
        text.push('e');
        text.push(if exponent < 0 { '-' } else { '+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            text.push('0');
        }
        text.push_str(itoa::Buffer::new().format(magnitude));
    } else if point <= 0 {
        text.push_str("0.");
        text.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        text.push_str(&digits);
    } else if point >= count {
        text.push_str(&digits);
        text.extend(std::iter::repeat_n('0', (point - count) as usize));
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        text.push_str(whole);
        text.push('.');
        text.push_str(fraction);
    }
    text
}

/// dtoa breaks a tie between two shortest candidates (the double exactly halfway between two
/// decimals of as many digits) towards the even last digit; Rust's shortest formatting rounds
/// it up. `digits` are Rust's shortest digits of `value` (positive) with decimal exponent
/// `exponent`; returns dtoa's.
fn tie_to_even(digits: String, exponent: i32, value: f64) -> String {
    // A tie needs the exact value to have one digit more than the shortest form, ending in 5:
    // with 15 digits or fewer the shortest form is exact or not halfway (decimals of 15 digits
    // are farther apart than doubles).
    let last = digits.as_bytes()[digits.len() - 1];
    if digits.len() < 16 || last.is_multiple_of(2) {
        return digits;
    }
    // Every digit of the exact value (a double has at most 767 significant digits).
    let exact = format!("{value:.800e}");
    let (exact_mantissa, exact_exponent) = exact.split_once('e').expect("an exponent");
    if exact_exponent.parse::<i32>() != Ok(exponent) {
        return digits;
    }
    let exact_digits: String = exact_mantissa.chars().filter(|c| *c != '.').collect();
    let exact_digits = exact_digits.trim_end_matches('0');
    let (below, half) = exact_digits.split_at(exact_digits.len() - 1);
    if half != "5" || below.len() != digits.len() {
        return digits;
    }
    // `below` is the candidate rounded down (even, as `digits` ends in the odd digit above
    // it); dtoa takes it when it reads back as the same double.
    let candidate: f64 = format!("{}.{}e{exponent}", &below[..1], &below[1..])
        .parse()
        .expect("digits and an exponent parse");
    if candidate == value {
        below.to_owned()
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: f64) -> String {
        finite_text(f).unwrap()
    }

    /// A double written with more digits than it holds (the exact halfway values below).
    fn exact(text: &str) -> f64 {
        text.parse().unwrap()
    }

    #[test]
    fn doubles_print_as_jq_1_6_prints_them() {
        // Each expected text is what `/usr/bin/jq` 1.6 printed for the same JSON number.
        for (input, expected) in [
            (1.0, "1"),
            (1e3, "1000"),
            (-0.0, "-0"),
            (0.0, "0"),
            (18_446_744_073_709_551_615.0, "18446744073709552000"),
            (1e15, "1000000000000000"),
            (1e16, "1e+16"),
            (1e17, "1e+17"),
            (123_456_789_012_345_678.0, "123456789012345680"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000_123, "0.000123"),
            (1.23e-7, "1.23e-07"),
            (3.25159, "3.25159"),
            (1e20, "1e+20"),
            (12_345_678_901_234_567_890_123.0, "12345678901234568000000"),
            (1.23, "1.23"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-f64::MAX, "-1.7976931348623157e+308"),
            // Halfway between two 17-digit decimals: dtoa takes the even one.
            (exact("1000000000000000.25"), "1000000000000000.2"),
            (exact("1000000000000000.75"), "1000000000000000.8"),
            (exact("1000000000000001.25"), "1000000000000001.2"),
            (exact("1000000000000001.75"), "1000000000000001.8"),
            (exact("2000000000000000.5"), "2000000000000000.5"),
        ] {
            assert_eq!(text(input), expected, "{input:e}");
        }
        assert_eq!(finite_text(f64::NAN), None);
        assert_eq!(finite_text(f64::INFINITY), None);
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_rounded_to_a_double() {
        assert_eq!(integer_text(42), "42");
        assert_eq!(integer_text(-9_007_199_254_740_992), "-9007199254740992");
        assert_eq!(integer_text(9_007_199_254_740_993), "9007199254740992");
        assert_eq!(integer_text(i64::MIN), "-9223372036854776000");
        assert_eq!(integer_text(10_000_000_000_000_000), "1e+16");
        assert_eq!(unsigned_text(u64::MAX), "18446744073709552000");
        assert_eq!(unsigned_text(7), "7");
    }
}
