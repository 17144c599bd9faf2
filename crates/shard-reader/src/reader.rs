//! The polling loop of one shard.

use std::sync::Arc;
use std::time::Duration;

use kinesink_record_deaggregation::KinesisRecord;

use crate::source::{ShardSource, SourceError, StartPosition};

/// Knobs of a [`ShardReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderSettings {
    /// Records per GetRecords call (1..=10000).
    pub max_records: u32,
    /// Pause after a call that returned no records.
    pub idle: Duration,
    /// Longest pause between retries after throttling or service errors.
    pub max_backoff: Duration,
}

/// What one [`ShardReader::next_batch`] returns.
#[derive(Debug, Clone, Default)]
pub struct ReadBatch {
    /// Records, in shard order, each exactly once.
    pub records: Vec<KinesisRecord>,
    /// How far behind the tip of the shard this batch is.
    pub millis_behind_latest: Option<i64>,
    /// `Some(children)` once a closed shard has been read to its end (after these records).
    pub shard_end: Option<Vec<String>>,
}

/// Reads one shard from a start position to its end.
///
/// Guarantees: every record after the start position is returned exactly once and in order,
/// across expired iterators (re-created after the last record returned), throttling and
/// transient errors (retried with capped exponential backoff, never skipped). Dropping a
/// pending [`ShardReader::next_batch`] future loses nothing: state only changes once a response
/// has been received.
pub struct ShardReader {
    source: Arc<dyn ShardSource>,
    shard_id: String,
    start: StartPosition,
    settings: ReaderSettings,
    iterator: Option<String>,
    last_sequence: Option<String>,
    shard_end: Option<Vec<String>>,
    pause_before_next: Option<Duration>,
}

impl std::fmt::Debug for ShardReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardReader")
            .field("shard_id", &self.shard_id)
            .field("last_sequence", &self.last_sequence)
            .finish_non_exhaustive()
    }
}

impl ShardReader {
    /// A reader of `shard_id` starting at `start`.
    #[must_use]
    pub fn new(
        source: Arc<dyn ShardSource>,
        shard_id: impl Into<String>,
        start: StartPosition,
        settings: ReaderSettings,
    ) -> Self {
        let shard_id = shard_id.into();
        // Registered at zero, so the shard's retry series exist before its first retry.
        for metric in [
            kinesink_metric_names::READ_THROTTLES,
            kinesink_metric_names::READ_RETRIES,
        ] {
            metrics::counter!(metric, "shard_id" => shard_id.clone()).increment(0);
        }
        Self {
            source,
            shard_id,
            start,
            settings,
            iterator: None,
            last_sequence: None,
            shard_end: None,
            pause_before_next: None,
        }
    }

    /// The shard being read.
    #[must_use]
    pub fn shard_id(&self) -> &str {
        &self.shard_id
    }

    /// The next batch of records (possibly empty, after the idle pause when the previous was).
    ///
    /// # Errors
    /// [`SourceError::NotFound`] when the stream or shard is gone; other errors are retried.
    pub async fn next_batch(&mut self) -> Result<ReadBatch, SourceError> {
        if let Some(children) = &self.shard_end {
            return Ok(ReadBatch {
                records: Vec::new(),
                millis_behind_latest: Some(0),
                shard_end: Some(children.clone()),
            });
        }
        if let Some(pause) = self.pause_before_next {
            tokio::time::sleep(pause).await;
            self.pause_before_next = None;
        }
        let mut delays = self.backoff();
        loop {
            let iterator = match &self.iterator {
                Some(i) => i.clone(),
                None => {
                    let position = match &self.last_sequence {
                        Some(seq) => StartPosition::AfterSequence(seq.clone()),
                        None => self.start.clone(),
                    };
                    match self.source.shard_iterator(&self.shard_id, &position).await {
                        Ok(i) => {
                            self.iterator = Some(i.clone());
                            i
                        }
                        Err(e) => {
                            self.back_off(e, &mut delays).await?;
                            continue;
                        }
                    }
                }
            };
            match self
                .source
                .get_records(&iterator, self.settings.max_records)
                .await
            {
                Ok(page) => {
                    let shard = self.shard_id.clone();
                    metrics::counter!(kinesink_metric_names::DATA_READ_RECORDS, "shard_id" => shard.clone())
                        .increment(page.records.len() as u64);
                    metrics::counter!(kinesink_metric_names::DATA_READ_BYTES, "shard_id" => shard.clone())
                        .increment(page.records.iter().map(|r| r.data.len() as u64).sum());
                    if let Some(ms) = page.millis_behind_latest {
                        #[allow(clippy::cast_precision_loss)]
                        metrics::gauge!(kinesink_metric_names::MILLIS_BEHIND_LATEST, "shard_id" => shard)
                            .set(ms as f64);
                    }
                    if let Some(last) = page.records.last() {
                        self.last_sequence = Some(last.sequence_number.clone());
                    }
                    if page.records.is_empty() {
                        self.pause_before_next = Some(self.settings.idle);
                    }
                    self.iterator = page.next_iterator;
                    let shard_end = self.iterator.is_none().then_some(page.child_shard_ids);
                    self.shard_end.clone_from(&shard_end);
                    return Ok(ReadBatch {
                        records: page.records,
                        millis_behind_latest: page.millis_behind_latest,
                        shard_end,
                    });
                }
                Err(SourceError::ExpiredIterator) => {
                    tracing::debug!(shard_id = %self.shard_id, "iterator expired; re-creating after the last record read");
                    self.iterator = None;
                }
                Err(e) => self.back_off(e, &mut delays).await?,
            }
        }
    }

