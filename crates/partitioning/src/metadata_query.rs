//! The metadata extraction query (Firehose's `MetadataExtractionQuery`): a jq program whose one
//! output object's values become the record's partition keys.

use std::borrow::Cow;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::{Num, Val};
use serde::Deserialize as _;

use crate::direct_selection::{DirectSelection, literal_object_names};
use crate::jq_number_text;
use crate::partition_keys::PartitionKeys;
use crate::partitioning_failure::{FailureReason, MAX_PARTITION_KEYS, PartitioningFailure};
use crate::prefix_template::PrefixTemplate;
use crate::query_budget::{QueryBudget, Stopped, on_evaluation_stack, run_bounded};
use crate::streaming_selection::PathTree;
use crate::template_syntax::column_of;

pub(crate) type JqFilter = jaq_core::Filter<data::JustLut<Val>>;

/// Longest query accepted, in characters (Firehose's limit on a processor parameter value).
/// Parsing recurses once per level of nesting; with this bound it fits on the evaluation stack.
pub const MAX_QUERY_CHARS: usize = 5_120;

/// jq filters left out because they read the environment, the clock or further inputs:
/// partitioning is a pure function of the record. (`halt` stays defined, the standard library
/// uses it, but it only ends the query with a failure here: jaq's `unwrap_valr`, which would
/// exit the process, is never called.)
const EXCLUDED_FILTERS: [&str; 4] = ["env", "now", "input", "inputs"];

/// A compiled metadata extraction query.
///
/// Guarantees: compiled once, then usable from any number of threads (`Send + Sync`); for a
/// given record the result depends on the record only (no clock, environment or I/O: `now`,
/// `env`, `$ENV`, `input`, `inputs` are not available, `halt` fails the record). Queries of the shape
/// `{name: .path.to.field, ...}` run without jaq, directly on the `serde_json::Value` or the
/// bytes, with the same results as jaq (such queries provably end). Any other query runs within
/// a [`QueryBudget`] of counted steps, nesting depth and size: a record whose evaluation passes
/// it fails with [`FailureReason::BudgetExceeded`] naming the limit, the same way every time;
/// no query and no record can hang the caller, exhaust its memory or overflow its stack.
pub struct MetadataQuery {
    text: String,
    filter: JqFilter,
    budget: QueryBudget,
    direct: Option<(DirectSelection, PathTree)>,
    key_names: Option<Vec<String>>,
    omit_null_keys: bool,
}

/// A query refused at config load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// jq syntax error, with the 1-based character column.
    #[error("column {column}: {message}")]
    Syntax {
        /// 1-based character column in the query.
        column: usize,
        /// What jaq expected.
        message: String,
    },
    /// An undefined filter, variable, ... (or one left out on purpose, such as `now`).
    #[error("column {column}: undefined {what} `{name}`{hint}", hint = if EXCLUDED_FILTERS.contains(&name.as_str()) { " (not available: partition keys must depend on the record only)" } else { "" })]
    Undefined {
        /// 1-based character column in the query.
        column: usize,
        /// `filter`, `variable`, ...
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The query is longer than [`MAX_QUERY_CHARS`] characters.
    #[error("the query is {0} characters long; at most {MAX_QUERY_CHARS} are allowed")]
    TooLong(usize),
    /// The query is a literal object with more than [`MAX_PARTITION_KEYS`] names.
    #[error("the query outputs {0} partition keys; at most {MAX_PARTITION_KEYS} are allowed")]
    TooManyKeys(usize),
    /// The query never outputs an object (a literal, a boolean, or a plain field path such as
    /// `.event_type`): every record would fail.
    #[error(
        "the query outputs {outputs}, never an object; partition keys are the values of an object, e.g. `{{key: {query}}}`"
    )]
    NotAnObject {
        /// What it outputs instead, e.g. "a field's value".
        outputs: &'static str,
        /// The query.
        query: String,
    },
    /// A prefix uses a key the query (a literal object) does not output.
    #[error("the prefix uses partition key `{key}`, but the metadata extraction query only outputs {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))]
    KeyNotProduced {
        /// The key the prefix uses.
        key: String,
        /// The keys the query outputs.
        known: Vec<String>,
    },
}

