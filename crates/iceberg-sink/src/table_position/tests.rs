use super::*;
use proptest::prelude::*;

const BIG: &str = "49590338271490256608559692538361571095921575989136588898";

fn summary(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn pos(seq: &str, sub: u64) -> SequencePosition {
    SequencePosition::new(seq, sub)
}

#[test]
fn the_summary_key_is_kinesink_dot_name_dot_shard() {
    assert_eq!(
        summary_key("clicks", "shardId-000000000007"),
        "kinesink.clicks.shardId-000000000007"
    );
}

#[test]
fn a_position_is_written_as_sequence_slash_sub_sequence() {
    assert_eq!(encode_position(&pos(BIG, 3)), format!("{BIG}/3"));
    assert_eq!(decode_position(&format!("{BIG}/3")), Ok(pos(BIG, 3)));
    assert_eq!(
        decode_position("18446744073709551615/18446744073709551615"),
        Ok(pos("18446744073709551615", u64::MAX))
    );
}

#[test]
fn bad_values_are_reported_by_what_is_wrong() {
    let missing = |v: &str| PositionDecodeError::MissingSeparator { value: v.into() };
    let seq = |v: &str| PositionDecodeError::BadSequenceNumber { value: v.into() };
    let sub = |v: &str| PositionDecodeError::BadSubSequenceNumber { value: v.into() };
    for (value, expected) in [
        ("", missing("")),
        ("4959", missing("4959")),
        ("/0", seq("/0")),
        ("49x9/0", seq("49x9/0")),
        ("-1/0", seq("-1/0")),
        (" 1/0", seq(" 1/0")),
        ("1/", sub("1/")),
        ("1/+2", sub("1/+2")),
        ("1/-2", sub("1/-2")),
        ("1/2/3", sub("1/2/3")),
        ("1/18446744073709551616", sub("1/18446744073709551616")),
        ("1/2 ", sub("1/2 ")),
    ] {
        assert_eq!(decode_position(value), Err(expected), "{value:?}");
    }
    let message = decode_position("1/x").unwrap_err().to_string();
    assert!(message.contains("sub-sequence"), "{message}");
}

#[test]
fn the_newest_snapshot_holding_a_shard_decides_its_position() {
    let newest = summary(&[("kinesink.s.shardId-1", "300/0"), ("added-data-files", "2")]);
    let middle = summary(&[("kinesink.s.shardId-2", "90/1")]);
    // Older and larger: not the committed position (see the module docs).
    let oldest = summary(&[
        ("kinesink.s.shardId-1", "999/0"),
        ("kinesink.s.shardId-2", "1000/0"),
        ("kinesink.s.shardId-3", "5/0"),
    ]);
    let positions = committed_positions("s", [&newest, &middle, &oldest]).unwrap();
    assert_eq!(
        positions,
        ShardPositions::from([
            ("shardId-1".to_owned(), pos("300", 0)),
            ("shardId-2".to_owned(), pos("90", 1)),
            ("shardId-3".to_owned(), pos("5", 0)),
        ])
    );
}

#[test]
fn keys_of_other_names_and_other_tools_are_ignored() {
    let s = summary(&[
        ("kinesink.a.shardId-1", "1/0"),
        ("kinesink.a.b.shardId-1", "2/0"),
        ("kinesink.ab.shardId-1", "3/0"),
        ("kinesink.a.", "4/0"),
        ("kinesinkXa.shardId-9", "5/0"),
        ("other.a.shardId-1", "6/0"),
        ("kinesink.a.shardId-2", "not read by a.b"),
    ]);
    assert_eq!(
        committed_positions("a", [&s]),
        Err(SummaryValueError {
            key: "kinesink.a.shardId-2".into(),
            error: PositionDecodeError::MissingSeparator {
                value: "not read by a.b".into()
            }
        })
    );
    assert_eq!(
        committed_positions("a.b", [&s]).unwrap(),
        ShardPositions::from([("shardId-1".to_owned(), pos("2", 0))])
    );
    assert_eq!(
        committed_positions("ab", [&s]).unwrap(),
        ShardPositions::from([("shardId-1".to_owned(), pos("3", 0))])
    );
    assert_eq!(
        committed_positions("b", [&s]).unwrap(),
        ShardPositions::new()
    );
}

#[test]
fn an_unreadable_older_value_does_not_hide_the_newest() {
    let newest = summary(&[("kinesink.s.shardId-1", "7/0")]);
    let older = summary(&[("kinesink.s.shardId-1", "garbage")]);
    assert_eq!(
        committed_positions("s", [&newest, &older]).unwrap(),
        ShardPositions::from([("shardId-1".to_owned(), pos("7", 0))])
    );
    let err = committed_positions("s", [&older, &newest]).unwrap_err();
    assert_eq!(err.key, "kinesink.s.shardId-1");
    assert!(err.to_string().contains("kinesink.s.shardId-1"), "{err}");
}

#[test]
fn dotted_or_empty_shard_ids_cannot_name_a_key() {
    assert!(is_usable_shard_id("shardId-000000000000"));
    assert!(!is_usable_shard_id(""));
    assert!(!is_usable_shard_id("b.shardId-1"));
}

/// A sequence number of up to 60 digits (beyond `u128`), or a small one.
fn sequence_number() -> impl Strategy<Value = String> {
    prop_oneof!["[1-9][0-9]{0,59}", "[0-9]{1,3}"]
}

fn position() -> impl Strategy<Value = SequencePosition> {
    (sequence_number(), any::<u64>()).prop_map(|(s, n)| SequencePosition::new(s, n))
}

fn shard() -> impl Strategy<Value = String> {
    prop_oneof![Just("shardId-1"), Just("shardId-2"), Just("shardId-3")].prop_map(Into::into)
}

fn stream_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("a.b"), Just("ab"), Just("b")].prop_map(Into::into)
}