    /// Exponential backoff with jitter from 100 ms up to `max_backoff`, never giving up.
    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(self.settings.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
    }

    async fn back_off(
        &self,
        error: SourceError,
        delays: &mut impl Iterator<Item = Duration>,
    ) -> Result<(), SourceError> {
        if matches!(error, SourceError::NotFound(_)) {
            return Err(error);
        }
        let pause = delays.next().unwrap_or(self.settings.max_backoff);
        let metric = if matches!(error, SourceError::Throttled(_)) {
            kinesink_metric_names::READ_THROTTLES
        } else {
            kinesink_metric_names::READ_RETRIES
        };
        metrics::counter!(metric, "shard_id" => self.shard_id.clone()).increment(1);
        tracing::warn!(shard_id = %self.shard_id, error = %error, retry_in_ms = pause.as_millis() as u64, "read failed; retrying");
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_source::MemoryShardSource;
    use crate::source::ShardInfo;

    fn rec(seq: u64) -> KinesisRecord {
        KinesisRecord {
            data: seq.to_string().into_bytes(),
            partition_key: "k".into(),
            sequence_number: seq.to_string(),
            approximate_arrival_ms: 0,
        }
    }

    fn settings(max_records: u32) -> ReaderSettings {
        ReaderSettings {
            max_records,
            idle: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        }
    }

    fn source(closed: bool, n: u64) -> Arc<MemoryShardSource> {
        let s = Arc::new(MemoryShardSource::new());
        s.add_shard(
            ShardInfo {
                shard_id: "s0".into(),
                parent_shard_ids: vec![],
                closed,
            },
            (1..=n).map(rec).collect(),
            vec!["s1".into(), "s2".into()],
        );
        s
    }

    async fn read_all(reader: &mut ShardReader) -> (Vec<String>, Vec<String>) {
        let mut seqs = Vec::new();
        loop {
            let b = reader.next_batch().await.unwrap();
            seqs.extend(b.records.iter().map(|r| r.sequence_number.clone()));
            if let Some(children) = b.shard_end {
                return (seqs, children);
            }
        }
    }

    #[tokio::test]
    async fn a_closed_shard_is_read_to_its_end_in_order_and_reports_its_children() {
        let mut r = ShardReader::new(
            source(true, 25),
            "s0",
            StartPosition::TrimHorizon,
            settings(7),
        );
        let (seqs, children) = read_all(&mut r).await;
        assert_eq!(seqs, (1..=25).map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(children, vec!["s1", "s2"]);
    }

    #[tokio::test]
    async fn expired_iterators_are_recreated_after_the_last_record_without_gaps_or_repeats() {
        let src = source(true, 20);
        let mut r = ShardReader::new(src.clone(), "s0", StartPosition::TrimHorizon, settings(6));
        let first = r.next_batch().await.unwrap();
        assert_eq!(first.records.len(), 6);
        src.expire_next_iterators(2);
        let (rest, _) = read_all(&mut r).await;
        assert_eq!(rest, (7..=20).map(|n| n.to_string()).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn resuming_after_a_sequence_number_starts_with_the_next_record() {
        let mut r = ShardReader::new(
            source(true, 10),
            "s0",
            StartPosition::AfterSequence("4".into()),
            settings(100),
        );
        let (seqs, _) = read_all(&mut r).await;
        assert_eq!(seqs.first().map(String::as_str), Some("5"));
        assert_eq!(seqs.len(), 6);
    }

    #[tokio::test]
    async fn an_open_shard_at_its_tip_returns_empty_batches_caught_up() {
        let mut r = ShardReader::new(
            source(false, 3),
            "s0",
            StartPosition::TrimHorizon,
            settings(100),
        );
        assert_eq!(r.next_batch().await.unwrap().records.len(), 3);
        let b = r.next_batch().await.unwrap();
        assert!(b.records.is_empty() && b.shard_end.is_none());
        assert_eq!(b.millis_behind_latest, Some(0));
    }

    #[tokio::test]
    async fn a_missing_shard_is_an_error_not_a_retry_loop() {
        let mut r = ShardReader::new(
            source(false, 3),
            "nope",
            StartPosition::TrimHorizon,
            settings(100),
        );
        assert!(matches!(
            r.next_batch().await,
            Err(SourceError::NotFound(_))
        ));
    }
}
