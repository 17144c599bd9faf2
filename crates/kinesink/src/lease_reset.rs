//! `kinesink leases reset`: which checkpoint a reset stores.

use clap::ValueEnum;
use kinesink_lease_coordination::Checkpoint;
use kinesink_shard_reader::StartPosition;

/// Where `leases reset --to` moves a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResetTarget {
    /// The oldest record in the shard.
    TrimHorizon,
    /// The tip of the shard.
    Latest,
    /// The first record at or after a time (`--timestamp`, or the configured one).
    AtTimestamp,
}

/// The checkpoint `leases reset --to <to> [--timestamp T]` stores: `--timestamp` only with
/// `--to at-timestamp`, where it is stored in the lease (without it, the configured
/// `source.initial_timestamp` is used, which must then be set).
pub(crate) fn reset_checkpoint(
    to: ResetTarget,
    timestamp: Option<&str>,
    initial_position: &StartPosition,
) -> Result<Checkpoint, String> {
    match (to, timestamp) {
        (ResetTarget::TrimHorizon, None) => Ok(Checkpoint::TrimHorizon),
        (ResetTarget::Latest, None) => Ok(Checkpoint::Latest),
        (ResetTarget::AtTimestamp, Some(t)) => {
            let millis = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| format!("--timestamp `{t}` is not an RFC 3339 time like 2026-11-22T10:00:00Z: {e}"))?
                .timestamp_millis();
            u64::try_from(millis)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Checkpoint::AtTime)
                .ok_or_else(|| format!("--timestamp `{t}` is not after 1970-01-01T00:00:00Z"))
        }
        (ResetTarget::AtTimestamp, None) => match initial_position {
            StartPosition::AtTimestamp(_) => Ok(Checkpoint::AtTimestamp),
            _ => Err("--to at-timestamp needs --timestamp <RFC 3339 time> (or initial_position = \"at_timestamp\" with source.initial_timestamp in the config)".to_owned()),
        },
        (ResetTarget::TrimHorizon | ResetTarget::Latest, Some(_)) => {
            Err("--timestamp is only used with --to at-timestamp".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_to_a_timestamp_stores_the_time_given_not_the_configured_one() {
        let configured = StartPosition::AtTimestamp(1_000_000_000_000);
        assert_eq!(
            reset_checkpoint(
                ResetTarget::AtTimestamp,
                Some("2026-11-22T10:00:00Z"),
                &configured
            ),
            Ok(Checkpoint::AtTime(1_795_341_600_000))
        );
        assert_eq!(
            reset_checkpoint(
                ResetTarget::AtTimestamp,
                Some("2026-11-22T11:00:00+01:00"),
                &StartPosition::TrimHorizon
            ),
            Ok(Checkpoint::AtTime(1_795_341_600_000)),
            "no configured timestamp needed when one is given"
        );
        assert_eq!(
            reset_checkpoint(ResetTarget::AtTimestamp, None, &configured),
            Ok(Checkpoint::AtTimestamp),
            "without --timestamp: the configured one"
        );
    }

    #[test]
    fn timestamps_are_refused_with_other_targets_and_when_malformed_or_missing() {
        for to in [ResetTarget::TrimHorizon, ResetTarget::Latest] {
            let e = reset_checkpoint(to, Some("2026-11-22T10:00:00Z"), &StartPosition::Latest)
                .unwrap_err();
            assert!(e.contains("only used with --to at-timestamp"), "{e}");
        }
        let e = reset_checkpoint(
            ResetTarget::AtTimestamp,
            Some("yesterday"),
            &StartPosition::Latest,
        )
        .unwrap_err();
        assert!(e.contains("RFC 3339") && e.contains("yesterday"), "{e}");
        let e = reset_checkpoint(
            ResetTarget::AtTimestamp,
            Some("1960-01-01T00:00:00Z"),
            &StartPosition::Latest,
        )
        .unwrap_err();
        assert!(e.contains("1970"), "{e}");
        let e = reset_checkpoint(ResetTarget::AtTimestamp, None, &StartPosition::TrimHorizon)
            .unwrap_err();
        assert!(e.contains("--timestamp"), "{e}");
        assert_eq!(
            reset_checkpoint(ResetTarget::Latest, None, &StartPosition::TrimHorizon),
            Ok(Checkpoint::Latest)
        );
    }
}
