//! A catalog operation retried through transient failures: a 5xx or throttled metadata read, a
//! dropped catalog connection, a locked SQLite file.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;

use crate::error::{IcebergErrorClass, IcebergSinkError};

/// Runs `attempt` until it succeeds, retrying transient failures with exponential backoff and
/// jitter (200 ms doubling up to 5 s) for up to `retry_duration` from the first failure.
///
/// Guarantees: a permanent failure (a missing table, a refused credential, a bad setting) is
/// returned at once, never retried; a transient one is retried until `retry_duration` has
/// passed since the first failure (no pause ends later than that), then returned with the
/// retry duration named in its message; each retried failure is logged at WARN with `what`.
///
/// # Errors
/// The last failure, when permanent or lasting the whole retry duration.
pub async fn retry_transient<T, F, Fut>(
    retry_duration: Duration,
    what: &str,
    mut attempt: F,
) -> Result<T, IcebergSinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, IcebergSinkError>>,
{
    let mut pauses = backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .build();
    let mut first_failure: Option<Instant> = None;
    loop {
        let mut error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if error.class() == IcebergErrorClass::Permanent {
            return Err(error);
        }
        let failing_for = first_failure.get_or_insert_with(Instant::now).elapsed();
        let Some(left) = retry_duration
            .checked_sub(failing_for)
            .filter(|l| !l.is_zero())
        else {
            error.message = format!(
                "{} (failing for the whole retry duration, {} s)",
                error.message,
                retry_duration.as_secs()
            );
            return Err(error);
        };
        let pause = pauses.next().unwrap_or(Duration::from_secs(5)).min(left);
        tracing::warn!(error = %error, ?pause, "{what} failed; retrying (a transient failure)");
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn failure(class: IcebergErrorClass) -> IcebergSinkError {
        IcebergSinkError {
            operation: "load table analytics.events".into(),
            message: "503".into(),
            class,
            source: None,
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_call_succeeds() {
        let calls = Cell::new(0);
        let value = retry_transient(Duration::from_secs(60), "open", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(failure(IcebergErrorClass::Transient))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3, "two failures, then the third attempt succeeded");
    }

    #[tokio::test]
    async fn a_permanent_failure_is_returned_at_once() {
        let calls = Cell::new(0);
        let e = retry_transient(Duration::from_secs(60), "open", || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(failure(IcebergErrorClass::Permanent)) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 1);
        assert_eq!(e.class(), IcebergErrorClass::Permanent);
    }

    #[tokio::test]
    async fn transient_failures_stop_after_the_retry_duration_naming_it() {
        let started = Instant::now();
        let calls = Cell::new(0);
        let e = retry_transient(Duration::from_millis(700), "open", || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(failure(IcebergErrorClass::Transient)) }
        })
        .await
        .unwrap_err();
        let took = started.elapsed();
        assert!(calls.get() >= 2, "retried: {} calls", calls.get());
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_secs(3),
            "gave up at the retry duration, not before or long after: {took:?}"
        );
        assert!(e.message.contains("whole retry duration"), "{}", e.message);
    }
}
