//! `processing.transform`: a jq program run on each JSON record; each of its outputs becomes a
//! record (compact JSON). Bounded like the partition-key query: no program and no record can
//! hang, crash or exhaust the worker.

use jaq_core::{Ctx, Vars, data};
use jaq_json::Val;
use serde::Deserialize as _;

use crate::metadata_query::{JqFilter, MAX_QUERY_CHARS, QueryError, compile_jq};
use crate::projection_transform::Projection;
use crate::query_budget::{BudgetLimit, QueryBudget, Stopped, on_evaluation_stack, run_bounded};

/// Why a record was not transformed; it goes to the error output (`processing-failed`) with
/// this as its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The record is not JSON.
    #[error("the record is not JSON: {0}")]
    NotJson(String),
    /// The program raised an error (`error(...)`, a type error, `halt`).
    #[error("the transform failed: {0}")]
    Failed(String),
    /// The program passed its evaluation budget on this record.
    #[error("the transform was stopped: {0}")]
    Budget(BudgetLimit),
}

/// A compiled transform. Guarantees: compiled once, usable from any thread; the outputs depend
/// on the record only (no clock, environment or further input); every run ends within the
/// [`QueryBudget`], with the same result every time for the same record. A projection
/// (`{id: .event_id, t: .ts}`) runs without jaq, with the same output jaq gives.
pub struct JqTransform {
    text: String,
    filter: JqFilter,
    budget: QueryBudget,
    /// The jaq-free path, when the program is a projection.
    projection: Option<Projection>,
}

impl std::fmt::Debug for JqTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JqTransform")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl JqTransform {
    /// Compiles a jq program (jaq-core + jaq-std + jaq-json definitions, without `env`, `now`,
    /// `input`, `inputs`).
    ///
    /// # Errors
    /// [`QueryError`]: a syntax error, an undefined name, or a program longer than
    /// [`MAX_QUERY_CHARS`].
    pub fn compile(text: &str) -> Result<Self, QueryError> {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong(chars));
        }
        let filter =
            on_evaluation_stack(|| compile_jq(text)).map_err(|e| QueryError::Syntax {
                column: 1,
                message: format!("no stack to compile the program on: {e}"),
            })??;
        Ok(Self {
            text: text.to_owned(),
            filter,
            budget: QueryBudget::DEFAULT,
            projection: Projection::recognize(text),
        })
    }

    /// The program as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The outputs of the program on `record`, each as compact JSON, in order (none: the
    /// record is dropped).
    ///
    /// # Errors
    /// [`TransformError`]: the record is not JSON, the program failed on it, or passed its
    /// budget (no partial output is returned).
    pub fn run(&self, record: &[u8]) -> Result<Vec<Vec<u8>>, TransformError> {
        // The projection's work is one parse of the record and a copy of the selected values:
        // bounded by the record's size, within the budget's size for any record up to it.
        if let Some(projection) = &self.projection
            && (record.len() as u64) < self.budget.size / 2
            && let Some(output) = projection.run(record)
        {
            return Ok(vec![output]);
        }
        self.run_with_jaq(record)
    }

    /// Whether this program runs without jaq on records it does not fail on.
    #[must_use]
    pub fn runs_without_jaq(&self) -> bool {
        self.projection.is_some()
    }

    /// The jaq-free path alone: `None` when the program is no projection, or the record needs
    /// jaq (not JSON, or the program fails on it).
    #[cfg(test)]
    pub(crate) fn run_without_jaq(&self, record: &[u8]) -> Option<Vec<u8>> {
        self.projection.as_ref()?.run(record)
    }

    /// [`JqTransform::run`] on jaq, whatever the program's shape.
    pub(crate) fn run_with_jaq(&self, record: &[u8]) -> Result<Vec<Vec<u8>>, TransformError> {
        match run_bounded(self.budget, || self.run_unbounded(record)) {
            Ok(outcome) => outcome,
            Err(Stopped::Budget(limit)) => Err(TransformError::Budget(limit)),
            Err(Stopped::Panicked(message)) => {
                Err(TransformError::Failed(format!("jaq panicked: {message}")))
            }
        }
    }

    fn run_unbounded(&self, record: &[u8]) -> Result<Vec<Vec<u8>>, TransformError> {
        // Straight from the bytes into jaq's value (no intermediate `serde_json::Value`), then
        // the rest of the input must be whitespace, as for `serde_json::from_slice`.
        let not_json = |e: serde_json::Error| TransformError::NotJson(e.to_string());
        let mut de = serde_json::Deserializer::from_slice(record);
        let input = Val::deserialize(&mut de).map_err(not_json)?;
        de.end().map_err(not_json)?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = Vec::new();
        for output in self.filter.id.run((ctx, input)) {
            match output {
                Ok(v) => outputs.push(v.to_string().into_bytes()),
                Err(exn) => {
                    return Err(TransformError::Failed(match exn.get_err() {
                        // `error("boom")` reads `boom`, like jq; other values as JSON.
                        Ok(error) => match jaq_core::ValT::into_string(error.into_val()) {
                            Val::TStr(text) => String::from_utf8_lossy(&text).into_owned(),
                            other => other.to_string(),
                        },
                        Err(_) => "the program stopped (halt)".to_owned(),
                    }));
                }
            }
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(program: &str, record: &str) -> Result<Vec<String>, TransformError> {
        JqTransform::compile(program)
            .unwrap()
            .run(record.as_bytes())
            .map(|o| {
                o.into_iter()
                    .map(|b| String::from_utf8(b).unwrap())
                    .collect()
            })
    }

    #[test]
    fn each_output_is_one_compact_json_record_in_order() {
        assert_eq!(
            run(
                "{id: .event_id, t: .ts}",
                r#"{"event_id": "e1", "ts": 5, "x": [1, 2]}"#
            )
            .unwrap(),
            vec![r#"{"id":"e1","t":5}"#]
        );
        assert_eq!(
            run(".items[] | {sku: .}", r#"{"items": ["a", "b", "c"]}"#).unwrap(),
            vec![r#"{"sku":"a"}"#, r#"{"sku":"b"}"#, r#"{"sku":"c"}"#]
        );
        assert_eq!(
            run("select(.keep)", r#"{"keep": false}"#).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            run(".name", r#"{"name": "é \"q\""}"#).unwrap(),
            vec![r#""é \"q\"""#]
        );
    }

    #[test]
    fn a_record_that_is_not_json_or_that_the_program_fails_on_is_an_error_saying_which() {
        assert!(matches!(
            run(".", "not json"),
            Err(TransformError::NotJson(_))
        ));
        assert_eq!(
            run(r#"error("bad record")"#, "{}"),
            Err(TransformError::Failed("bad record".into()))
        );
        assert!(matches!(
            run(".a + 1", r#"{"a": "text"}"#),
            Err(TransformError::Failed(_))
        ));
    }

    #[test]
    fn a_program_that_never_ends_is_stopped_by_the_budget_every_time() {
        let t = JqTransform::compile("[range(1e18)] | length").unwrap();
        for _ in 0..2 {
            assert!(matches!(t.run(b"{}"), Err(TransformError::Budget(_))));
        }
        assert!(matches!(
            JqTransform::compile("now"),
            Err(QueryError::Undefined { .. })
        ));
        assert!(JqTransform::compile("{").is_err());
    }
}
