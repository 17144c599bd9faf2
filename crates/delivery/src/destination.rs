//! Destination URLs: `s3://bucket/prefix` or `file:///dir`.

use std::path::PathBuf;

/// Where objects go, parsed from the `destination.url` config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An S3 bucket, with a key root prepended to every key (empty or ending in `/`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key root, e.g. `events/` for `s3://bucket/events`.
        root: String,
    },
    /// A local directory (absolute path).
    Directory(PathBuf),
}

/// A destination URL that cannot be used, with the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid destination url `{url}`: {reason}")]
pub struct DestinationError {
    /// The URL given.
    pub url: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl Destination {
    /// Parses `s3://bucket[/root]` or `file:///absolute/dir`.
    ///
    /// # Errors
    /// Any other scheme, an empty or invalid bucket name, a key root with a `.` or `..` segment,
    /// or a relative file path.
    pub fn parse(url: &str) -> Result<Self, DestinationError> {
        let fail = |reason| DestinationError {
            url: url.to_owned(),
            reason,
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, root) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !valid_bucket {
                return Err(fail(
                    "the bucket name must be 3-63 characters of a-z, 0-9, '-' and '.'",
                ));
            }
            let root = root.trim_start_matches('/');
            if root.split('/').any(|segment| matches!(segment, "." | "..")) {
                return Err(fail(
                    "the key root must not have `.` or `..` segments (S3 would store them as literal key parts)",
                ));
            }
            let root = if root.is_empty() || root.ends_with('/') {
                root.to_owned()
            } else {
                format!("{root}/")
            };
            Ok(Destination::S3 {
                bucket: bucket.to_owned(),
                root,
            })
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(fail(
                    "a file destination needs an absolute path: file:///dir",
                ));
            }
            Ok(Destination::Directory(PathBuf::from(path)))
        } else {
            Err(fail("expected s3://bucket/prefix or file:///dir"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_give_bucket_and_a_root_ending_in_slash() {
        assert_eq!(
            Destination::parse("s3://my-bucket").unwrap(),
            Destination::S3 {
                bucket: "my-bucket".into(),
                root: String::new()
            }
        );
        assert_eq!(
            Destination::parse("s3://my-bucket/events").unwrap(),
            Destination::S3 {
                bucket: "my-bucket".into(),
                root: "events/".into()
            }
        );
        assert_eq!(
            Destination::parse("s3://my-bucket/a/b/").unwrap(),
            Destination::S3 {
                bucket: "my-bucket".into(),
                root: "a/b/".into()
            }
        );
    }

    #[test]
    fn file_urls_need_an_absolute_path() {
        assert_eq!(
            Destination::parse("file:///tmp/out").unwrap(),
            Destination::Directory("/tmp/out".into())
        );
        assert!(Destination::parse("file://relative").is_err());
    }

    #[test]
    fn other_schemes_and_bad_buckets_are_refused_with_the_url() {
        for bad in [
            "http://x",
            "s3://",
            "s3://UPPER",
            "s3://ab",
            "bucket",
            "s3://my-bucket/../escape",
            "s3://my-bucket/a/./b/",
        ] {
            let e = Destination::parse(bad).unwrap_err();
            assert_eq!(e.url, bad);
        }
    }
}