impl MetadataQuery {
    /// Compiles a jq query (jaq-core + jaq-std + jaq-json definitions).
    ///
    /// # Errors
    /// [`QueryError`] for a syntax error, an undefined name, a query longer than
    /// [`MAX_QUERY_CHARS`], a query that never outputs an object (see
    /// [`QueryError::NotAnObject`]), or a literal object with more than [`MAX_PARTITION_KEYS`]
    /// keys.
    pub fn compile(text: &str) -> Result<Self, QueryError> {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong(chars));
        }
        // jaq's parser and compiler recurse per level of nesting: they run on the evaluation
        // stack, where any query within the length limit fits.
        let compiled = on_evaluation_stack(|| {
            compile_jq(text).map(|filter| {
                let direct = DirectSelection::recognize(text).map(|d| {
                    let tree = PathTree::new(&d);
                    (d, tree)
                });
                let never = crate::query_shape::never_an_object(text);
                (filter, literal_object_names(text), direct, never)
            })
        })
        .map_err(|e| QueryError::Syntax {
            column: 1,
            message: format!("no stack to compile the query on: {e}"),
        })?;
        let (filter, key_names, direct, never) = compiled?;
        if let Some(outputs) = never {
            return Err(QueryError::NotAnObject {
                outputs,
                query: text.trim().to_owned(),
            });
        }
        if let Some(names) = &key_names
            && names.len() > MAX_PARTITION_KEYS
        {
            return Err(QueryError::TooManyKeys(names.len()));
        }
        Ok(Self {
            text: text.to_owned(),
            filter,
            budget: QueryBudget::DEFAULT,
            direct,
            key_names,
            omit_null_keys: false,
        })
    }

    /// The same query, except that a key whose value is `null` (or a missing field) is left
    /// out of the keys instead of failing the record. For routing keys, where a key not given
    /// means the default (Firehose's Iceberg routing: no `destinationTableName` means the
    /// configured table); prefix keys keep Firehose's null-or-empty failure. An empty string
    /// still fails.
    #[must_use]
    pub fn omitting_null_keys(mut self) -> Self {
        self.omit_null_keys = true;
        self
    }

    /// The same query with another evaluation budget (the default is [`QueryBudget::DEFAULT`]).
    #[must_use]
    pub fn with_budget(mut self, budget: QueryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The evaluation budget of each record.
    #[must_use]
    pub fn budget(&self) -> QueryBudget {
        self.budget
    }

    /// The query as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The key names when the query is a literal object (`{a: ..., "b": ...}`), in order, so
    /// config load can check them; `None` when only running the query tells.
    #[must_use]
    pub fn key_names(&self) -> Option<&[String]> {
        self.key_names.as_deref()
    }

    /// Checks that the query outputs every key `template` uses (possible when
    /// [`MetadataQuery::key_names`] is known; otherwise a missing key is found per record, by
    /// [`PrefixTemplate::evaluate`]).
    ///
    /// # Errors
    /// [`QueryError::KeyNotProduced`] for the first key the query does not output.
    pub fn check_template(&self, template: &PrefixTemplate) -> Result<(), QueryError> {
        let Some(known) = &self.key_names else {
            return Ok(());
        };
        match template
            .partition_key_names()
            .iter()
            .find(|k| !known.contains(k))
        {
            Some(key) => Err(QueryError::KeyNotProduced {
                key: key.clone(),
                known: known.clone(),
            }),
            None => Ok(()),
        }
    }

    /// `true` when the query runs without jaq (see the type's documentation).
    #[must_use]
    pub fn runs_without_jaq(&self) -> bool {
        self.direct.is_some()
    }

    /// Extracts the partition keys of a parsed record (the fast path: parse each record once and
    /// share the `Value` with the format converter).
    ///
    /// # Errors
    /// [`PartitioningFailure`]: the query fails, does not output exactly one object, outputs more
    /// than [`MAX_PARTITION_KEYS`] keys, or a key is null, empty, an array or an object.
    pub fn extract(
        &self,
        record: &serde_json::Value,
    ) -> Result<PartitionKeys, PartitioningFailure> {
        match &self.direct {
            Some((direct, _)) => direct.extract(record, self.omit_null_keys),
            None => self.extract_with_jaq(record),
        }
    }

    /// Extracts the partition keys of a record that is not parsed yet; the same result as
    /// parsing it with `serde_json::from_slice` and calling [`MetadataQuery::extract`].
    ///
    /// # Errors
    /// As [`MetadataQuery::extract`], and [`FailureReason::NotJson`] (Firehose's "Non JSON record
    /// provided") when the bytes are not one JSON value.
    pub fn extract_from_bytes(&self, record: &[u8]) -> Result<PartitionKeys, PartitioningFailure> {
        match &self.direct {
            Some((direct, tree)) => tree.extract_from_bytes(direct, record, self.omit_null_keys),
            None => {
                let value: serde_json::Value = serde_json::from_slice(record).map_err(|e| {
                    PartitioningFailure::from(FailureReason::NotJson {
                        detail: e.to_string(),
                    })
                })?;
                self.extract_with_jaq(&value)
            }
        }
    }

    /// Extracts the keys of a record the caller has already parsed, without parsing it again:
    /// `select` is given the field paths of a `{name: .path, ...}` query (in query order) and
    /// answers one text per path, in that order: `Some(text)` only when the record is one JSON
    /// document whose value at that path is a string (its text) or an integer of magnitude at
    /// most 2^53 (its decimal digits, which is how jq 1.6 prints it; larger integers print
    /// rounded to a double and are left to the reference path), taking the last of duplicate
    /// member names as serde_json does.
    ///
    /// Guarantees: when it returns `Some`, the result equals
    /// [`MetadataQuery::extract_from_bytes`] of the record. It returns `None` (the caller then
    /// calls `extract_from_bytes`) when the query needs jaq or `select` answers `None` for any
    /// path: nulls, missing fields, booleans, floats, arrays and objects are left to the
    /// reference path, which words their failures.
    ///
    /// # Errors
    /// Inside the `Some`: the failures of [`MetadataQuery::extract`] for these values (an empty
    /// string, a key too long for a prefix, ...).
    pub fn extract_selected<'r, T: IntoIterator<Item = Option<Cow<'r, str>>>>(
        &self,
        select: impl FnOnce(&[Vec<String>]) -> T,
    ) -> Option<Result<PartitionKeys, PartitioningFailure>> {
        let (direct, _) = self.direct.as_ref()?;
        let mut keys = PartitionKeys::with_capacity(direct.names.len());
        let mut texts = select(&direct.paths).into_iter();
        // Every path is selected before any failure is reported: a later path that `select`
        // declines may hold the reference path's first failure (a path error comes first).
        let mut first_failure = None;
        for name in &direct.names {
            let text = texts.next()??;
            if first_failure.is_none()
                && let Err(failure) = keys.push_new_text(name, &text)
            {
                first_failure = Some(failure);
            }
        }
        if let Some(failure) = first_failure {
            return Some(Err(failure));
        }
        Some(Ok(keys))
    }

    /// Runs the query with jaq whatever its shape (the reference the fast path is tested
    /// against), within the budget.
    pub(crate) fn extract_with_jaq(
        &self,
        record: &serde_json::Value,
    ) -> Result<PartitionKeys, PartitioningFailure> {
        match run_bounded(self.budget, || self.extract_with_jaq_unbounded(record)) {
            Ok(outcome) => outcome,
            Err(Stopped::Budget(limit)) => Err(FailureReason::BudgetExceeded { limit }.into()),
            Err(Stopped::Panicked(message)) => Err(FailureReason::QueryFailed {
                message: format!("jaq panicked: {message}"),
            }
            .into()),
        }
    }

    fn extract_with_jaq_unbounded(
        &self,
        record: &serde_json::Value,
    ) -> Result<PartitionKeys, PartitioningFailure> {
        let input = Val::deserialize(record).map_err(|e| {
            PartitioningFailure::from(FailureReason::NotJson {
                detail: e.to_string(),
            })
        })?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = self.filter.id.run((ctx, input)).map(|x| {
            x.map_err(|exn| {
                let message = match exn.get_err() {
                    // `error("boom")` reads `boom`, like jq; other values as JSON.
                    // Written with `tostring`, whose size the budget counts.
                    Ok(error) => match jaq_core::ValT::into_string(error.into_val()) {
                        Val::TStr(text) => String::from_utf8_lossy(&text).into_owned(),
                        other => other.to_string(),
                    },
                    Err(_) => "the query stopped (halt)".to_owned(),
                };
                PartitioningFailure::from(FailureReason::QueryFailed { message })
            })
        });
        let not_one_object = |found: &str| {
            PartitioningFailure::from(FailureReason::NotOneObject {
                found: found.into(),
            })
        };
        let object = match outputs.next().transpose()? {
            Some(Val::Obj(object)) => object,
            Some(other) => return Err(not_one_object(describe(&other))),
            None => return Err(not_one_object("nothing")),
        };
        if outputs.next().transpose()?.is_some() {
            return Err(not_one_object("several values"));
        }
        if object.len() > MAX_PARTITION_KEYS {
            return Err(FailureReason::TooManyKeys {
                count: object.len(),
            }
            .into());
        }
        let mut keys = PartitionKeys::with_capacity(object.len());
        for (name, value) in object.iter() {
            let Val::TStr(name) = name else {
                return Err(not_one_object("an object with a key that is not a string"));
            };
            let name = String::from_utf8_lossy(name);
            if self.omit_null_keys && matches!(value, Val::Null) {
                continue;
            }
            let text = val_scalar_text(&name, value)?;
            keys.insert_text(Arc::from(&*name), &text)?;
        }
        Ok(keys)
    }
}

