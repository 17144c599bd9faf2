//! A parsed `Prefix` / `ErrorOutputPrefix`: Firehose's rules at parse time, evaluation per object.

use std::fmt;

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;

use crate::error_codes;
use crate::key_escaping::push_escaped;
use crate::partition_keys::PartitionKeys;
use crate::random_string::push_random_string;
use crate::template_syntax::{Piece, SyntaxError, split_pieces};
use crate::timestamp_pattern::TimestampPattern;

mod path_check;

/// Longest template text accepted, in characters (Firehose's API limit for `Prefix` and
/// `ErrorOutputPrefix`).
pub const MAX_TEMPLATE_CHARS: usize = 1024;

/// Longest evaluated prefix, in characters (Firehose: "Neither Prefix nor ErrorOutputPrefix
/// can be greater than 512 characters after they're evaluated").
pub const MAX_EVALUATED_CHARS: usize = 512;

/// The pattern Firehose appends to a data prefix without timestamp (and, in kinesink, without
/// partition key) expression, and uses when no prefix is configured.
pub const DEFAULT_TIMESTAMP_PATTERN: &str = "yyyy/MM/dd/HH/";

/// Which of the two prefixes a template is; the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixKind {
    /// `Prefix` (`[destination] prefix`): where delivered records go.
    Data,
    /// `ErrorOutputPrefix` (`[destination] error_output_prefix`): where failed records go.
    Error,
}

/// A prefix template, parsed once at config load and evaluated for every object (or record).
///
/// Guarantees: it was accepted by Firehose's rules for its [`PrefixKind`] (see
/// [`PrefixTemplate::parse`]); evaluation is a pure function of the template, its time zone and
/// the [`PrefixInputs`]; it never panics, and every evaluated prefix is at most
/// [`MAX_EVALUATED_CHARS`] characters.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixTemplate {
    kind: PrefixKind,
    text: String,
    parts: Vec<Part>,
    key_names: Vec<String>,
    time_zone: Tz,
    default_timestamp_appended: bool,
    keys_from_lambda: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Timestamp(TimestampPattern),
    PartitionKey(String),
    RandomString { occurrence: u32 },
    ErrorOutputType,
}

/// What [`PrefixTemplate::evaluate`] needs besides the template.
#[derive(Debug, Clone, Copy)]
pub struct PrefixInputs<'a> {
    /// The object's partition keys (from [`crate::MetadataQuery`]); [`PartitionKeys::empty`]
    /// when the template has no `!{partitionKeyFromQuery:...}`.
    pub partition_keys: &'a PartitionKeys,
    /// Approximate arrival time of the OLDEST record of the object, ms since the Unix epoch:
    /// every `!{timestamp:...}` of the prefix uses this one instant.
    pub oldest_arrival_ms: i64,
    /// The value of `!{firehose:error-output-type}` (e.g. `processing-failed`); required by
    /// error prefixes that use it, ignored otherwise. Escaped like a key value.
    pub error_output_type: Option<&'a str>,
    /// Hash input of `!{firehose:random-string}`; must not depend on the prefix, and should
    /// identify the object, e.g. shard id + first sequence number + first sub-sequence number,
    /// so a replayed object gets the same string.
    pub random_string_seed: &'a [u8],
}

/// A template refused at parse time: the 1-based character column and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {reason}")]
pub struct TemplateError {
    /// 1-based character column in the template text.
    pub column: usize,
    /// What is wrong.
    pub reason: TemplateErrorReason,
}

