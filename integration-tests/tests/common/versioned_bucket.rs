//! Buckets with versioning enabled, and how many versions each key has: "one version per key"
//! is how a test sees that every object was written exactly once.
#![allow(dead_code)]

use std::collections::BTreeMap;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

/// Creates `name` (if missing) with versioning enabled.
pub async fn create_versioned_bucket(name: &str) {
    let s3 = super::s3().await;
    if s3.head_bucket().bucket(name).send().await.is_err() {
        let _ = s3.create_bucket().bucket(name).send().await;
    }
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("the S3 stand-in enables versioning");
}

/// Every key under `prefix` in `bucket` with its number of versions (delete markers included).
pub async fn versions_per_key(bucket: &str, prefix: &str) -> BTreeMap<String, usize> {
    let s3 = super::s3().await;
    let mut counts = BTreeMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("ListObjectVersions");
        for key in page
            .versions()
            .iter()
            .filter_map(|v| v.key())
            .chain(page.delete_markers().iter().filter_map(|d| d.key()))
        {
            *counts.entry(key.to_owned()).or_insert(0) += 1;
        }
        if page.is_truncated() != Some(true) {
            return counts;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// Asserts every key under `prefix` but those under `except` (e.g. the progress objects, which
/// are rewritten by design) has exactly one version: each object was created once (one
/// ObjectCreated notification per object). Returns how many keys were checked.
pub async fn assert_one_version_per_key(bucket: &str, prefix: &str, except: Option<&str>) -> usize {
    let mut counts = versions_per_key(bucket, prefix).await;
    counts.retain(|key, _| except.is_none_or(|e| !key.starts_with(e)));
    let rewritten: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).take(10).collect();
    assert!(
        rewritten.is_empty(),
        "keys with more than one version (written more than once), first ones: {rewritten:?} ({} of {} keys)",
        counts.values().filter(|n| **n != 1).count(),
        counts.len()
    );
    counts.len()
}
