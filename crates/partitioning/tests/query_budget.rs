//! Every record's jq evaluation is bounded (steps, nesting depth, size of the values made):
//! poison queries that never end, recurse forever or grow memory without end fail the record
//! they run on, naming the limit, deterministically; the other records are not affected.

use kinesink_partitioning::{
    BudgetLimit, FailureReason, MetadataQuery, PartitioningFailure, QueryBudget, error_codes,
};
use serde_json::json;

/// The issue's poison query shape: `Q` runs on the record whose `id` is `poison` only.
fn poisoned(q: &str) -> MetadataQuery {
    MetadataQuery::compile(&format!(
        r#"{{event_type: (if .id == "poison" then ({q}) else .event_type end)}}"#
    ))
    .unwrap()
}

const POISON: &[u8] = br#"{"id": "poison", "event_type": "click"}"#;
const HEALTHY: &[u8] = br#"{"id": "ok", "event_type": "click"}"#;

/// Runs `q` on the poison record twice; both failures must be the same budget failure.
fn stopped_by(q: &str) -> BudgetLimit {
    let query = poisoned(q);
    let first = query.extract_from_bytes(POISON).unwrap_err();
    let second = query.extract_from_bytes(POISON).unwrap_err();
    assert_eq!(first, second, "{q}: the same record must fail the same way");
    assert_eq!(first.error_code(), error_codes::METADATA_EXTRACTION_FAILED);
    assert_eq!(
        first.error_output_type(),
        error_codes::METADATA_EXTRACTION_FAILED_OUTPUT_TYPE
    );
    // The healthy record next to it is unaffected, before and after.
    let keys = query.extract_from_bytes(HEALTHY).unwrap();
    assert_eq!(keys.get("event_type"), Some("click"));
    limit_of(&first, q)
}

fn limit_of(failure: &PartitioningFailure, q: &str) -> BudgetLimit {
    match failure.reason() {
        FailureReason::BudgetExceeded { limit } => {
            let message = failure.to_string();
            assert!(
                message.contains("was stopped") && message.contains("budget"),
                "{q}: {message}"
            );
            *limit
        }
        other => panic!("{q}: expected a budget failure, got {other:?}"),
    }
}

#[test]
fn a_query_that_never_ends_is_stopped_by_the_step_limit() {
    assert_eq!(
        stopped_by("last(range(infinite)) | tostring"),
        BudgetLimit::Steps(QueryBudget::DEFAULT.steps)
    );
}

#[test]
fn endless_recursion_is_stopped_by_the_depth_limit_not_a_stack_overflow() {
    assert_eq!(
        stopped_by("def f: [f]; f"),
        BudgetLimit::Depth(QueryBudget::DEFAULT.depth)
    );
    assert_eq!(
        stopped_by("def f: 1 + f; f"),
        BudgetLimit::Depth(QueryBudget::DEFAULT.depth)
    );
}

#[test]
fn collecting_an_endless_stream_is_stopped_before_memory_runs_out() {
    assert!(matches!(
        stopped_by("[repeat(1)] | length | tostring"),
        BudgetLimit::Steps(_) | BudgetLimit::Size(_)
    ));
}

#[test]
fn legal_but_huge_folds_and_collections_are_stopped_at_run_time() {
    assert_eq!(
        stopped_by("reduce range(0; 3000000000) as $i (0; . + 1) | tostring"),
        BudgetLimit::Steps(QueryBudget::DEFAULT.steps)
    );
    assert_eq!(
        stopped_by("[range(0; 300000000)] | length | tostring"),
        BudgetLimit::Steps(QueryBudget::DEFAULT.steps)
    );
}

