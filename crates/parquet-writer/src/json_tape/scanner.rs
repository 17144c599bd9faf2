//! The fast path of [`JsonTape::parse`]: a single-pass scanner that writes tape nodes directly,
//! for the common record — one well-formed JSON document.
//!
//! Written by hand (not serde_json's `Deserializer`, nor simd-json) because records are small
//! (a few hundred bytes): serde's visitor calls per node cost more than the scanning, and
//! simd-json's tape measured slower than serde_json on the project's sample events (0.24 s vs
//! 0.19 s per million just to tokenise). It is deliberately strict and gives up
//! ([`Fallback`]) on anything unusual — several concatenated documents, any syntax error,
//! numbers out of `f64` range, lone surrogates, deep nesting — so that the serde_json path
//! decides those cases and words every error message. Guarantee (property-tested against
//! serde_json): whatever it accepts, serde_json accepts, and the tapes are equal, floats bit for
//! bit (`str::parse::<f64>` here, serde_json with `float_roundtrip`: both correctly rounded).

use super::{JsonTape, TapeNode, Text};

/// The scanner declined the input; the caller parses it with serde_json instead.
#[derive(Debug)]
pub(super) struct Fallback;

/// Nesting deeper than this is left to serde_json (whose limit is 128).
const MAX_DEPTH: u32 = 100;

/// Scans `input` as exactly one JSON document (surrounded by optional whitespace) onto the
/// (cleared) tape. On `Err` the tape holds garbage and must be cleared by the caller.
pub(super) fn scan_single_document(tape: &mut JsonTape, input: &str) -> Result<(), Fallback> {
    let mut scanner = Scanner {
        bytes: input.as_bytes(),
        input,
        pos: 0,
        tape,
    };
    scanner.tape.roots.push(0);
    scanner.value(0)?;
    scanner.skip_whitespace();
    if scanner.pos == scanner.bytes.len() {
        Ok(())
    } else {
        Err(Fallback)
    }
}

struct Scanner<'i, 't> {
    bytes: &'i [u8],
    input: &'i str,
    pos: usize,
    tape: &'t mut JsonTape,
}

/// Bytes that end the fast part of a string scan: `"`, `\` and control characters.
static STRING_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Index of the first byte at or after `i` that is `"`, `\\` or a control character, or
/// `bytes.len()`: eight bytes at a time (SWAR), then byte by byte.
#[inline]
fn find_string_special(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it is zero in `quote`/`backslash` or below 0x20 in
        // `word`; borrows only ever flag bytes above the first real match, so the lowest flag
        // is exact.
        let flags = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let flags = flags & HIGH;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !STRING_SPECIAL[bytes[i] as usize] {
        i += 1;
    }
    i
}

impl Scanner<'_, '_> {
    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn push(&mut self, node: TapeNode) {
        // The input is < 4 GiB (checked by the caller) and every node consumes input bytes.
        self.tape.nodes.push(node);
    }

    #[inline]
    fn expect_literal(&mut self, literal: &[u8]) -> Result<(), Fallback> {
        if self.bytes.get(self.pos..self.pos + literal.len()) == Some(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    fn value(&mut self, depth: u32) -> Result<(), Fallback> {
        self.skip_whitespace();
        match self.bytes.get(self.pos).copied().ok_or(Fallback)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string(false),
            b't' => {
                self.expect_literal(b"true")?;
                self.push(TapeNode::Bool(true));
                Ok(())
            }
            b'f' => {
                self.expect_literal(b"false")?;
                self.push(TapeNode::Bool(false));
                Ok(())
            }
            b'n' => {
                self.expect_literal(b"null")?;
                self.push(TapeNode::Null);
                Ok(())
            }
            b'-' | b'0'..=b'9' => {
                let node = self.number()?;
                self.push(node);
                Ok(())
            }
            _ => Err(Fallback),
        }
    }

    fn object(&mut self, depth: u32) -> Result<(), Fallback> {
        let (at, empty) =
            self.open_container(depth, TapeNode::Object { end: 0, members: 0 }, b'}')?;
        let mut members = 0u32;
        if !empty {
            loop {
                self.skip_whitespace();
                if self.bytes.get(self.pos) != Some(&b'"') {
                    return Err(Fallback);
                }
                self.string(true)?;
                self.skip_whitespace();
                if self.bytes.get(self.pos) != Some(&b':') {
                    return Err(Fallback);
                }
                self.pos += 1;
                self.value(depth)?;
                members += 1;
                if !self.another_item(b'}')? {
                    break;
                }
            }
        }
        let end = self.tape.len_u32();
        self.tape.nodes[at] = TapeNode::Object { end, members };
        Ok(())
    }

    /// Opens an array or object at its opening bracket: pushes `placeholder` (patched with the
    /// end once the container is scanned) and returns its index, and whether `close` follows at
    /// once (an empty container, consumed).
    #[inline]
    fn open_container(
        &mut self,
        depth: u32,
        placeholder: TapeNode,
        close: u8,
    ) -> Result<(usize, bool), Fallback> {
        if depth > MAX_DEPTH {
            return Err(Fallback);
        }
        self.pos += 1; // '{' or '['
        let at = self.tape.nodes.len();
        self.push(placeholder);
        self.skip_whitespace();
        let empty = self.bytes.get(self.pos) == Some(&close);
        if empty {
            self.pos += 1;
        }
        Ok((at, empty))
    }

    /// After an item of an array or object: consumes `,` (another item follows: `true`) or
    /// `close` (the container ends: `false`).
    #[inline]
    fn another_item(&mut self, close: u8) -> Result<bool, Fallback> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(&b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(Fallback),
        }
    }

