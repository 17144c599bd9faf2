use kinesink_sequence_position::SequencePosition;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn ids(n: usize) -> Vec<RecordId> {
    (0..n)
        .map(|i| RecordId::new(&SequencePosition::new("4963", 0), u32::try_from(i).unwrap()))
        .collect()
}

fn decode(response: &Value, sent: &[RecordId]) -> DecodedResponse {
    decode_response(response.to_string().as_bytes(), sent)
}

fn failed_code(outcome: &RecordOutcome) -> &str {
    match outcome {
        RecordOutcome::Failed(f) => &f.error_code,
        other => panic!("not a failure: {other:?}"),
    }
}

fn message(outcome: &RecordOutcome) -> &str {
    match outcome {
        RecordOutcome::Failed(f) => &f.error_message,
        other => panic!("not a failure: {other:?}"),
    }
}

#[test]
fn ok_dropped_and_processing_failed_with_partition_keys() {
    let sent = ids(3);
    let got = decode(
        &json!({"records": [
            {"recordId": sent[2].as_str(), "result": "ProcessingFailed", "data": ""},
            {"recordId": sent[0].as_str(), "result": "Ok", "data": "aGVsbG8=",
             "metadata": {"partitionKeys": {"customer": "42", "year": "2026"}}},
            {"recordId": sent[1].as_str(), "result": "Dropped"},
        ]}),
        &sent,
    );
    assert_eq!(
        got.outcomes[0],
        RecordOutcome::Ok {
            data: b"hello".to_vec(),
            partition_keys: Some(BTreeMap::from([
                ("customer".to_owned(), "42".to_owned()),
                ("year".to_owned(), "2026".to_owned()),
            ])),
        }
    );
    assert_eq!(got.outcomes[1], RecordOutcome::Dropped);
    assert_eq!(
        failed_code(&got.outcomes[2]),
        "Lambda.ProcessingFailedStatus"
    );
    assert!(message(&got.outcomes[2]).contains(sent[2].as_str()));
    assert_eq!(got.unknown_entries, 0);
}

#[test]
fn ok_without_metadata_has_no_partition_keys_and_unpadded_or_empty_data_is_accepted() {
    let sent = ids(3);
    let got = decode(
        &json!({"records": [
            {"recordId": sent[0].as_str(), "result": "Ok", "data": "aGVsbG8"},
            {"recordId": sent[1].as_str(), "result": "Ok", "data": "", "metadata": null},
            {"recordId": sent[2].as_str(), "result": "Ok", "data": "eA==", "metadata": {"partitionKeys": null}},
        ]}),
        &sent,
    );
    let ok = |data: &[u8]| RecordOutcome::Ok {
        data: data.to_vec(),
        partition_keys: None,
    };
    assert_eq!(got.outcomes, vec![ok(b"hello"), ok(b""), ok(b"x")]);
}

#[test]
fn a_missing_record_id_fails_that_record_only() {
    let sent = ids(2);
    let got = decode(
        &json!({"records": [{"recordId": sent[0].as_str(), "result": "Dropped"}]}),
        &sent,
    );
    assert_eq!(got.outcomes[0], RecordOutcome::Dropped);
    assert_eq!(failed_code(&got.outcomes[1]), "Lambda.MissingRecordId");
    assert!(
        message(&got.outcomes[1]).contains(&format!("recordId {} is not in the response", sent[1]))
    );
}

#[test]
fn a_rewritten_id_reports_the_record_missing_and_names_the_unknown_id() {
    let sent = ids(2);
    let got = decode(
        &json!({"records": [
            {"recordId": sent[0].as_str(), "result": "Ok", "data": "eA=="},
            {"recordId": "record-two", "result": "Ok", "data": "eQ=="},
            {"result": "Ok", "data": "eQ=="},
        ]}),
        &sent,
    );
    assert!(matches!(got.outcomes[0], RecordOutcome::Ok { .. }));
    assert_eq!(failed_code(&got.outcomes[1]), "Lambda.MissingRecordId");
    assert!(
        message(&got.outcomes[1])
            .contains("2 record(s) with a recordId that was not sent: record-two, (no recordId)"),
        "{}",
        message(&got.outcomes[1])
    );
    assert_eq!(got.unknown_entries, 2);
    assert_eq!(
        got.unknown_record_ids,
        vec!["record-two".to_owned(), "(no recordId)".to_owned()]
    );
}

