use proptest::prelude::*;

use super::*;

pub(crate) fn envelope() -> LambdaEnvelope {
    LambdaEnvelope {
        delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/orders".into(),
        source_kinesis_stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/orders".into(),
        region: "eu-west-1".into(),
        shard_id: "shardId-000000000007".into(),
    }
}

fn record(sequence: &str, sub: u64, data: &[u8]) -> LambdaInputRecord {
    LambdaInputRecord {
        position: SequencePosition::new(sequence, sub),
        data: Bytes::copy_from_slice(data),
        partition_key: "customer-\"42\"".into(),
        approximate_arrival_ms: 1_672_443_354_228,
    }
}

fn request_of(records: &[LambdaInputRecord], id: &str) -> Vec<u8> {
    let env = envelope();
    let entries: Vec<Vec<u8>> = records
        .iter()
        .map(|r| encode_record(&env, &RecordId::new(&r.position, 0), r))
        .collect();
    assemble_request(
        &env,
        &InvocationId::new(id).unwrap(),
        entries.iter().map(Vec::as_slice),
    )
}

#[test]
fn a_request_has_firehose_field_names_order_and_types() {
    let bytes = request_of(&[record("4963", 2, b"hello")], "inv-1");
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        concat!(
            r#"{"invocationId":"inv-1","#,
            r#""deliveryStreamArn":"arn:aws:firehose:eu-west-1:123456789012:deliverystream/orders","#,
            r#""sourceKinesisStreamArn":"arn:aws:kinesis:eu-west-1:123456789012:stream/orders","#,
            r#""region":"eu-west-1","records":[{"recordId":"4963-2-0","#,
            r#""approximateArrivalTimestamp":1672443354228,"data":"aGVsbG8=","#,
            r#""kinesisRecordMetadata":{"shardId":"shardId-000000000007","#,
            r#""partitionKey":"customer-\"42\"","approximateArrivalTimestamp":1672443354228,"#,
            r#""sequenceNumber":"4963","subsequenceNumber":2}}]}"#,
        )
    );
}

#[test]
fn the_counted_size_is_exact_with_the_longest_id_and_an_upper_bound_otherwise() {
    let env = envelope();
    let records = [
        record("1", 0, b"a"),
        record("2", 0, &[0xff; 100]),
        record("3", 7, b""),
    ];
    let entries: Vec<Vec<u8>> = records
        .iter()
        .map(|r| encode_record(&env, &RecordId::new(&r.position, 0), r))
        .collect();
    let counted = request_size(
        request_overhead(&env),
        entries.iter().map(Vec::len).sum(),
        entries.len(),
    );
    let longest = "x".repeat(MAX_INVOCATION_ID_BYTES);
    assert_eq!(request_of(&records, &longest).len(), counted);
    assert_eq!(
        request_of(&records, "short").len(),
        counted - (MAX_INVOCATION_ID_BYTES - 5)
    );
    assert_eq!(
        request_of(&[], &longest).len(),
        request_size(request_overhead(&env), 0, 0)
    );
}

#[test]
fn invocation_ids_are_short_and_need_no_escaping() {
    assert!(InvocationId::new("0b8f6a4e-9d7c-4c3e-8f0e-7a1b2c3d4e5f").is_ok());
    assert!(InvocationId::new("shardId-000000000007:4963-0-0:1").is_ok());
    for bad in [
        "",
        "with space",
        "quote\"",
        "é",
        &"x".repeat(MAX_INVOCATION_ID_BYTES + 1),
    ] {
        let e = InvocationId::new(bad).unwrap_err();
        assert!(e.to_string().contains("invocationId"), "{e}");
    }
}

#[test]
fn requests_that_are_not_this_format_are_refused_with_the_reason() {
    assert!(matches!(
        decode_request(b"{]"),
        Err(RequestDecodeError::NotARequest(_))
    ));
    let mut bytes = request_of(&[record("1", 0, b"abc")], "i");
    let text = String::from_utf8(bytes.clone())
        .unwrap()
        .replace("YWJj", "Y*Jj");
    bytes = text.into_bytes();
    assert!(matches!(
        decode_request(&bytes),
        Err(RequestDecodeError::Base64 { record_id, .. }) if record_id == "1-0-0"
    ));
}

fn any_record() -> impl Strategy<Value = LambdaInputRecord> {
    (
        "[0-9]{1,56}",
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        ".{0,40}",
        any::<i64>(),
    )
        .prop_map(
            |(sequence, sub, data, partition_key, arrival)| LambdaInputRecord {
                position: SequencePosition::new(sequence, sub),
                data: data.into(),
                partition_key,
                approximate_arrival_ms: arrival,
            },
        )
}

proptest! {
    #[test]
    fn encode_then_decode_gives_back_every_field(
        records in proptest::collection::vec(any_record(), 0..12),
        arn in ".{0,80}",
        region in "[a-z0-9-]{0,20}",
        id in "[A-Za-z0-9._:-]{1,64}",
    ) {
        let env = LambdaEnvelope { delivery_stream_arn: arn.clone(), source_kinesis_stream_arn: format!("{arn}/src"), region: region.clone(), shard_id: "shardId-1".into() };
        let ids: Vec<RecordId> = records.iter().enumerate().map(|(i, r)| RecordId::new(&r.position, u32::try_from(i).unwrap())).collect();
        let entries: Vec<Vec<u8>> = records.iter().zip(&ids).map(|(r, id)| encode_record(&env, id, r)).collect();
        let bytes = assemble_request(&env, &InvocationId::new(id.clone()).unwrap(), entries.iter().map(Vec::as_slice));
        prop_assert!(bytes.len() <= request_size(request_overhead(&env), entries.iter().map(Vec::len).sum(), entries.len()));
        let back = decode_request(&bytes).unwrap();
        prop_assert_eq!(&back.invocation_id, &id);
        prop_assert_eq!(&back.delivery_stream_arn, &arn);
        prop_assert_eq!(&back.source_kinesis_stream_arn, &format!("{arn}/src"));
        prop_assert_eq!(&back.region, &region);
        prop_assert_eq!(back.records.len(), records.len());
        for ((got, want), id) in back.records.iter().zip(&records).zip(&ids) {
            prop_assert_eq!(&got.record_id, id.as_str());
            prop_assert_eq!(&got.data[..], &want.data[..]);
            prop_assert_eq!(&got.partition_key, &want.partition_key);
            prop_assert_eq!(got.approximate_arrival_ms, want.approximate_arrival_ms);
            prop_assert_eq!(got.shard_id.as_str(), "shardId-1");
            prop_assert_eq!(got.sequence_number.as_str(), want.position.sequence_number.as_ref());
            prop_assert_eq!(got.subsequence_number, want.position.sub_sequence_number);
        }
    }

    #[test]
    fn no_input_panics_the_request_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&bytes);
    }
}