    fn array(&mut self, depth: u32) -> Result<(), Fallback> {
        let (at, empty) = self.open_container(depth, TapeNode::Array { end: 0, len: 0 }, b']')?;
        let mut len = 0u32;
        if !empty {
            loop {
                self.value(depth)?;
                len += 1;
                if !self.another_item(b']')? {
                    break;
                }
            }
        }
        let end = self.tape.len_u32();
        self.tape.nodes[at] = TapeNode::Array { end, len };
        Ok(())
    }

    /// Pushes the string (a `Key` node when `key`) starting at the opening quote; its text
    /// borrowed from the input when it has no escapes, else unescaped into the tape's buffer.
    /// (Pushing here rather than returning the `Text` avoids a store-forwarding stall on the
    /// returned value, measured at a third of the scan time.)
    #[inline]
    fn string(&mut self, key: bool) -> Result<(), Fallback> {
        self.pos += 1; // '"'
        let start = self.pos;
        let bytes = self.bytes;
        let i = find_string_special(bytes, start);
        match bytes.get(i) {
            Some(b'"') => {
                self.pos = i + 1;
                let text = Text::Input {
                    start: offset(start),
                    len: offset(i - start),
                };
                self.push(if key {
                    TapeNode::Key(text)
                } else {
                    TapeNode::Str(text)
                });
                Ok(())
            }
            Some(b'\\') => {
                let text = self.escaped_string(start, i)?;
                self.push(if key {
                    TapeNode::Key(text)
                } else {
                    TapeNode::Str(text)
                });
                Ok(())
            }
            _ => Err(Fallback), // a control character or the end of input
        }
    }