/// What is wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateErrorReason {
    /// `!{` without a closing `}`.
    #[error(
        "`!{{` opens an expression that is never closed with `}}` (`!{{` can only start a `!{{namespace:value}}` expression)"
    )]
    Unterminated,
    /// `!{...}` without `:`.
    #[error("expression without `:`; expected `!{{namespace:value}}`")]
    MissingColon,
    /// An unknown namespace.
    #[error(
        "unknown namespace `{0}`; expected `timestamp`, `firehose`, `partitionKeyFromQuery` or `partitionKeyFromLambda`"
    )]
    UnknownNamespace(String),
    /// An unknown `firehose` value.
    #[error("unknown `firehose` value `{0}`; expected `error-output-type` or `random-string`")]
    UnknownFirehoseValue(String),
    /// `!{partitionKeyFromQuery:}`.
    #[error("the partition key name is empty")]
    EmptyKeyName,
    /// `!{timestamp:}`.
    #[error("the timestamp pattern is empty")]
    EmptyTimestampPattern,
    /// A pattern outside the supported Java `DateTimeFormatter` subset.
    #[error("timestamp pattern: {0}")]
    TimestampPattern(String),
    /// `partitionKeyFromQuery` and `partitionKeyFromLambda` in one prefix.
    #[error(
        "`partitionKeyFromQuery` and `partitionKeyFromLambda` cannot be used together in one prefix (Firehose rule): the keys come from the metadata extraction query or from the Lambda function, not both"
    )]
    MixedKeySources,
    /// `partitionKeyFromQuery` / `partitionKeyFromLambda` in an error prefix.
    #[error("`{0}` is not allowed in the error output prefix (Firehose rule)")]
    PartitionKeyInErrorPrefix(String),
    /// `!{firehose:error-output-type}` in a data prefix.
    #[error(
        "`!{{firehose:error-output-type}}` is only allowed in the error output prefix (Firehose rule)"
    )]
    ErrorOutputTypeInDataPrefix,
    /// An error prefix with expressions but no `!{firehose:error-output-type}`.
    #[error(
        "an error output prefix with expressions must contain `!{{firehose:error-output-type}}` (Firehose rule)"
    )]
    ErrorOutputTypeMissing,
    /// Longer than [`MAX_TEMPLATE_CHARS`].
    #[error("the template is {0} characters long; at most {MAX_TEMPLATE_CHARS} are allowed")]
    TooLong(usize),
    /// The evaluated prefix starts with `/`.
    #[error(
        "the prefix starts with `/`; prefixes are relative to the destination (`s3://bucket/root` or `file:///dir`)"
    )]
    AbsolutePrefix,
    /// The evaluated prefix has a `.` or `..` segment.
    #[error(
        "the prefix has a `{0}` path segment; prefixes must stay inside the destination (S3 would store `{0}` as a literal key part, a directory would resolve it)"
    )]
    DotSegment(String),
}

/// A prefix that cannot be evaluated for these inputs: the records go to the error output with
/// [`EvaluateError::error_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluateError {
    /// The template names a key the record's keys do not have.
    #[error(
        "the prefix uses partition key `{0}`, which the metadata extraction query did not output"
    )]
    MissingPartitionKey(String),
    /// The template uses `!{firehose:error-output-type}` but no (or an empty) type was given.
    #[error(
        "the error output prefix uses `!{{firehose:error-output-type}}` but no error output type was given"
    )]
    MissingErrorOutputType,
    /// The instant cannot be expressed as a date.
    #[error("timestamp {0} ms since the epoch is out of the representable range")]
    TimeOutOfRange(i64),
    /// The evaluated prefix is longer than [`MAX_EVALUATED_CHARS`].
    #[error(
        "the evaluated prefix is {0} characters long; at most {MAX_EVALUATED_CHARS} are allowed"
    )]
    TooLong(usize),
}

impl EvaluateError {
    /// The error output's `errorCode` for records whose prefix failed:
    /// [`error_codes::PREFIX_EVALUATION_FAILED`].
    #[must_use]
    pub fn error_code(&self) -> &'static str {
        error_codes::PREFIX_EVALUATION_FAILED
    }
}

impl PrefixTemplate {
    /// Parses `text` as a prefix of `kind`, in UTC (see [`PrefixTemplate::with_time_zone`]).
    ///
    /// Rules (Firehose's, from "Custom prefixes for Amazon S3 objects"):
    /// - `!{` only starts a `!{namespace:value}` expression; namespaces `timestamp`, `firehose`
    ///   (`random-string`, `error-output-type`), `partitionKeyFromQuery`,
    ///   `partitionKeyFromLambda`; an expression's value ends at the first `}`;
    /// - `partitionKeyFromQuery` and `partitionKeyFromLambda` are not mixed in one prefix;
    /// - a data prefix without timestamp expression gets `!{timestamp:yyyy/MM/dd/HH/}` appended,
    ///   unless it has `partitionKeyFromQuery` expressions (dynamic partitioning: Firehose's
    ///   documented example `customer_id=!{partitionKeyFromQuery:customer_id}/...` is delivered
    ///   without a time suffix);
    /// - `error-output-type` only in an error prefix, and mandatory there when the error prefix
    ///   has any expression; no partition keys in an error prefix;
    /// - at most [`MAX_TEMPLATE_CHARS`] characters;
    /// - (kinesink's rule) no evaluation starts with `/` or has a `.` or `..` segment: the
    ///   prefix stays inside the destination.
    ///
    /// # Errors
    /// [`TemplateError`] with the 1-based column of the offending expression (or character).
    pub fn parse(text: &str, kind: PrefixKind) -> Result<Self, TemplateError> {
        let chars = text.chars().count();
        if chars > MAX_TEMPLATE_CHARS {
            return Err(TemplateError {
                column: MAX_TEMPLATE_CHARS + 1,
                reason: TemplateErrorReason::TooLong(chars),
            });
        }
        let template = Self::parse_unlimited(text, kind)?;
        path_check::check(&template)?;
        Ok(template)
    }

