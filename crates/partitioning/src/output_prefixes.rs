//! The pair `Prefix` + `ErrorOutputPrefix`, with Firehose's rules that involve both, and the
//! optional prefix of the source record backup (`S3BackupMode` `Enabled`).

use chrono_tz::Tz;

use crate::prefix_template::{PrefixKind, PrefixTemplate, TemplateError};

/// The data prefix and the error prefix of one destination, and its backup prefix if any.
///
/// Guarantees: each was accepted by [`PrefixTemplate::parse`] for its kind, and by the rules
/// that tie them (see [`OutputPrefixes::parse`], [`OutputPrefixes::with_backup`]); all use the
/// same time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPrefixes {
    data: PrefixTemplate,
    error: PrefixTemplate,
    backup: Option<PrefixTemplate>,
}

/// Why a pair of prefixes was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputPrefixesError {
    /// The data prefix is invalid.
    #[error("prefix, {0}")]
    Prefix(TemplateError),
    /// The error output prefix is invalid.
    #[error("error output prefix, {0}")]
    ErrorOutputPrefix(TemplateError),
    /// Firehose's documented error for a data prefix with expressions and no error prefix.
    #[error("ErrorOutputPrefix can't be null when Prefix contains expressions")]
    ErrorOutputPrefixRequired,
    /// The backup prefix is invalid.
    #[error("backup prefix, {0}")]
    BackupPrefix(TemplateError),
    /// The backup prefix names a partition key: source records are backed up before any key
    /// is extracted.
    #[error(
        "backup prefix, `!{{partitionKeyFromQuery:{0}}}` cannot be used: source records are backed up as read, before partition keys are extracted"
    )]
    PartitionKeyInBackupPrefix(String),
}

impl OutputPrefixes {
    /// Parses the configured prefixes (`None` or `""`: not configured), in UTC.
    ///
    /// - No prefix: [`PrefixTemplate::firehose_default`].
    /// - No error prefix: allowed only when the data prefix has no expressions (Firehose); the
    ///   error prefix is then `<prefix>!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}`
    ///   (Firehose's documented example: prefix `myFirehosePrefix` → failed records under
    ///   `myFirehosePrefix/processing-failed/2018/08/27/`; kinesink keeps the hour level, as for
    ///   the data prefix, and adds no `/` the user did not write, as the data prefix rule does).
    ///
    /// # Errors
    /// [`OutputPrefixesError`] naming which prefix is wrong and where.
    pub fn parse(
        prefix: Option<&str>,
        error_output_prefix: Option<&str>,
    ) -> Result<Self, OutputPrefixesError> {
        let prefix = prefix.filter(|p| !p.is_empty());
        let data = match prefix {
            Some(p) => {
                PrefixTemplate::parse(p, PrefixKind::Data).map_err(OutputPrefixesError::Prefix)?
            }
            None => PrefixTemplate::firehose_default(),
        };
        let error = match error_output_prefix.filter(|p| !p.is_empty()) {
            Some(e) => PrefixTemplate::parse(e, PrefixKind::Error)
                .map_err(OutputPrefixesError::ErrorOutputPrefix)?,
            None if data.has_expressions() => {
                return Err(OutputPrefixesError::ErrorOutputPrefixRequired);
            }
            None => {
                // `prefix` has no `!{`, so this text has exactly the two expressions below.
                let text = format!(
                    "{}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd/HH/}}",
                    prefix.unwrap_or("")
                );
                PrefixTemplate::parse_unlimited(&text, PrefixKind::Error)
                    .map_err(OutputPrefixesError::ErrorOutputPrefix)?
            }
        };
        Ok(Self {
            data,
            error,
            backup: None,
        })
    }

    /// The same prefixes with a source record backup under `backup_prefix` (`None` or `""`:
    /// no backup). The data prefix's rules apply (a prefix without timestamp gets
    /// `!{timestamp:yyyy/MM/dd/HH/}` appended, like Firehose's backup prefix), except that it
    /// cannot name a partition key.
    ///
    /// # Errors
    /// [`OutputPrefixesError::BackupPrefix`] or [`OutputPrefixesError::PartitionKeyInBackupPrefix`].
    pub fn with_backup(self, backup_prefix: Option<&str>) -> Result<Self, OutputPrefixesError> {
        let Some(text) = backup_prefix.filter(|p| !p.is_empty()) else {
            return Ok(Self {
                backup: None,
                ..self
            });
        };
        let backup = PrefixTemplate::parse(text, PrefixKind::Data)
            .map_err(OutputPrefixesError::BackupPrefix)?;
        if let Some(key) = backup.partition_key_names().first() {
            return Err(OutputPrefixesError::PartitionKeyInBackupPrefix(key.clone()));
        }
        Ok(Self {
            backup: Some(backup.with_time_zone(self.data.time_zone())),
            ..self
        })
    }

    /// Every prefix with `!{timestamp:...}` evaluated in `time_zone`.
    #[must_use]
    pub fn with_time_zone(self, time_zone: Tz) -> Self {
        Self {
            data: self.data.with_time_zone(time_zone),
            error: self.error.with_time_zone(time_zone),
            backup: self.backup.map(|b| b.with_time_zone(time_zone)),
        }
    }

    /// The prefix of delivered records.
    #[must_use]
    pub fn data(&self) -> &PrefixTemplate {
        &self.data
    }

    /// The prefix of failed records.
    #[must_use]
    pub fn error(&self) -> &PrefixTemplate {
        &self.error
    }

    /// The prefix of the source record backup, when backup is on.
    #[must_use]
    pub fn backup(&self) -> Option<&PrefixTemplate> {
        self.backup.as_ref()
    }
}
