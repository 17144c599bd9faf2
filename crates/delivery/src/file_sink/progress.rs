//! Progress objects in a local directory: compare-and-swap under a lock file.

use async_trait::async_trait;

use super::FileSink;
use crate::progress_store::{
    ProgressCondition, ProgressStore, ProgressTag, ProgressWrite, content_tag,
};
use crate::sink::SinkError;

impl FileSink {
    fn progress_error(&self, key: &str, message: String) -> SinkError {
        SinkError {
            key: key.to_owned(),
            destination: crate::ObjectSink::describe(self),
            message,
            class: crate::SinkErrorClass::Transient,
        }
    }
}

/// The file's bytes, or `None` when it does not exist.
fn read_if_present(path: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Guarantees: the tag is a hash of the content; a write takes an exclusive lock on
/// `.<file>.lock` beside the file (every kinesink process on the machine honours it), compares,
/// then replaces the file atomically (temporary file, sync, rename), so readers never see a
/// partial object and two writers never both replace the same version.
#[async_trait]
impl ProgressStore for FileSink {
    async fn read_progress(&self, key: &str) -> Result<Option<(Vec<u8>, ProgressTag)>, SinkError> {
        let path = self.path_for(key).ok_or_else(|| {
            self.progress_error(key, "the key is not a relative path inside the root".into())
        })?;
        let read = tokio::task::spawn_blocking(move || read_if_present(&path))
            .await
            .map_err(|e| self.progress_error(key, format!("reader task failed: {e}")))?
            .map_err(|e| self.progress_error(key, e.to_string()))?;
        Ok(read.map(|bytes| {
            let tag = content_tag(&bytes);
            (bytes, tag)
        }))
    }

    async fn write_progress(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: &ProgressCondition,
    ) -> Result<ProgressWrite, SinkError> {
        let path = self.path_for(key).ok_or_else(|| {
            self.progress_error(key, "the key is not a relative path inside the root".into())
        })?;
        let condition = condition.clone();
        let outcome = tokio::task::spawn_blocking(move || -> std::io::Result<ProgressWrite> {
            use std::io::Write;
            let dir = path.parent().expect("a joined relative path has a parent");
            std::fs::create_dir_all(dir)?;
            let name = path
                .file_name()
                .expect("a key path has a file name")
                .to_string_lossy()
                .into_owned();
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!(".{name}.lock")))?;
            lock.lock()?;
            let current = read_if_present(&path)?;
            let holds = match (&condition, &current) {
                (ProgressCondition::Absent, None) => true,
                (ProgressCondition::Unchanged(tag), Some(bytes)) => content_tag(bytes) == *tag,
                _ => false,
            };
            if !holds {
                return Ok(ProgressWrite::Conflict);
            }
            let tag = content_tag(&body);
            let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(ProgressWrite::Written(tag))
        })
        .await
        .map_err(|e| self.progress_error(key, format!("writer task failed: {e}")))?;
        outcome.map_err(|e| self.progress_error(key, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_keeps_progress_with_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        crate::progress_store::conformance(&FileSink::new(dir.path())).await;
    }
}
