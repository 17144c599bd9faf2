//! The subset of Java `DateTimeFormatter` patterns that `!{timestamp:PATTERN}` accepts.
//!
//! Hand-written because no maintained Rust crate parses Java patterns; the dates themselves come
//! from chrono (calendar fields in the configured chrono-tz zone). Letters and their meaning
//! follow `java.time.format.DateTimeFormatter` (English text, as Java's default locale on AWS):
//!
//! | letters | field | output |
//! |---|---|---|
//! | `y` `yyy` / `yy` / `yyyy` | year of era | unpadded / 2 digits (`18`) / at least 4 digits (`+` when longer) |
//! | `M` `MM` `MMM` `MMMM` | month | `8` `08` `Aug` `August` |
//! | `d` `dd` | day of month | `7` `07` |
//! | `D` `DD` `DDD` | day of year | `9` `09` `009` |
//! | `H` `HH` | hour 0–23 | `5` `05` |
//! | `h` `hh` | hour 1–12 | `5` `05` |
//! | `m` `mm`, `s` `ss` | minute, second | `5` `05` |
//! | `S`…`SSSSSSSSS` | fraction of second | that many leading digits (`SSS` = milliseconds) |
//! | `E` `EE` `EEE` / `EEEE` | day of week | `Mon` / `Monday` |
//! | `a` | half of day | `AM` `PM` |
//! | `'text'`, `''` | literal text, a single quote | |
//!
//! Any other character that is not an ASCII letter is copied as is, except Java's reserved
//! `[`, `]`, `{`, `#` (optional sections and future use), which are refused. Other letters and
//! longer runs than listed are refused (Java refuses most of them too, e.g. "Too many pattern
//! letters: d").

use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;

/// A parsed timestamp pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimestampPattern {
    items: Vec<PatternItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternItem {
    Literal(String),
    Field(Field, u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    YearOfEra,
    Month,
    DayOfMonth,
    DayOfYear,
    Hour,
    ClockHourOfHalfDay,
    Minute,
    Second,
    FractionOfSecond,
    DayOfWeek,
    HalfOfDay,
}

/// What is wrong with a pattern, with the 0-based character offset inside the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

impl Field {
    fn of(letter: char) -> Option<(Self, u8)> {
        // (field, longest run accepted)
        Some(match letter {
            'y' => (Self::YearOfEra, 4),
            'M' => (Self::Month, 4),
            'd' => (Self::DayOfMonth, 2),
            'D' => (Self::DayOfYear, 3),
            'H' => (Self::Hour, 2),
            'h' => (Self::ClockHourOfHalfDay, 2),
            'm' => (Self::Minute, 2),
            's' => (Self::Second, 2),
            'S' => (Self::FractionOfSecond, 9),
            'E' => (Self::DayOfWeek, 4),
            'a' => (Self::HalfOfDay, 1),
            _ => return None,
        })
    }
}

const SUPPORTED_LETTERS: &str = "y M d D H h m s S E a";

impl TimestampPattern {
    /// Parses a pattern.
    pub(crate) fn parse(pattern: &str) -> Result<Self, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items: Vec<PatternItem> = Vec::new();
        let push_literal = |items: &mut Vec<PatternItem>, text: &str| match items.last_mut() {
            Some(PatternItem::Literal(s)) => s.push_str(text),
            _ => items.push(PatternItem::Literal(text.to_owned())),
        };
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    push_literal(&mut items, "'");
                    i += 2;
                    continue;
                }
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(PatternError {
                                offset: i,
                                message: "unterminated quoted text".into(),
                            });
                        }
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            text.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                push_literal(&mut items, &text);
                i = j + 1;
            } else if c.is_ascii_alphabetic() {
                let run = chars[i..].iter().take_while(|&&x| x == c).count();
                let Some((field, longest)) = Field::of(c) else {
                    return Err(PatternError {
                        offset: i,
                        message: format!(
                            "pattern letter '{c}' is not supported (supported: {SUPPORTED_LETTERS}; quote literal letters: 'T')"
                        ),
                    });
                };
                if run > usize::from(longest) {
                    return Err(PatternError {
                        offset: i,
                        message: format!("too many pattern letters: {c}"),
                    });
                }
                items.push(PatternItem::Field(
                    field,
                    u8::try_from(run).unwrap_or(u8::MAX),
                ));
                i += run;
            } else if matches!(c, '[' | ']' | '{' | '#') {
                return Err(PatternError {
                    offset: i,
                    message: format!(
                        "'{c}' is reserved in Java date-time patterns; quote it: '{c}'"
                    ),
                });
            } else {
                push_literal(&mut items, c.encode_utf8(&mut [0; 4]));
                i += 1;
            }
        }
        Ok(Self { items })
    }

    /// Appends the formatted instant to `out`.
    pub(crate) fn format_into(&self, t: &DateTime<Tz>, out: &mut String) {
        for item in &self.items {
            match item {
                PatternItem::Literal(s) => out.push_str(s),
                PatternItem::Field(field, count) => format_field(*field, *count, t, out),
            }
        }
    }
}

