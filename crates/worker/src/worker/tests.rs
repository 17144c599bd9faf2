//! Tests of the worker's lease cycle and shutdown with memory services.

use super::*;
use crate::destination_progress::stored_progress;
use crate::flaky_lease_table::FlakyTable;
use kinesink_delivery::MemorySink;
use kinesink_sequence_position::SequencePosition;
use kinesink_shard_reader::MemoryShardSource;
use std::time::Instant;

fn running_shard() -> RunningShard {
    RunningShard {
        stop: CancellationToken::new(),
        lost: CancellationToken::new(),
        caught_up: Arc::new(AtomicBool::new(false)),
        handle: tokio::spawn(async { ShardOutcome::Stopped }),
    }
}

/// Worker `a` of delivery `r` on stream `s`, everything else at its default.
fn minimal_settings() -> WorkerSettings {
    crate::test_fixtures::settings("r", "a")
}

#[tokio::test]
async fn a_reconfirmation_cut_short_by_a_table_error_still_stops_the_readers_of_leases_found_taken()
{
    let settings = minimal_settings();
    let table = Arc::new(FlakyTable::new(false));
    for s in ["s-0", "s-1"] {
        table
            .create_if_missing(&Lease::new(s, vec![], Checkpoint::TrimHorizon))
            .await
            .unwrap();
    }
    let keeper = LeaseKeeper::new(table.clone(), "a");
    keeper.take("s-0", 0).await.unwrap().unwrap();
    keeper.take("s-1", 0).await.unwrap().unwrap();
    let running: BTreeMap<String, RunningShard> = ["s-0", "s-1"]
        .into_iter()
        .map(|s| (s.to_owned(), running_shard()))
        .collect();
    // While a could not write its heartbeat, b took s-0; a's re-confirming write of s-1 then
    // fails (DynamoDB still flaky), after s-0 was found taken.
    table.inner.take("s-0", 1, "b").await.unwrap().unwrap();
    *table.failing_take.lock().unwrap() = Some("s-1".to_owned());
    let worker = Worker::new(
        settings.clone(),
        crate::test_fixtures::ndjson_gzip(),
        Arc::new(MemoryShardSource::new()) as Arc<dyn ShardSource>,
        table.clone() as Arc<dyn LeaseTable>,
        Arc::new(MemorySink::new()) as Arc<dyn ObjectSink>,
        Arc::new(MemorySink::new()) as Arc<dyn kinesink_delivery::ProgressStore>,
    );
    assert!(worker.reconfirm_leases(&keeper, &running).await.is_err());
    assert!(
        running["s-0"].lost.is_cancelled(),
        "the reader of the lease found taken is stopped before the gate can reopen"
    );
    assert!(!running["s-1"].lost.is_cancelled());
    // The next cycle's re-confirmation succeeds and keeps s-1.
    worker.reconfirm_leases(&keeper, &running).await.unwrap();
    assert!(!running["s-1"].lost.is_cancelled());
    assert_eq!(keeper.held_shards().await, vec!["s-1".to_owned()]);
}

/// Worker `a` over `table` and `progress` (no stream, objects in memory), holding lease s-0
/// (taken by its keeper), with its delivery stats.
async fn worker_holding_s0(
    settings: &WorkerSettings,
    table: Arc<dyn LeaseTable>,
    progress: Arc<MemorySink>,
) -> (Worker, Arc<LeaseKeeper>, Lease, Arc<DeliveryStats>) {
    let worker = Worker::new(
        settings.clone(),
        crate::test_fixtures::ndjson_gzip(),
        Arc::new(MemoryShardSource::new()) as Arc<dyn ShardSource>,
        table.clone(),
        Arc::new(MemorySink::new()) as Arc<dyn ObjectSink>,
        progress as Arc<dyn kinesink_delivery::ProgressStore>,
    );
    let keeper = Arc::new(LeaseKeeper::new(table, "a"));
    let lease = keeper.take("s-0", 0).await.unwrap().unwrap();
    (worker, keeper, lease, Arc::new(DeliveryStats::default()))
}

/// The memory sink, each put taking `delay` (a slow S3).
struct SlowSink {
    inner: MemorySink,
    delay: Duration,
}

#[async_trait::async_trait]
impl ObjectSink for SlowSink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        contents: &kinesink_delivery::ObjectContents,
    ) -> Result<kinesink_delivery::PutOutcome, kinesink_delivery::SinkError> {
        tokio::time::sleep(self.delay).await;
        self.inner.put(key, body, contents).await
    }
    fn describe(&self) -> String {
        "slow memory".to_owned()
    }
}

