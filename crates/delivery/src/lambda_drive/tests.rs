use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use kinesink_parquet_writer::{Codec, ObjectFormat, RecordFraming};
use kinesink_partitioning::OutputPrefixes;
use kinesink_record_deaggregation::UserRecord;
use kinesink_record_processing::lambda_event::{LambdaEnvelope, decode_request};
use kinesink_record_processing::lambda_retry::InvokeFailure;
use kinesink_sequence_position::SequencePosition;

use proptest::prelude::*;

use super::*;
use crate::lambda_invoker::FnLambdaInvoker;
use crate::object_contents::ObjectContents;
use crate::shard_buffers::{
    BufferAction, BufferLimits, ObjectLayout, PartitionLimit, PartitionLimitAction, ResumeState,
};
use crate::{MemorySink, write_once};

fn layout() -> ObjectLayout {
    ObjectLayout {
        shard_id: "shardId-000000000001".into(),
        name: "lambda".into(),
        format: ObjectFormat::Records {
            framing: RecordFraming::NewlineDelimited,
            codec: Codec::None,
        },
        extension: String::new(),
        error_codec: Codec::None,
        prefixes: Arc::new(OutputPrefixes::parse(None, Some("err/")).unwrap()),
        query: None,
        partition_limit: PartitionLimit {
            max_active: 10,
            action: PartitionLimitAction::ErrorOutput,
        },
        table: None,
    }
}

fn buffers(size_bytes: usize, resume: ResumeState) -> ShardBuffers {
    ShardBuffers::new(
        layout(),
        BufferLimits {
            size_bytes,
            interval_ms: 3_600_000,
        },
        resume,
    )
}

fn envelope() -> LambdaEnvelope {
    LambdaEnvelope {
        delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/d".into(),
        source_kinesis_stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s".into(),
        region: "eu-west-1".into(),
        shard_id: "shardId-000000000001".into(),
    }
}

fn at(sequence: u64) -> SequencePosition {
    SequencePosition::new(sequence.to_string(), 0)
}

fn record(sequence: u64, text: &str) -> StageEvent {
    StageEvent::Input(BufferEvent::Record(UserRecord {
        data: Bytes::from(text.to_owned()),
        partition_key: "pk".into(),
        explicit_hash_key: None,
        position: at(sequence),
        approximate_arrival_ms: 1_700_000_000_000,
    }))
}

/// A function: `drop…` records are dropped, `fail…` ones fail, the others come back upper-cased
/// with `suffix` (another suffix on a replay: a function that is not deterministic).
fn answer(log: &Mutex<Vec<String>>, suffix: &str, request: &[u8]) -> Vec<u8> {
    let request = decode_request(request).expect("a request");
    let ids: Vec<&str> = request
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    log.lock()
        .unwrap()
        .push(format!("invoke {}", ids.join(",")));
    let records: Vec<serde_json::Value> = request
        .records
        .iter()
        .map(|r| {
            let text = String::from_utf8_lossy(&r.data).into_owned();
            let (result, data) = if text.starts_with("drop") {
                ("Dropped", String::new())
            } else if text.starts_with("fail") {
                ("ProcessingFailed", String::new())
            } else {
                ("Ok", format!("{}{suffix}", text.to_uppercase()))
            };
            serde_json::json!({"recordId": r.record_id, "result": result, "data": STANDARD.encode(data)})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "records": records })).unwrap()
}

fn function(log: Arc<Mutex<Vec<String>>>, suffix: &'static str) -> FnLambdaInvoker {
    FnLambdaInvoker::new(move |_, request| Ok(answer(&log, suffix, request)))
}

/// Performs actions against a memory sink the way the worker does (objects written once),
/// logging intents and checkpoints into the same log as the function; fails at the first
/// checkpoint when `crash_at_checkpoint` (a worker that dies before its checkpoint).
struct Journal {
    sink: Arc<MemorySink>,
    log: Arc<Mutex<Vec<String>>>,
    crash_at_checkpoint: bool,
}

impl PerformActions for Journal {
    type Error = String;

