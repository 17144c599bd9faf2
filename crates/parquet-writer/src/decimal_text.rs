//! Exact decimal text → scaled integer, with Hive's HALF_UP rounding.
//!
//! Hand-written: it is ~70 lines, exact (no float on the way), and the maintained options do
//! not fit — `rust_decimal` stops at 28 digits where Hive allows 38, and arrow's cast parser
//! does not round half-up the way Hive enforces a column's scale.

/// Why decimal text could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalTextError {
    /// Not a decimal number at all.
    Syntax,
    /// More integer digits than `precision - scale` allows.
    OutOfRange,
}

/// Parses `[ws][+-]digits[.digits][(e|E)[+-]digits][ws]` into the unscaled integer at `scale`,
/// rounding extra fractional digits half away from zero (Hive's HALF_UP), and checks the result
/// has at most `precision` digits.
pub(crate) fn parse_scaled_decimal(
    text: &str,
    precision: u8,
    scale: u8,
) -> Result<i128, DecimalTextError> {
    let s = text.trim().as_bytes();
    let (negative, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mantissa_end = s
        .iter()
        .position(|b| *b == b'e' || *b == b'E')
        .unwrap_or(s.len());
    let (mantissa, exponent_part) = s.split_at(mantissa_end);
    let exponent: i64 = if exponent_part.is_empty() {
        0
    } else {
        parse_exponent(&exponent_part[1..])?
    };
    let (int_part, frac_part) = match mantissa.iter().position(|b| *b == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &[][..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(DecimalTextError::Syntax);
    }
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return Err(DecimalTextError::Syntax);
    }
    // All digits, leading zeros dropped; the value is digits × 10^(exponent - frac_len).
    let digits: Vec<u8> = int_part
        .iter()
        .chain(frac_part)
        .map(|b| b - b'0')
        .skip_while(|d| *d == 0)
        .collect();
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| DecimalTextError::OutOfRange)?;
    // Unscaled = digits × 10^shift.
    let shift = exponent - frac_len + i64::from(scale);
    let digit_count = i64::try_from(digits.len()).map_err(|_| DecimalTextError::OutOfRange)?;
    let kept = digit_count + shift.min(0); // digits left after dropping the ones below the scale
    if kept + shift.max(0) > i64::from(precision) {
        return Err(DecimalTextError::OutOfRange);
    }
    let kept_usize = usize::try_from(kept.max(0)).unwrap_or(0);
    let mut unscaled: i128 = 0;
    for d in &digits[..kept_usize.min(digits.len())] {
        unscaled = unscaled * 10 + i128::from(*d);
    }
    for _ in 0..shift.max(0) {
        unscaled *= 10;
    }
    // HALF_UP: look at the first dropped digit.
    if kept >= 0 && (kept_usize) < digits.len() && digits[kept_usize] >= 5 {
        unscaled += 1;
        if count_digits(unscaled) > u32::from(precision) {
            return Err(DecimalTextError::OutOfRange);
        }
    }
    Ok(if negative { -unscaled } else { unscaled })
}

fn parse_exponent(s: &[u8]) -> Result<i64, DecimalTextError> {
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecimalTextError::Syntax);
    }
    // Anything beyond ±10_000 is out of every decimal's range (or rounds to zero).
    let mut value: i64 = 0;
    for d in digits {
        value = (value * 10 + i64::from(d - b'0')).min(10_000);
    }
    Ok(if negative { -value } else { value })
}

fn count_digits(mut v: i128) -> u32 {
    let mut n = 0;
    while v != 0 {
        v /= 10;
        n += 1;
    }
    n
}

/// Renders an unscaled value at `scale` as plain decimal text (`-12.340` for -12340 at 3).
#[cfg(test)]
pub(crate) fn format_scaled_decimal(unscaled: i128, scale: u8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    format!("{sign}{int_part}.{frac_part}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extra_fraction_digits_round_half_up_away_from_zero() {
        assert_eq!(parse_scaled_decimal("1.005", 5, 2), Ok(101));
        assert_eq!(parse_scaled_decimal("1.004", 5, 2), Ok(100));
        assert_eq!(parse_scaled_decimal("-1.005", 5, 2), Ok(-101));
        assert_eq!(parse_scaled_decimal("0.5", 3, 0), Ok(1));
    }

    #[test]
    fn exponents_shift_the_decimal_point() {
        assert_eq!(parse_scaled_decimal("1.5e2", 5, 1), Ok(1500));
        assert_eq!(parse_scaled_decimal("15E-1", 5, 1), Ok(15));
        assert_eq!(parse_scaled_decimal("  +7  ", 3, 2), Ok(700));
    }

    #[test]
    fn too_many_integer_digits_are_out_of_range_and_garbage_is_a_syntax_error() {
        assert_eq!(
            parse_scaled_decimal("1000", 5, 2),
            Err(DecimalTextError::OutOfRange)
        );
        assert_eq!(
            parse_scaled_decimal("999.995", 5, 2),
            Err(DecimalTextError::OutOfRange)
        );
        assert_eq!(
            parse_scaled_decimal("1e10000000", 38, 0),
            Err(DecimalTextError::OutOfRange)
        );
        for bad in ["", ".", "-", "1.2.3", "abc", "1e", "0x10", "1,5"] {
            assert_eq!(
                parse_scaled_decimal(bad, 10, 2),
                Err(DecimalTextError::Syntax),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_in_range_value_survives_rendering_and_parsing(
            precision in 1u8..=38, scale_seed in 0u8..=38, seed in any::<i128>(),
        ) {
            let scale = scale_seed % (precision + 1);
            let limit = 10i128.pow(u32::from(precision));
            let unscaled = seed % limit;
            prop_assert_eq!(parse_scaled_decimal(&format_scaled_decimal(unscaled, scale), precision, scale), Ok(unscaled));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,60}", precision in 1u8..=38, scale_seed in 0u8..=38) {
            let _ = parse_scaled_decimal(&text, precision, scale_seed % (precision + 1));
        }
    }
}