#[tokio::test]
async fn a_graceful_stop_whose_writes_outlast_the_failover_time_delivers_checkpoints_and_releases()
{
    // Objects are cut only at the stop (buffer interval 15 min); writing one takes 1.5 s, longer
    // than the failover time (1 s) counted from the last heartbeat before the stop.
    let settings = WorkerSettings {
        reader: ReaderSettings {
            idle: Duration::from_millis(100),
            ..crate::test_fixtures::settings("drain", "a").reader
        },
        failover_time: Duration::from_millis(1000),
        buffer: kinesink_delivery::BufferLimits {
            interval_ms: 900_000,
            ..crate::test_fixtures::settings("drain", "a").buffer
        },
        ..crate::test_fixtures::settings("drain", "a")
    };
    let source = crate::test_fixtures::one_shard_of_fifty();
    let table = Arc::new(FlakyTable::new(false));
    let sink = Arc::new(SlowSink {
        inner: MemorySink::new(),
        delay: Duration::from_millis(1500),
    });
    let worker = Worker::new(
        settings.clone(),
        crate::test_fixtures::ndjson_gzip(),
        source as Arc<dyn ShardSource>,
        table.clone() as Arc<dyn LeaseTable>,
        sink.clone() as Arc<dyn ObjectSink>,
        Arc::new(MemorySink::new()) as Arc<dyn kinesink_delivery::ProgressStore>,
    );
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.run(shutdown.clone(), RunOptions::default()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        table.inner.list().await.unwrap()[0].owner.as_deref(),
        Some("a")
    );
    shutdown.cancel();
    let summary = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the graceful stop finishes (no write left waiting at an expired gate)")
        .unwrap()
        .unwrap();
    assert_eq!(summary.records, 50);
    assert_eq!(sink.inner.put_count(), 1);
    let lease = table.inner.list().await.unwrap().remove(0);
    assert_eq!(
        lease.checkpoint,
        Checkpoint::Sequence(SequencePosition::new("1050", 0)),
        "checkpointed after the object"
    );
    assert_eq!(lease.owner, None, "released");
}

