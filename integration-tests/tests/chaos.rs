//! The chaos test: 3 worker processes on a 4-shard stream while a producer writes events with
//! unique ids (plain and KPL-aggregated, ~1% malformed: not JSON, no partition key, a corrupt
//! KPL aggregate, a value the Parquet schema cannot take), delivered as zstd Parquet through a
//! jq transform, with the source record backup on; meanwhile: kill -9 of a random
//! worker every ~10 s (restarted at once, as an orchestrator would), one SIGTERM, one worker
//! paused with SIGSTOP past the failover time and resumed (a zombie), a shard split and a merge,
//! and S3 and DynamoDB failing a share of requests through a fault-injecting proxy (500s,
//! throttling, responses lost after the write happened, connections dropped). Then the whole
//! lease table is dropped (DeleteTable on the stand-in, at ~45 s) and, 10 s later, DynamoDB is
//! down for 60 s: the proxy refuses every request while events are still produced (50/s) and
//! the kills go on; the run continues until every worker is ready again after it.
//!
//! At the end every object is read back and one line is printed:
//! `records produced, delivered, in error prefix, duplicates, missing, kills, reshards, faults injected`.
//! Pass: duplicates 0, missing 0, every record as read in the backup exactly once (malformed
//! ones included), every malformed record in the error prefix exactly once and
//! under its error output type (all four kinds), no worker exiting by itself, the final catch-up
//! run succeeding at its first try, every fault type injected into both S3 and DynamoDB, the
//! zombie losing a lease and having a fenced write refused (its `/metrics` and log), and records
//! delivered from each shard the split and the merge made (shard ids in object keys); the
//! dropped table noticed and its rows recreated from the progress in the destination (WARN lines
//! in the workers' logs); more than 50 DynamoDB requests refused during the outage, every worker
//! running through its first 10 s answering `/readyz` 503, and every worker slot answering 200
//! within 60 s after it (the workers ride it out: `leases.retry_duration_s` is 600 s).
//!
//! Size: `KINESINK_CHAOS_RECORDS` (default 40,000: kinesis-mock slows sharply past ~10,000
//! records per shard), `KINESINK_CHAOS_SECONDS` of chaos (default 60, extended until the outage
//! is over) and `KINESINK_CHAOS_OUTAGE_SECONDS` (default 60). With
//! `KINESINK_CHAOS_READER=efo` the workers read with enhanced fan-out (needs the fake). With
//! `KINESINK_CHAOS_KINESIS=fake` the stream lives in the project's fast fake Kinesis
//! (`kinesink_integration_tests::fake_kinesis`, which also splits and merges) instead of
//! kinesis-mock; DynamoDB and S3 stay on moto. The long run (`scripts/chaos-long`):
//! `KINESINK_CHAOS_KINESIS=fake KINESINK_CHAOS_RECORDS=1000000 KINESINK_CHAOS_SECONDS=300 cargo
//! nextest run -p kinesink-integration-tests --features stand-ins --test chaos --no-capture`.
//!
//! The Iceberg variant (`chaos_with_competing_commits_…`, `DESTINATION=iceberg
//! scripts/chaos-long`) runs the same schedule (`common::chaos_schedule`) into an Iceberg table
//! (SQL catalog on SQLite, warehouse in moto's S3 behind the same S3 fault proxy) while a
//! pyiceberg process commits table properties to the same table in a loop, so that kinesink's
//! commits lose the catalog's compare-and-swap; one of those properties,
//! `commit.retry.num-retries = 0`, stops iceberg-rust from retrying a lost swap inside, so each
//! one goes through kinesink's own conflict handling (reload, fence again, commit again) and
//! its `kinesink_iceberg_commit_conflicts_total` must grow. Read back by pyiceberg: 0 duplicates, 0 missing, records in = rows in the table +
//! records in the error output, each malformed record under its error output type (JSON without
//! `event_type` fails the variant's transform: the Iceberg destination takes no
//! `partition_query`), every shard's position in the table, and the same zombie, lease-table,
//! outage and fault checks as above.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;

