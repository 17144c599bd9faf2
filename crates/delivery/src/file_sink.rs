//! A local-directory destination (`file:///dir`), same keys as S3.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use crate::sink::{ObjectSink, SinkError};

mod progress;

/// Writes each object as a file `<root>/<key>`, creating directories as needed.
///
/// Guarantees: a file appears complete or not at all (written to a temporary name in the same
/// directory, synced, then renamed); a key that would escape the root (`..`, absolute) is refused.
#[derive(Debug, Clone)]
pub struct FileSink {
    root: PathBuf,
}

impl FileSink {
    /// A sink writing below `root` (created on first write if missing).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path_for(&self, key: &str) -> Option<PathBuf> {
        let rel = Path::new(key);
        if key.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.root.join(rel))
    }
}

#[async_trait]
impl ObjectSink for FileSink {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        let err = |message: String| SinkError {
            key: key.to_owned(),
            destination: self.describe(),
            message,
        };
        let path = self
            .path_for(key)
            .ok_or_else(|| err("the key is not a relative path inside the root".into()))?;
        let dir = path
            .parent()
            .expect("a joined relative path has a parent")
            .to_path_buf();
        let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(&dir)?;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| err(format!("writer task failed: {e}")))?;
        result.map_err(|e| err(e.to_string()))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_object_is_written_as_a_file_at_its_key_and_overwrite_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        sink.put("2026/11/22/10/a-1-0.gz", b"hello".to_vec())
            .await
            .unwrap();
        sink.put("2026/11/22/10/a-1-0.gz", b"hello".to_vec())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("2026/11/22/10/a-1-0.gz")).unwrap(),
            b"hello"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("2026/11/22/10"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files remain");
    }

    #[tokio::test]
    async fn keys_that_escape_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path().join("out"));
        for bad in ["../x", "/etc/x", "a/../../x", ""] {
            let e = sink.put(bad, vec![]).await.unwrap_err();
            assert!(e.to_string().contains("not a relative path"), "{bad}: {e}");
        }
    }
}
