//! What a delivery's Lambda processor is built from, once per shard: the function, its limits,
//! the invoker and what each request says about the delivery.

use std::sync::Arc;

use kinesink_record_processing::lambda_event::LambdaEnvelope;
use kinesink_record_processing::lambda_retry::RetryPolicy;
use kinesink_sequence_position::SequencePosition;

use crate::lambda_drive::LambdaShell;
use crate::lambda_invoker::LambdaInvoker;
use crate::lambda_stage::LambdaStage;

/// A delivery's Lambda processor (`[processing.lambda]`), shared by its shards.
#[derive(Debug, Clone)]
pub struct LambdaProcessor {
    /// The function's name or ARN.
    pub function: String,
    /// Cut a batch before its request would pass this many bytes.
    pub buffer_size_bytes: usize,
    /// Cut a batch (at a recorded flush point) once its oldest record waited this long.
    pub buffer_interval_ms: u64,
    /// Retries of failed invocations and the backoff between them.
    pub retry: RetryPolicy,
    /// Invokes the function.
    pub invoker: Arc<dyn LambdaInvoker>,
    /// `deliveryStreamArn` of every request.
    pub delivery_stream_arn: String,
    /// `sourceKinesisStreamArn` of every request.
    pub source_kinesis_stream_arn: String,
    /// `region` of every request.
    pub region: String,
}

impl LambdaProcessor {
    /// The processor of one shard resuming after `checkpoint` with the flush intent an earlier
    /// owner recorded (`flush_intent`; ignored when not after the checkpoint, as the buffers do).
    #[must_use]
    pub fn for_shard(
        &self,
        shard_id: &str,
        checkpoint: Option<&SequencePosition>,
        flush_intent: Option<SequencePosition>,
    ) -> LambdaShell {
        let intent = flush_intent.filter(|x| checkpoint.is_none_or(|c| x > c));
        let envelope = LambdaEnvelope {
            delivery_stream_arn: self.delivery_stream_arn.clone(),
            source_kinesis_stream_arn: self.source_kinesis_stream_arn.clone(),
            region: self.region.clone(),
            shard_id: shard_id.to_owned(),
        };
        LambdaShell::new(
            LambdaStage::new(
                envelope,
                self.buffer_size_bytes,
                self.buffer_interval_ms,
                intent,
            ),
            Arc::clone(&self.invoker),
            self.function.clone(),
            self.retry,
            shard_id.to_owned(),
        )
    }
}
