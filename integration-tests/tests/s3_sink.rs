//! The S3 sink against the S3 stand-in: large objects go up as multipart uploads and read back
//! whole, failed and orphaned multipart uploads are aborted, and the bucket-owner-full-control
//! ACL is sent when configured (checked on the wire, through a recording proxy), and each object
//! is written once (`If-None-Match: *`; a second write of a key is a no-op success).
#![cfg(feature = "stand-ins")]

mod common;

use std::time::{Duration, SystemTime};

use common::fault_proxy::{FaultProxy, FaultRates, Service};
use common::versioned_bucket::{create_versioned_bucket, versions_per_key};
use common::*;
use kinesink_delivery::{
    MIN_PART_SIZE, ObjectContents, ObjectSink, PutOutcome, S3Sink, S3SinkOptions, write_once,
};
use kinesink_sequence_position::SequencePosition;

const BUCKET: &str = "kinesink-it";
/// A bucket with versioning enabled: a key written twice has two versions.
const VERSIONED_BUCKET: &str = "kinesink-it-versioned";

/// Contents of an object whose last record is `last`/0, holding `records` records.
fn held(last: u64, records: u64) -> ObjectContents {
    ObjectContents {
        last: SequencePosition::new(last.to_string(), 0),
        records,
    }
}

fn body_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

async fn s3_via(url: &str) -> aws_sdk_s3::Client {
    let sdk = aws().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(url)
            .force_path_style(true)
            .build(),
    )
}

