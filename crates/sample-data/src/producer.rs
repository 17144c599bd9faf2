//! Puts sample events into a stream with PutRecords (optionally as KPL aggregates), retrying
//! partial failures: what `kinesink produce` runs.

use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kinesink_aws_errors::sdk_error_line;
use kinesink_record_deaggregation::{AggregationLimits, Aggregator};

use crate::sample_events::SampleEvents;

/// Why producing stopped (events put before it stay in the stream).
#[derive(Debug, thiserror::Error)]
#[error("producing sample events: {0}")]
pub struct ProduceError(String);

/// What to produce.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Stream name.
    pub stream: String,
    /// Number of events.
    pub count: u64,
    /// Events per second at most (none: as fast as the stream takes them).
    pub rate: Option<u32>,
    /// Event id prefix.
    pub id_prefix: String,
    /// Random seed.
    pub seed: u64,
    /// Pack events into KPL aggregates.
    pub aggregate: bool,
    /// Number of distinct partition keys (`pk-<n mod N>`); none: the event id.
    pub partition_keys: Option<u32>,
}

/// What was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceSummary {
    /// Events (user records) produced.
    pub events: u64,
    /// Kinesis records put (fewer than events with aggregation).
    pub kinesis_records: u64,
}

struct Entry {
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: Vec<u8>,
}

const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Puts `entries` with PutRecords, re-sending failed entries with backoff.
async fn put_all(
    client: &Client,
    stream: &str,
    mut entries: Vec<Entry>,
) -> Result<(), ProduceError> {
    let mut attempt = 0u32;
    while !entries.is_empty() {
        let request: Vec<PutRecordsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(&e.partition_key)
                    .set_explicit_hash_key(e.explicit_hash_key.clone())
                    .build()
                    .expect("data and partition key are set")
            })
            .collect();
        let result = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(request))
            .send()
            .await;
        let failed: Vec<Entry> = match result {
            Ok(out) => entries
                .into_iter()
                .zip(out.records())
                .filter(|(_, r)| r.error_code().is_some())
                .map(|(e, _)| e)
                .collect(),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_resource_not_found_exception()
                        || s.is_invalid_argument_exception()
                        || s.is_access_denied_exception()
                }) =>
            {
                return Err(ProduceError(format!(
                    "PutRecords to {stream}: {}",
                    sdk_error_line(&e)
                )));
            }
            Err(e) => {
                if attempt >= 10 {
                    return Err(ProduceError(format!(
                        "PutRecords to {stream} failed 10 times: {}",
                        sdk_error_line(&e)
                    )));
                }
                entries
            }
        };
        if !failed.is_empty() {
            attempt += 1;
            if attempt > 20 {
                return Err(ProduceError(format!(
                    "{} records still failing after 20 PutRecords attempts",
                    failed.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(20)))).await;
        }
        entries = failed;
    }
    Ok(())
}

/// Produces `count` sample events to the stream.
///
/// # Errors
/// PutRecords failing persistently.
pub async fn produce(
    client: &Client,
    options: &ProduceOptions,
) -> Result<ProduceSummary, ProduceError> {
    let mut events = SampleEvents::new(options.id_prefix.clone(), options.seed);
    let mut aggregator = if options.aggregate {
        Some(
            Aggregator::new(AggregationLimits::default())
                .map_err(|e| ProduceError(e.to_string()))?,
        )
    } else {
        None
    };
    let started = Instant::now();
    let mut produced = 0u64;
    let mut kinesis_records = 0u64;
    let mut batch: Vec<Entry> = Vec::new();
    let mut batch_bytes = 0usize;
    while produced < options.count {
        if let Some(rate) = options.rate {
            let due = started + Duration::from_secs_f64(produced as f64 / f64::from(rate.max(1)));
            tokio::time::sleep_until(due.into()).await;
        }
        let (event_id, data) = events.next_event(chrono::Utc::now().timestamp_millis());
        let id = match options.partition_keys {
            Some(n) => format!("pk-{}", produced % u64::from(n.max(1))),
            None => event_id,
        };
        produced += 1;
        let entry = match &mut aggregator {
            None => Some(Entry {
                partition_key: id,
                explicit_hash_key: None,
                data,
            }),
            Some(agg) => agg
                .add(&id, None, &data)
                .map_err(|e| ProduceError(e.to_string()))?
                .map(|a| Entry {
                    partition_key: a.partition_key,
                    explicit_hash_key: a.explicit_hash_key,
                    data: a.data,
                }),
        };
        if let Some(e) = entry {
            batch_bytes += e.data.len() + e.partition_key.len();
            batch.push(e);
        }
        let rate_flush = options
            .rate
            .is_some_and(|r| batch.len() as u64 >= u64::from(r.clamp(1, 500)));
        if batch.len() >= MAX_BATCH_RECORDS || batch_bytes >= MAX_BATCH_BYTES || rate_flush {
            kinesis_records += batch.len() as u64;
            put_all(client, &options.stream, std::mem::take(&mut batch)).await?;
            batch_bytes = 0;
        }
    }
    if let Some(a) = aggregator.as_mut().and_then(Aggregator::finish) {
        batch.push(Entry {
            partition_key: a.partition_key,
            explicit_hash_key: a.explicit_hash_key,
            data: a.data,
        });
    }
    kinesis_records += batch.len() as u64;
    put_all(client, &options.stream, batch).await?;
    Ok(ProduceSummary {
        events: produced,
        kinesis_records,
    })
}
