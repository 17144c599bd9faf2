//! A prefix must stay inside the destination: it may not start with `/` (an absolute path) nor
//! contain a `.` or `..` segment, which S3 would store as literal keys and a local directory
//! would resolve outside the object's place (the file destination refuses such keys at write
//! time, after the records were read).
//!
//! The check evaluates the template once with harmless inputs (every partition key `v`, a fixed
//! instant, the error output type `processing-failed`): key values are escaped so that they can
//! never add, remove or form a segment (`key_escaping`, and the property
//! `no_key_value_adds_removes_or_empties_a_segment_or_forms_a_dot_segment`), timestamps are
//! digits and the template's own literals, and random strings are alphanumeric, so the segments
//! of this one evaluation are those of every evaluation.

use super::{PrefixInputs, PrefixTemplate, TemplateError, TemplateErrorReason};
use crate::partition_keys::PartitionKeys;

/// Checks that no evaluation of `template` starts with `/` or has a `.` or `..` segment.
///
/// # Errors
/// [`TemplateErrorReason::AbsolutePrefix`] or [`TemplateErrorReason::DotSegment`], at the
/// column where the template text shows it (column 1 when only evaluation shows it, e.g. a
/// quoted literal inside `!{timestamp:...}`).
pub(super) fn check(template: &PrefixTemplate) -> Result<(), TemplateError> {
    let Ok(keys) = PartitionKeys::from_text_values(
        template
            .partition_key_names()
            .iter()
            .map(|name| (name.as_str(), "v")),
    ) else {
        // More keys than allowed: refused per record, nothing to evaluate here.
        return Ok(());
    };
    let Ok(evaluated) = template.evaluate(&PrefixInputs {
        partition_keys: &keys,
        oldest_arrival_ms: 1_795_000_000_000,
        error_output_type: Some("processing-failed"),
        random_string_seed: b"",
    }) else {
        // Too long for these inputs: every object fails the same way, per record.
        return Ok(());
    };
    let text = template.text();
    if evaluated.starts_with('/') {
        return Err(TemplateError {
            column: 1,
            reason: TemplateErrorReason::AbsolutePrefix,
        });
    }
    if let Some(segment) = evaluated.split('/').find(|s| matches!(*s, "." | "..")) {
        return Err(TemplateError {
            column: column_of_segment(text, segment),
            reason: TemplateErrorReason::DotSegment(segment.to_owned()),
        });
    }
    Ok(())
}

/// The 1-based character column of the first `segment` in `text` delimited by `/` or the ends
/// of the text, or 1.
fn column_of_segment(text: &str, segment: &str) -> usize {
    let mut start = 0;
    for piece in text.split('/') {
        if piece == segment {
            return text[..start].chars().count() + 1;
        }
        start += piece.len() + 1;
    }
    1
}

#[cfg(test)]
mod tests {
    use crate::prefix_template::{PrefixKind, PrefixTemplate, TemplateErrorReason};

    fn refusal(text: &str, kind: PrefixKind) -> Option<(usize, TemplateErrorReason)> {
        PrefixTemplate::parse(text, kind)
            .err()
            .map(|e| (e.column, e.reason))
    }

    #[test]
    fn absolute_prefixes_and_dot_segments_are_refused_with_their_column() {
        use PrefixKind::{Data, Error};
        assert_eq!(
            refusal("../escape/", Data),
            Some((1, TemplateErrorReason::DotSegment("..".into())))
        );
        assert_eq!(
            refusal("/abs/", Data),
            Some((1, TemplateErrorReason::AbsolutePrefix))
        );
        assert_eq!(
            refusal("../../err/!{firehose:error-output-type}/", Error),
            Some((1, TemplateErrorReason::DotSegment("..".into())))
        );
        assert_eq!(
            refusal("a/./b/", Data),
            Some((3, TemplateErrorReason::DotSegment(".".into())))
        );
        assert_eq!(
            refusal("k=!{partitionKeyFromQuery:k}/../", Data),
            Some((30, TemplateErrorReason::DotSegment("..".into())))
        );
        // Only the evaluation shows it: a quoted literal of a timestamp pattern.
        assert_eq!(
            refusal("!{timestamp:'..'}/x/", Data),
            Some((1, TemplateErrorReason::DotSegment("..".into())))
        );
    }

    #[test]
    fn dots_inside_names_and_next_to_expressions_are_allowed() {
        for text in [
            "a..b/",
            ".hidden/",
            "v1.2/",
            "...",
            "x/!{timestamp:yyyy.MM}/",
            ".!{partitionKeyFromQuery:k}/",
            "!{partitionKeyFromQuery:k}./",
            "a//b/",
        ] {
            assert_eq!(refusal(text, PrefixKind::Data), None, "{text}");
        }
    }
}
