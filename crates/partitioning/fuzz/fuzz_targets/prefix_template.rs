//! Fuzzes the prefix template parser and evaluation: parsing any text never panics; a template
//! that parses evaluates without panicking, within 512 characters, deterministically; key values
//! that try to escape (`..`, `/`) change no segment boundary and form no `.`/`..`/empty segment
//! (compared with harmless values); and the template's written form (`Display`, with the
//! appended default timestamp) parses back to a template that evaluates to the same prefix.
//!
//! Input: byte 0 chooses the kind (even: data prefix, odd: error prefix) and the time zone,
//! bytes 1..9 the arrival time, the rest (as UTF-8, lossily) is the template text.

#![no_main]

use kinesink_partitioning::{
    MAX_EVALUATED_CHARS, PartitionKeys, PrefixInputs, PrefixKind, PrefixTemplate, Tz,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let (time, text) = rest.split_at(rest.len().min(8));
    let mut ms = [0u8; 8];
    ms[..time.len()].copy_from_slice(time);
    let oldest_arrival_ms = i64::from_le_bytes(ms);
    let text = String::from_utf8_lossy(text);
    let kind = if mode % 2 == 0 {
        PrefixKind::Data
    } else {
        PrefixKind::Error
    };
    let tz = [
        Tz::UTC,
        Tz::Asia__Tokyo,
        Tz::America__St_Johns,
        Tz::Australia__Lord_Howe,
    ][usize::from(mode / 2 % 4)];

    let Ok(template) = PrefixTemplate::parse(&text, kind) else {
        return;
    };
    let template = template.with_time_zone(tz);
    // Keys for every name the template uses: values that try to escape their segment, and
    // harmless ones. (A 1024-character template names at most 39 keys: 50 always fit.)
    let names = template.partition_key_names().to_vec();
    let keys_with = |values: &[&'static str]| {
        PartitionKeys::from_text_values(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), values[i % values.len()])),
        )
        .expect("at most 39 names")
    };
    let (hostile, harmless) = (
        keys_with(&["..", "/", ".", "a/../b", "%2F"]),
        keys_with(&["v"]),
    );
    let inputs = |keys| PrefixInputs {
        partition_keys: keys,
        oldest_arrival_ms,
        error_output_type: Some("processing-failed"),
        random_string_seed: input,
    };
    let first = template.evaluate(&inputs(&hostile));
    assert_eq!(
        first,
        template.evaluate(&inputs(&hostile)),
        "evaluation is deterministic"
    );
    if let (Ok(prefix), Ok(baseline)) = (&first, template.evaluate(&inputs(&harmless))) {
        assert!(prefix.chars().count() <= MAX_EVALUATED_CHARS);
        let (segments, expected): (Vec<&str>, Vec<&str>) =
            (prefix.split('/').collect(), baseline.split('/').collect());
        assert_eq!(
            segments.len(),
            expected.len(),
            "{text:?}: {prefix:?} vs {baseline:?}"
        );
        for (s, e) in segments.iter().zip(&expected) {
            assert!(
                !matches!(*s, "" | "." | "..") || s == e,
                "{text:?}: {prefix:?} vs {baseline:?}"
            );
        }
    }
    let written = template.to_string();
    if written.chars().count() <= 1024 {
        let again = PrefixTemplate::parse(&written, kind)
            .expect("the written form parses")
            .with_time_zone(tz);
        assert_eq!(again.partition_key_names(), template.partition_key_names());
        assert_eq!(again.evaluate(&inputs(&hostile)), first, "{written:?}");
    }
});
