//! Any bytes, as a record of a stream that CloudWatch Logs subscriptions write into: read as
//! an envelope directly, and gunzipped (bounded) then read. Never panics, never allocates past
//! the decompression bound, and a DATA_MESSAGE yields exactly its log events.
#![no_main]

use kinesink_record_processing::cloudwatch_logs::{Envelope, extract_messages};
use kinesink_record_processing::Decompression;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = extract_messages(data);
    if let Ok(Some(plain)) = Decompression::Gzip.apply(data, 1 << 20) {
        assert!(plain.len() <= 1 << 20);
        if let Ok(Envelope::Data(messages)) = extract_messages(&plain) {
            // Every message came out of the input's bytes: never more text than went in.
            assert!(messages.iter().map(Vec::len).sum::<usize>() <= plain.len());
        }
    }
});
