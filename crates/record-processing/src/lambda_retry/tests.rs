use proptest::prelude::*;

use super::*;

fn status(status: u16, error_type: Option<&str>) -> InvokeFailure {
    InvokeFailure::Status {
        status,
        error_type: error_type.map(str::to_owned),
        message: "said Lambda".into(),
    }
}

#[test]
fn throttling_5xx_timeouts_network_and_function_errors_are_retried_three_times_by_default() {
    let policy = RetryPolicy::default();
    for failure in [
        status(429, Some("TooManyRequestsException")),
        status(500, Some("ServiceException")),
        status(502, Some("ENILimitReachedException")),
        status(503, None),
        InvokeFailure::Timeout,
        InvokeFailure::Network {
            message: "connection refused".into(),
        },
        InvokeFailure::FunctionError {
            message: "boom".into(),
        },
    ] {
        for attempt in 1..=3 {
            assert!(
                matches!(
                    policy.decide(attempt, &failure, 7),
                    RetryDecision::RetryAfter { .. }
                ),
                "{failure:?} attempt {attempt}"
            );
        }
        assert!(
            matches!(policy.decide(4, &failure, 7), RetryDecision::GiveUp(_)),
            "{failure:?}"
        );
    }
}

#[test]
fn answers_another_try_cannot_change_are_not_retried() {
    let policy = RetryPolicy::default();
    for failure in [
        status(403, Some("AccessDeniedException")),
        status(404, Some("ResourceNotFoundException")),
        status(413, Some("RequestTooLargeException")),
        status(400, Some("InvalidRequestContentException")),
    ] {
        assert!(!failure.is_retryable());
        assert!(
            matches!(policy.decide(1, &failure, 0), RetryDecision::GiveUp(_)),
            "{failure:?}"
        );
    }
}

#[test]
fn spent_retries_give_firehose_codes_and_say_how_many_attempts() {
    for (failure, code, says) in [
        (
            status(429, Some("TooManyRequestsException")),
            "Lambda.InvokeLimitExceeded",
            "concurrent execution limit is exceeded (4 attempt(s))",
        ),
        (
            status(403, None),
            "Lambda.InvokeAccessDenied",
            "Access was denied",
        ),
        (
            status(404, None),
            "Lambda.ResourceNotFound",
            "does not exist",
        ),
        (
            status(413, None),
            "Lambda.RequestTooLargeException",
            "too large",
        ),
        (
            status(502, Some("ENILimitReachedException")),
            "Lambda.ENILimitReachedException",
            "HTTP 502 (4 attempt(s)): said Lambda",
        ),
        (status(500, None), "Lambda.ServiceException", "HTTP 500"),
        (status(400, None), "Lambda.InvokeFailed", "HTTP 400"),
        (
            status(400, Some("Bad \"name\" <x>")),
            "Lambda.Badnamex",
            "HTTP 400",
        ),
        (
            InvokeFailure::FunctionError {
                message: "KeyError: 'id'".into(),
            },
            "Lambda.FunctionError",
            "returned an error result (4 attempt(s)): KeyError: 'id'",
        ),
        (
            InvokeFailure::Timeout,
            "Lambda.FunctionTimedOut",
            "timed out (4 attempt(s))",
        ),
        (
            InvokeFailure::Network {
                message: "connection reset".into(),
            },
            "Lambda.NetworkError",
            "connection reset",
        ),
    ] {
        let f = failure.failure(4);
        assert_eq!(f.error_code, code, "{failure:?}");
        assert!(f.error_message.contains(says), "{}", f.error_message);
    }
}

#[test]
fn zero_retries_gives_up_at_once() {
    let policy = RetryPolicy {
        retries: 0,
        ..RetryPolicy::default()
    };
    assert!(
        matches!(policy.decide(1, &InvokeFailure::Timeout, 1), RetryDecision::GiveUp(f) if f.error_code == "Lambda.FunctionTimedOut")
    );
}

#[test]
fn delays_double_up_to_the_cap() {
    let policy = RetryPolicy {
        retries: 10,
        base_delay_ms: 1_000,
        max_delay_ms: 8_000,
    };
    for (retry, full) in [
        (1, 1_000),
        (2, 2_000),
        (3, 4_000),
        (4, 8_000),
        (5, 8_000),
        (40, 8_000),
        (u32::MAX, 8_000),
    ] {
        let d = policy.delay_ms(retry, 42);
        assert!((full / 2..=full).contains(&d), "retry {retry}: {d}");
    }
}

proptest! {
    #[test]
    fn decisions_are_deterministic_bounded_and_never_exceed_the_retries(
        retries in 0u32..8,
        attempt in 1u32..12,
        base in 0u64..5_000,
        cap in 0u64..60_000,
        seed in any::<u64>(),
        status_code in 400u16..600,
    ) {
        let policy = RetryPolicy { retries, base_delay_ms: base, max_delay_ms: cap };
        let failure = status(status_code, None);
        let decision = policy.decide(attempt, &failure, seed);
        prop_assert_eq!(&decision, &policy.decide(attempt, &failure, seed));
        match decision {
            RetryDecision::RetryAfter { delay_ms } => {
                prop_assert!(attempt <= retries && failure.is_retryable());
                let full = base.saturating_mul(1 << (attempt - 1).min(63)).min(cap);
                prop_assert!(delay_ms >= full / 2 && delay_ms <= full);
            }
            RetryDecision::GiveUp(f) => {
                prop_assert!(attempt > retries || !failure.is_retryable());
                prop_assert!(f.error_code.starts_with("Lambda."));
            }
        }
    }
}
