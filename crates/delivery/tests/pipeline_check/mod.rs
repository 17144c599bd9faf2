//! Feeds records through a shard's whole per-record pipeline ([`ShardBuffers`]: partition keys,
//! prefixes, format conversion, objects, error output) and checks that every record ends in
//! exactly one place, and that every object is below its configured prefix. Shared by the
//! adversarial test (`tests/adversarial_pipeline.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/record_pipeline.rs`).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use kinesink_delivery::{
    BufferAction, BufferEvent, BufferLimits, ObjectLayout, PartitionLimit, PartitionLimitAction,
    ReadyObject, ResumeState, ShardBuffers,
};
use kinesink_parquet_writer::{
    Codec, ObjectFormat, ParquetOptions, ParquetTableFormat, RecordFraming, SerdeOptions,
    TableSchema,
};
use kinesink_partitioning::{MetadataQuery, OutputPrefixes, QueryBudget};
use kinesink_record_deaggregation::UserRecord;
use kinesink_sequence_position::SequencePosition;

/// Poison and legal-but-huge queries (issue 22), as the value of key `k`.
pub const POISON_KEY_QUERIES: [&str; 6] = [
    "last(range(infinite)) | tostring",
    "def f: [f]; f",
    "[repeat(1)] | length | tostring",
    "reduce range(0; 3000000000) as $i (0; . + 1) | tostring",
    "[range(0; 300000000)] | length | tostring",
    r#""[" * 100000 | fromjson | tostring"#,
];

/// One run of the pipeline.
#[derive(Debug, Clone)]
pub struct Case {
    /// The value of partition key `k` as a jq expression (`{k: (EXPR)}`), or `None` for the
    /// fast path `{k: .k}`.
    pub key_query: Option<String>,
    /// Parquet data objects (schema `k string, n bigint`) instead of gzip NDJSON.
    pub parquet: bool,
    /// The records, in shard order.
    pub records: Vec<Vec<u8>>,
    /// The budget of each record's jq evaluation.
    pub budget: QueryBudget,
}

/// The query of a case, `None` when it does not compile (nothing to check then).
pub fn query(case: &Case) -> Option<MetadataQuery> {
    let text = match &case.key_query {
        None => "{k: .k}".to_owned(),
        Some(expr) => format!("{{k: ({expr})}}"),
    };
    MetadataQuery::compile(&text)
        .ok()
        .map(|q| q.with_budget(case.budget))
}

fn layout(case: &Case, query: MetadataQuery) -> ObjectLayout {
    let format = if case.parquet {
        ObjectFormat::Parquet(Arc::new(
            ParquetTableFormat::new(
                Arc::new(TableSchema::parse_hive("k string, n bigint").unwrap()),
                Arc::new(SerdeOptions::default()),
                ParquetOptions::default(),
            )
            .unwrap(),
        ))
    } else {
        ObjectFormat::Records {
            framing: RecordFraming::NewlineDelimited,
            codec: Codec::Gzip,
        }
    };
    ObjectLayout {
        shard_id: "shardId-000000000001".into(),
        name: "adv".into(),
        format,
        extension: String::new(),
        error_codec: Codec::Gzip,
        prefixes: Arc::new(
            OutputPrefixes::parse(
                Some("data/k=!{partitionKeyFromQuery:k}/"),
                Some("errors/!{firehose:error-output-type}/"),
            )
            .unwrap(),
        ),
        query: Some(Arc::new(query)),
        partition_limit: PartitionLimit {
            max_active: 20,
            action: PartitionLimitAction::ErrorOutput,
        },
        table: None,
    }
}

/// Where the records landed: data objects' record counts, and each error record's raw bytes.
#[derive(Debug, Default)]
pub struct Landed {
    pub data_records: usize,
    pub errors: BTreeMap<Vec<u8>, Vec<String>>,
    pub keys: Vec<String>,
}

/// Runs the case (time never cuts: only size cuts and the final drain) and checks it.
pub fn run_and_check(case: &Case) -> Option<Landed> {
    let query = query(case)?;
    let mut buffers = ShardBuffers::new(
        layout(case, query),
        BufferLimits {
            size_bytes: 4 * 1024 * 1024,
            interval_ms: 3_600_000,
        },
        ResumeState::default(),
    );
    let mut events: VecDeque<BufferEvent> = case
        .records
        .iter()
        .enumerate()
        .map(|(i, data)| {
            BufferEvent::Record(UserRecord {
                data: bytes::Bytes::from(data.clone()),
                partition_key: "pk".into(),
                explicit_hash_key: None,
                position: SequencePosition::new(format!("{:020}", i + 1), 0),
                approximate_arrival_ms: 1_767_323_045_000,
            })
        })
        .collect();
    events.push_back(BufferEvent::Drain);
    let mut objects: Vec<ReadyObject> = Vec::new();
    while let Some(event) = events.pop_front() {
        let mut done = VecDeque::new();
        for action in buffers
            .step(0, event)
            .expect("the buffers accept every event")
        {
            done.push_back(match action {
                BufferAction::Write(o) => {
                    let ticket = o.ticket;
                    objects.push(o);
                    BufferEvent::ObjectDurable(ticket)
                }
                BufferAction::RecordProgress { .. } => BufferEvent::ProgressRecorded,
                BufferAction::Checkpoint(p) => BufferEvent::CheckpointWritten(p),
            });
        }
        while let Some(d) = done.pop_back() {
            events.push_front(d);
        }
    }
    let mut landed = Landed::default();
    for o in &objects {
        assert!(
            !o.key.split('/').any(|s| s == ".." || s == "."),
            "{} has a dot segment",
            o.key
        );
        landed.keys.push(o.key.clone());
        if o.is_error_output {
            assert!(o.key.starts_with("errors/"), "{}", o.key);
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&o.body[..])
                .read_to_end(&mut text)
                .unwrap();
            let lines: Vec<&[u8]> = text
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(lines.len(), o.record_count, "{}", o.key);
            for line in lines {
                let e: serde_json::Value = serde_json::from_slice(line).unwrap();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(e["rawData"].as_str().unwrap())
                    .unwrap();
                let message = e["errorMessage"]
                    .as_str()
                    .or(e["lastErrorMessage"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                landed.errors.entry(raw).or_default().push(message);
            }
        } else {
            assert!(o.key.starts_with("data/k="), "{}", o.key);
            landed.data_records += o.record_count;
        }
    }
    // Exactly once: every record in one object; those in the error output are there once.
    let errors: usize = landed.errors.values().map(Vec::len).sum();
    assert_eq!(
        landed.data_records + errors,
        case.records.len(),
        "every record ends in exactly one place"
    );
    let mut given: BTreeMap<&[u8], usize> = BTreeMap::new();
    for r in &case.records {
        *given.entry(r).or_default() += 1;
    }
    for (raw, messages) in &landed.errors {
        assert!(
            messages.len() <= given.get(&raw[..]).copied().unwrap_or(0),
            "an error record that was not given, or given fewer times"
        );
    }
    Some(landed)
}
