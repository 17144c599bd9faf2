//! How [`crate::drive`] hands a flush's objects to the performer: together, through
//! [`crate::PerformActions::perform_writes`], before the checkpoint.

use super::*;

/// Acknowledges like [`Acknowledge`], noting how [`crate::drive`] handed the writes over.
struct BatchWatcher {
    /// The number of writes of each `perform_writes` call, and 1 for each single write.
    write_batches: Vec<usize>,
    written: Vec<ReadyObject>,
    /// The sequence numbers checkpointed, in order.
    checkpoints: Vec<String>,
}

impl crate::PerformActions for BatchWatcher {
    type Error = std::convert::Infallible;

    async fn perform(&mut self, action: BufferAction) -> Result<Option<BufferEvent>, Self::Error> {
        match &action {
            BufferAction::Write(_) => self.write_batches.push(1),
            BufferAction::Checkpoint(p) => self.checkpoints.push(p.sequence_number.to_string()),
            BufferAction::RecordProgress { .. } => {}
        }
        let mut acknowledge = Acknowledge(Vec::new());
        let done = acknowledge.perform(action).await;
        self.written.extend(acknowledge.0);
        done
    }

    async fn perform_writes(
        &mut self,
        writes: Vec<BufferAction>,
    ) -> Result<Vec<Option<BufferEvent>>, Self::Error> {
        self.write_batches.push(writes.len());
        let mut acknowledge = Acknowledge(Vec::new());
        let mut done = Vec::new();
        for w in writes {
            done.push(acknowledge.perform(w).await?);
        }
        self.written.extend(acknowledge.0);
        Ok(done)
    }
}

#[test]
fn the_objects_of_one_flush_are_handed_to_the_performer_together_and_then_checkpointed() {
    let mut b = buffers(partitioned_layout(), 60_000, ResumeState::default());
    let countries = ["DE", "FR", "IT", "ES", "PL"];
    for (seq, c) in countries.iter().enumerate() {
        let data = format!(r#"{{"country":"{c}"}}"#);
        b.step(0, BufferEvent::Record(record(seq as u64 + 1, &data, T1100)))
            .unwrap();
    }
    let mut watcher = BatchWatcher {
        write_batches: Vec::new(),
        written: Vec::new(),
        checkpoints: Vec::new(),
    };
    futures::executor::block_on(crate::drive(&mut b, 0, BufferEvent::Drain, &mut watcher)).unwrap();
    assert_eq!(watcher.write_batches, [5], "one batch of the five objects");
    assert_eq!(watcher.written.len(), 5);
    assert_eq!(
        watcher.checkpoints,
        ["5"],
        "checkpointed once every object was durable"
    );
}
