//! Fuzzes `deaggregate`: it must never panic, never lose the record, and pass plain records
//! through unchanged.
//!
//! Random bytes almost never carry the KPL magic and a matching MD5, so the first input byte
//! chooses whether the rest is used as is or framed as an aggregate (magic + bytes + MD5): the
//! second way drives the protobuf decoder and the index checks.

#![no_main]

use kinesink_record_deaggregation::{KinesisRecord, UserRecord, deaggregate};
use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};

const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let data = if mode & 1 == 1 {
        let mut framed = KPL_MAGIC.to_vec();
        framed.extend_from_slice(rest);
        framed.extend_from_slice(&Md5::digest(rest));
        framed
    } else {
        rest.to_vec()
    };
    let record = KinesisRecord {
        data,
        partition_key: "pk".to_owned(),
        sequence_number: "49590338271490256608559692538361571095921575989136588898".to_owned(),
        approximate_arrival_ms: 1,
    };
    match deaggregate(record.clone()) {
        Ok(user_records) => {
            assert!(!user_records.is_empty(), "a record vanished");
            for (position, user_record) in (0_u64..).zip(&user_records) {
                assert_eq!(user_record.position.sub_sequence_number, position);
                assert_eq!(&*user_record.position.sequence_number, record.sequence_number.as_str());
            }
            if mode & 1 == 0 && !rest.starts_with(&KPL_MAGIC) {
                assert_eq!(user_records, vec![UserRecord::from_plain(record)]);
            }
        }
        Err(failure) => assert_eq!(failure.record, record, "a failure must carry the raw record"),
    }
});