#[test]
fn an_extra_unknown_id_changes_no_outcome_and_is_counted() {
    let sent = ids(1);
    let got = decode(
        &json!({"records": [
            {"recordId": sent[0].as_str(), "result": "Dropped"},
            {"recordId": "x".repeat(100), "result": "Ok", "data": ""},
        ]}),
        &sent,
    );
    assert_eq!(got.outcomes, vec![RecordOutcome::Dropped]);
    assert_eq!(got.unknown_entries, 1);
    assert_eq!(
        got.unknown_record_ids[0].chars().count(),
        65,
        "cut to 64 characters and marked"
    );
}

#[test]
fn a_repeated_id_fails_that_record_with_duplicated_record_id() {
    let sent = ids(2);
    let got = decode(
        &json!({"records": [
            {"recordId": sent[0].as_str(), "result": "Ok", "data": "eA=="},
            {"recordId": sent[0].as_str(), "result": "Ok", "data": "eQ=="},
            {"recordId": sent[1].as_str(), "result": "Ok", "data": "eg=="},
        ]}),
        &sent,
    );
    assert_eq!(failed_code(&got.outcomes[0]), "Lambda.DuplicatedRecordId");
    assert!(message(&got.outcomes[0]).contains("came back 2 times"));
    assert_eq!(
        got.outcomes[1],
        RecordOutcome::Ok {
            data: b"z".to_vec(),
            partition_keys: None
        }
    );
}

#[test]
fn malformed_entries_fail_their_record_with_json_processing_exception() {
    let sent = ids(1);
    let id = sent[0].as_str();
    for (entry, says) in [
        (
            json!({"recordId": id, "result": "Ok", "data": "not base64!"}),
            "data is not base64",
        ),
        (
            json!({"recordId": id, "result": "Ok"}),
            "result Ok without a string data",
        ),
        (
            json!({"recordId": id, "result": "Ok", "data": 5}),
            "result Ok without a string data",
        ),
        (
            json!({"recordId": id, "result": "Success", "data": ""}),
            "result is \"Success\", not Ok, Dropped or ProcessingFailed",
        ),
        (
            json!({"recordId": id, "result": "ok", "data": ""}),
            "result is \"ok\"",
        ),
        (json!({"recordId": id, "data": ""}), "result is missing"),
        (
            json!({"recordId": id, "result": "Ok", "data": "", "metadata": []}),
            "metadata is not an object",
        ),
        (
            json!({"recordId": id, "result": "Ok", "data": "", "metadata": {"partitionKeys": "k"}}),
            "metadata.partitionKeys is not an object",
        ),
        (
            json!({"recordId": id, "result": "Ok", "data": "", "metadata": {"partitionKeys": {"year": 2026}}}),
            "metadata.partitionKeys.year is not a string",
        ),
    ] {
        let got = decode(&json!({"records": [entry]}), &sent);
        assert_eq!(
            failed_code(&got.outcomes[0]),
            "Lambda.JsonProcessingException",
            "{says}"
        );
        assert!(
            message(&got.outcomes[0]).contains(says),
            "{says}: {}",
            message(&got.outcomes[0])
        );
        assert!(message(&got.outcomes[0]).contains(id));
    }
}

#[test]
fn a_response_that_is_not_the_format_fails_every_record() {
    let sent = ids(3);
    for payload in [
        &b"not json"[..],
        b"",
        b"[]",
        b"{}",
        br#"{"records": {}}"#,
        b"null",
        br#"{"errorMessage":"boom","errorType":"Exception"}"#,
    ] {
        let got = decode_response(payload, &sent);
        assert_eq!(got.outcomes.len(), 3);
        for outcome in &got.outcomes {
            assert_eq!(failed_code(outcome), "Lambda.JsonProcessingException");
            assert!(message(outcome).contains("is not {\"records\": [...]}"));
        }
    }
}