impl std::fmt::Debug for MetadataQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataQuery")
            .field("text", &self.text)
            .field("runs_without_jaq", &self.runs_without_jaq())
            .field("key_names", &self.key_names)
            .finish_non_exhaustive()
    }
}

/// The text of a jq scalar as a partition key value, written as `json_scalar_text` writes the
/// same JSON value: numbers as jq 1.6 (Firehose's jq, all doubles) prints them, whatever jaq
/// holds them as (machine or big integer, float, decimal literal of the query); infinity and NaN
/// (from jaq arithmetic only) fail the record (see `jq_number_text`).
fn val_scalar_text<'v>(name: &str, value: &'v Val) -> Result<Cow<'v, str>, PartitioningFailure> {
    let key = || name.to_owned();
    match value {
        Val::TStr(bytes) => Ok(String::from_utf8_lossy(bytes)),
        Val::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        Val::Num(Num::Int(i)) => Ok(Cow::Owned(jq_number_text::integer_text(*i as i64))),
        Val::Num(n) => {
            let double = match n {
                Num::Float(f) => *f,
                // A big integer or a decimal literal: its decimal text read as the nearest
                // double, as jq 1.6 reads every number.
                other => other.to_string().parse().unwrap_or(f64::NAN),
            };
            match jq_number_text::finite_text(double) {
                Some(text) => Ok(Cow::Owned(text)),
                None => Err(FailureReason::NotFinite { key: key() }.into()),
            }
        }
        Val::Null => Err(FailureReason::NullOrEmpty {
            key: key(),
            null: true,
        }
        .into()),
        Val::BStr(_) => Err(FailureReason::NotScalar {
            key: key(),
            found: "a byte string",
        }
        .into()),
        Val::Arr(_) => Err(FailureReason::NotScalar {
            key: key(),
            found: "an array",
        }
        .into()),
        Val::Obj(_) => Err(FailureReason::NotScalar {
            key: key(),
            found: "an object",
        }
        .into()),
    }
}

