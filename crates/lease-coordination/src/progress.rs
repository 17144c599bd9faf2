//! A shard's progress as kept in the destination: the truth a lease row is a cache of.
//!
//! The lease table can lose a row (deleted by hand) or the whole table (dropped). What a
//! successor needs to resume without duplicating or skipping a record — the checkpoint, and the
//! flush intent and horizon a replay must honour — is therefore also written, before the lease
//! row, to one small object per shard in the destination (see `kinesink-delivery`'s
//! `ProgressStore`). This module is the pure part: the value, its encoding, and the rules that
//! keep it from ever moving backwards.

use std::cmp::Ordering;

use kinesink_sequence_position::SequencePosition;
use serde::{Deserialize, Serialize};

use crate::lease::{Checkpoint, Lease};

/// Format version written in every progress object.
const FORMAT: u32 = 1;

/// One shard's durable progress.
///
/// Guarantees: [`ShardProgress::with_flush_progress`] and [`ShardProgress::with_checkpoint`]
/// never move the checkpoint or the horizon backwards, whatever they are given (a stale input
/// leaves them as they were); every derived value has a higher [`ShardProgress::version`], so
/// two writes never store the same bytes (each gets a new S3 ETag, which the compare-and-swap
/// of the writers relies on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardProgress {
    /// The shard.
    pub shard_id: String,
    /// Every record up to here is durable (or a sentinel: nothing delivered yet, shard ended).
    pub checkpoint: Checkpoint,
    /// A shard-wide flush recorded after the checkpoint: the last record it covers.
    pub flush_intent: Option<SequencePosition>,
    /// The last record of any object that may have been written.
    pub flush_horizon: Option<SequencePosition>,
    /// Incremented by every write of the object (claims included).
    pub version: u64,
    /// The worker that wrote this version (informational).
    pub writer: String,
}

/// A progress object that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("progress object of shard {shard_id} is unreadable: {message}")]
pub struct ProgressDecodeError {
    /// The shard whose object it is.
    pub shard_id: String,
    /// What is wrong with it.
    pub message: String,
}

/// A position as stored: `[sequence number, sub-sequence]`.
type StoredPosition = (String, u64);

fn stored_position(p: &SequencePosition) -> StoredPosition {
    (p.sequence_number.to_string(), p.sub_sequence_number)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: u32,
    #[serde(rename = "shardId")]
    shard_id: String,
    checkpoint: String,
    #[serde(rename = "checkpointSubSequenceNumber")]
    checkpoint_sub_sequence_number: u64,
    #[serde(
        rename = "flushIntent",
        skip_serializing_if = "Option::is_none",
        default
    )]
    flush_intent: Option<StoredPosition>,
    #[serde(
        rename = "flushHorizon",
        skip_serializing_if = "Option::is_none",
        default
    )]
    flush_horizon: Option<StoredPosition>,
    version: u64,
    writer: String,
}

