//! An in-memory destination for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::object_contents::ObjectContents;
use crate::sink::{ObjectSink, PutOutcome, SinkError};

/// Keeps objects in a map, each key written once (like the S3 and file sinks with conditional
/// writes: a put of an existing key keeps the first bytes and returns
/// [`PutOutcome::AlreadyWritten`] with the first put's contents); counts every put.
#[derive(Debug, Default)]
pub struct MemorySink {
    objects: Mutex<BTreeMap<String, (Vec<u8>, ObjectContents)>>,
    puts: Mutex<usize>,
    /// Progress objects, apart from the data (see [`crate::ProgressStore`]).
    progress: Mutex<BTreeMap<String, Vec<u8>>>,
}

mod progress;

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of all objects by key.
    ///
    /// # Panics
    /// Only if a writer panicked while holding the lock.
    #[must_use]
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects
            .lock()
            .expect("memory sink lock")
            .iter()
            .map(|(k, (body, _))| (k.clone(), body.clone()))
            .collect()
    }

    /// Number of successful puts so far.
    ///
    /// # Panics
    /// Only if a writer panicked while holding the lock.
    #[must_use]
    pub fn put_count(&self) -> usize {
        *self.puts.lock().expect("memory sink lock")
    }
}

#[async_trait]
impl ObjectSink for MemorySink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError> {
        *self.puts.lock().expect("memory sink lock") += 1;
        let mut objects = self.objects.lock().expect("memory sink lock");
        if let Some((existing, existing_contents)) = objects.get(key) {
            return Ok(PutOutcome::AlreadyWritten {
                existing_size: Some(existing.len() as u64),
                existing_contents: Some(existing_contents.clone()),
            });
        }
        objects.insert(key.to_owned(), (body, contents.clone()));
        Ok(PutOutcome::Written)
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinesink_sequence_position::SequencePosition;

    #[tokio::test]
    async fn a_key_is_written_once_and_a_second_put_keeps_the_first_bytes() {
        let sink = MemorySink::new();
        let first = ObjectContents {
            last: SequencePosition::new("7", 0),
            records: 1,
        };
        let second = ObjectContents {
            last: SequencePosition::new("9", 0),
            records: 2,
        };
        assert_eq!(
            sink.put("k", b"first".to_vec(), &first).await.unwrap(),
            PutOutcome::Written
        );
        assert_eq!(
            sink.put("k", b"second!".to_vec(), &second).await.unwrap(),
            PutOutcome::AlreadyWritten {
                existing_size: Some(5),
                existing_contents: Some(first),
            }
        );
        assert_eq!(sink.objects()["k"], b"first");
        assert_eq!(sink.put_count(), 2);
    }
}
