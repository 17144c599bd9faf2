//! The producer of the chaos test (`tests/chaos.rs`): good events with unique ids, plain and
//! KPL-aggregated, with ~1% malformed records of four kinds between them.
#![allow(dead_code)]

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use md5::{Digest, Md5};

use super::{kinesink, kinesis_client};

const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// What the producer wrote.
#[derive(Default)]
pub struct Produced {
    /// Id prefixes and counts of good events (`<prefix>-0 .. <prefix>-(n-1)`).
    pub chunks: Vec<(String, u64)>,
    /// Markers of malformed records (each must appear in the error prefix once).
    pub malformed: Vec<String>,
}

impl Produced {
    /// How many good events were written.
    pub fn good(&self) -> u64 {
        self.chunks.iter().map(|(_, n)| n).sum()
    }
}

/// A KPL-framed record (magic, protobuf, MD5) whose protobuf cannot be decoded.
fn corrupt_aggregate(marker: &str) -> Vec<u8> {
    let mut protobuf = vec![0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
    // The '!' ends the marker: the MD5 after it may start with letters or digits.
    protobuf.extend_from_slice(format!("{marker}!").as_bytes());
    let mut data = KPL_MAGIC.to_vec();
    data.extend_from_slice(&protobuf);
    data.extend_from_slice(&Md5::digest(&protobuf));
    data
}

/// Writes `total` good events in chunks (plain and KPL-aggregated alternately) with ~1% malformed
/// records between them: non-JSON, JSON without the partition key, corrupt KPL aggregates, and
/// JSON whose `quantity` the Parquet schema's `int` cannot take.
pub async fn produce_all(stream: &str, total: u64, kinesis_endpoint: Option<String>) -> Produced {
    let kinesis = kinesis_client(kinesis_endpoint.as_deref()).await;
    let mut produced = Produced::default();
    let chunk = (total / 100).clamp(2000, 20_000).min(total.max(1));
    let mut written = 0;
    let mut index = 0;
    while written < total {
        let n = chunk.min(total - written);
        let prefix = format!("{stream}-c{index}");
        let stream_owned = stream.to_owned();
        let prefix_owned = prefix.clone();
        let endpoint = kinesis_endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = kinesink();
            if let Some(e) = &endpoint {
                cmd.env("AWS_ENDPOINT_URL_KINESIS", e);
            }
            cmd.args([
                "produce",
                "--stream",
                &stream_owned,
                "--count",
                &n.to_string(),
                "--id-prefix",
                &prefix_owned,
            ]);
            if index % 2 == 1 {
                cmd.arg("--aggregate");
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "produce failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .await
        .unwrap();
        produced.chunks.push((prefix, n));
        written += n;
        let bad = (n / 100).max(4);
        let mut entries = Vec::new();
        for k in 0..bad {
            let marker = format!("chaos-bad-{index}-{k}");
            let data = match k % 4 {
                0 => format!("this is not json {marker}").into_bytes(),
                1 => format!(r#"{{"event_id":"{marker}","note":"no event_type"}}"#).into_bytes(),
                2 => corrupt_aggregate(&marker),
                _ => format!(r#"{{"event_id":"{marker}","event_type":"click","country":"DE","quantity":"lots"}}"#).into_bytes(),
            };
            entries.push(
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(data))
                    .partition_key(format!("pk-{k}"))
                    .build()
                    .unwrap(),
            );
            produced.malformed.push(marker);
        }
        while !entries.is_empty() {
            let out = kinesis
                .put_records()
                .stream_name(stream)
                .set_records(Some(entries.clone()))
                .send()
                .await
                .unwrap();
            entries = out
                .records()
                .iter()
                .zip(entries)
                .filter(|(r, _)| r.error_code().is_some())
                .map(|(_, e)| e)
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        index += 1;
    }
    produced
}