fn describe(value: &Val) -> &'static str {
    match value {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::TStr(_) => "a string",
        Val::BStr(_) => "a byte string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
    }
}

pub(crate) fn compile_jq(text: &str) -> Result<JqFilter, QueryError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, ..)| !EXCLUDED_FILTERS.contains(name));
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: text,
                path: (),
            },
        )
        .map_err(|errors| {
            let located = |found: &str, message: String| QueryError::Syntax {
                column: located_column(text, found),
                message,
            };
            match errors.into_iter().next().map(|(_, e)| e) {
                Some(jaq_core::load::Error::Lex(errs)) => match errs.into_iter().next() {
                    Some((expect, found)) => {
                        located(found, format!("expected {}", lex_expectation(&expect)))
                    }
                    None => located("", "cannot read the query".into()),
                },
                Some(jaq_core::load::Error::Parse(errs)) => match errs.into_iter().next() {
                    Some((expect, found)) => located(
                        found,
                        if found.is_empty() {
                            format!("expected {}, found the end of the query", expect.as_str())
                        } else {
                            format!("expected {}, found `{found}`", expect.as_str())
                        },
                    ),
                    None => located("", "cannot parse the query".into()),
                },
                // Modules are not loaded (no `import`/`include` reader is configured).
                _ => QueryError::Syntax {
                    column: 1,
                    message: "modules (`import`, `include`) are not supported".into(),
                },
            }
        })?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            let first = errors
                .into_iter()
                .next()
                .and_then(|(_, errs)| errs.into_iter().next());
            match first {
                Some((name, undefined)) => QueryError::Undefined {
                    column: located_column(text, name),
                    what: undefined.as_str(),
                    name: name.to_owned(),
                },
                None => QueryError::Syntax {
                    column: 1,
                    message: "cannot compile the query".into(),
                },
            }
        })
}