async fn pending_uploads(s3: &aws_sdk_s3::Client, root: &str) -> Vec<String> {
    let out = s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .prefix(root)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_larger_than_the_part_size_is_uploaded_in_parts_and_reads_back_byte_for_byte() {
    create_bucket(BUCKET).await;
    let root = format!("{}/", unique("it-multipart"));
    let s3 = s3().await;
    let sink = S3Sink::new(
        s3.clone(),
        BUCKET,
        root.clone(),
        S3SinkOptions {
            multipart_part_size: MIN_PART_SIZE,
            ..S3SinkOptions::default()
        },
    );
    let body = body_of(2 * MIN_PART_SIZE + 12_345);
    sink.put("big.bin", body.clone(), &held(1, 1))
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key(format!("{root}big.bin"))
        .send()
        .await
        .unwrap();
    let etag = got.e_tag().unwrap().to_owned();
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), body.len());
    assert!(bytes[..] == body[..], "the object reads back byte for byte");
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "a 3-part multipart upload's ETag ends in -3: {etag}"
    );
    assert!(
        pending_uploads(&s3, &root).await.is_empty(),
        "the upload was completed, none left pending"
    );

    sink.put("small.bin", body_of(1000), &held(1, 1))
        .await
        .unwrap();
    let small = s3
        .head_object()
        .bucket(BUCKET)
        .key(format!("{root}small.bin"))
        .send()
        .await
        .unwrap();
    assert!(
        !small.e_tag().unwrap().contains('-'),
        "a small object is one PutObject"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_whose_parts_fail_is_aborted_and_nothing_is_visible() {
    create_bucket(BUCKET).await;
    let root = format!("{}/", unique("it-multipart-fail"));
    // Every UploadPart through this proxy fails with S3 500s (the SDK retries, then gives up);
    // CreateMultipartUpload and AbortMultipartUpload pass.
    let rates = FaultRates {
        server_error: 1.0,
        applies_to: Some(|_, path| path.contains("partNumber=")),
        ..FaultRates::default()
    };
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        rates,
    )
    .await;
    let sink = S3Sink::new(
        s3_via(&proxy.url).await,
        BUCKET,
        root.clone(),
        S3SinkOptions {
            multipart_part_size: MIN_PART_SIZE,
            ..S3SinkOptions::default()
        },
    );
    let err = sink
        .put("big.bin", body_of(MIN_PART_SIZE + 1), &held(1, 1))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("UploadPart") && err.message.contains("InternalError"),
        "the error names the step and S3's answer: {err}"
    );
    let direct = s3().await;
    assert!(
        direct
            .head_object()
            .bucket(BUCKET)
            .key(format!("{root}big.bin"))
            .send()
            .await
            .is_err(),
        "no partial object is visible"
    );
    assert!(
        pending_uploads(&direct, &root).await.is_empty(),
        "the failed upload was aborted"
    );
    let recorded = proxy.recorded.lock().unwrap().clone();
    assert!(
        recorded
            .iter()
            .any(|r| r.method == "DELETE" && r.path_and_query.contains("uploadId=")),
        "AbortMultipartUpload was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn orphaned_multipart_uploads_older_than_the_cutoff_are_aborted_and_younger_ones_kept() {
    create_bucket(BUCKET).await;
    let root = format!("{}/", unique("it-orphans"));
    let s3 = s3().await;
    for key in ["a.parquet", "b.parquet"] {
        s3.create_multipart_upload()
            .bucket(BUCKET)
            .key(format!("{root}{key}"))
            .send()
            .await
            .unwrap();
    }
    let sink = S3Sink::new(s3.clone(), BUCKET, root.clone(), S3SinkOptions::default());
    // moto reports every upload as initiated at 2010-11-10T20:48:33Z (a fixed value in its
    // response template), so "now" is placed relative to that instant.
    let initiated = SystemTime::UNIX_EPOCH + Duration::from_secs(1_289_422_113);
    let kept = sink
        .abort_stale_uploads(
            initiated + Duration::from_secs(1800),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(kept, 0, "uploads started half an hour ago are not stale");
    assert_eq!(pending_uploads(&s3, &root).await.len(), 2);
    let later = initiated + Duration::from_secs(2 * 3600);
    let aborted = sink
        .abort_stale_uploads(later, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(aborted, 2);
    assert!(
        pending_uploads(&s3, &root).await.is_empty(),
        "both orphans are aborted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_owner_full_control_is_sent_with_every_put_and_multipart_upload_only_when_configured()
 {
    create_bucket(BUCKET).await;
    let root = format!("{}/", unique("it-acl"));
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        FaultRates::default(),
    )
    .await;
    let client = s3_via(&proxy.url).await;
    let with_acl = S3Sink::new(
        client.clone(),
        BUCKET,
        root.clone(),
        S3SinkOptions {
            bucket_owner_full_control: true,
            multipart_part_size: MIN_PART_SIZE,
            ..S3SinkOptions::default()
        },
    );
    with_acl
        .put("small", body_of(10), &held(1, 1))
        .await
        .unwrap();
    with_acl
        .put("big", body_of(MIN_PART_SIZE + 10), &held(1, 1))
        .await
        .unwrap();
    let without = S3Sink::new(client, BUCKET, root.clone(), S3SinkOptions::default());
    without
        .put("plain", body_of(10), &held(1, 1))
        .await
        .unwrap();
    let recorded = proxy.recorded.lock().unwrap().clone();
    let acl_of = |path_end: &str, query: &str| {
        recorded
            .iter()
            .find(|r| r.path_and_query.contains(path_end) && r.path_and_query.contains(query))
            .unwrap_or_else(|| panic!("no request for {path_end} {query}: {recorded:#?}"))
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-acl")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        acl_of(&format!("{root}small"), ""),
        Some("bucket-owner-full-control".into())
    );
    assert_eq!(
        acl_of(&format!("{root}big"), "uploads"),
        Some("bucket-owner-full-control".into()),
        "CreateMultipartUpload"
    );
    assert_eq!(
        acl_of(&format!("{root}plain"), ""),
        None,
        "no ACL unless configured"
    );
}

/// Requests the recording proxy saw for `key` with `method`, and whether each carried
/// `If-None-Match: *`.
fn conditional_flags(
    recorded: &[common::fault_proxy::RecordedRequest],
    method: &str,
    key: &str,
    query: &str,
) -> Vec<bool> {
    recorded
        .iter()
        .filter(|r| {
            let (path, q) = r
                .path_and_query
                .split_once('?')
                .unwrap_or((&r.path_and_query, ""));
            r.method == method
                && path.ends_with(&format!("/{key}"))
                && (if query.is_empty() {
                    q.is_empty() || q.starts_with("x-id=PutObject")
                } else {
                    q.contains(query)
                })
        })
        .map(|r| {
            r.headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("if-none-match") && v == "*")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_write_of_a_written_key_is_a_no_op_success_sending_one_conditional_request_and_leaving_one_version()
 {
    create_versioned_bucket(VERSIONED_BUCKET).await;
    let root = format!("{}/", unique("it-write-once"));
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        FaultRates::default(),
    )
    .await;
    let sink = S3Sink::new(
        s3_via(&proxy.url).await,
        VERSIONED_BUCKET,
        root.clone(),
        S3SinkOptions {
            multipart_part_size: MIN_PART_SIZE,
            ..S3SinkOptions::default()
        },
    );
    let small = body_of(1000);
    let big = body_of(MIN_PART_SIZE + 10);
    assert_eq!(
        sink.put("small", small.clone(), &held(1, 1)).await.unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        sink.put("big", big.clone(), &held(1, 1)).await.unwrap(),
        PutOutcome::Written
    );
    // A replay or a zombie writes the same key with the same bytes: done, nothing written.
    assert_eq!(
        sink.put("small", small.clone(), &held(1, 1)).await.unwrap(),
        PutOutcome::AlreadyWritten {
            existing_size: Some(1000),
            existing_contents: Some(held(1, 1)),
        }
    );
    assert_eq!(
        sink.put("big", big.clone(), &held(1, 1)).await.unwrap(),
        PutOutcome::AlreadyWritten {
            existing_size: Some(big.len() as u64),
            existing_contents: Some(held(1, 1)),
        }
    );

    let recorded = proxy.recorded.lock().unwrap().clone();
    let small_key = format!("{root}small");
    let big_key = format!("{root}big");
    assert_eq!(
        conditional_flags(&recorded, "PUT", &small_key, ""),
        vec![true, true],
        "one PutObject per write, each with If-None-Match: * (the second answered 412): {recorded:#?}"
    );
    assert_eq!(
        conditional_flags(&recorded, "POST", &big_key, "uploadId="),
        vec![true, true],
        "one CompleteMultipartUpload per write, each with If-None-Match: *"
    );
    let direct = s3().await;
    assert!(
        pending_uploads_in(&direct, VERSIONED_BUCKET, &root)
            .await
            .is_empty(),
        "the upload refused at completion was aborted"
    );
    let versions = versions_per_key(VERSIONED_BUCKET, &root).await;
    assert_eq!(
        versions,
        [(big_key.clone(), 1), (small_key.clone(), 1)].into(),
        "each object has one version: it was created once"
    );
    let got = direct
        .get_object()
        .bucket(VERSIONED_BUCKET)
        .key(&big_key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(got[..] == big[..], "the first upload's bytes are kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_conditional_writes_no_if_none_match_is_sent_and_a_second_write_adds_a_version() {
    create_versioned_bucket(VERSIONED_BUCKET).await;
    let root = format!("{}/", unique("it-unconditional"));
    let proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        FaultRates::default(),
    )
    .await;
    let sink = S3Sink::new(
        s3_via(&proxy.url).await,
        VERSIONED_BUCKET,
        root.clone(),
        S3SinkOptions {
            conditional_writes: false,
            ..S3SinkOptions::default()
        },
    );
    for _ in 0..2 {
        assert_eq!(
            sink.put("small", body_of(10), &held(1, 1)).await.unwrap(),
            PutOutcome::Written
        );
    }
    let recorded = proxy.recorded.lock().unwrap().clone();
    let key = format!("{root}small");
    assert_eq!(
        conditional_flags(&recorded, "PUT", &key, ""),
        vec![false, false]
    );
    assert_eq!(versions_per_key(VERSIONED_BUCKET, &root).await[&key], 2);
}

async fn pending_uploads_in(s3: &aws_sdk_s3::Client, bucket: &str, root: &str) -> Vec<String> {
    let out = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(root)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_owned))
        .collect()
}

async fn body_at(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

/// NDJSON lines `r<first>` ..= `r<last>`, padded to at least `min_len` bytes with a last line
/// of spaces inside the final record (so multipart objects hold the same records).
fn records(first: u64, last: u64, min_len: usize) -> Vec<u8> {
    let mut body: Vec<u8> = (first..=last)
        .flat_map(|i| format!("r{i}\n").into_bytes())
        .collect();
    if body.len() < min_len {
        body.pop();
        body.resize(min_len - 1, b' ');
        body.push(b'\n');
    }
    body
}

fn record_names(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_holding_fewer_records_sends_the_longer_object_to_the_alternative_key_and_the_same_records_are_done()
 {
    create_versioned_bucket(VERSIONED_BUCKET).await;
    let root = format!("{}/", unique("it-other-records"));
    let sink = S3Sink::new(
        s3().await,
        VERSIONED_BUCKET,
        root.clone(),
        S3SinkOptions {
            multipart_part_size: MIN_PART_SIZE,
            ..S3SinkOptions::default()
        },
    );
    let direct = s3().await;
    // One PutObject case and one multipart case (metadata set by CreateMultipartUpload).
    for (name, min_len) in [("n-s-1-0.gz", 0), ("n-s-1-0.parquet", MIN_PART_SIZE + 10)] {
        // The first run cut records 1..=3, the replay (another buffer_size_mib) 1..=8.
        let first = write_once(&sink, name, &records(1, 3, min_len), &held(3, 3))
            .await
            .unwrap();
        assert_eq!(first.outcome, PutOutcome::Written);
        let longer = write_once(&sink, name, &records(1, 8, min_len), &held(8, 8))
            .await
            .unwrap();
        let alternative = name.replacen("-1-0.", "-1-0-8-0.", 1);
        assert_eq!(longer.key, alternative, "{name}");
        assert_eq!(longer.outcome, PutOutcome::Written);
        assert_eq!(longer.diverted_from.as_deref(), Some(name));
        let mut landed =
            record_names(&body_at(&direct, VERSIONED_BUCKET, &format!("{root}{name}")).await);
        landed.extend(record_names(
            &body_at(&direct, VERSIONED_BUCKET, &format!("{root}{alternative}")).await,
        ));
        for i in 1..=8 {
            assert!(
                landed.contains(&format!("r{i}")),
                "{name}: record r{i} is in one of the objects"
            );
        }
        // The same records again (other bytes, as a compacted Parquet object): done, no object
        // under another key, no second version.
        let same = write_once(&sink, name, &records(1, 3, min_len + 7), &held(3, 3))
            .await
            .unwrap();
        assert_eq!(same.key, name);
        assert_eq!(same.diverted_from, None);
        assert_eq!(
            same.outcome,
            PutOutcome::AlreadyWritten {
                existing_size: Some(records(1, 3, min_len).len() as u64),
                existing_contents: Some(held(3, 3)),
            }
        );
        let replay = write_once(&sink, name, &records(1, 8, min_len), &held(8, 8))
            .await
            .unwrap();
        assert_eq!(replay.key, alternative);
        assert!(matches!(replay.outcome, PutOutcome::AlreadyWritten { .. }));
    }
    let versions = versions_per_key(VERSIONED_BUCKET, &root).await;
    assert_eq!(
        versions,
        [
            (format!("{root}n-s-1-0-8-0.gz"), 1),
            (format!("{root}n-s-1-0-8-0.parquet"), 1),
            (format!("{root}n-s-1-0.gz"), 1),
            (format!("{root}n-s-1-0.parquet"), 1),
        ]
        .into(),
        "two objects per key's records, each created once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_without_recorded_contents_holds_the_same_records_only_when_its_size_is_the_same()
{
    create_bucket(BUCKET).await;
    let root = format!("{}/", unique("it-legacy-object"));
    let direct = s3().await;
    // Written by an older version: no kinesink metadata.
    direct
        .put_object()
        .bucket(BUCKET)
        .key(format!("{root}n-s-1-0.gz"))
        .body(records(1, 3, 0).into())
        .send()
        .await
        .unwrap();
    let sink = S3Sink::new(
        direct.clone(),
        BUCKET,
        root.clone(),
        S3SinkOptions::default(),
    );
    let same_size = write_once(&sink, "n-s-1-0.gz", &records(1, 3, 0), &held(3, 3))
        .await
        .unwrap();
    assert_eq!(same_size.key, "n-s-1-0.gz");
    let other_size = write_once(&sink, "n-s-1-0.gz", &records(1, 5, 0), &held(5, 5))
        .await
        .unwrap();
    assert_eq!(other_size.key, "n-s-1-0-5-0.gz");
    assert_eq!(other_size.outcome, PutOutcome::Written);
}