    /// The rest of a string from its first backslash at `i`.
    fn escaped_string(&mut self, start: usize, mut i: usize) -> Result<Text, Fallback> {
        let bytes = self.bytes;
        let out_start = self.tape.unescaped.len();
        // Copy the plain run before the escape (a char boundary: it ends before an ASCII `\`).
        self.tape.unescaped.push_str(&self.input[start..i]);
        loop {
            match bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Text::Unescaped {
                        start: offset(out_start),
                        len: offset(self.tape.unescaped.len() - out_start),
                    });
                }
                Some(b'\\') => {
                    let escaped = *bytes.get(i + 1).ok_or(Fallback)?;
                    i += 2;
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let high = hex4(bytes, i)?;
                            i += 4;
                            match high {
                                0xD800..=0xDBFF => {
                                    if bytes.get(i) != Some(&b'\\')
                                        || bytes.get(i + 1) != Some(&b'u')
                                    {
                                        return Err(Fallback);
                                    }
                                    let low = hex4(bytes, i + 2)?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return Err(Fallback);
                                    }
                                    i += 6;
                                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                                    char::from_u32(code).ok_or(Fallback)?
                                }
                                0xDC00..=0xDFFF => return Err(Fallback),
                                _ => char::from_u32(high).ok_or(Fallback)?,
                            }
                        }
                        _ => return Err(Fallback),
                    };
                    self.tape.unescaped.push(c);
                }
                Some(_) => {
                    let run_start = i;
                    i = find_string_special(bytes, i);
                    if run_start == i {
                        return Err(Fallback); // a control character
                    }
                    self.tape.unescaped.push_str(&self.input[run_start..i]);
                }
                None => return Err(Fallback),
            }
        }
    }

    /// A number with serde_json's typing: integers as `u64`/`i64` when they fit (`-0` and
    /// integers out of range as floats, like serde_json), anything with a fraction or exponent
    /// as `f64`.
    fn number(&mut self) -> Result<TapeNode, Fallback> {
        let bytes = self.bytes;
        let start = self.pos;
        let mut i = start;
        let negative = bytes[i] == b'-';
        if negative {
            i += 1;
        }
        let digits_start = i;
        match bytes.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return Err(Fallback),
        }
        let integer_end = i;
        let mut is_float = false;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if !matches!(bytes.get(i), Some(b'0'..=b'9')) {
                return Err(Fallback);
            }
            while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            is_float = true;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(bytes.get(i), Some(b'0'..=b'9')) {
                return Err(Fallback);
            }
            while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            is_float = true;
        }
        self.pos = i;
        if !is_float {
            let mut value: u64 = 0;
            let mut overflow = false;
            for &d in &bytes[digits_start..integer_end] {
                match value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(d - b'0')))
                {
                    Some(v) => value = v,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            if !overflow {
                if !negative {
                    return Ok(i64::try_from(value).map_or(TapeNode::UInt(value), TapeNode::Int));
                }
                // serde_json: `-0` and negatives below i64::MIN are floats.
                #[allow(clippy::cast_possible_wrap)]
                let negated = (value as i64).wrapping_neg();
                if negated < 0 {
                    return Ok(TapeNode::Int(negated));
                }
            }
        }
        let parsed: f64 = self.input[start..i].parse().map_err(|_| Fallback)?;
        if parsed.is_finite() {
            Ok(TapeNode::Float(parsed))
        } else {
            Err(Fallback) // serde_json refuses numbers out of f64's range
        }
    }
}

