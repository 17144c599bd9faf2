//! The thin async shell of the Lambda processor: performs what a [`LambdaStage`] asks for
//! (invocations with retries, events for the buffers, flush intents) and feeds each completion
//! back before the next action, so the buffers see events in the order the stage gives them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kinesink_record_processing::lambda_batching::LambdaBatch;
use kinesink_record_processing::lambda_event::InvocationId;
use kinesink_record_processing::lambda_response::{RecordOutcome, decode_response};
use kinesink_record_processing::lambda_retry::{RetryDecision, RetryPolicy};

use crate::drive::{DriveError, PerformActions, drive};
use crate::lambda_invoker::LambdaInvoker;
use crate::lambda_stage::{LambdaStage, StageAction, StageEvent};
use crate::shard_buffers::{BufferEvent, ShardBuffers};

/// Invocation counts and time since the last [`LambdaShell::take_invocations`] (for metrics
/// named after Firehose's `ExecuteProcessing.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvocationCounts {
    /// Batches invoked (each counted once, however many attempts it took).
    pub invocations: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Batches that got a response.
    pub succeeded: u64,
    /// Batches whose retries were spent (every record to the error output).
    pub failed: u64,
    /// Wall time spent invoking (retries and their waits included), in microseconds.
    pub micros: u64,
}

/// One shard's Lambda processor: its stage, the function and how it is invoked.
#[derive(Debug)]
pub struct LambdaShell {
    /// The pure state machine.
    pub stage: LambdaStage,
    /// Invokes the function.
    pub invoker: Arc<dyn LambdaInvoker>,
    /// The function's name or ARN.
    pub function: String,
    /// Retries of failed invocations.
    pub retry: RetryPolicy,
    /// The shard (part of each invocation id).
    pub shard_id: String,
    counts: InvocationCounts,
}

impl LambdaShell {
    /// A shell for `stage` invoking `function` with `invoker`.
    #[must_use]
    pub fn new(
        stage: LambdaStage,
        invoker: Arc<dyn LambdaInvoker>,
        function: String,
        retry: RetryPolicy,
        shard_id: String,
    ) -> Self {
        Self {
            stage,
            invoker,
            function,
            retry,
            shard_id,
            counts: InvocationCounts::default(),
        }
    }

    /// Invocation counts since the last call.
    pub fn take_invocations(&mut self) -> InvocationCounts {
        std::mem::take(&mut self.counts)
    }

    /// Invokes the function with `batch`, retrying per the policy: one outcome per record.
    /// Guarantees: the same batch is sent with the same bytes on every attempt and every
    /// replay (its invocation id comes from the shard and its records).
    pub async fn invoke(&mut self, batch: &LambdaBatch) -> Vec<RecordOutcome> {
        let started = Instant::now();
        let ids = batch.record_ids();
        let first = ids
            .first()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default();
        let last = ids
            .last()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default();
        let seed = fnv1a(first.as_bytes());
        let invocation_id = InvocationId::new(format!(
            "{:016x}-{:016x}",
            fnv1a(format!("{}/{first}", self.shard_id).as_bytes()),
            fnv1a(last.as_bytes())
        ))
        .expect("hex digits and a dash are a valid invocation id");
        let request = batch.request(&invocation_id);
        self.counts.invocations += 1;
        let mut attempts = 1;
        let outcomes = loop {
            match self.invoker.invoke(&self.function, request.clone()).await {
                Ok(response) => {
                    self.counts.succeeded += 1;
                    let decoded = decode_response(&response, &ids);
                    if decoded.unknown_entries > 0 {
                        tracing::warn!(shard_id = %self.shard_id, unknown = decoded.unknown_entries, ids = ?decoded.unknown_record_ids, "the Lambda function returned records with ids that were not sent; ignored");
                    }
                    break decoded.outcomes;
                }
                Err(failure) => match self.retry.decide(attempts, &failure, seed) {
                    RetryDecision::RetryAfter { delay_ms } => {
                        tracing::debug!(shard_id = %self.shard_id, attempts, ?failure, delay_ms, "Lambda invocation failed; retrying");
                        self.counts.retries += 1;
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    }
                    RetryDecision::GiveUp(failure) => {
                        tracing::warn!(shard_id = %self.shard_id, attempts, code = %failure.error_code, message = %failure.error_message, records = ids.len(), "Lambda invocation failed; its records go to the error output");
                        self.counts.failed += 1;
                        break vec![RecordOutcome::Failed(failure); ids.len()];
                    }
                },
            }
        };
        self.counts.micros += u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        outcomes
    }
}

/// FNV-1a: a stable hash (the same on every build and platform).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Feeds `event` to the Lambda stage at `now_ms` and performs what it asks for, each action's
/// completion fed back (and its own actions performed) before the next action: invocations
/// through `lambda`, buffer events through [`drive`] with `performer`, flush intents through
/// the buffers when they can record them.
///
/// Guarantees: those of [`drive`] for every buffer event; every batch asked for is invoked and
/// answered before this returns.
///
/// # Errors
/// [`DriveError`] from the buffers or the performer (nothing more is performed).
pub async fn drive_lambda<P: PerformActions + Send>(
    lambda: &mut LambdaShell,
    buffers: &mut ShardBuffers,
    now_ms: u64,
    event: StageEvent,
    performer: &mut P,
) -> Result<(), DriveError<P::Error>> {
    let mut todo: VecDeque<StageAction> = lambda.stage.step(now_ms, event).into();
    while let Some(action) = todo.pop_front() {
        let answer = match action {
            StageAction::Invoke(batch) => Some(StageEvent::Invoked(lambda.invoke(&batch).await)),
            StageAction::Buffers(event) => {
                drive(buffers, now_ms, event, performer).await?;
                None
            }
            StageAction::FlushAt(at) => {
                if buffers.can_flush_at() {
                    drive(buffers, now_ms, BufferEvent::FlushAt(at.clone()), performer).await?;
                    Some(StageEvent::FlushRecorded(at))
                } else {
                    Some(StageEvent::FlushRefused)
                }
            }
        };
        if let Some(answer) = answer {
            for action in lambda.stage.step(now_ms, answer).into_iter().rev() {
                todo.push_front(action);
            }
        }
    }
    Ok(())
}

/// Feeds `event` to a shard's buffers, through its Lambda stage when it has one: what `run`
/// and `dry-run` call for every event. Pipeline events (`Record`, `Failed`, `Source`) and
/// `Tick`, `Drain`, `Flush` go through the stage; completions (`ObjectDurable`,
/// `ProgressRecorded`, `CheckpointWritten`) go straight to the buffers.
///
/// # Errors
/// [`DriveError`] from the buffers or the performer.
pub async fn drive_event<P: PerformActions + Send>(
    lambda: Option<&mut LambdaShell>,
    buffers: &mut ShardBuffers,
    now_ms: u64,
    event: BufferEvent,
    performer: &mut P,
) -> Result<(), DriveError<P::Error>> {
    let Some(lambda) = lambda else {
        return drive(buffers, now_ms, event, performer).await;
    };
    let event = match event {
        BufferEvent::Tick => StageEvent::Tick,
        BufferEvent::Drain => StageEvent::Drain,
        BufferEvent::Flush => StageEvent::Flush,
        e @ (BufferEvent::Record(_) | BufferEvent::Failed(_) | BufferEvent::Source(_)) => {
            StageEvent::Input(e)
        }
        other => return drive(buffers, now_ms, other, performer).await,
    };
    drive_lambda(lambda, buffers, now_ms, event, performer).await
}

#[cfg(test)]
#[path = "lambda_drive/tests.rs"]
mod tests;