/// How far a checkpoint is: nothing delivered (the start sentinels) < a position < shard end.
fn checkpoint_order(a: &Checkpoint, b: &Checkpoint) -> Ordering {
    let rank = |c: &Checkpoint| match c {
        Checkpoint::TrimHorizon
        | Checkpoint::Latest
        | Checkpoint::AtTimestamp
        | Checkpoint::AtTime(_) => 0,
        Checkpoint::Sequence { .. } => 1,
        Checkpoint::ShardEnd => 2,
    };
    match (a, b) {
        (Checkpoint::Sequence(a), Checkpoint::Sequence(b)) => a.cmp(b),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn max_position(
    a: Option<SequencePosition>,
    b: Option<SequencePosition>,
) -> Option<SequencePosition> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a < b { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Whether `position` lies after `checkpoint` (an intent at or before it is complete).
fn after(checkpoint: &Checkpoint, position: &SequencePosition) -> bool {
    match checkpoint {
        Checkpoint::TrimHorizon
        | Checkpoint::Latest
        | Checkpoint::AtTimestamp
        | Checkpoint::AtTime(_) => true,
        Checkpoint::ShardEnd => false,
        Checkpoint::Sequence(checkpoint) => position > checkpoint,
    }
}

impl ShardProgress {
    /// The progress a lease row holds (version 0, no writer).
    #[must_use]
    pub fn of_lease(lease: &Lease) -> Self {
        Self {
            shard_id: lease.shard_id.clone(),
            checkpoint: lease.checkpoint.clone(),
            flush_intent: lease.flush_intent.clone(),
            flush_horizon: lease.flush_horizon.clone(),
            version: 0,
            writer: String::new(),
        }
    }

    /// Where a new owner resumes: the stored progress, or the lease row where that is further.
    ///
    /// The stored object is written before the lease row, so it is normally at least as far;
    /// the row is further only when a worker without progress objects (an older version, during
    /// a rolling upgrade) moved it. Guarantees: the result's checkpoint is the further of the
    /// two (a checkpoint only ever names records already durable), its horizon the further of
    /// the two, and its intent the stored one if it still lies after the checkpoint, else the
    /// row's; the version continues the stored one. `leases reset` deletes the stored object,
    /// so a reset row is not overruled.
    #[must_use]
    pub fn resume_from(stored: Option<&ShardProgress>, lease: &Lease) -> Self {
        let row = Self::of_lease(lease);
        let Some(stored) = stored else {
            return row;
        };
        let (first, second) = match checkpoint_order(&row.checkpoint, &stored.checkpoint) {
            Ordering::Greater => (&row, stored),
            _ => (stored, &row),
        };
        let checkpoint = first.checkpoint.clone();
        let flush_intent = [&first.flush_intent, &second.flush_intent]
            .into_iter()
            .flatten()
            .find(|i| after(&checkpoint, i))
            .cloned();
        Self {
            shard_id: stored.shard_id.clone(),
            flush_horizon: max_position(first.flush_horizon.clone(), second.flush_horizon.clone()),
            checkpoint,
            flush_intent,
            version: stored.version,
            writer: stored.writer.clone(),
        }
    }

    /// The next version of this progress, written by `writer` (what a new owner stores to claim
    /// the object: any earlier writer's compare-and-swap then fails).
    #[must_use]
    pub fn claimed_by(&self, writer: &str) -> Self {
        Self {
            version: self.version + 1,
            writer: writer.to_owned(),
            ..self.clone()
        }
    }

    /// After recording flush progress (as `LeaseTable::record_progress` does on the row): the
    /// horizon becomes the further of the two, the intent is replaced when one is given.
    #[must_use]
    pub fn with_flush_progress(
        &self,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
    ) -> Self {
        let flush_intent = match flush_intent {
            Some(i) if after(&self.checkpoint, i) => Some(i.clone()),
            Some(_) => self.flush_intent.clone(),
            None => self.flush_intent.clone(),
        };
        Self {
            flush_horizon: max_position(self.flush_horizon.clone(), Some(horizon.clone())),
            flush_intent,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// After a checkpoint (as `LeaseTable::checkpoint` does on the row): the checkpoint moves
    /// forward (never back: a stale one is ignored), an intent it reaches is complete.
    #[must_use]
    pub fn with_checkpoint(&self, checkpoint: &Checkpoint) -> Self {
        let checkpoint = if checkpoint_order(checkpoint, &self.checkpoint) == Ordering::Less {
            self.checkpoint.clone()
        } else {
            checkpoint.clone()
        };
        let flush_intent = self.flush_intent.clone().filter(|i| after(&checkpoint, i));
        Self {
            checkpoint,
            flush_intent,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// Copies this progress into a lease row (a row recreated after it was lost).
    pub fn apply_to(&self, lease: &mut Lease) {
        lease.checkpoint = self.checkpoint.clone();
        lease.flush_intent = self.flush_intent.clone();
        lease.flush_horizon = self.flush_horizon.clone();
    }

    /// The stored form: one line of JSON with the lease table's attribute names.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            format: FORMAT,
            shard_id: self.shard_id.clone(),
            checkpoint: self.checkpoint.as_stored().to_owned(),
            checkpoint_sub_sequence_number: self.checkpoint.sub_sequence(),
            flush_intent: self.flush_intent.as_ref().map(stored_position),
            flush_horizon: self.flush_horizon.as_ref().map(stored_position),
            version: self.version,
            writer: self.writer.clone(),
        };
        let mut bytes = serde_json::to_vec(&stored).expect("plain strings and numbers serialise");
        bytes.push(b'\n');
        bytes
    }

    /// Reads the stored form of `shard_id`'s progress.
    ///
    /// # Errors
    /// Not this format, another shard's object, or a checkpoint or position that is not a
    /// sentinel or decimal sequence number.
    pub fn decode(shard_id: &str, bytes: &[u8]) -> Result<Self, ProgressDecodeError> {
        let bad = |message: String| ProgressDecodeError {
            shard_id: shard_id.to_owned(),
            message,
        };
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if stored.format != FORMAT {
            return Err(bad(format!(
                "format {} (this version reads {FORMAT})",
                stored.format
            )));
        }
        if stored.shard_id != shard_id {
            return Err(bad(format!("it names shard {}", stored.shard_id)));
        }
        let checkpoint =
            Checkpoint::from_stored(&stored.checkpoint, stored.checkpoint_sub_sequence_number)
                .ok_or_else(|| {
                    bad(format!(
                        "checkpoint `{}` is not a sequence number or sentinel",
                        stored.checkpoint
                    ))
                })?;
        let position = |name: &str, p: Option<StoredPosition>| match p {
            None => Ok(None),
            Some((seq, sub)) => SequencePosition::parse(&seq, sub)
                .map(Some)
                .ok_or_else(|| bad(format!("{name} `{seq}` is not a sequence number"))),
        };
        let flush_intent = position("flushIntent", stored.flush_intent)?;
        let flush_horizon = position("flushHorizon", stored.flush_horizon)?;
        Ok(Self {
            shard_id: stored.shard_id,
            checkpoint,
            flush_intent,
            flush_horizon,
            version: stored.version,
            writer: stored.writer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seq(n: u64) -> Checkpoint {
        Checkpoint::Sequence(pos(n))
    }

    fn pos(n: u64) -> SequencePosition {
        SequencePosition::new(n.to_string(), 0)
    }

    fn progress(checkpoint: Checkpoint) -> ShardProgress {
        ShardProgress::of_lease(&Lease::new("shardId-1", vec![], checkpoint))
    }

    #[test]
    fn progress_round_trips_through_its_stored_form() {
        let p = ShardProgress {
            shard_id: "shardId-000000000001".into(),
            checkpoint: Checkpoint::Sequence(SequencePosition::new(
                "49590338271490256608559692538361571095921575989136588898",
                3,
            )),
            flush_intent: Some(SequencePosition::new(
                "49590338271490256608559692538361571095921575989136588999",
                1,
            )),
            flush_horizon: Some(SequencePosition::new(
                "49590338271490256608559692538361571095921575989136589000",
                0,
            )),
            version: 17,
            writer: "host-1-abc".into(),
        };
        let bytes = p.encode();
        assert_eq!(
            ShardProgress::decode("shardId-000000000001", &bytes).unwrap(),
            p
        );
        for sentinel in [
            Checkpoint::TrimHorizon,
            Checkpoint::Latest,
            Checkpoint::AtTimestamp,
            Checkpoint::ShardEnd,
        ] {
            let p = progress(sentinel);
            assert_eq!(ShardProgress::decode("shardId-1", &p.encode()).unwrap(), p);
        }
    }

    #[test]
    fn the_stored_form_uses_the_lease_table_attribute_names() {
        let p = progress(seq(42)).with_flush_progress(&pos(50), Some(&pos(50)));
        let v: serde_json::Value = serde_json::from_slice(&p.encode()).unwrap();
        assert_eq!(v["shardId"], "shardId-1");
        assert_eq!(v["checkpoint"], "42");
        assert_eq!(v["checkpointSubSequenceNumber"], 0);
        assert_eq!(v["flushIntent"], serde_json::json!(["50", 0]));
        assert_eq!(v["flushHorizon"], serde_json::json!(["50", 0]));
        assert_eq!(v["format"], 1);
    }

    #[test]
    fn unreadable_progress_objects_are_refused_with_the_reason() {
        let good = progress(seq(1)).encode();
        let e = ShardProgress::decode("shardId-2", &good).unwrap_err();
        assert!(e.to_string().contains("names shard shardId-1"), "{e}");
        let e = ShardProgress::decode("shardId-1", b"not json").unwrap_err();
        assert!(e.to_string().contains("shardId-1"), "{e}");
        let text = String::from_utf8(good).unwrap();
        let e = ShardProgress::decode("shardId-1", text.replace("\"1\"", "\"x1\"").as_bytes())
            .unwrap_err();
        assert!(e.to_string().contains("checkpoint `x1`"), "{e}");
        let e = ShardProgress::decode(
            "shardId-1",
            text.replace("\"format\":1", "\"format\":2").as_bytes(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("format 2"), "{e}");
    }

    #[test]
    fn a_stale_checkpoint_or_horizon_never_moves_progress_backwards() {
        let p = progress(seq(100)).with_flush_progress(&pos(150), None);
        let stale = p
            .with_checkpoint(&seq(90))
            .with_flush_progress(&pos(120), None);
        assert_eq!(stale.checkpoint, seq(100));
        assert_eq!(stale.flush_horizon, Some(pos(150)));
        let sentinel = p.with_checkpoint(&Checkpoint::TrimHorizon);
        assert_eq!(
            sentinel.checkpoint,
            seq(100),
            "a start sentinel is before any position"
        );
        let ended = p.with_checkpoint(&Checkpoint::ShardEnd);
        assert_eq!(ended.checkpoint, Checkpoint::ShardEnd);
        assert_eq!(
            ended.with_checkpoint(&seq(500)).checkpoint,
            Checkpoint::ShardEnd
        );
    }

    #[test]
    fn an_intent_stays_until_a_checkpoint_reaches_it() {
        let p = progress(seq(100)).with_flush_progress(&pos(200), Some(&pos(200)));
        let size_cut = p.with_flush_progress(&pos(180), None);
        assert_eq!(
            size_cut.flush_intent,
            Some(pos(200)),
            "a horizon-only write keeps the intent"
        );
        assert_eq!(p.with_checkpoint(&seq(150)).flush_intent, Some(pos(200)));
        assert_eq!(p.with_checkpoint(&seq(200)).flush_intent, None);
        assert_eq!(
            p.with_checkpoint(&seq(200))
                .with_flush_progress(&pos(190), Some(&pos(190)))
                .flush_intent,
            None,
            "an intent at or before the checkpoint is already complete"
        );
    }

    #[test]
    fn every_derived_version_is_higher_so_no_two_writes_store_the_same_bytes() {
        let p = progress(seq(1));
        let a = p.claimed_by("w1");
        let b = a.with_flush_progress(&pos(5), None);
        let c = b.with_checkpoint(&seq(5));
        assert!(p.version < a.version && a.version < b.version && b.version < c.version);
        assert_ne!(a.encode(), a.claimed_by("w1").encode());
    }

    #[test]
    fn a_new_owner_resumes_from_whichever_of_object_and_row_is_further() {
        let mut row = Lease::new("shardId-1", vec![], seq(100));
        row.flush_intent = Some(pos(120));
        row.flush_horizon = Some(pos(120));
        // No object yet (first run, or written by an older version): the row.
        assert_eq!(
            ShardProgress::resume_from(None, &row),
            ShardProgress::of_lease(&row)
        );
        // The object is further (the row lags by a write, or was recreated at the initial position).
        let stored = progress(seq(120)).with_flush_progress(&pos(300), Some(&pos(300)));
        let r = ShardProgress::resume_from(
            Some(&stored),
            &Lease::new("shardId-1", vec![], Checkpoint::TrimHorizon),
        );
        assert_eq!(
            (
                r.checkpoint.clone(),
                r.flush_intent.clone(),
                r.flush_horizon.clone()
            ),
            (seq(120), Some(pos(300)), Some(pos(300)))
        );
        assert_eq!(r.version, stored.version);
        // The row is further (moved by a worker that writes no object): the row's intent counts.
        let old = progress(seq(50)).with_flush_progress(&pos(60), Some(&pos(60)));
        let r = ShardProgress::resume_from(Some(&old), &row);
        assert_eq!(
            (r.checkpoint, r.flush_intent, r.flush_horizon),
            (seq(100), Some(pos(120)), Some(pos(120)))
        );
        // Same checkpoint: the stored intent, the further horizon.
        let same = progress(seq(100)).with_flush_progress(&pos(110), None);
        let r = ShardProgress::resume_from(Some(&same), &row);
        assert_eq!(
            (r.checkpoint, r.flush_intent, r.flush_horizon),
            (seq(100), Some(pos(120)), Some(pos(120)))
        );
    }

    fn any_checkpoint() -> impl Strategy<Value = Checkpoint> {
        prop_oneof![
            Just(Checkpoint::TrimHorizon),
            Just(Checkpoint::ShardEnd),
            (0u64..1000, 0u64..3)
                .prop_map(|(n, s)| Checkpoint::Sequence(SequencePosition::new(n.to_string(), s))),
        ]
    }

    #[derive(Debug, Clone)]
    enum Write {
        Progress(u64, Option<u64>),
        Checkpoint(Checkpoint),
    }

    proptest! {
        /// Whatever order writes arrive in (a stale writer's included), the checkpoint and the
        /// horizon only move forward, and a remaining intent always lies after the checkpoint.
        #[test]
        fn stored_progress_is_monotonic_under_any_sequence_of_writes(
            start in any_checkpoint(),
            writes in proptest::collection::vec(prop_oneof![
                (0u64..1000, proptest::option::of(0u64..1000)).prop_map(|(h, i)| Write::Progress(h, i)),
                any_checkpoint().prop_map(Write::Checkpoint),
            ], 0..30),
        ) {
            let mut p = progress(start);
            for w in writes {
                let next = match &w {
                    Write::Progress(h, i) => p.with_flush_progress(&pos(*h), i.map(pos).as_ref()),
                    Write::Checkpoint(c) => p.with_checkpoint(c),
                };
                prop_assert_ne!(checkpoint_order(&next.checkpoint, &p.checkpoint), Ordering::Less);
                if let Some(h) = &p.flush_horizon {
                    prop_assert!(next.flush_horizon.as_ref().is_some_and(|n| n.cmp(h) != Ordering::Less));
                }
                if let Some(i) = &next.flush_intent {
                    prop_assert!(after(&next.checkpoint, i));
                }
                prop_assert!(next.version > p.version);
                prop_assert_eq!(ShardProgress::decode("shardId-1", &next.encode()).unwrap(), next.clone());
                p = next;
            }
        }

        #[test]
        fn positions_order_as_decimal_numbers(a in any::<u64>(), b in any::<u64>(), sa in 0u64..4, sb in 0u64..4) {
            prop_assert_eq!(SequencePosition::new(a.to_string(), sa).cmp(&SequencePosition::new(b.to_string(), sb)), (a, sa).cmp(&(b, sb)));
        }
    }
}
