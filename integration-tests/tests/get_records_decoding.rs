//! GetRecords pages read by kinesink's own body reader equal the pages the AWS SDK's
//! deserializer makes of the same responses, against both Kinesis stand-ins: the project's fake
//! (binary data, any partition keys, a split so a closed parent returns `ChildShards`) and
//! kinesis-mock (another implementation's JSON).
#![cfg(feature = "stand-ins")]

mod common;

use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;
use kinesink_shard_reader::{KinesisShardSource, RecordPage, ShardSource, StartPosition, StreamId};

type PageView = (
    Vec<(Vec<u8>, String, String, i64)>,
    Option<i64>,
    Vec<String>,
    bool,
);

fn view(page: &RecordPage) -> PageView {
    (
        page.records
            .iter()
            .map(|r| {
                (
                    r.data.clone(),
                    r.partition_key.clone(),
                    r.sequence_number.clone(),
                    r.approximate_arrival_ms,
                )
            })
            .collect(),
        // Lag is measured at each call; only whether it is known is compared.
        page.millis_behind_latest.map(|_| 0),
        page.child_shard_ids.clone(),
        page.next_iterator.is_some(),
    )
}

/// Every page of every shard, read from TRIM_HORIZON `limit` records at a time until the shard
/// ends or a page comes back empty at the tip.
async fn read_all(source: &dyn ShardSource, limit: u32) -> Vec<PageView> {
    let mut pages = Vec::new();
    for shard in source.list_shards().await.unwrap() {
        let mut iterator = source
            .shard_iterator(&shard.shard_id, &StartPosition::TrimHorizon)
            .await
            .unwrap();
        loop {
            let page = source.get_records(&iterator, limit).await.unwrap();
            let done = page.records.is_empty()
                && (page.next_iterator.is_none() || page.millis_behind_latest == Some(0));
            pages.push(view(&page));
            match page.next_iterator {
                Some(next) if !done => iterator = next,
                _ => break,
            }
        }
    }
    pages
}

fn payloads(n: u32) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let mut data: Vec<u8> = format!("{{\"i\":{i},\"text\":\"é/+\\\"\"}}").into_bytes();
            // Bytes that are not UTF-8 and base64 with `/` and `+`.
            data.extend([0xFF, 0xFE, 0x00, (i % 256) as u8]);
            (format!("key-{i}-ü/\"x\""), data)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_from_the_fake_kinesis_read_here_equal_the_sdks_pages() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-decode");
    fake.create_stream(&stream, 2);
    fake.append(&stream, payloads(700));
    let kinesis = kinesis_client(Some(&fake.url)).await;
    split_first_shard(&kinesis, &stream, u128::MAX / 4).await;
    fake.append(&stream, payloads(300));
    let ours = KinesisShardSource::new(kinesis.clone(), StreamId::Name(stream.clone()));
    let sdk = KinesisShardSource::with_sdk_record_decoding(kinesis, StreamId::Name(stream));
    let (a, b) = (read_all(&ours, 128).await, read_all(&sdk, 128).await);
    let records: usize = a.iter().map(|p| p.0.len()).sum();
    assert_eq!(records, 1000, "every record read");
    assert_eq!(
        ours.pages_read_here() as usize,
        a.len(),
        "every page read here"
    );
    assert_eq!(sdk.pages_read_here(), 0);
    assert!(
        a.iter().any(|p| !p.2.is_empty()),
        "the closed parent's last page names its children"
    );
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_from_kinesis_mock_read_here_equal_the_sdks_pages() {
    let stream = unique("it-decode-mock");
    create_stream(&stream, 1).await;
    let kinesis = kinesis_client(None).await;
    let mut request = kinesis.put_records().stream_name(&stream);
    for (key, data) in payloads(120) {
        request = request.records(
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key(key)
                .data(aws_smithy_types::Blob::new(data))
                .build()
                .unwrap(),
        );
    }
    let put = request.send().await.unwrap();
    assert_eq!(put.failed_record_count(), Some(0));
    let ours = KinesisShardSource::new(kinesis.clone(), StreamId::Name(stream.clone()));
    let sdk = KinesisShardSource::with_sdk_record_decoding(kinesis, StreamId::Name(stream.clone()));
    let (a, b) = (read_all(&ours, 50).await, read_all(&sdk, 50).await);
    let records: usize = a.iter().map(|p| p.0.len()).sum();
    assert_eq!(records, 120, "every record read");
    assert_eq!(
        ours.pages_read_here() as usize,
        a.len(),
        "every page read here"
    );
    assert!(
        a.iter().flat_map(|p| &p.0).all(|r| r.3 > 0),
        "arrival times read"
    );
    assert_eq!(a, b);
    delete_stream(&stream).await;
}
