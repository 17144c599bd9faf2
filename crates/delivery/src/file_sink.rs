//! A local-directory destination (`file:///dir`), same keys as S3.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use crate::object_contents::ObjectContents;
use crate::sink::SinkErrorClass;
use crate::sink::{ObjectSink, PutOutcome, SinkError};
use crate::write_failure::classify_io;

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
///
/// Which records a file holds is kept in a sidecar `.<file name>.kinesink` next to it (two
/// lines: the last record's `sequence.subsequence`, the record count; a hidden file, skipped by
/// Hive, Spark and Athena), created exclusively the same way BEFORE the file: the first writer
/// of a key claims it with its contents, a writer with other contents stops there (the key holds
/// other records; [`crate::write_once`] then uses another key), and a writer with the same
/// contents goes on to link the file. So a file with a sidecar always holds what the sidecar
/// says, and reading it back is one small read, with no decoding of the object. A file without
/// one (an older version, or written without conditional writes) reports no contents.
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
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError> {
        let err = |message: String, class: SinkErrorClass| SinkError {
            key: key.to_owned(),
            destination: self.describe(),
            message,
            class,
        };
        let path = self.path_for(key).ok_or_else(|| {
            err(
                "the key is not a relative path inside the root".into(),
                SinkErrorClass::Permanent,
            )
        })?;
        let dir = path
            .parent()
            .expect("a joined relative path has a parent")
            .to_path_buf();
        let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
        let conditional = self.conditional_writes;
        let contents = contents.clone();
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<PutOutcome> {
            std::fs::create_dir_all(&dir)?;
            write_synced(&tmp, &body)?;
            if !conditional {
                std::fs::rename(&tmp, &path)?;
                return Ok(PutOutcome::Written);
            }
            let outcome = write_exclusively(&tmp, &path, &contents);
            std::fs::remove_file(&tmp)?;
            outcome
        })
        .await
        .map_err(|e| {
            err(
                format!("writer task failed: {e}"),
                SinkErrorClass::Transient,
            )
        })?;
        result.map_err(|e| err(e.to_string(), classify_io(e.kind())))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The sidecar of the file at `path`: `.<file name>.kinesink` in the same directory.
fn sidecar_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.kinesink"))
}

/// The contents a sidecar records; `None` when it is missing or malformed.
fn read_sidecar(sidecar: &Path) -> Option<ObjectContents> {
    let text = std::fs::read_to_string(sidecar).ok()?;
    let mut lines = text.lines();
    ObjectContents::parse(lines.next()?, lines.next()?)
}

fn already_written(path: &Path, existing_contents: Option<ObjectContents>) -> PutOutcome {
    PutOutcome::AlreadyWritten {
        existing_size: std::fs::metadata(path).ok().map(|m| m.len()),
        existing_contents,
    }
}