proptest! {
    #[test]
    fn encoding_then_decoding_gives_the_position_back(p in position()) {
        let decoded = decode_position(&encode_position(&p)).unwrap();
        prop_assert_eq!(&decoded.sequence_number, &p.sequence_number);
        prop_assert_eq!(decoded.sub_sequence_number, p.sub_sequence_number);
    }

    #[test]
    fn decoded_positions_order_as_the_numbers_do(
        a in any::<u128>(), b in any::<u128>(), wide in "[1-9][0-9]{39,59}",
        sa in any::<u64>(), sb in any::<u64>(),
    ) {
        let da = decode_position(&format!("{a}/{sa}")).unwrap();
        let db = decode_position(&format!("{b}/{sb}")).unwrap();
        prop_assert_eq!(da.cmp(&db), (a, sa).cmp(&(b, sb)));
        // A number past u128 (40 digits and more) is above every u128.
        let dw = decode_position(&format!("{wide}/0")).unwrap();
        prop_assert!(da < dw);
    }

    #[test]
    fn decoding_any_text_never_panics_and_accepts_only_digits_slash_digits(value in ".{0,30}|[0-9]{0,4}/[0-9+ -]{0,22}") {
        let well_formed = value.split_once('/').is_some_and(|(s, n)| {
            is_sequence_number(s)
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u64>().is_ok()
        });
        match decode_position(&value) {
            Ok(p) => {
                prop_assert!(well_formed, "{:?} accepted", value);
                // The same position: the sequence number's text as written, the sub-sequence
                // number's value (leading zeros, as in "0/00", are not kept).
                let (sequence, sub) = value.split_once('/').unwrap();
                prop_assert_eq!(&*p.sequence_number, sequence);
                prop_assert_eq!(p.sub_sequence_number, sub.parse::<u64>().unwrap());
                prop_assert_eq!(decode_position(&encode_position(&p)).unwrap(), p);
            }
            Err(_) => prop_assert!(!well_formed, "{:?} refused", value),
        }
    }

    #[test]
    fn the_newest_value_of_each_shard_of_the_name_wins(
        name in stream_name(),
        // Oldest first: (name, shard, position) properties of each snapshot.
        snapshots in proptest::collection::vec(
            proptest::collection::vec((stream_name(), shard(), position()), 0..4), 0..6),
    ) {
        let summaries: Vec<HashMap<String, String>> = snapshots
            .iter()
            .map(|props| {
                props
                    .iter()
                    .map(|(n, s, p)| (summary_key(n, s), encode_position(p)))
                    .collect()
            })
            .collect();
        // The model: replay the commits oldest first, later values overwriting earlier ones.
        let mut expected = ShardPositions::new();
        for summary in &summaries {
            for (n, s, _) in snapshots.iter().flatten() {
                if *n == name
                    && let Some(v) = summary.get(&summary_key(n, s))
                {
                    expected.insert(s.clone(), decode_position(v).unwrap());
                }
            }
        }
        let found = committed_positions(&name, summaries.iter().rev()).unwrap();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn summary_properties_are_read_back_as_the_positions(
        name in stream_name(),
        positions in proptest::collection::btree_map(shard(), position(), 0..4),
    ) {
        let props = summary_properties(&name, &positions);
        prop_assert_eq!(committed_positions(&name, [&props]).unwrap(), positions);
    }
}
