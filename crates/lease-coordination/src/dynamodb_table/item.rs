//! The lease row as a DynamoDB item, both ways (the schema in the crate docs).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use kinesink_sequence_position::SequencePosition;

use crate::lease::{Checkpoint, Lease};
use crate::table::LeaseError;

/// The key attribute of every lease and heartbeat item.
pub(super) const KEY: &str = "leaseKey";

/// One DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn num(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(super) fn lease_from_item(item: &Item) -> Result<Lease, LeaseError> {
    let shard_id = match item.get(KEY) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => {
            return Err(LeaseError::Malformed {
                shard_id: "?".into(),
                message: format!("no string `{KEY}`"),
            });
        }
    };
    let bad = |message: String| LeaseError::Malformed {
        shard_id: shard_id.clone(),
        message,
    };
    let number = |name: &str| -> Result<u64, LeaseError> {
        match item.get(name) {
            None => Ok(0),
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|_| bad(format!("`{name}` is not a whole number: {n}"))),
            Some(other) => Err(bad(format!("`{name}` is not a number: {other:?}"))),
        }
    };
    let owner = match item.get("leaseOwner") {
        None | Some(AttributeValue::Null(_)) => None,
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(other) => return Err(bad(format!("`leaseOwner` is not a string: {other:?}"))),
    };
    let sub = number("checkpointSubSequenceNumber")?;
    let checkpoint = match item.get("checkpoint") {
        Some(AttributeValue::S(s)) => Checkpoint::from_stored(s, sub).ok_or_else(|| {
            bad(format!(
                "`checkpoint` is not a sequence number or sentinel: {s}"
            ))
        })?,
        other => {
            return Err(bad(format!(
                "`checkpoint` missing or not a string: {other:?}"
            )));
        }
    };
    let position = |name: &str, sub: &str| -> Result<Option<SequencePosition>, LeaseError> {
        match item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(seq)) => {
                Ok(Some(SequencePosition::new(seq.as_str(), number(sub)?)))
            }
            Some(other) => Err(bad(format!("`{name}` is not a string: {other:?}"))),
        }
    };
    let flush_intent = position("flushIntent", "flushIntentSubSequenceNumber")?;
    let flush_horizon = position("flushHorizon", "flushHorizonSubSequenceNumber")?;
    let parent_shard_ids = match item.get("parentShardIds") {
        None => Vec::new(),
        Some(AttributeValue::Ss(v)) => v.clone(),
        Some(other) => {
            return Err(bad(format!(
                "`parentShardIds` is not a string set: {other:?}"
            )));
        }
    };
    let millis_behind_latest = match item.get("millisBehindLatest") {
        None => None,
        Some(AttributeValue::N(n)) => Some(
            n.parse()
                .map_err(|_| bad(format!("`millisBehindLatest` is not a whole number: {n}")))?,
        ),
        Some(other) => {
            return Err(bad(format!(
                "`millisBehindLatest` is not a number: {other:?}"
            )));
        }
    };
    Ok(Lease {
        millis_behind_latest,
        counter: number("leaseCounter")?,
        owner_switches_since_checkpoint: number("ownerSwitchesSinceCheckpoint")?,
        shard_id,
        owner,
        checkpoint,
        parent_shard_ids,
        flush_intent,
        flush_horizon,
    })
}

pub(super) fn item_from_lease(lease: &Lease) -> Item {
    let mut item = Item::new();
    item.insert(KEY.into(), AttributeValue::S(lease.shard_id.clone()));
    if let Some(owner) = &lease.owner {
        item.insert("leaseOwner".into(), AttributeValue::S(owner.clone()));
    }
    item.insert("leaseCounter".into(), num(lease.counter));
    item.insert(
        "checkpoint".into(),
        AttributeValue::S(lease.checkpoint.as_stored().to_owned()),
    );
    item.insert(
        "checkpointSubSequenceNumber".into(),
        num(lease.checkpoint.sub_sequence()),
    );
    item.insert(
        "ownerSwitchesSinceCheckpoint".into(),
        num(lease.owner_switches_since_checkpoint),
    );
    if !lease.parent_shard_ids.is_empty() {
        item.insert(
            "parentShardIds".into(),
            AttributeValue::Ss(lease.parent_shard_ids.clone()),
        );
    }
    if let Some(ms) = lease.millis_behind_latest {
        item.insert(
            "millisBehindLatest".into(),
            AttributeValue::N(ms.to_string()),
        );
    }
    for (name, sub, value) in [
        (
            "flushIntent",
            "flushIntentSubSequenceNumber",
            &lease.flush_intent,
        ),
        (
            "flushHorizon",
            "flushHorizonSubSequenceNumber",
            &lease.flush_horizon,
        ),
    ] {
        if let Some(position) = value {
            item.insert(
                name.into(),
                AttributeValue::S(position.sequence_number.to_string()),
            );
            item.insert(sub.into(), num(position.sub_sequence_number));
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_through_the_documented_schema() {
        let lease = Lease {
            shard_id: "shardId-000000000003".into(),
            owner: Some("worker-a".into()),
            counter: 42,
            checkpoint: Checkpoint::Sequence(SequencePosition::new("4959", 2)),
            parent_shard_ids: vec!["shardId-000000000001".into()],
            owner_switches_since_checkpoint: 1,
            flush_intent: Some(SequencePosition::new("4960", 0)),
            flush_horizon: Some(SequencePosition::new("4961", 3)),
            millis_behind_latest: Some(1500),
        };
        let item = item_from_lease(&lease);
        assert_eq!(
            item.get("leaseKey"),
            Some(&AttributeValue::S("shardId-000000000003".into()))
        );
        assert_eq!(
            item.get("checkpoint"),
            Some(&AttributeValue::S("4959".into()))
        );
        assert_eq!(
            item.get("checkpointSubSequenceNumber"),
            Some(&AttributeValue::N("2".into()))
        );
        assert_eq!(lease_from_item(&item).unwrap(), lease);
    }

    #[test]
    fn a_free_lease_has_no_owner_attribute_and_no_empty_parent_set() {
        let item = item_from_lease(&Lease::new("s", vec![], Checkpoint::TrimHorizon));
        assert!(!item.contains_key("leaseOwner"));
        assert!(
            !item.contains_key("parentShardIds"),
            "DynamoDB refuses empty string sets"
        );
    }

    #[test]
    fn a_malformed_checkpoint_is_reported_with_the_shard() {
        let mut item = item_from_lease(&Lease::new("s-1", vec![], Checkpoint::TrimHorizon));
        item.insert("checkpoint".into(), AttributeValue::S("garbage".into()));
        let e = lease_from_item(&item).unwrap_err().to_string();
        assert!(e.contains("s-1") && e.contains("garbage"), "{e}");
    }
}
