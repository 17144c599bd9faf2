//! Which shards the destination currently refuses for good: what `/readyz` reports while an
//! operator has something to fix (a deleted bucket, a revoked permission, a disabled KMS key).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The shards whose last destination write failed permanently (see
/// [`crate::SinkErrorClass::Permanent`]) with no success since.
///
/// Guarantees: a shard is refusing from its first permanent failure until its next successful
/// write (or until it is forgotten, when its reader stops); [`DestinationHealth::refused`] and
/// [`DestinationHealth::accepted`] say when that state changes, so the caller reports each
/// change once rather than each retry.
#[derive(Debug, Default)]
pub struct DestinationHealth {
    refusing: Mutex<BTreeMap<String, String>>,
}

impl DestinationHealth {
    /// No shard refused yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a permanent failure of `shard_id`'s write (`cause`: the error line). Returns
    /// whether the shard was not refused before (report it then).
    pub fn refused(&self, shard_id: &str, cause: &str) -> bool {
        self.lock()
            .insert(shard_id.to_owned(), cause.to_owned())
            .is_none()
    }

    /// Notes a successful write of `shard_id`. Returns whether it was refused until now
    /// (report the recovery then).
    pub fn accepted(&self, shard_id: &str) -> bool {
        self.lock().remove(shard_id).is_some()
    }

    /// Forgets a shard whose reader stopped (its next owner reports its own failures).
    pub fn forget(&self, shard_id: &str) {
        self.lock().remove(shard_id);
    }

    /// Whether any shard is refused now.
    #[must_use]
    pub fn refusing(&self) -> bool {
        !self.lock().is_empty()
    }

    /// The refused shards and their causes.
    #[must_use]
    pub fn causes(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .map(|(s, c)| (s.clone(), c.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.refusing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_refusing_from_its_first_permanent_failure_until_its_next_success() {
        let health = DestinationHealth::new();
        assert!(!health.refusing());
        assert!(
            health.refused("s-1", "NoSuchBucket"),
            "first failure is reported"
        );
        assert!(
            !health.refused("s-1", "NoSuchBucket"),
            "a retry's failure is not"
        );
        assert!(health.refusing());
        assert!(health.refused("s-2", "NoSuchBucket"));
        assert!(health.accepted("s-1"), "the recovery is reported");
        assert!(!health.accepted("s-1"), "once");
        assert!(health.refusing(), "s-2 still refused");
        health.forget("s-2");
        assert!(!health.refusing());
    }
}
