//! The whole per-record pipeline of a shard (partition keys, prefix, format conversion, objects)
//! on arbitrary records and queries: every record ends in exactly one place (a data object or
//! the error output), every object is below its prefix, and every run ends within the query
//! budget (a run that does not end is a libFuzzer timeout).
//!
//! Input: byte 0 picks the format and the query (a poison query of issue 22, the fast path, or
//! the text after the first `\n`, at most 256 bytes, as the key's jq expression); the rest,
//! split at 0xFF bytes, are the records.
#![no_main]

#[path = "../../tests/pipeline_check/mod.rs"]
mod pipeline_check;

use kinesink_partitioning::QueryBudget;
use libfuzzer_sys::fuzz_target;
use pipeline_check::{Case, POISON_KEY_QUERIES, run_and_check};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let (query_text, records) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) if i <= 256 => (&rest[..i], &rest[i + 1..]),
        _ => (&[][..], rest),
    };
    let key_query = match head % 8 {
        0 => None,
        1 => Some(String::from_utf8_lossy(query_text).into_owned()),
        n => Some(POISON_KEY_QUERIES[usize::from(n - 2) % POISON_KEY_QUERIES.len()].to_owned()),
    };
    let case = Case {
        key_query,
        parquet: head & 0x80 != 0,
        records: records.split(|b| *b == 0xFF).map(<[u8]>::to_vec).collect(),
        budget: QueryBudget::DEFAULT,
    };
    run_and_check(&case);
});