fn format_field(field: Field, count: u8, t: &DateTime<Tz>, out: &mut String) {
    let width = usize::from(count);
    match field {
        Field::YearOfEra => {
            let year = t.year();
            let year_of_era = if year >= 1 {
                year.unsigned_abs()
            } else {
                (1 - year).unsigned_abs()
            };
            match count {
                2 => push_number(out, year_of_era % 100, 2),
                4 => {
                    if year_of_era > 9999 {
                        out.push('+');
                    }
                    push_number(out, year_of_era, 4);
                }
                _ => push_number(out, year_of_era, width),
            }
        }
        Field::Month => match count {
            1 | 2 => push_number(out, t.month(), width),
            3 => out.push_str(&month_name(t.month())[..3]),
            _ => out.push_str(month_name(t.month())),
        },
        Field::DayOfMonth => push_number(out, t.day(), width),
        Field::DayOfYear => push_number(out, t.ordinal(), width),
        Field::Hour => push_number(out, t.hour(), width),
        Field::ClockHourOfHalfDay => push_number(out, t.hour12().1, width),
        Field::Minute => push_number(out, t.minute(), width),
        Field::Second => push_number(out, t.second(), width),
        Field::FractionOfSecond => {
            // Nanoseconds as 9 digits, truncated to `count` digits (Java truncates, never rounds).
            let truncated = (t.nanosecond() % 1_000_000_000) / 10u32.pow(9 - u32::from(count));
            push_number(out, truncated, width);
        }
        Field::DayOfWeek => {
            let name = weekday_name(t.weekday());
            out.push_str(if count == 4 { name } else { &name[..3] });
        }
        Field::HalfOfDay => out.push_str(if t.hour12().0 { "PM" } else { "AM" }),
    }
}

