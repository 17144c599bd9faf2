//! Numbers and booleans given as JSON strings, read the way the OpenX JSON SerDe reads them.
//!
//! - Integers (`tinyint`..`bigint`): Java `parseInt`/`parseLong` syntax — an optional `+`/`-`
//!   and decimal digits, or `0x`/`0X` and hexadecimal digits (OpenX's `ParsePrimitiveUtils`);
//!   no surrounding spaces; a value outside the column's range is refused, not wrapped.
//! - Floats (`float`, `double`): Java `Double.parseDouble` syntax — surrounding whitespace
//!   allowed, optional sign, digits with optional `.` and exponent, an optional `f`/`F`/`d`/`D`
//!   suffix, `NaN` and `Infinity`; a finite value too large for `float` is refused.
//! - Booleans: `true` / `false` in any case. (OpenX turns every other string into `false`;
//!   kinesink refuses it instead, so no value is silently changed.)

/// Why text could not be read as a number or boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarTextError {
    /// Not in the accepted syntax.
    Syntax,
    /// Well formed, but outside the column type's range.
    OutOfRange,
}

/// An integer in `[min, max]` from Java integer syntax (decimal, or `0x` hexadecimal).
pub(crate) fn parse_java_integer(text: &str, min: i64, max: i64) -> Result<i64, ScalarTextError> {
    let (radix, body) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (16, hex),
        None => (10, text),
    };
    let (negative, digits) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(ScalarTextError::Syntax);
    }
    let mut magnitude: i128 = 0;
    for c in digits.chars() {
        magnitude = magnitude * i128::from(radix) + i128::from(c.to_digit(radix).unwrap_or(0));
        if magnitude > i128::from(u64::MAX) {
            return Err(ScalarTextError::OutOfRange);
        }
    }
    let value = if negative { -magnitude } else { magnitude };
    if value < i128::from(min) || value > i128::from(max) {
        return Err(ScalarTextError::OutOfRange);
    }
    i64::try_from(value).map_err(|_| ScalarTextError::OutOfRange)
}

/// A double from Java `Double.parseDouble` syntax (decimal forms, `NaN`, `Infinity`).
pub(crate) fn parse_java_double(text: &str) -> Result<f64, ScalarTextError> {
    let trimmed = text.trim_matches(|c: char| c <= ' ');
    let (sign, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (-1.0, &trimmed[1..]),
        Some(b'+') => (1.0, &trimmed[1..]),
        _ => (1.0, trimmed),
    };
    match unsigned {
        "NaN" => return Ok(f64::NAN),
        "Infinity" => return Ok(sign * f64::INFINITY),
        _ => {}
    }
    let number = unsigned
        .strip_suffix(['f', 'F', 'd', 'D'])
        .unwrap_or(unsigned);
    let well_formed = number.bytes().any(|b| b.is_ascii_digit())
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !well_formed {
        return Err(ScalarTextError::Syntax);
    }
    number
        .parse::<f64>()
        .map(|v| sign * v)
        .map_err(|_| ScalarTextError::Syntax)
}

/// A `float` from a double, refusing finite values beyond `f32`'s range.
#[allow(clippy::cast_possible_truncation)] // the range is checked first
pub(crate) fn narrow_to_float(value: f64) -> Result<f32, ScalarTextError> {
    if value.is_finite() && value.abs() > f64::from(f32::MAX) {
        return Err(ScalarTextError::OutOfRange);
    }
    Ok(value as f32)
}

/// `true`/`false` in any case.
pub(crate) fn parse_boolean(text: &str) -> Result<bool, ScalarTextError> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ScalarTextError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn integers_accept_java_decimal_and_openx_hex_forms() {
        assert_eq!(
            parse_java_integer("42", i64::from(i32::MIN), i64::from(i32::MAX)),
            Ok(42)
        );
        assert_eq!(parse_java_integer("-42", -100, 100), Ok(-42));
        assert_eq!(parse_java_integer("+7", -100, 100), Ok(7));
        assert_eq!(parse_java_integer("0x1F", -100, 100), Ok(31));
        assert_eq!(parse_java_integer("0X1f", -100, 100), Ok(31));
    }

    #[test]
    fn integers_refuse_spaces_fractions_and_values_outside_the_type() {
        for bad in ["", " 1", "1 ", "1.0", "1e3", "--1", "0x", "abc", "٣"] {
            assert_eq!(
                parse_java_integer(bad, -100, 100),
                Err(ScalarTextError::Syntax),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_java_integer("128", -128, 127),
            Err(ScalarTextError::OutOfRange)
        );
        assert_eq!(
            parse_java_integer("0xFF", -128, 127),
            Err(ScalarTextError::OutOfRange)
        );
        assert_eq!(
            parse_java_integer("99999999999999999999999", i64::MIN, i64::MAX),
            Err(ScalarTextError::OutOfRange)
        );
    }

    #[test]
    fn doubles_accept_java_forms_and_refuse_other_words() {
        assert_eq!(parse_java_double(" 1.5 "), Ok(1.5));
        assert_eq!(parse_java_double("1e3"), Ok(1000.0));
        assert_eq!(parse_java_double("-2.5d"), Ok(-2.5));
        assert_eq!(parse_java_double(".5"), Ok(0.5));
        assert_eq!(parse_java_double("-Infinity"), Ok(f64::NEG_INFINITY));
        assert!(parse_java_double("NaN").unwrap().is_nan());
        for bad in ["", "inf", "nan", "1,5", "one", "0x10", "e5", "1.2.3"] {
            assert_eq!(
                parse_java_double(bad),
                Err(ScalarTextError::Syntax),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn floats_refuse_finite_values_beyond_f32() {
        assert_eq!(narrow_to_float(1e39), Err(ScalarTextError::OutOfRange));
        assert_eq!(narrow_to_float(1.5), Ok(1.5));
        assert_eq!(narrow_to_float(f64::INFINITY), Ok(f32::INFINITY));
    }

    #[test]
    fn booleans_accept_only_true_and_false_in_any_case() {
        assert_eq!(parse_boolean("TRUE"), Ok(true));
        assert_eq!(parse_boolean("False"), Ok(false));
        assert_eq!(parse_boolean("yes"), Err(ScalarTextError::Syntax));
    }

    proptest! {
        #[test]
        fn every_integer_reads_back_from_its_decimal_and_hex_text(v in any::<i64>()) {
            prop_assert_eq!(parse_java_integer(&v.to_string(), i64::MIN, i64::MAX), Ok(v));
            if v >= 0 {
                prop_assert_eq!(parse_java_integer(&format!("0x{v:x}"), i64::MIN, i64::MAX), Ok(v));
            }
        }

        #[test]
        fn every_finite_double_reads_back_from_its_text(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            prop_assert_eq!(parse_java_double(&v.to_string()), Ok(v));
            prop_assert_eq!(parse_java_double(&format!("{v:e}")), Ok(v));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,30}") {
            let _ = parse_java_integer(&text, i64::MIN, i64::MAX);
            let _ = parse_java_double(&text);
            let _ = parse_boolean(&text);
        }
    }
}
