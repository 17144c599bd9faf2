//! Where each shard's progress is kept in the destination, next to the data, with
//! compare-and-swap writes.

use async_trait::async_trait;

use crate::sink::SinkError;

/// The key of a shard's progress object, relative to the destination root:
/// `_kinesink/<name>/progress/<shard id>.json`.
///
/// Guarantees: never inside a data or error prefix's objects (object names end in
/// `<name>-<shard id>-<sequence>-<sub-sequence><extension>`), and hidden from Hive, Spark,
/// Athena and Glue crawlers, which skip paths starting with `_`.
#[must_use]
pub fn progress_key(name: &str, shard_id: &str) -> String {
    format!("_kinesink/{name}/progress/{shard_id}.json")
}

/// The version of a stored progress object that a conditional write compares against (S3's
/// ETag; a content hash for a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressTag(pub String);

/// The condition of a [`ProgressStore::write_progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressCondition {
    /// Only if no object exists under the key (S3 `If-None-Match: *`).
    Absent,
    /// Only if the object is still the version with this tag (S3 `If-Match`).
    Unchanged(ProgressTag),
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressWrite {
    /// Stored; the new version's tag.
    Written(ProgressTag),
    /// The condition failed (another writer changed or deleted the object, or created it
    /// first); nothing was written.
    Conflict,
}

/// Small objects overwritten in place with compare-and-swap: the per-shard progress the flush
/// protocol needs to survive the loss of the lease table.
///
/// Guarantees of every implementation: a write whose condition does not hold changes nothing
/// and returns [`ProgressWrite::Conflict`]; of two writers that both read version `v`, at most
/// one replaces it; a read returns a whole object and the tag of exactly that version.
/// Separate from [`crate::ObjectSink`] because data objects are written once and progress
/// objects are rewritten.
#[async_trait]
pub trait ProgressStore: Send + Sync {
    /// The object under `key` and its tag, or `None` when there is none.
    async fn read_progress(&self, key: &str) -> Result<Option<(Vec<u8>, ProgressTag)>, SinkError>;

    /// Writes `body` under `key` if `condition` holds.
    async fn write_progress(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: &ProgressCondition,
    ) -> Result<ProgressWrite, SinkError>;
}

/// A stable 64-bit FNV-1a hash as hex: the tag of stores without ETags.
pub(crate) fn content_tag(bytes: &[u8]) -> ProgressTag {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    ProgressTag(format!("{hash:016x}"))
}

/// The behaviour every [`ProgressStore`] must have (run by each implementation's tests, and
/// against the S3 stand-in by the integration tests).
///
/// # Panics
/// When the store breaks a guarantee.
#[doc(hidden)]
pub async fn conformance(store: &dyn ProgressStore) {
    let key = format!("_kinesink/t/progress/{}.json", uuid::Uuid::new_v4());
    assert_eq!(
        store.read_progress(&key).await.unwrap(),
        None,
        "nothing stored yet"
    );
    let stale = ProgressTag("\"0123\"".into());
    assert_eq!(
        store
            .write_progress(
                &key,
                b"v0".to_vec(),
                &ProgressCondition::Unchanged(stale.clone())
            )
            .await
            .unwrap(),
        ProgressWrite::Conflict,
        "If-Match on a missing object"
    );
    let ProgressWrite::Written(t1) = store
        .write_progress(&key, b"v1".to_vec(), &ProgressCondition::Absent)
        .await
        .unwrap()
    else {
        panic!("the first write creates the object")
    };
    assert_eq!(
        store
            .write_progress(&key, b"other".to_vec(), &ProgressCondition::Absent)
            .await
            .unwrap(),
        ProgressWrite::Conflict,
        "If-None-Match: * on an existing object"
    );
    assert_eq!(
        store.read_progress(&key).await.unwrap(),
        Some((b"v1".to_vec(), t1.clone()))
    );
    // Two writers read v1; the first to write wins, the other's write changes nothing.
    let ProgressWrite::Written(t2) = store
        .write_progress(
            &key,
            b"v2".to_vec(),
            &ProgressCondition::Unchanged(t1.clone()),
        )
        .await
        .unwrap()
    else {
        panic!("the holder of the current tag writes")
    };
    assert_ne!(t1, t2);
    assert_eq!(
        store
            .write_progress(&key, b"zombie".to_vec(), &ProgressCondition::Unchanged(t1))
            .await
            .unwrap(),
        ProgressWrite::Conflict,
        "a stale tag is refused"
    );
    assert_eq!(
        store.read_progress(&key).await.unwrap(),
        Some((b"v2".to_vec(), t2.clone()))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keys_sit_under_the_hidden_kinesink_folder() {
        assert_eq!(
            progress_key("clicks", "shardId-000000000001"),
            "_kinesink/clicks/progress/shardId-000000000001.json"
        );
    }

    #[test]
    fn content_tags_differ_for_different_bytes_and_repeat_for_the_same() {
        assert_eq!(content_tag(b"a"), content_tag(b"a"));
        assert_ne!(content_tag(b"a"), content_tag(b"b"));
    }
}