/// Links the synced temporary file `tmp` to `path` unless `path` exists, after claiming the key
/// for `contents` with its sidecar (see [`FileSink`]). link(2) never replaces an existing name:
/// the exclusive create of a complete file.
fn write_exclusively(
    tmp: &Path,
    path: &Path,
    contents: &ObjectContents,
) -> std::io::Result<PutOutcome> {
    let sidecar = sidecar_path(path);
    if path.symlink_metadata().is_ok() {
        return Ok(already_written(path, read_sidecar(&sidecar)));
    }
    let sidecar_tmp = tmp.with_extension("kinesink.tmp");
    write_synced(
        &sidecar_tmp,
        format!("{}\n{}\n", contents.last_text(), contents.records).as_bytes(),
    )?;
    let claimed = std::fs::hard_link(&sidecar_tmp, &sidecar);
    std::fs::remove_file(&sidecar_tmp)?;
    match claimed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let claimant = read_sidecar(&sidecar);
            if claimant.as_ref() != Some(contents) {
                // Claimed by other records (whether or not their file was linked yet).
                return Ok(already_written(path, claimant));
            }
        }
        Err(e) => return Err(e),
    }
    match std::fs::hard_link(tmp, path) {
        Ok(()) => Ok(PutOutcome::Written),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(already_written(path, read_sidecar(&sidecar)))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_once;
    use kinesink_sequence_position::SequencePosition;

    fn contents(last: &str, records: u64) -> ObjectContents {
        ObjectContents {
            last: SequencePosition::new(last, 0),
            records,
        }
    }

    /// The files of `dir` that are not sidecars.
    fn data_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".kinesink"))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_file_is_created_once_and_a_second_put_of_its_key_leaves_it_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        let key = "2026/11/22/10/a-1-0.gz";
        let held = contents("5", 1);
        assert_eq!(
            sink.put(key, b"hello".to_vec(), &held).await.unwrap(),
            PutOutcome::Written
        );
        let path = dir.path().join(key);
        let created = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A replay (same bytes) and other records under the same key: both leave the first
        // file, and report its size and the records it holds.
        assert_eq!(
            sink.put(key, b"hello".to_vec(), &held).await.unwrap(),
            PutOutcome::AlreadyWritten {
                existing_size: Some(5),
                existing_contents: Some(held.clone()),
            }
        );
        assert_eq!(
            sink.put(key, b"other bytes".to_vec(), &contents("9", 3))
                .await
                .unwrap(),
            PutOutcome::AlreadyWritten {
                existing_size: Some(5),
                existing_contents: Some(held),
            }
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            created,
            "the file was not rewritten"
        );
        assert_eq!(
            data_files(&dir.path().join("2026/11/22/10")),
            vec!["a-1-0.gz".to_owned()],
            "no temporary files remain"
        );
    }

    #[tokio::test]
    async fn a_key_holding_fewer_records_sends_the_longer_object_to_the_alternative_key_and_the_same_records_are_done()
     {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        let key = "p/n-s-1-0.gz";
        // The first run cut records 1..=2 (last record 2), the replay cuts 1..=4.
        write_once(&sink, key, b"r1\nr2\n", &contents("2", 2))
            .await
            .unwrap();
        let placed = write_once(&sink, key, b"r1\nr2\nr3\nr4\n", &contents("4", 4))
            .await
            .unwrap();
        assert_eq!(placed.key, "p/n-s-1-0-4-0.gz");
        assert_eq!(placed.outcome, PutOutcome::Written);
        assert_eq!(placed.diverted_from.as_deref(), Some(key));
        let mut all = std::fs::read_to_string(dir.path().join(key)).unwrap();
        all.push_str(&std::fs::read_to_string(dir.path().join("p/n-s-1-0-4-0.gz")).unwrap());
        for record in ["r1", "r2", "r3", "r4"] {
            assert!(all.lines().any(|l| l == record), "{record} is in an object");
        }
        // The same records again, even in other bytes (a compacted Parquet object): done, no
        // further file.
        let same = write_once(&sink, key, b"R1R2", &contents("2", 2))
            .await
            .unwrap();
        assert_eq!(same.key, key);
        assert_eq!(same.diverted_from, None);
        assert!(matches!(same.outcome, PutOutcome::AlreadyWritten { .. }));
        let replay = write_once(&sink, key, b"r1\nr2\nr3\nr4\n", &contents("4", 4))
            .await
            .unwrap();
        assert_eq!(replay.key, "p/n-s-1-0-4-0.gz");
        assert!(matches!(replay.outcome, PutOutcome::AlreadyWritten { .. }));
        assert_eq!(
            data_files(&dir.path().join("p")),
            vec!["n-s-1-0-4-0.gz".to_owned(), "n-s-1-0.gz".to_owned()]
        );
    }

    #[tokio::test]
    async fn a_file_without_a_sidecar_holds_the_same_records_only_when_its_size_is_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        std::fs::create_dir_all(dir.path().join("p")).unwrap();
        // Written by an older version: no sidecar.
        std::fs::write(dir.path().join("p/n-s-1-0.gz"), b"r1\n").unwrap();
        let same_size = write_once(&sink, "p/n-s-1-0.gz", b"R1\n", &contents("1", 1))
            .await
            .unwrap();
        assert_eq!(same_size.key, "p/n-s-1-0.gz");
        let other_size = write_once(&sink, "p/n-s-1-0.gz", b"r1\nr2\n", &contents("2", 2))
            .await
            .unwrap();
        assert_eq!(other_size.key, "p/n-s-1-0-2-0.gz");
        assert_eq!(other_size.outcome, PutOutcome::Written);
    }

    #[tokio::test]
    async fn without_conditional_writes_an_object_is_written_as_a_file_at_its_key_and_overwrite_is_harmless()
     {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path()).with_conditional_writes(false);
        let held = contents("5", 1);
        sink.put("2026/11/22/10/a-1-0.gz", b"hello".to_vec(), &held)
            .await
            .unwrap();
        sink.put("2026/11/22/10/a-1-0.gz", b"hello".to_vec(), &held)
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
            let e = sink.put(bad, vec![], &contents("1", 1)).await.unwrap_err();
            assert!(e.to_string().contains("not a relative path"), "{bad}: {e}");
        }
    }
}