/// 1-based column of `found`, a slice of `text` (jaq's error positions), or 1 if it is not one.
fn located_column(text: &str, found: &str) -> usize {
    let (start, end) = (text.as_ptr() as usize, text.as_ptr() as usize + text.len());
    let at = found.as_ptr() as usize;
    if (start..=end).contains(&at) && text.is_char_boundary(at - start) {
        column_of(text, at - start)
    } else {
        1
    }
}

fn lex_expectation(expect: &jaq_core::load::lex::Expect<&str>) -> String {
    use jaq_core::load::lex::Expect;
    match expect {
        Expect::Delim(open) => format!("a closing delimiter for `{open}`"),
        other => other.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: fn() = || {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MetadataQuery>();
    };

    #[test]
    fn syntax_errors_name_the_column() {
        let err = MetadataQuery::compile("{a: .x,, b: .y}").unwrap_err();
        assert!(matches!(err, QueryError::Syntax { column: 8, .. }), "{err}");
        let err = MetadataQuery::compile("{a: \"x}").unwrap_err();
        assert!(matches!(err, QueryError::Syntax { .. }), "{err}");
    }

    #[test]
    fn clock_and_environment_filters_are_undefined_with_a_reason() {
        let err = MetadataQuery::compile("{t: now}").unwrap_err();
        assert_eq!(
            err,
            QueryError::Undefined {
                column: 5,
                what: "filter",
                name: "now".into()
            }
        );
        assert!(
            err.to_string().contains("must depend on the record only"),
            "{err}"
        );
        assert!(MetadataQuery::compile("{e: env.HOME}").is_err());
        assert!(MetadataQuery::compile("{a: .x | no_such_filter}").is_err());
    }
}
