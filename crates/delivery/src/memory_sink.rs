//! An in-memory destination for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::sink::{ObjectSink, SinkError};

/// Keeps objects in a map; counts every put (including overwrites).
#[derive(Debug, Default)]
pub struct MemorySink {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
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
        self.objects.lock().expect("memory sink lock").clone()
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
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        self.objects
            .lock()
            .expect("memory sink lock")
            .insert(key.to_owned(), body);
        *self.puts.lock().expect("memory sink lock") += 1;
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}