use common::chaos_run::*;
use common::chaos_schedule::{ChaosRun, ChaosTarget, expected_error_type_for, run_chaos};
use common::lease_table_chaos::{READY_AGAIN_WITHIN, log_lines_containing};
use common::*;

/// Versioning enabled: every key must end with one version (each object created once).
const BUCKET: &str = "kinesink-it-chaos-versioned";

#[tokio::test(flavor = "multi_thread")]
async fn chaos_kills_pauses_reshards_and_faults_leave_every_record_exactly_once() {
    let ChaosRun {
        setup,
        stream,
        fake,
        kinesis,
        s3_proxy,
        dynamodb_proxy,
        produced,
        outage,
        final_run,
        faults,
        started,
        kills,
        reshards,
        sigterms,
        zombies,
        self_exits,
        exits,
        zombie_id,
        zombie_before,
        zombie_evidence,
        table_dropped_at,
    } = run_chaos(BUCKET, ChaosTarget::Objects, |_| {}).await;
    let delivered = read_back(BUCKET, &stream).await;
    let Tally {
        delivered_good,
        in_error_prefix,
        duplicates,
        missing,
        missing_examples,
        unknown_events,
    } = tally(&produced, &delivered);
    println!(
        "chaos: records produced {}, delivered {delivered_good}, in error prefix {in_error_prefix}, duplicates {duplicates}, missing {missing}, kills {kills}, reshards {reshards}, faults injected {faults} (S3 {} of {} requests, DynamoDB {} of {}), sigterms {sigterms}, zombies {zombies}, self-exits {self_exits}, {:.0} s",
        produced.good() + produced.malformed.len() as u64,
        s3_proxy.counters.faults(),
        s3_proxy
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        dynamodb_proxy.counters.faults(),
        dynamodb_proxy
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    );
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for t in delivered.error_types.values() {
        *by_type.entry(t.as_str()).or_insert(0) += 1;
    }
    println!("chaos: error output by type {by_type:?}");
    let table_missing = log_lines_containing(setup.dir.path(), "the lease table is missing");
    let rows_recreated = log_lines_containing(setup.dir.path(), "lease row was missing");
    println!(
        "chaos: lease table dropped at {table_dropped_at:?} ({table_missing} table-missing and {rows_recreated} row-recreated WARN lines); \
         DynamoDB outage of {:?}: {} requests refused, {} events produced meanwhile, /readyz 503 from {:?} (expected from {:?}), every worker ready again after {:?}",
        outage.length,
        outage.refused,
        outage.produced.1,
        outage.unready,
        outage.expected_unready,
        outage.ready_again_after,
    );
    let fault_kinds = [("S3", &s3_proxy), ("DynamoDB", &dynamodb_proxy)]
        .map(|(service, proxy)| (service, faults_by_type(&proxy.counters)));
    println!("chaos: faults by service and type {fault_kinds:?}");
    println!("chaos: events by shard {:?}", delivered.events_by_shard);
    if let Some(f) = &fake {
        let c = &f.counters;
        println!(
            "chaos: fake Kinesis served {} GetRecords calls and {} SubscribeToShard subscriptions",
            c.get_records.load(std::sync::atomic::Ordering::Relaxed),
            c.subscriptions.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    assert!(
        final_run.status.success(),
        "the final catch-up run succeeds at its first try"
    );
    // Each kind of malformed record lands under Firehose's error output type for it.
    let mut kinds_in_type = [0_u32; 4];
    for marker in &produced.malformed {
        let kind: u64 = marker.rsplit('-').next().unwrap().parse().unwrap();
        let found = delivered.error_types.get(marker).map(String::as_str);
        assert_eq!(found, Some(expected_error_type(kind)), "{marker}");
        kinds_in_type[(kind % 4) as usize] += 1;
    }
    assert!(
        kinds_in_type.iter().all(|n| *n > 0),
        "every kind of malformed record, each in its error output type: {kinds_in_type:?}"
    );
    for (service, kinds) in &fault_kinds {
        for (kind, n) in kinds {
            assert!(*n > 0, "no {kind} injected into {service}: {fault_kinds:?}");
        }
    }
    let zombie_log = std::fs::read_to_string(setup.log_path(&zombie_id)).unwrap_or_default();
    assert!(
        zombie_evidence.is_some()
            && (zombie_log.contains("a fenced lease write was refused")
                || zombie_log.contains("a fenced write was refused: the shard's progress object")),
        "the zombie {zombie_id} lost a lease and had a fenced write refused (metrics after the \
         pause {zombie_evidence:?}, before {zombie_before:?}); its log:\n{zombie_log}"
    );
    assert!(
        table_missing >= 1 && rows_recreated >= 1,
        "a worker noticed the dropped lease table and recreated its rows from the progress in \
         the destination ({table_missing} table-missing, {rows_recreated} row-recreated WARN lines)"
    );
    assert!(
        outage.refused > 50,
        "the workers kept trying DynamoDB during the outage: {outage:?}"
    );
    assert!(
        !outage.expected_unready.is_empty() && outage.expected_unready.is_subset(&outage.unready),
        "every worker running through the outage's first seconds answered /readyz 503: {outage:?}"
    );
    assert!(
        outage.ready_again_after.is_some(),
        "every worker slot answered /readyz 200 within {READY_AGAIN_WITHIN:?} after the outage: \
         {outage:?}"
    );
    // Records were read from the shards the split and the merge made.
    let children: Vec<String> = kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap()
        .shards()
        .iter()
        .filter(|s| s.parent_shard_id().is_some())
        .map(|s| s.shard_id().to_owned())
        .collect();
    assert_eq!(children.len(), 3, "two from the split, one from the merge");
    for child in &children {
        assert!(
            delivered.events_by_shard.get(child).is_some_and(|n| *n > 0),
            "no records delivered from child shard {child}: {:?}",
            delivered.events_by_shard
        );
    }
    assert!(
        delivered.unexpected.is_empty(),
        "good records in the error output: {:?}",
        &delivered.unexpected[..delivered.unexpected.len().min(5)]
    );
    assert_eq!(unknown_events, 0, "events nobody produced");
    if duplicates > 0 || missing > 0 {
        // The workers' logs are the evidence: kept beyond the temporary directory.
        let kept = std::env::temp_dir().join(format!("kinesink-chaos-logs-{stream}"));
        let _ = std::fs::create_dir_all(&kept);
        for entry in std::fs::read_dir(setup.dir.path()).unwrap().flatten() {
            let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
        }
        eprintln!("chaos: worker logs kept in {}", kept.display());
    }
    assert_eq!(duplicates, 0);
    assert_eq!(
        missing,
        0,
        "missing, first ones: {:?}",
        &missing_examples[..missing_examples.len().min(5)]
    );
    assert_eq!(delivered_good, produced.good());
    assert_eq!(in_error_prefix, produced.malformed.len() as u64);
    // The source backup holds every record as read exactly once, malformed ones included.
    let backed_up_once = produced
        .chunks
        .iter()
        .flat_map(|(prefix, n)| (0..*n).map(move |i| format!("{prefix}-{i}")))
        .filter(|id| delivered.backup_events.get(id) == Some(&1))
        .count() as u64;
    assert_eq!(
        backed_up_once,
        produced.good(),
        "good records backed up once"
    );
    assert_eq!(
        delivered.backup_events.len() as u64,
        produced.good(),
        "no other event in the backup"
    );
    for marker in &produced.malformed {
        assert_eq!(
            delivered.backup_errors.get(marker),
            Some(&1),
            "{marker} in the backup"
        );
    }
    assert_eq!(delivered.backup_errors.len(), produced.malformed.len());
    println!(
        "chaos: source backup holds {} good and {} malformed records as read, each once",
        delivered.backup_events.len(),
        delivered.backup_errors.len()
    );
    assert!(
        kills >= 1 && reshards == 2 && zombies == 1 && sigterms == 1 && faults > 0,
        "every kind of chaos happened"
    );
    // Conditional writes: a replay, a zombie or a retried lost response never wrote a data or
    // error object twice, so each has one version, i.e. fired one ObjectCreated notification.
    // (The per-shard progress objects under `_kinesink/` are rewritten at every checkpoint.)
    let progress_root = format!("{stream}/_kinesink/");
    let keys = common::versioned_bucket::assert_one_version_per_key(
        BUCKET,
        &format!("{stream}/"),
        Some(&progress_root),
    )
    .await;
    let progress = common::versioned_bucket::versions_per_key(BUCKET, &progress_root).await;
    println!(
        "chaos: {keys} data and error objects, one version each; {} progress objects, {} versions",
        progress.len(),
        progress.values().sum::<usize>()
    );
    // Last, so that the properties above are checked in any case.
    assert_eq!(self_exits, 0, "no worker exits by itself: {exits:#?}");
    if fake.is_none() {
        delete_stream(&stream).await;
    }
}

/// The Iceberg variant: the same schedule and faults delivering into an Iceberg table (SQL
/// catalog on SQLite, warehouse in moto's S3 behind the S3 fault proxy, `event_type, day(ts)`),
/// while a competing pyiceberg writer commits table properties to the same table in a loop:
/// kinesink's commits hit conflicts (its `/metrics`), and still the table, read back by
/// pyiceberg, holds every good record exactly once, the error output every malformed one once
/// (records in = rows in the table + records in the error output), and every shard's position.
#[tokio::test(flavor = "multi_thread")]
async fn chaos_with_competing_commits_leaves_every_record_in_the_iceberg_table_exactly_once() {
    use common::worker_endpoints::{metric, scrape_metrics};
    let bucket = unique("it-chaos-ice").to_lowercase();
    let catalog = tempfile::tempdir().unwrap();
    let competitor =
        common::iceberg_table::start_competing_writer(catalog.path(), &bucket, "events");
    // Each worker's highest count of commits and conflicts (a killed worker's counts end with it).
    let mut seen: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let target = ChaosTarget::Iceberg {
        catalog_dir: catalog.path().to_path_buf(),
    };
    let ChaosRun {
        setup,
        stream,
        fake,
        kinesis,
        s3_proxy,
        dynamodb_proxy,
        produced,
        outage,
        final_run,
        faults,
        started,
        kills,
        reshards,
        sigterms,
        zombies,
        self_exits,
        exits,
        zombie_id,
        zombie_before,
        zombie_evidence,
        table_dropped_at,
    } = run_chaos(&bucket, target.clone(), |workers| {
        for w in workers.iter().filter(|w| !w.paused) {
            if let Some(text) = scrape_metrics(w.metrics_port) {
                let entry = seen.entry(w.id.clone()).or_insert((0.0, 0.0));
                entry.0 = entry.0.max(metric(&text, "kinesink_iceberg_commits_total"));
                entry.1 = entry
                    .1
                    .max(metric(&text, "kinesink_iceberg_commit_conflicts_total"));
            }
        }
    })
    .await;
    let mut competitor = competitor;
    let _ = competitor.kill();
    let _ = competitor.wait();
    let competing = common::iceberg_table::competitor_report(catalog.path());
    let (commits, conflicts) = seen
        .values()
        .fold((0.0, 0.0), |(c, k), (c2, k2)| (c + c2, k + k2));

    // The error output and the backup are objects; the good records are in the table.
    let mut delivered = read_back(&bucket, &stream).await;
    assert!(
        delivered.events.is_empty(),
        "no data objects beside the table: {} events in objects",
        delivered.events.len()
    );
    let table = common::iceberg_table::read_back(catalog.path(), &bucket, "events");
    let rows = table["rows"].as_u64().unwrap();
    let repeated = table["counts"].as_object().unwrap();
    for id in table["ids"].as_array().unwrap() {
        let id = id.as_str().unwrap().to_owned();
        let n = repeated.get(&id).and_then(|n| n.as_u64()).unwrap_or(1);
        delivered.events.insert(id, n as usize);
    }
    for (shard, n) in table["rows_by_shard"].as_object().unwrap() {
        delivered
            .events_by_shard
            .insert(shard.clone(), n.as_u64().unwrap());
    }
    let Tally {
        delivered_good,
        in_error_prefix,
        duplicates,
        missing,
        missing_examples,
        unknown_events,
    } = tally(&produced, &delivered);
    let error_records: usize = delivered.errors.values().sum();
    println!(
        "chaos iceberg: records produced {}, rows in the table {rows} ({} files, {} snapshots), in error output {error_records}, duplicates {duplicates}, missing {missing}, kills {kills}, reshards {reshards}, sigterms {sigterms}, zombies {zombies}, self-exits {self_exits}, faults injected {faults} (S3 {} of {} requests, DynamoDB {} of {}), kinesink commits {commits} with {conflicts} conflicts (workers with /metrics), competing writer {competing}, {:.0} s",
        produced.good() + produced.malformed.len() as u64,
        table["files"],
        table["snapshots"],
        s3_proxy.counters.faults(),
        s3_proxy
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        dynamodb_proxy.counters.faults(),
        dynamodb_proxy
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "chaos iceberg: rows by shard {:?}",
        delivered.events_by_shard
    );
    println!(
        "chaos iceberg: positions in the table {}",
        table["positions"]
    );
    let table_missing = log_lines_containing(setup.dir.path(), "the lease table is missing");
    let rows_recreated = log_lines_containing(setup.dir.path(), "lease row was missing");
    let fenced_commits = log_lines_containing(setup.dir.path(), "an Iceberg commit was fenced");
    println!(
        "chaos iceberg: lease table dropped at {table_dropped_at:?} ({table_missing} table-missing, {rows_recreated} row-recreated WARN lines); {fenced_commits} fenced commits logged; outage {outage:?}"
    );
    let fault_kinds = [("S3", &s3_proxy), ("DynamoDB", &dynamodb_proxy)]
        .map(|(service, proxy)| (service, faults_by_type(&proxy.counters)));
    println!("chaos iceberg: faults by service and type {fault_kinds:?}");
    if duplicates > 0 || missing > 0 {
        let kept = std::env::temp_dir().join(format!("kinesink-chaos-logs-{stream}"));
        let _ = std::fs::create_dir_all(&kept);
        for entry in std::fs::read_dir(setup.dir.path()).unwrap().flatten() {
            let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
        }
        let _ = std::fs::copy(catalog.path().join("catalog.db"), kept.join("catalog.db"));
        eprintln!(
            "chaos iceberg: worker logs and catalog kept in {}",
            kept.display()
        );
    }
    assert!(
        final_run.status.success(),
        "the final catch-up run succeeds at its first try: {}",
        String::from_utf8_lossy(&final_run.stderr)
    );
    assert_eq!(
        duplicates, 0,
        "duplicates in the table: {:?}",
        table["duplicates"]
    );
    assert_eq!(
        missing,
        0,
        "missing, first ones: {:?}",
        &missing_examples[..missing_examples.len().min(5)]
    );
    assert_eq!(delivered_good, produced.good());
    assert_eq!(in_error_prefix, produced.malformed.len() as u64);
    assert_eq!(unknown_events, 0, "rows nobody produced");
    assert!(
        delivered.unexpected.is_empty(),
        "good records in the error output: {:?}",
        &delivered.unexpected[..delivered.unexpected.len().min(5)]
    );
    assert_eq!(
        produced.good() + produced.malformed.len() as u64,
        rows + error_records as u64,
        "records in = rows in the table + records in the error output"
    );
    let mut kinds_in_type = [0_u32; 4];
    for marker in &produced.malformed {
        let kind: u64 = marker.rsplit('-').next().unwrap().parse().unwrap();
        let found = delivered.error_types.get(marker).map(String::as_str);
        assert_eq!(
            found,
            Some(expected_error_type_for(&target, kind)),
            "{marker}"
        );
        kinds_in_type[(kind % 4) as usize] += 1;
    }
    assert!(
        kinds_in_type.iter().all(|n| *n > 0),
        "every kind of malformed record, each in its error output type: {kinds_in_type:?}"
    );
    // The competing writer made the table move under kinesink's commits.
    assert!(
        competing["commits"].as_u64().unwrap_or(0) > 0,
        "the competing writer committed: {competing}"
    );
    assert!(
        conflicts > 0.0,
        "kinesink's commits hit conflicts ({commits} commits, {conflicts} conflicts; competing writer {competing})"
    );
    for (service, kinds) in &fault_kinds {
        for (kind, n) in kinds {
            assert!(*n > 0, "no {kind} injected into {service}: {fault_kinds:?}");
        }
    }
    let zombie_log = std::fs::read_to_string(setup.log_path(&zombie_id)).unwrap_or_default();
    assert!(
        zombie_evidence.is_some()
            && (zombie_log.contains("a fenced lease write was refused")
                || zombie_log.contains("an Iceberg commit was fenced")),
        "the zombie {zombie_id} lost a lease and had a fenced write refused (metrics after the \
         pause {zombie_evidence:?}, before {zombie_before:?}); its log:\n{zombie_log}"
    );
    // The dropped table's rows were recreated from the progress in the destination. Who
    // recreates the table itself varies: a running worker (its WARN line) or, when a kill -9
    // comes first, the restarted worker at its start-up (no WARN), so only the rows count here.
    assert!(
        rows_recreated >= 1,
        "the workers recreated the dropped lease table's rows ({table_missing} table-missing, \
         {rows_recreated} row-recreated WARN lines)"
    );
    assert!(
        outage.refused > 50,
        "the workers kept trying DynamoDB during the outage: {outage:?}"
    );
    assert!(
        !outage.expected_unready.is_empty() && outage.expected_unready.is_subset(&outage.unready),
        "every worker running through the outage's first seconds answered /readyz 503: {outage:?}"
    );
    assert!(
        outage.ready_again_after.is_some(),
        "every worker slot answered /readyz 200 within {READY_AGAIN_WITHIN:?} after the outage: \
         {outage:?}"
    );
    // Rows from the shards the split and the merge made, and every shard's position.
    let shards = kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap();
    let children: Vec<&str> = shards
        .shards()
        .iter()
        .filter(|s| s.parent_shard_id().is_some())
        .map(|s| s.shard_id())
        .collect();
    assert_eq!(children.len(), 3, "two from the split, one from the merge");
    for child in &children {
        assert!(
            delivered
                .events_by_shard
                .get(*child)
                .is_some_and(|n| *n > 0),
            "no rows from child shard {child}: {:?}",
            delivered.events_by_shard
        );
    }
    for shard in shards.shards() {
        assert!(
            table["positions"]
                .get(format!("kinesink.chaos.{}", shard.shard_id()))
                .is_some(),
            "the table holds the position of {}: {}",
            shard.shard_id(),
            table["positions"]
        );
    }
    // The source backup holds every record as read exactly once, malformed ones included.
    let backed_up_once = produced
        .chunks
        .iter()
        .flat_map(|(prefix, n)| (0..*n).map(move |i| format!("{prefix}-{i}")))
        .filter(|id| delivered.backup_events.get(id) == Some(&1))
        .count() as u64;
    assert_eq!(
        backed_up_once,
        produced.good(),
        "good records backed up once"
    );
    assert_eq!(delivered.backup_events.len() as u64, produced.good());
    for marker in &produced.malformed {
        assert_eq!(
            delivered.backup_errors.get(marker),
            Some(&1),
            "{marker} in the backup"
        );
    }
    assert_eq!(delivered.backup_errors.len(), produced.malformed.len());
    assert!(
        kills >= 1 && reshards == 2 && zombies == 1 && sigterms == 1 && faults > 0,
        "every kind of chaos happened"
    );
    // Error and backup objects written once each (conditional writes).
    let progress_root = format!("{stream}/_kinesink/");
    common::versioned_bucket::assert_one_version_per_key(
        &bucket,
        &format!("{stream}/"),
        Some(&progress_root),
    )
    .await;
    assert_eq!(self_exits, 0, "no worker exits by itself: {exits:#?}");
    if fake.is_none() {
        delete_stream(&stream).await;
    }
}