/// Appends `value` zero-padded to at least `width` digits.
fn push_number(out: &mut String, value: u32, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(value);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

fn month_name(month: u32) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES[(month as usize).saturating_sub(1) % 12]
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    const NAMES: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    NAMES[day.num_days_from_monday() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn format(pattern: &str, t: &DateTime<Tz>) -> String {
        let mut out = String::new();
        TimestampPattern::parse(pattern)
            .unwrap()
            .format_into(t, &mut out);
        out
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Tz> {
        Tz::UTC.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
            + chrono::Duration::milliseconds(i64::from(ms))
    }

    #[test]
    fn numeric_fields_are_padded_to_the_number_of_letters() {
        let t = utc(2018, 8, 7, 5, 4, 3, 9);
        assert_eq!(
            format("yyyy/MM/dd/HH/mm/ss.SSS", &t),
            "2018/08/07/05/04/03.009"
        );
        assert_eq!(format("y-M-d H:m:s", &t), "2018-8-7 5:4:3");
        assert_eq!(format("yy", &t), "18");
        assert_eq!(format("D DD DDD", &t), "219 219 219");
        assert_eq!(format("S SS SSSSSS SSSSSSSSS", &t), "0 00 009000 009000000");
    }

    #[test]
    fn text_fields_are_english_like_javas_default_locale() {
        let t = utc(2018, 8, 27, 22, 30, 0, 0); // a Monday
        assert_eq!(
            format("MMM MMMM E EEE EEEE h hh a", &t),
            "Aug August Mon Mon Monday 10 10 PM"
        );
        assert_eq!(format("h a", &utc(2018, 8, 27, 0, 0, 0, 0)), "12 AM");
    }

    #[test]
    fn quoted_text_is_literal_and_two_quotes_are_one_quote() {
        let t = utc(2018, 8, 27, 10, 30, 0, 0);
        assert_eq!(format("yyyy'-'MM'-'dd", &t), "2018-08-27");
        assert_eq!(format("'year='yyyy", &t), "year=2018");
        assert_eq!(format("''HH''", &t), "'10'");
        assert_eq!(format("'it''s' HH", &t), "it's 10");
    }

    #[test]
    fn the_four_letter_year_gets_a_sign_beyond_four_digits_like_java() {
        assert_eq!(format("yyyy", &utc(12018, 1, 1, 0, 0, 0, 0)), "+12018");
        assert_eq!(format("yyyy", &utc(987, 1, 1, 0, 0, 0, 0)), "0987");
        // 1 BCE is year 0 proleptic, year 1 of the era before Christ.
        assert_eq!(format("yyyy", &utc(0, 1, 1, 0, 0, 0, 0)), "0001");
    }

    #[test]
    fn unsupported_letters_and_reserved_characters_are_refused_with_their_offset() {
        let err = TimestampPattern::parse("yyyy-Q").unwrap_err();
        assert_eq!(err.offset, 5);
        assert!(
            err.message.contains("'Q' is not supported"),
            "{}",
            err.message
        );
        let err = TimestampPattern::parse("ddd").unwrap_err();
        assert_eq!(
            (err.offset, err.message.as_str()),
            (0, "too many pattern letters: d")
        );
        assert_eq!(TimestampPattern::parse("yy[MM]").unwrap_err().offset, 2);
        assert_eq!(TimestampPattern::parse("HH 'oops").unwrap_err().offset, 3);
    }

    /// Independent oracle: chrono's own strftime for the equivalent specifier.
    const EQUIVALENTS: [(&str, &str); 22] = [
        ("yyyy", "%Y"),
        ("yy", "%y"),
        ("MM", "%m"),
        ("M", "%-m"),
        ("MMM", "%b"),
        ("MMMM", "%B"),
        ("dd", "%d"),
        ("d", "%-d"),
        ("DDD", "%j"),
        ("D", "%-j"),
        ("HH", "%H"),
        ("H", "%-H"),
        ("hh", "%I"),
        ("h", "%-I"),
        ("mm", "%M"),
        ("m", "%-M"),
        ("ss", "%S"),
        ("s", "%-S"),
        ("SSS", "%3f"),
        ("EEE", "%a"),
        ("EEEE", "%A"),
        ("a", "%p"),
    ];

    proptest! {
        #[test]
        fn each_supported_field_agrees_with_chronos_strftime(
            ms in -30_610_224_000_000_i64..253_402_300_799_999, // years 1000..=9999
            picks in proptest::collection::vec((0..EQUIVALENTS.len(), "[-/_.=: ]"), 1..8),
        ) {
            let t = Tz::UTC.timestamp_millis_opt(ms).unwrap();
            let (mut java, mut strftime) = (String::new(), String::new());
            for (i, sep) in &picks {
                java.push_str(EQUIVALENTS[*i].0);
                java.push_str(&format!("'{sep}'"));
                strftime.push_str(EQUIVALENTS[*i].1);
                strftime.push_str(sep);
            }
            prop_assert_eq!(format(&java, &t), t.format(&strftime).to_string(), "pattern {}", java);
        }

        #[test]
        fn any_pattern_parses_or_fails_and_never_panics(
            // Any text, and text made of pattern letters (which mostly parses).
            pattern in prop_oneof![".{0,30}", "[yMdHhmsSEa'/_ .-]{0,20}"],
            // Every instant chrono can hold (any i64 skipped ~99.9% of the cases).
            ms in chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp_millis()..=chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis(),
        ) {
            let t = Tz::UTC.timestamp_millis_opt(ms).single();
            prop_assert!(t.is_some(), "{} ms is inside chrono's range", ms);
            if let (Ok(p), Some(t)) = (TimestampPattern::parse(&pattern), t) {
                let mut out = String::new();
                p.format_into(&t, &mut out);
            }
        }
    }
}
