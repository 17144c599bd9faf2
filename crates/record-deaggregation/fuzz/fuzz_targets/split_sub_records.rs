//! Fuzzes `split_sub_records` in JSON and DELIMITED modes: it must never panic, and something
//! must always come out (sub-records or a failure carrying bytes).

#![no_main]

use kinesink_record_deaggregation::{Delimiter, SubRecordFormat, UserRecord, split_sub_records};
use kinesink_sequence_position::SequencePosition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let format = if mode == 0 {
        SubRecordFormat::Json
    } else {
        let delimiter_len = usize::from(mode % 4).max(1).min(rest.len().max(1));
        let (delimiter, _) = rest.split_at(delimiter_len.min(rest.len()));
        match Delimiter::new(delimiter.to_vec()) {
            Ok(delimiter) => SubRecordFormat::Delimited(delimiter),
            Err(_) => SubRecordFormat::Json,
        }
    };
    let record = UserRecord {
        data: rest.to_vec().into(),
        partition_key: "pk".to_owned(),
        explicit_hash_key: None,
        position: SequencePosition::new("1", u64::from(mode)),
        approximate_arrival_ms: 1,
    };
    let outcome = split_sub_records(record, &format);
    assert!(!outcome.sub_records.is_empty() || !outcome.failures.is_empty(), "a record vanished");
    assert!(outcome.sub_records.len() <= 500);
    for sub_record in &outcome.sub_records {
        assert!(!sub_record.data.is_empty());
    }
});