#[tokio::test]
async fn a_running_worker_whose_heartbeat_is_refused_for_good_stops_at_once_not_after_the_retry_duration()
 {
    let settings = WorkerSettings {
        failover_time: Duration::from_millis(1000),
        lease_retry_duration: Duration::from_secs(600),
        ..crate::test_fixtures::settings("refused", "a")
    };
    let table = Arc::new(FlakyTable::new(false));
    let worker = Worker::new(
        settings.clone(),
        crate::test_fixtures::ndjson_gzip(),
        Arc::new(MemoryShardSource::new()) as Arc<dyn ShardSource>,
        table.clone() as Arc<dyn LeaseTable>,
        Arc::new(MemorySink::new()) as Arc<dyn ObjectSink>,
        Arc::new(MemorySink::new()) as Arc<dyn kinesink_delivery::ProgressStore>,
    );
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.run(shutdown.clone(), RunOptions::default()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The role lost its DynamoDB permissions.
    table
        .heartbeat_refused
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("a refused heartbeat stops the worker at once, not after leases.retry_duration_s")
        .unwrap();
    let e = result.unwrap_err().to_string();
    assert!(e.contains("AccessDeniedException"), "{e}");
    shutdown.cancel();
}

#[tokio::test]
async fn a_shard_taken_again_while_this_workers_previous_reader_runs_starts_only_after_it_stopped()
{
    // Both readers would write with this worker's one fencing counter: the older one could
    // record flush progress on the newer one's lease. So the new reader claims the shard's
    // progress object (its first act) only once the previous reader has ended.
    let settings = minimal_settings();
    let table = Arc::new(kinesink_lease_coordination::MemoryLeaseTable::new());
    table
        .create_if_missing(&Lease::new("s-0", vec![], Checkpoint::TrimHorizon))
        .await
        .unwrap();
    let progress = Arc::new(MemorySink::new());
    let (worker, keeper, lease, stats) =
        worker_holding_s0(&settings, table.clone(), progress.clone()).await;
    let (end_previous, previous_ends) = tokio::sync::oneshot::channel::<()>();
    let previous = tokio::spawn(async move {
        let _ = previous_ends.await;
        ShardOutcome::LeaseLost
    });
    let claimed = async || {
        stored_progress(progress.as_ref(), "r", "s-0")
            .await
            .unwrap()
            .is_some()
    };
    let shard = worker.start_shard(&lease, &keeper, &stats, Some(previous));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !claimed().await,
        "the new reader claimed the shard while the previous one still ran"
    );
    end_previous.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !claimed().await {
        assert!(
            Instant::now() < deadline,
            "the new reader never started after the previous one ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shard.lost.cancel();
}

/// The chaos test's zombie: worker `a` stops right after its heartbeat (its next scan waits
/// four failover times), another worker takes the lease meanwhile, and the scan `a` wakes to
/// already shows the new owner; with `heartbeat_fails`, `a`'s heartbeats fail from then on, so
/// no re-confirmation follows one. Either way `a` must find the loss by a fenced write that is
/// refused before acting on the scan: every lease lost after ownership expired is found by a
/// fenced write, never only by reading.
async fn zombie_finds_its_taken_lease_by_a_refused_fenced_write(heartbeat_fails: bool) {
    let failover = Duration::from_millis(600);
    let settings = WorkerSettings {
        failover_time: failover,
        ..crate::test_fixtures::settings("paused", "a")
    };
    let table = Arc::new(FlakyTable::new(false));
    let source = Arc::new(MemoryShardSource::new());
    source.add_shard(
        kinesink_shard_reader::ShardInfo {
            shard_id: "s-0".into(),
            parent_shard_ids: vec![],
            closed: false,
        },
        vec![],
        vec![],
    );
    let worker = Worker::new(
        settings,
        crate::test_fixtures::ndjson_gzip(),
        source as Arc<dyn ShardSource>,
        table.clone() as Arc<dyn LeaseTable>,
        Arc::new(MemorySink::new()) as Arc<dyn ObjectSink>,
        Arc::new(MemorySink::new()) as Arc<dyn kinesink_delivery::ProgressStore>,
    );
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.run(shutdown.clone(), RunOptions::default()));
    let owner = async || table.inner.list().await.unwrap()[0].owner.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while table.inner.list().await.unwrap().is_empty() || owner().await.as_deref() != Some("a") {
        assert!(Instant::now() < deadline, "a took the lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    table
        .heartbeat_down
        .store(heartbeat_fails, Ordering::Relaxed);
    *table.next_scan_pause.lock().unwrap() = Some(failover * 4);
    let deadline = Instant::now() + Duration::from_secs(5);
    while table.next_scan_pause.lock().unwrap().is_some() {
        assert!(Instant::now() < deadline, "a's next scan began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // a is "paused" in its scan, past the failover time: b takes the lease.
    tokio::time::sleep(failover + Duration::from_millis(200)).await;
    let counter = table.inner.list().await.unwrap()[0].counter;
    table
        .inner
        .take("s-0", counter, "b")
        .await
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !table
        .refused_takes
        .lock()
        .unwrap()
        .contains(&("s-0".to_owned(), "a".to_owned()))
    {
        if Instant::now() >= deadline {
            let refused = table.refused_takes.lock().unwrap().clone();
            panic!(
                "a woke and found the lease taken by a refused fenced write; refused takes: {refused:?}, owner {:?}",
                owner().await
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
}

#[tokio::test]
async fn a_worker_paused_between_its_heartbeat_and_its_scan_finds_a_lease_taken_meanwhile_by_a_refused_fenced_write()
 {
    zombie_finds_its_taken_lease_by_a_refused_fenced_write(false).await;
}

#[tokio::test]
async fn a_zombie_whose_first_heartbeat_after_waking_fails_still_finds_a_lease_taken_meanwhile_by_a_refused_fenced_write()
 {
    // Its first heartbeat after waking fails (a throttle or a lost answer), as the chaos
    // test's zombie's did: no re-confirmation in that cycle, yet the loss is found by a
    // refused fenced write, not by the scan alone.
    zombie_finds_its_taken_lease_by_a_refused_fenced_write(true).await;
}

/// A shard whose progress object says it ended while its lease row does not (a worker killed
/// between the two writes) gets SHARD_END written to the row before anything else. That write
/// meeting a DynamoDB outage (found by review: it was one unretried call, and any error stopped
/// the worker) is retried like the task's own lease writes, until DynamoDB answers again.
#[tokio::test]
async fn a_shard_end_checkpoint_written_at_take_rides_out_a_dynamodb_outage() {
    let settings = minimal_settings();
    let table = Arc::new(FlakyTable::new(true));
    table
        .create_if_missing(&Lease::new("s-0", vec![], Checkpoint::TrimHorizon))
        .await
        .unwrap();
    let progress = Arc::new(MemorySink::new());
    let ended = Lease::new("s-0", vec![], Checkpoint::ShardEnd);
    kinesink_delivery::ProgressStore::write_progress(
        progress.as_ref(),
        &kinesink_delivery::progress_key("r", "s-0"),
        kinesink_lease_coordination::ShardProgress::of_lease(&ended)
            .claimed_by("earlier")
            .encode(),
        &kinesink_delivery::ProgressCondition::Absent,
    )
    .await
    .unwrap();
    let (worker, keeper, lease, stats) =
        worker_holding_s0(&settings, table.clone(), progress.clone()).await;
    let shard = worker.start_shard(&lease, &keeper, &stats, None);

    let deadline = Instant::now() + Duration::from_secs(5);
    while table.checkpoint_calls.load(Ordering::Relaxed) < 2 {
        assert!(
            !shard.handle.is_finished(),
            "the shard ended on the first failed write instead of retrying it"
        );
        assert!(Instant::now() < deadline, "no retry within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !shard.handle.is_finished(),
        "still retrying during the outage"
    );

    table.down.store(false, Ordering::Relaxed);
    let outcome = tokio::time::timeout(Duration::from_secs(10), shard.handle)
        .await
        .expect("the shard ends once DynamoDB answers")
        .unwrap();
    assert!(
        matches!(outcome, ShardOutcome::Ended),
        "the shard ends as ended: {outcome:?}"
    );
    let row = table
        .inner
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.shard_id == "s-0")
        .unwrap();
    assert_eq!(row.checkpoint, Checkpoint::ShardEnd);
}