#[test]
fn values_that_grow_faster_than_the_steps_are_stopped_by_the_size_limit() {
    let size = BudgetLimit::Size(QueryBudget::DEFAULT.size);
    // Doubling a string: 2^60 bytes in 60 steps.
    assert_eq!(stopped_by(r#"reduce range(60) as $i ("x"; . + .)"#), size);
    // One repetition of 10^12 bytes.
    assert_eq!(stopped_by(r#""x" * 1000000000000"#), size);
    // A value shared 2^60 times is small, but writing it out is not (each nested value
    // written is a step too).
    assert!(matches!(
        stopped_by("reduce range(60) as $i ([1]; [., .]) | tojson"),
        BudgetLimit::Size(_) | BudgetLimit::Steps(_)
    ));
}

#[test]
fn deep_values_are_stopped_by_the_limits_not_a_stack_overflow() {
    // 10^6 nested arrays built one by one, then dropped.
    assert!(matches!(
        stopped_by("reduce range(0; 1000000) as $i (null; [.]) | tostring"),
        BudgetLimit::Steps(_) | BudgetLimit::Size(_)
    ));
    // Parsing a deeply nested text.
    assert_eq!(
        stopped_by(r#""[" * 100000 | fromjson | tostring"#),
        BudgetLimit::Depth(QueryBudget::DEFAULT.depth)
    );
}

#[test]
fn recursive_operations_on_the_deepest_buildable_value_are_bounded_not_a_stack_overflow() {
    // 400,000 nested arrays fit within the step budget; every operation that walks a value
    // recursively is stopped by the depth limit or the steps, or answers; none overflows.
    let build = "reduce range(0; 400000) as $i (null; [.])";
    for op in [
        "tostring",
        "[., [.]] | sort | length",
        "[..] | length",
        ". == [.]",
        "contains(.)",
        "{a: .} * {a: {b: 1}} | length",
    ] {
        let q = MetadataQuery::compile(&format!("{{k: ({build} | {op} | tostring)}}")).unwrap();
        let first = q.extract(&json!({}));
        assert_eq!(first, q.extract(&json!({})), "{op}: deterministic");
        if let Err(failure) = first {
            assert!(
                matches!(failure.reason(), FailureReason::BudgetExceeded { .. }),
                "{op}: {failure}"
            );
        }
    }
}

#[test]
fn a_caught_budget_error_still_fails_the_record() {
    // `try` and `?` cannot turn a passed limit into a normal output.
    assert!(matches!(
        stopped_by(r#"(last(range(infinite)) | tostring)? // "fallback""#),
        BudgetLimit::Steps(_)
    ));
    assert!(matches!(
        stopped_by(r#"try (def f: [f]; f) catch "caught""#),
        BudgetLimit::Depth(_)
    ));
}

#[test]
fn a_query_within_the_budget_is_unaffected_and_a_smaller_budget_stops_it() {
    let q = MetadataQuery::compile(r#"{n: ([range(0; 10000)] | map(. * 2) | add | tostring)}"#)
        .unwrap();
    let keys = q.extract(&json!({})).unwrap();
    assert_eq!(keys.get("n"), Some("99990000"));
    let tight = q.with_budget(QueryBudget {
        steps: 1_000,
        ..QueryBudget::DEFAULT
    });
    let failure = tight.extract(&json!({})).unwrap_err();
    assert_eq!(limit_of(&failure, "tight"), BudgetLimit::Steps(1_000));
}

#[test]
fn the_budget_error_names_the_limit() {
    let failure = poisoned("last(range(infinite)) | tostring")
        .extract_from_bytes(POISON)
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        format!(
            "the metadata extraction query was stopped: it took more than {} evaluation steps (the budget of one record)",
            QueryBudget::DEFAULT.steps
        )
    );
}

#[test]
fn deeply_nested_or_long_query_texts_compile_or_are_refused_never_overflow() {
    // 2,500 nested brackets and a 2,560-stage pipeline fit the length limit and compile;
    // a longer text is refused with its length.
    for q in [
        format!("{{k: {}1{}}}", "[".repeat(2_500), "]".repeat(2_500)),
        format!("{{k: .k{}}}", " | .".repeat(1_275)),
        format!("{{k: {}.k}}", "-".repeat(5_000)),
    ] {
        assert!(q.chars().count() <= kinesink_partitioning::MAX_QUERY_CHARS);
        assert!(MetadataQuery::compile(&q).is_ok(), "{}", &q[..40]);
    }
    let long = format!("{{k: {}1{}}}", "[".repeat(50_000), "]".repeat(50_000));
    assert_eq!(
        MetadataQuery::compile(&long).unwrap_err(),
        kinesink_partitioning::QueryError::TooLong(100_006)
    );
}