    /// Firehose's default when no prefix is configured: `!{timestamp:yyyy/MM/dd/HH/}` (UTC
    /// unless [`PrefixTemplate::with_time_zone`] says otherwise), the same as parsing `""`.
    #[must_use]
    pub fn firehose_default() -> Self {
        Self {
            kind: PrefixKind::Data,
            text: String::new(),
            parts: vec![Part::Timestamp(default_timestamp())],
            key_names: Vec::new(),
            time_zone: Tz::UTC,
            default_timestamp_appended: true,
            keys_from_lambda: false,
        }
    }

    /// The same template with `!{timestamp:...}` evaluated in `time_zone` (an IANA zone).
    #[must_use]
    pub fn with_time_zone(mut self, time_zone: Tz) -> Self {
        self.time_zone = time_zone;
        self
    }

    /// The time zone of `!{timestamp:...}`.
    #[must_use]
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Which prefix this is.
    #[must_use]
    pub fn kind(&self) -> PrefixKind {
        self.kind
    }

    /// The template as written (without the appended default timestamp).
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `true` when `!{timestamp:yyyy/MM/dd/HH/}` was appended by the default-timestamp rule.
    #[must_use]
    pub fn default_timestamp_appended(&self) -> bool {
        self.default_timestamp_appended
    }

    /// The keys named by `!{partitionKeyFromQuery:KEY}` (or `!{partitionKeyFromLambda:KEY}`),
    /// each once, in order of first use, so config load can check that the metadata extraction
    /// query outputs them.
    #[must_use]
    pub fn partition_key_names(&self) -> &[String] {
        &self.key_names
    }

    /// `true` when the keys are `!{partitionKeyFromLambda:KEY}`: each record's keys are the
    /// `metadata.partitionKeys` the Lambda processor returned with it, not the query's.
    #[must_use]
    pub fn keys_from_lambda(&self) -> bool {
        self.keys_from_lambda
    }

