//! A local-directory destination (`file:///dir`), same keys as S3.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use crate::sink::{ObjectSink, PutOutcome, SinkError};

mod progress;

/// Writes each object as a file `<root>/<key>`, creating directories as needed.
///
/// Guarantees: a file appears complete or not at all under its name (written to a temporary
/// name in the same directory and synced first, so a crash never leaves a partial file under the
/// final name); a key that would escape the root (`..`, absolute) is refused. With conditional
/// writes (the default) a file is created exclusively: the synced temporary file is hard-linked
/// to the final name, which fails if that name exists, and a key already written is left as it
/// is ([`PutOutcome::AlreadyWritten`]); this needs a filesystem with hard links (every local
/// Linux filesystem). Without them the temporary file is renamed over the name.
#[derive(Debug, Clone)]
pub struct FileSink {
    root: PathBuf,
    conditional_writes: bool,
}

impl FileSink {
    /// A sink writing below `root` (created on first write if missing), each file created once.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            conditional_writes: true,
        }
    }

    /// The same sink, creating files exclusively (`true`, the default) or replacing existing ones
    /// (`false`, e.g. for `dry-run` previews written again into the same directory).
    #[must_use]
    pub fn with_conditional_writes(mut self, conditional_writes: bool) -> Self {
        self.conditional_writes = conditional_writes;
        self
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
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<PutOutcome, SinkError> {
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
        let conditional = self.conditional_writes;
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<PutOutcome> {
            use std::io::Write;
            std::fs::create_dir_all(&dir)?;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            if !conditional {
                std::fs::rename(&tmp, &path)?;
                return Ok(PutOutcome::Written);
            }
            // link(2) never replaces an existing name: the exclusive create of a complete file.
            let linked = std::fs::hard_link(&tmp, &path);
            std::fs::remove_file(&tmp)?;
            match linked {
                Ok(()) => Ok(PutOutcome::Written),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Ok(PutOutcome::AlreadyWritten {
                        existing_size: std::fs::metadata(&path).ok().map(|m| m.len()),
                    })
                }
                Err(e) => Err(e),
            }
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
    async fn a_file_is_created_once_and_a_second_put_of_its_key_leaves_it_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        let key = "2026/11/22/10/a-1-0.gz";
        assert_eq!(
            sink.put(key, b"hello".to_vec()).await.unwrap(),
            PutOutcome::Written
        );
        let path = dir.path().join(key);
        let created = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A replay (same bytes) and, by construction impossible, different bytes: both leave
        // the first file, and report its size.
        assert_eq!(
            sink.put(key, b"hello".to_vec()).await.unwrap(),
            PutOutcome::AlreadyWritten {
                existing_size: Some(5)
            }
        );
        let outcome = sink.put(key, b"other bytes".to_vec()).await.unwrap();
        assert_eq!(outcome.size_mismatch(11), Some(5));
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            created,
            "the file was not rewritten"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("2026/11/22/10"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files remain");
    }

    #[tokio::test]
    async fn without_conditional_writes_an_object_is_written_as_a_file_at_its_key_and_overwrite_is_harmless()
     {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path()).with_conditional_writes(false);
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