#[test]
fn a_response_over_the_payload_limit_fails_every_record_without_being_parsed() {
    let sent = ids(2);
    let mut payload = br#"{"records":[],"pad":""#.to_vec();
    payload.resize(MAX_INVOKE_PAYLOAD_BYTES + 1, b' ');
    let got = decode_response(&payload, &sent);
    for outcome in &got.outcomes {
        assert_eq!(failed_code(outcome), "Lambda.FunctionError");
        assert!(message(outcome).contains("6291457 bytes, more than Lambda's 6291456-byte"));
    }
    let at_limit = {
        let mut p = br#"{"records":[]}"#.to_vec();
        p.resize(MAX_INVOKE_PAYLOAD_BYTES, b' ');
        p
    };
    assert_eq!(
        failed_code(&decode_response(&at_limit, &sent).outcomes[0]),
        "Lambda.MissingRecordId"
    );
}

#[test]
fn every_record_fails_gives_one_failure_per_record() {
    let failure = LambdaFailure {
        error_code: "Lambda.FunctionError".into(),
        error_message: "boom".into(),
    };
    let got = every_record_fails(&ids(4), &failure);
    assert_eq!(got.outcomes, vec![RecordOutcome::Failed(failure); 4]);
}

fn any_json(sent: Vec<RecordId>) -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        proptest::sample::select(
            sent.into_iter()
                .map(|i| i.as_str().to_owned())
                .collect::<Vec<_>>()
        )
        .prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
    ];
    let result = prop_oneof![
        Just(json!("Ok")),
        Just(json!("Dropped")),
        Just(json!("ProcessingFailed")),
        ".{0,6}".prop_map(Value::String),
        Just(Value::Null),
    ];
    let data = prop_oneof![
        "[A-Za-z0-9+/=]{0,12}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
        Just(Value::Null),
    ];
    let keys = prop_oneof![
        Just(Value::Null),
        proptest::collection::btree_map(
            "[a-z]{1,3}",
            prop_oneof![
                ".{0,4}".prop_map(Value::String),
                any::<bool>().prop_map(Value::Bool)
            ],
            0..3
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
    ];
    let entry = (id, result, data, keys).prop_map(|(id, result, data, keys)| {
        json!({"recordId": id, "result": result, "data": data, "metadata": {"partitionKeys": keys}})
    });
    prop_oneof![
        proptest::collection::vec(entry, 0..8).prop_map(|records| json!({"records": records})),
        Just(json!({"records": 1})),
        Just(json!([])),
    ]
}

proptest! {
    #[test]
    fn any_bytes_give_exactly_one_outcome_per_record(
        payload in proptest::collection::vec(any::<u8>(), 0..512),
        n in 0usize..6,
    ) {
        let sent = ids(n);
        prop_assert_eq!(decode_response(&payload, &sent).outcomes.len(), n);
    }

    #[test]
    fn any_response_shaped_json_gives_one_outcome_per_record_and_ok_only_for_one_good_entry(
        (sent, response) in (0usize..5).prop_flat_map(|n| { let sent = ids(n.max(1)); (Just(sent.clone()), any_json(sent)) }),
    ) {
        let got = decode(&response, &sent);
        prop_assert_eq!(got.outcomes.len(), sent.len());
        let entries = response.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
        for (id, outcome) in sent.iter().zip(&got.outcomes) {
            let carrying = entries.iter().filter(|e| e.get("recordId").and_then(Value::as_str) == Some(id.as_str())).count();
            if matches!(outcome, RecordOutcome::Ok { .. } | RecordOutcome::Dropped) {
                prop_assert_eq!(carrying, 1);
            }
            if carrying > 1 {
                prop_assert_eq!(failed_code(outcome), "Lambda.DuplicatedRecordId");
            }
        }
    }
}