    async fn perform(&mut self, action: BufferAction) -> Result<Option<BufferEvent>, String> {
        Ok(Some(match action {
            BufferAction::Write(o) => {
                let contents = ObjectContents {
                    last: o.last.clone(),
                    records: o.record_count as u64,
                };
                let placed = write_once(&*self.sink, &o.key, &o.body, &contents)
                    .await
                    .map_err(|e| e.to_string())?;
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("write {}", placed.key));
                BufferEvent::ObjectDurable(o.ticket)
            }
            BufferAction::RecordProgress { flush_intent, .. } => {
                if let Some(x) = flush_intent {
                    self.log
                        .lock()
                        .unwrap()
                        .push(format!("intent {}", x.sequence_number));
                }
                BufferEvent::ProgressRecorded
            }
            BufferAction::Checkpoint(p) => {
                if self.crash_at_checkpoint {
                    return Err("crashed".into());
                }
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("checkpoint {}", p.sequence_number));
                BufferEvent::CheckpointWritten(p)
            }
        }))
    }
}

struct Run {
    lambda: LambdaShell,
    buffers: ShardBuffers,
    journal: Journal,
    log: Arc<Mutex<Vec<String>>>,
}

fn run(
    sink: &Arc<MemorySink>,
    suffix: &'static str,
    lambda_size: usize,
    resume: ResumeState,
) -> Run {
    let log = Arc::new(Mutex::new(Vec::new()));
    let stage = LambdaStage::new(envelope(), lambda_size, 1_000, resume.flush_intent.clone());
    Run {
        lambda: LambdaShell::new(
            stage,
            Arc::new(function(Arc::clone(&log), suffix)),
            "f".into(),
            RetryPolicy::default(),
            "shardId-000000000001".into(),
        ),
        buffers: buffers(1 << 20, resume),
        journal: Journal {
            sink: Arc::clone(sink),
            log: Arc::clone(&log),
            crash_at_checkpoint: false,
        },
        log,
    }
}

