//! Progress objects in memory, with the same compare-and-swap as S3.

use async_trait::async_trait;

use super::MemorySink;
use crate::progress_store::{
    ProgressCondition, ProgressStore, ProgressTag, ProgressWrite, content_tag,
};
use crate::sink::SinkError;

impl MemorySink {
    /// A copy of all progress objects by key.
    ///
    /// # Panics
    /// Only if a writer panicked while holding the lock.
    #[must_use]
    pub fn progress_objects(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.progress.lock().expect("memory sink lock").clone()
    }
}

/// Guarantees: each operation is atomic (one lock); tags are content hashes.
#[async_trait]
impl ProgressStore for MemorySink {
    async fn read_progress(&self, key: &str) -> Result<Option<(Vec<u8>, ProgressTag)>, SinkError> {
        let map = self.progress.lock().expect("memory sink lock");
        Ok(map.get(key).map(|b| (b.clone(), content_tag(b))))
    }

    async fn write_progress(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: &ProgressCondition,
    ) -> Result<ProgressWrite, SinkError> {
        let mut map = self.progress.lock().expect("memory sink lock");
        let holds = match (condition, map.get(key)) {
            (ProgressCondition::Absent, None) => true,
            (ProgressCondition::Unchanged(tag), Some(bytes)) => content_tag(bytes) == *tag,
            _ => false,
        };
        if !holds {
            return Ok(ProgressWrite::Conflict);
        }
        let tag = content_tag(&body);
        map.insert(key.to_owned(), body);
        Ok(ProgressWrite::Written(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_keeps_progress_with_compare_and_swap() {
        crate::progress_store::conformance(&MemorySink::new()).await;
    }
}
