//! Any bytes, as a Lambda function's answer to a batch of three records: read against the ids
//! sent. Never panics, and every record sent gets exactly one outcome.
#![no_main]

use kinesink_record_processing::lambda_record_id::RecordId;
use kinesink_record_processing::lambda_response::decode_response;
use kinesink_sequence_position::SequencePosition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let position = SequencePosition::new(
        "49546986683135544286507457936321625675700192471156785154",
        0,
    );
    let sent: Vec<RecordId> = (0..3).map(|i| RecordId::new(&position, i)).collect();
    let decoded = decode_response(data, &sent);
    assert_eq!(decoded.outcomes.len(), sent.len());
    assert!(decoded.unknown_record_ids.len() <= decoded.unknown_entries);
});