    /// `true` when the evaluated prefix depends on the arrival time (the template has a
    /// `!{timestamp:...}`). When `false`, whether [`PrefixTemplate::evaluate`] succeeds and what
    /// it writes depend only on the partition keys (random strings have a fixed length), so a
    /// caller that evaluated some keys once need not check them again for another record.
    #[must_use]
    pub fn reads_arrival_time(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Timestamp(_)))
    }

    /// `true` when the template has `!{...}` expressions as written (before the default
    /// timestamp is appended).
    #[must_use]
    pub fn has_expressions(&self) -> bool {
        let appended = usize::from(self.default_timestamp_appended);
        self.parts
            .iter()
            .filter(|p| !matches!(p, Part::Literal(_)))
            .count()
            > appended
    }

    /// Evaluates the prefix.
    ///
    /// # Errors
    /// [`EvaluateError`]: a missing key or error output type, an instant outside chrono's range,
    /// or a result longer than [`MAX_EVALUATED_CHARS`].
    pub fn evaluate(&self, inputs: &PrefixInputs<'_>) -> Result<String, EvaluateError> {
        let mut out = String::with_capacity(64);
        self.evaluate_into(inputs, &mut out)?;
        Ok(out)
    }

    /// Like [`PrefixTemplate::evaluate`], appending to `out` (which is left as it was on error).
    ///
    /// # Errors
    /// As [`PrefixTemplate::evaluate`].
    pub fn evaluate_into(
        &self,
        inputs: &PrefixInputs<'_>,
        out: &mut String,
    ) -> Result<(), EvaluateError> {
        let start = out.len();
        let result = self.write_parts(inputs, out).and_then(|()| {
            let written = &out[start..];
            // Byte length bounds the character count from above: count only when needed.
            if written.len() > MAX_EVALUATED_CHARS {
                let chars = written.chars().count();
                if chars > MAX_EVALUATED_CHARS {
                    return Err(EvaluateError::TooLong(chars));
                }
            }
            Ok(())
        });
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_parts(
        &self,
        inputs: &PrefixInputs<'_>,
        out: &mut String,
    ) -> Result<(), EvaluateError> {
        let mut instant: Option<DateTime<Tz>> = None;
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Timestamp(pattern) => {
                    let t = match instant {
                        Some(t) => t,
                        None => *instant.insert(
                            self.time_zone
                                .timestamp_millis_opt(inputs.oldest_arrival_ms)
                                .single()
                                .ok_or(EvaluateError::TimeOutOfRange(inputs.oldest_arrival_ms))?,
                        ),
                    };
                    pattern.format_into(&t, out);
                }
                Part::PartitionKey(name) => out.push_str(
                    inputs
                        .partition_keys
                        .get(name)
                        .ok_or_else(|| EvaluateError::MissingPartitionKey(name.clone()))?,
                ),
                Part::RandomString { occurrence } => {
                    push_random_string(inputs.random_string_seed, *occurrence, out)
                }
                Part::ErrorOutputType => match inputs.error_output_type {
                    Some(t) if !t.is_empty() => push_escaped(t, out),
                    _ => return Err(EvaluateError::MissingErrorOutputType),
                },
            }
        }
        Ok(())
    }

    /// Parsing without the length limit: for templates kinesink builds itself from a checked one.
    pub(crate) fn parse_unlimited(text: &str, kind: PrefixKind) -> Result<Self, TemplateError> {
        let pieces = split_pieces(text).map_err(|e| match e {
            SyntaxError::Unterminated { column } => TemplateError {
                column,
                reason: TemplateErrorReason::Unterminated,
            },
            SyntaxError::MissingColon { column } => TemplateError {
                column,
                reason: TemplateErrorReason::MissingColon,
            },
        })?;
        let mut parts = Vec::with_capacity(pieces.len() + 1);
        let mut key_names: Vec<String> = Vec::new();
        let mut key_namespace: Option<&str> = None;
        let mut random_strings = 0u32;
        let mut first_expression_column = None;
        let (mut has_timestamp, mut has_error_output_type) = (false, false);
        for piece in pieces {
            let e = match piece {
                Piece::Literal(s) => {
                    parts.push(Part::Literal(s.to_owned()));
                    continue;
                }
                Piece::Expression(e) => e,
            };
            first_expression_column.get_or_insert(e.column);
            let at = |column, reason| Err(TemplateError { column, reason });
            match e.namespace {
                "timestamp" => {
                    if e.value.is_empty() {
                        return at(e.column, TemplateErrorReason::EmptyTimestampPattern);
                    }
                    let pattern = TimestampPattern::parse(e.value).map_err(|p| TemplateError {
                        column: e.value_column + p.offset,
                        reason: TemplateErrorReason::TimestampPattern(p.message),
                    })?;
                    has_timestamp = true;
                    parts.push(Part::Timestamp(pattern));
                }
                "firehose" => match e.value {
                    "random-string" => {
                        parts.push(Part::RandomString {
                            occurrence: random_strings,
                        });
                        random_strings = random_strings.saturating_add(1);
                    }
                    "error-output-type" => {
                        if kind == PrefixKind::Data {
                            return at(e.column, TemplateErrorReason::ErrorOutputTypeInDataPrefix);
                        }
                        has_error_output_type = true;
                        parts.push(Part::ErrorOutputType);
                    }
                    other => {
                        return at(
                            e.value_column,
                            TemplateErrorReason::UnknownFirehoseValue(other.to_owned()),
                        );
                    }
                },
                namespace @ ("partitionKeyFromQuery" | "partitionKeyFromLambda") => {
                    if kind == PrefixKind::Error {
                        return at(
                            e.column,
                            TemplateErrorReason::PartitionKeyInErrorPrefix(namespace.to_owned()),
                        );
                    }
                    if *key_namespace.get_or_insert(namespace) != namespace {
                        return at(e.column, TemplateErrorReason::MixedKeySources);
                    }
                    if e.value.is_empty() {
                        return at(e.column, TemplateErrorReason::EmptyKeyName);
                    }
                    if !key_names.iter().any(|k| k == e.value) {
                        key_names.push(e.value.to_owned());
                    }
                    parts.push(Part::PartitionKey(e.value.to_owned()));
                }
                other => {
                    return at(
                        e.namespace_column,
                        TemplateErrorReason::UnknownNamespace(other.to_owned()),
                    );
                }
            }
        }
        if let (PrefixKind::Error, Some(column), false) =
            (kind, first_expression_column, has_error_output_type)
        {
            return Err(TemplateError {
                column,
                reason: TemplateErrorReason::ErrorOutputTypeMissing,
            });
        }
        let default_timestamp_appended =
            kind == PrefixKind::Data && !has_timestamp && key_names.is_empty();
        if default_timestamp_appended {
            parts.push(Part::Timestamp(default_timestamp()));
        }
        Ok(Self {
            kind,
            text: text.to_owned(),
            parts,
            key_names,
            time_zone: Tz::UTC,
            default_timestamp_appended,
            keys_from_lambda: key_namespace == Some("partitionKeyFromLambda"),
        })
    }
}

fn default_timestamp() -> TimestampPattern {
    TimestampPattern::parse(DEFAULT_TIMESTAMP_PATTERN)
        .unwrap_or_else(|_| unreachable!("the default pattern parses"))
}

impl fmt::Display for PrefixTemplate {
    /// The template as written, plus the appended default timestamp expression if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.default_timestamp_appended {
            write!(f, "!{{timestamp:{DEFAULT_TIMESTAMP_PATTERN}}}")?;
        }
        Ok(())
    }
}