impl Run {
    async fn feed(&mut self, now_ms: u64, event: StageEvent) -> Result<(), String> {
        drive_lambda(
            &mut self.lambda,
            &mut self.buffers,
            now_ms,
            event,
            &mut self.journal,
        )
        .await
        .map_err(|e| match e {
            DriveError::Buffers(e) => e.to_string(),
            DriveError::Perform(e) => e,
        })
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Every line of every data object (not under `err/`).
fn data_lines(sink: &MemorySink) -> Vec<String> {
    let mut lines: Vec<String> = sink
        .objects()
        .iter()
        .filter(|(k, _)| !k.starts_with("err/"))
        .flat_map(|(_, body)| {
            String::from_utf8(body.clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn ok_dropped_and_failed_records_go_to_data_a_count_and_the_error_output() {
    let sink = Arc::new(MemorySink::new());
    let mut r = run(&sink, "", 1 << 20, ResumeState::default());
    for (i, text) in ["a", "drop me", "fail me", "b"].iter().enumerate() {
        r.feed(0, record(i as u64 + 1, text)).await.unwrap();
    }
    r.feed(0, StageEvent::Drain).await.unwrap();
    assert_eq!(data_lines(&sink), ["A", "B"]);
    let objects = sink.objects();
    let errors: Vec<&Vec<u8>> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("err/"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(errors.len(), 1);
    let error: serde_json::Value = serde_json::from_slice(errors[0].trim_ascii_end()).unwrap();
    assert_eq!(error["errorCode"], "Lambda.ProcessingFailedStatus");
    assert_eq!(error["rawData"], STANDARD.encode("fail me"));
    let counts = r.lambda.stage.take_counts();
    assert_eq!(
        (counts.ok_records, counts.dropped, counts.failed),
        (2, 1, 1)
    );
    assert_eq!(r.log().last().unwrap(), "checkpoint 4");
    let invocations = r.lambda.take_invocations();
    assert_eq!((invocations.invocations, invocations.succeeded), (1, 1));
}

#[tokio::test]
async fn the_checkpoint_never_passes_a_record_waiting_for_its_batch() {
    let sink = Arc::new(MemorySink::new());
    let mut r = run(&sink, "", 1 << 20, ResumeState::default());
    // The buffers flush at every tick (interval 0): only the Lambda stage holds records back.
    r.buffers = ShardBuffers::new(
        layout(),
        BufferLimits {
            size_bytes: 1 << 20,
            interval_ms: 0,
        },
        ResumeState::default(),
    );
    r.feed(0, record(1, "a")).await.unwrap();
    r.feed(
        0,
        StageEvent::Input(BufferEvent::Failed(crate::FailedRecord {
            raw_data: b"x".to_vec(),
            partition_key: "pk".into(),
            position: at(2),
            approximate_arrival_ms: 1_700_000_000_000,
            error_output_type: "processing-failed".into(),
            error_code: "Transform.Failed".into(),
            error_message: "x".into(),
        })),
    )
    .await
    .unwrap();
    r.feed(0, record(3, "b")).await.unwrap();
    r.feed(999, StageEvent::Tick).await.unwrap();
    assert!(
        r.log().is_empty(),
        "nothing invoked, written or checkpointed: {:?}",
        r.log()
    );
    assert_eq!(r.buffers.last_read(), None);
    r.feed(1_000, StageEvent::Tick).await.unwrap();
    assert_eq!(
        r.log(),
        [
            "intent 3",
            "invoke 1-0-0,3-0-0",
            // The default prefix, from the records' arrival (2023-11-14T22:13:20Z).
            "write 2023/11/14/22/lambda-shardId-000000000001-1-0",
            "write err/lambda-shardId-000000000001-2-0",
            "checkpoint 3"
        ],
        "the time cut is recorded as a flush intent before its batch is invoked"
    );
}

/// Records 1..=6, each of 40 bytes, so that a Lambda batch holds two (see `lambda_size`).
fn texts() -> Vec<String> {
    (1..=6)
        .map(|i| format!("record-{i}-{}", "x".repeat(31)))
        .collect()
}

/// The request size of two records of [`texts`] (so a third starts a new batch).
fn lambda_size() -> usize {
    use kinesink_record_processing::lambda_event::{
        LambdaInputRecord, encode_record, request_overhead, request_size,
    };
    use kinesink_record_processing::lambda_record_id::RecordId;
    let env = envelope();
    let r = LambdaInputRecord {
        position: at(1),
        data: Bytes::from(texts()[0].clone()),
        partition_key: "pk".into(),
        approximate_arrival_ms: 1_700_000_000_000,
    };
    let entry = encode_record(&env, &RecordId::new(&r.position, 0), &r).len();
    request_size(request_overhead(&env), 2 * entry, 2)
}

#[tokio::test]
async fn a_replay_after_a_crash_invokes_the_same_batches_and_rewrites_nothing_twice() {
    let sink = Arc::new(MemorySink::new());
    let texts = texts();
    let mut first = run(&sink, "", lambda_size(), ResumeState::default());
    first.journal.crash_at_checkpoint = true;
    for (i, t) in texts.iter().take(4).enumerate() {
        first
            .feed(10 * i as u64, record(i as u64 + 1, t))
            .await
            .unwrap();
    }
    // The oldest waiting record waited the interval: intent at 4, objects written, and the
    // worker dies before its checkpoint.
    let crashed = first.feed(5_000, StageEvent::Tick).await;
    assert_eq!(crashed, Err("crashed".to_owned()));
    let first_log = first.log();
    assert!(first_log.contains(&"intent 4".to_owned()), "{first_log:?}");
    let first_invocations: Vec<&String> = first_log
        .iter()
        .filter(|l| l.starts_with("invoke"))
        .collect();
    assert!(
        first_invocations.len() >= 2,
        "size cuts made several batches: {first_log:?}"
    );
    let written = sink.objects();

    // The new owner reads the intent from the lease; its ticks come at other times.
    let resume = ResumeState {
        checkpoint: None,
        flush_intent: Some(at(4)),
        horizon: Some(at(4)),
    };
    let mut second = run(&sink, "", lambda_size(), resume);
    for (i, t) in texts.iter().enumerate() {
        second.feed(0, record(i as u64 + 1, t)).await.unwrap();
        second.feed(0, StageEvent::Tick).await.unwrap();
    }
    second.feed(0, StageEvent::Drain).await.unwrap();
    let second_log = second.log();
    let second_invocations: Vec<&String> = second_log
        .iter()
        .filter(|l| l.starts_with("invoke"))
        .collect();
    assert_eq!(
        second_invocations[..first_invocations.len()],
        first_invocations[..],
        "the same batches up to the recorded intent"
    );
    for (key, body) in &written {
        assert_eq!(sink.objects().get(key), Some(body), "{key} unchanged");
    }
    let expected: Vec<String> = texts.iter().map(|t| t.to_uppercase()).collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(data_lines(&sink), expected, "every record exactly once");
}

#[tokio::test]
async fn a_function_returning_other_bytes_on_replay_keeps_the_first_runs_objects_and_duplicates_nothing()
 {
    let sink = Arc::new(MemorySink::new());
    let texts = texts();
    let mut first = run(&sink, "-first", lambda_size(), ResumeState::default());
    first.journal.crash_at_checkpoint = true;
    for (i, t) in texts.iter().take(4).enumerate() {
        first.feed(0, record(i as u64 + 1, t)).await.unwrap();
    }
    assert!(first.feed(5_000, StageEvent::Tick).await.is_err());
    let resume = ResumeState {
        checkpoint: None,
        flush_intent: Some(at(4)),
        horizon: Some(at(4)),
    };
    let mut second = run(&sink, "-second", lambda_size(), resume);
    for (i, t) in texts.iter().enumerate() {
        second.feed(0, record(i as u64 + 1, t)).await.unwrap();
    }
    second.feed(0, StageEvent::Drain).await.unwrap();
    let lines = data_lines(&sink);
    assert_eq!(lines.len(), 6, "each record once: {lines:?}");
    for (i, t) in texts.iter().enumerate() {
        let suffix = if i < 4 { "-first" } else { "-second" };
        assert!(
            lines.contains(&format!("{}{suffix}", t.to_uppercase())),
            "record {} as the run that first wrote its object returned it: {lines:?}",
            i + 1
        );
    }
}

#[tokio::test]
async fn a_function_whose_other_bytes_on_replay_move_a_size_cut_can_duplicate_records() {
    // Objects are cut at 100 bytes: the first run's outputs (short) make one object of records
    // 1-2 before the crash; the replay's (longer) outputs cut after record 1, under the same key
    // with other records, so the replay's object goes under an alternative key: records 1-2
    // are then written twice, never lost.
    let sink = Arc::new(MemorySink::new());
    let short: Vec<String> = (1..=3)
        .map(|i| format!("r{i}-{}", "x".repeat(40)))
        .collect();
    let mut first = run(&sink, "", lambda_size(), ResumeState::default());
    first.buffers = buffers(100, ResumeState::default());
    first.journal.crash_at_checkpoint = true;
    for (i, t) in short.iter().enumerate() {
        first.feed(0, record(i as u64 + 1, t)).await.unwrap();
    }
    let _ = first.feed(0, StageEvent::Drain).await;
    let resume = ResumeState {
        checkpoint: None,
        flush_intent: Some(at(3)),
        horizon: Some(at(3)),
    };
    let mut second = run(
        &sink,
        "-a-much-longer-answer-on-replay",
        lambda_size(),
        resume.clone(),
    );
    second.buffers = buffers(100, resume);
    for (i, t) in short.iter().enumerate() {
        second.feed(0, record(i as u64 + 1, t)).await.unwrap();
    }
    second.feed(0, StageEvent::Drain).await.unwrap();
    let lines = data_lines(&sink);
    for (i, t) in short.iter().enumerate() {
        assert!(
            lines.iter().any(|l| l.starts_with(&t.to_uppercase())),
            "record {} is delivered: {lines:?}",
            i + 1
        );
    }
    assert!(lines.len() > 3, "some records twice: {lines:?}");
}

#[tokio::test]
async fn throttling_is_retried_and_spent_retries_fail_every_record_with_the_code() {
    let sink = Arc::new(MemorySink::new());
    let mut r = run(&sink, "", 1 << 20, ResumeState::default());
    let calls = Arc::new(Mutex::new(0_u32));
    let counted = Arc::clone(&calls);
    let log = Arc::clone(&r.log);
    r.lambda.invoker = Arc::new(FnLambdaInvoker::new(move |_, request| {
        let mut n = counted.lock().unwrap();
        *n += 1;
        match *n {
            1 | 2 => Err(InvokeFailure::Status {
                status: 429,
                error_type: Some("TooManyRequestsException".into()),
                message: "slow down".into(),
            }),
            3 => Ok(answer(&log, "", request)),
            _ => Err(InvokeFailure::Status {
                status: 500,
                error_type: Some("ServiceException".into()),
                message: "broken".into(),
            }),
        }
    }));
    r.lambda.retry = RetryPolicy {
        retries: 2,
        base_delay_ms: 1,
        max_delay_ms: 2,
    };
    r.feed(0, record(1, "a")).await.unwrap();
    r.feed(1_000, StageEvent::Tick).await.unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        3,
        "two throttled attempts, then an answer"
    );
    assert_eq!(data_lines(&sink), ["A"]);
    r.feed(1_000, record(2, "b")).await.unwrap();
    r.feed(2_000, record(3, "c")).await.unwrap();
    r.feed(3_000, StageEvent::Drain).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), 6, "the first attempt and 2 retries");
    let objects = sink.objects();
    let errors: Vec<serde_json::Value> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("err/"))
        .flat_map(|(_, v)| {
            String::from_utf8(v.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(errors.len(), 2, "every record of the batch");
    for (e, raw) in errors.iter().zip(["b", "c"]) {
        assert_eq!(e["errorCode"], "Lambda.ServiceException");
        assert_eq!(e["rawData"], STANDARD.encode(raw));
    }
    let counts = r.lambda.take_invocations();
    assert_eq!(
        (counts.invocations, counts.retries, counts.failed),
        (2, 4, 1)
    );
}

#[path = "tests/crash_replay.rs"]
mod crash_replay;

/// A function answering every record Ok with its text and partition key `k` = `key`.
fn keyed_function(key: &'static str) -> FnLambdaInvoker {
    FnLambdaInvoker::new(move |_, request| {
        let request = decode_request(request).expect("a request");
        let records: Vec<serde_json::Value> = request
            .records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "recordId": r.record_id,
                    "result": "Ok",
                    "data": STANDARD.encode(&r.data),
                    "metadata": {"partitionKeys": {"k": key}},
                })
            })
            .collect();
        Ok(serde_json::to_vec(&serde_json::json!({ "records": records })).unwrap())
    })
}

/// Buffers whose data objects go under `p=!{partitionKeyFromLambda:k}/`.
fn keyed_buffers(resume: ResumeState) -> ShardBuffers {
    ShardBuffers::new(
        ObjectLayout {
            prefixes: Arc::new(
                OutputPrefixes::parse(Some("p=!{partitionKeyFromLambda:k}/"), Some("err/"))
                    .unwrap(),
            ),
            ..layout()
        },
        BufferLimits {
            size_bytes: 1 << 20,
            interval_ms: 3_600_000,
        },
        resume,
    )
}

#[tokio::test]
async fn a_function_returning_other_partition_keys_on_replay_duplicates_the_replayed_records_and_loses_none()
 {
    // The README's decision: the replay's object of records the first run had written goes
    // to the replay's partition, under another key than the first run's object, so those
    // records are in both (duplicated, never lost); records the first run had not written are
    // in the replay's partition once.
    let sink = Arc::new(MemorySink::new());
    let texts = texts();
    let mut first = run(&sink, "", lambda_size(), ResumeState::default());
    first.lambda.invoker = Arc::new(keyed_function("a"));
    first.buffers = keyed_buffers(ResumeState::default());
    first.journal.crash_at_checkpoint = true;
    for (i, t) in texts.iter().take(4).enumerate() {
        first.feed(0, record(i as u64 + 1, t)).await.unwrap();
    }
    assert!(first.feed(5_000, StageEvent::Tick).await.is_err());
    let first_objects: Vec<String> = sink.objects().into_keys().collect();
    assert!(
        !first_objects.is_empty() && first_objects.iter().all(|k| k.starts_with("p=a/")),
        "the first run wrote its object under its key: {first_objects:?}"
    );
    let resume = ResumeState {
        checkpoint: None,
        flush_intent: Some(at(4)),
        horizon: Some(at(4)),
    };
    let mut second = run(&sink, "", lambda_size(), resume.clone());
    second.lambda.invoker = Arc::new(keyed_function("b"));
    second.buffers = keyed_buffers(resume);
    for (i, t) in texts.iter().enumerate() {
        second.feed(0, record(i as u64 + 1, t)).await.unwrap();
    }
    second.feed(0, StageEvent::Drain).await.unwrap();
    let lines_under = |prefix: &str| -> Vec<String> {
        let mut lines: Vec<String> = sink
            .objects()
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(_, body)| {
                String::from_utf8(body)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    };
    let mut first_four: Vec<String> = texts.iter().take(4).cloned().collect();
    first_four.sort();
    let mut all: Vec<String> = texts.clone();
    all.sort();
    assert_eq!(
        lines_under("p=a/"),
        first_four,
        "the first run's object stays"
    );
    assert_eq!(
        lines_under("p=b/"),
        all,
        "the replay wrote every record under its key: the first four again, and the rest"
    );
    assert!(lines_under("err/").is_empty(), "nothing refused");
}