#[inline]
fn offset(n: usize) -> u32 {
    // Bounded by the input length, checked < 4 GiB by `JsonTape::parse`.
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn hex4(bytes: &[u8], at: usize) -> Result<u32, Fallback> {
    let digits = bytes.get(at..at + 4).ok_or(Fallback)?;
    let mut value = 0u32;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(Fallback),
        };
        value = value * 16 + u32::from(v);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{JsonTape, TapeNode, Text};
    use super::scan_single_document;

    /// A tape node with its text resolved, for comparing tapes built from different buffers.
    #[derive(Debug, PartialEq)]
    enum Resolved {
        Null,
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float(u64),
        Str(String),
        Key(String),
        Array(u32, u32),
        Object(u32, u32),
    }

    fn resolve(tape: &JsonTape, input: &str) -> Vec<Resolved> {
        let text = |t: Text| match t {
            Text::Input { start, len } => input[start as usize..(start + len) as usize].to_owned(),
            Text::Unescaped { start, len } => {
                tape.unescaped[start as usize..(start + len) as usize].to_owned()
            }
        };
        tape.nodes
            .iter()
            .map(|n| match *n {
                TapeNode::Null => Resolved::Null,
                TapeNode::Bool(b) => Resolved::Bool(b),
                TapeNode::Int(i) => Resolved::Int(i),
                TapeNode::UInt(u) => Resolved::UInt(u),
                TapeNode::Float(f) => Resolved::Float(f.to_bits()),
                TapeNode::Str(t) => Resolved::Str(text(t)),
                TapeNode::Key(t) => Resolved::Key(text(t)),
                TapeNode::Array { end, len } => Resolved::Array(end, len),
                TapeNode::Object { end, members } => Resolved::Object(end, members),
            })
            .collect()
    }

    /// Equal node for node (floats bit for bit: the workspace builds serde_json with
    /// `float_roundtrip`, so both parse floats correctly rounded).
    fn same(a: &[Resolved], b: &[Resolved]) -> bool {
        a == b
    }

    /// Checks the scanner against serde_json on `input`: when the scanner accepts, serde_json
    /// accepts too and builds the same tape. Returns whether the scanner accepted.
    fn check(input: &str) -> Result<bool, TestCaseError> {
        let mut fast = JsonTape::default();
        let accepted = scan_single_document(&mut fast, input).is_ok();
        let mut reference = JsonTape::default();
        let serde_result = reference.parse_with_serde(input);
        if accepted {
            prop_assert!(
                serde_result.is_ok(),
                "scanner accepted what serde_json refuses: {input:?}"
            );
            let (a, b) = (resolve(&fast, input), resolve(&reference, input));
            prop_assert!(same(&a, &b), "tapes differ for {input:?}:\n{a:?}\n{b:?}");
            prop_assert_eq!(&fast.roots, &reference.roots);
        }
        Ok(accepted)
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let number = prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            number,
            any::<String>().prop_map(serde_json::Value::String),
            "[a-z\"\\\\/\u{1}\u{1f}\u{e9}\u{1f600}]{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// Number texts in every shape serde_json treats specially.
    fn number_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?",
            Just("-0".to_owned()),
            Just("18446744073709551615".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("-9223372036854775808".to_owned()),
            Just("-9223372036854775809".to_owned()),
            Just("1e400".to_owned()),
            Just("-1e-400".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_json_document_scans_to_the_same_tape_as_serde_json(value in json_value(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
            prop_assert!(check(&text)?, "the scanner declined a well-formed document: {text}");
        }

        #[test]
        fn the_eight_bytes_at_a_time_search_finds_the_first_special_byte(
            bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), 0x1fu8..0x22], 0..40),
            from in any::<prop::sample::Index>()
        ) {
            let from = from.index(bytes.len() + 1);
            let expected = (from..bytes.len()).find(|&i| super::STRING_SPECIAL[bytes[i] as usize]).unwrap_or(bytes.len());
            prop_assert_eq!(super::find_string_special(&bytes, from), expected);
        }

        #[test]
        fn finite_floats_round_trip_exactly(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            // serde_json writes the shortest text that reads back as `f` (ryu).
            let text = serde_json::to_string(&f).unwrap();
            let mut tape = JsonTape::default();
            prop_assert!(scan_single_document(&mut tape, &text).is_ok());
            let read = match tape.nodes[0] {
                TapeNode::Float(x) => x.to_bits(),
                #[allow(clippy::cast_precision_loss)]
                TapeNode::Int(i) => (i as f64).to_bits(),
                ref other => return Err(TestCaseError::fail(format!("{text} scanned as {other:?}"))),
            };
            prop_assert_eq!(read, f.to_bits(), "{}", text);
        }

        #[test]
        fn numbers_get_serde_json_types_and_values(number in number_text()) {
            check(&number)?;
            check(&format!("{{\"n\": {number}}}"))?;
        }

        #[test]
        fn near_json_text_is_never_accepted_when_serde_json_refuses_it(
            text in "[ \t\n{}\\[\\]:,\"\\\\a-f0-9.eE+\\-tru nls\u{1}\u{e9}]{0,40}"
        ) {
            check(&text)?;
        }

        #[test]
        fn mutated_documents_are_never_accepted_when_serde_json_refuses_them(
            value in json_value(), cut in any::<prop::sample::Index>(), insert in "[\"\\\\{}\\[\\],:0a \u{1}]{0,2}"
        ) {
            let text = serde_json::to_string(&value).unwrap();
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            check(&format!("{}{insert}{}", &text[..at], &text[at..]))?;
            check(&text[..at])?;
        }
    }

    #[test]
    fn escapes_and_surrogate_pairs_are_unescaped_and_lone_surrogates_declined() {
        let mut tape = JsonTape::default();
        let input = r#"{"k\u00e9y":"a\"b\\c\/d\b\f\n\r\t\ud83d\ude00e"}"#;
        scan_single_document(&mut tape, input).unwrap();
        let nodes = resolve(&tape, input);
        assert_eq!(nodes[1], Resolved::Key("k\u{e9}y".into()));
        assert_eq!(
            nodes[2],
            Resolved::Str("a\"b\\c/d\u{8}\u{c}\n\r\t\u{1f600}e".into())
        );
        for lone in [r#""\ud83d""#, r#""\ude00""#, r#""\ud83d\u0041""#] {
            assert!(
                scan_single_document(&mut JsonTape::default(), lone).is_err(),
                "{lone}"
            );
            assert!(
                JsonTape::default().parse_with_serde(lone).is_err(),
                "serde_json refuses {lone} too"
            );
        }
    }

    #[test]
    fn concatenated_documents_and_deep_nesting_are_left_to_serde_json() {
        assert!(scan_single_document(&mut JsonTape::default(), r#"{"a":1}{"a":2}"#).is_err());
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert!(scan_single_document(&mut JsonTape::default(), &deep).is_err());
        let mut tape = JsonTape::default();
        tape.parse(r#"{"a":1} {"a":2}"#).unwrap();
        assert_eq!(
            tape.roots.len(),
            2,
            "parse still splits concatenated documents"
        );
    }
}
