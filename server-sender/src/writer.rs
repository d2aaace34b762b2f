//! The message writer: concurrent sends are grouped into one transaction.
//!
//! Sends queue up while a transaction is in flight and are written together in the
//! next one, so the database commits once per burst instead of once per message. The
//! store keeps each chat's seqs in arrival order and each clientId written once.
//!
//! The [`MessageWriter`] owns its task: it holds the only sender of the queue, so
//! dropping it (with the router that holds it) ends the task once the batch in
//! flight is written.

use std::sync::Arc;

use chat_store::{NewMessage, StoredMessage};
use server_core::ApiError;
use server_core::ServiceState;
use server_core::metrics::{Counter, Registry};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::events;

/// The most messages written in one transaction.
const MAX_BATCH: usize = 256;
/// Sends waiting for a transaction; beyond this, senders wait.
const QUEUE_CAPACITY: usize = 16_384;

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<Result<StoredMessage, ApiError>>,
}

/// Hands messages to the writing tasks.
pub(crate) struct MessageWriter {
    queue: mpsc::Sender<Job>,
    metrics: Arc<WriterMetrics>,
}

#[derive(Default)]
struct WriterMetrics {
    messages: Counter,
    batches: Counter,
    failed_batches: Counter,
}

impl MessageWriter {
    /// Starts the writing task. One per instance: while a transaction commits, the
    /// next batch gathers, so commits are few and large. (Measured on PostgreSQL with
    /// two senders: one task each wrote more, with a lower p99, than two or four.)
    pub(crate) fn start(state: ServiceState) -> Self {
        Self::spawn(state).0
    }

    /// [`MessageWriter::start`], and the writing task (for tests).
    fn spawn(state: ServiceState) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let metrics = Arc::new(WriterMetrics::default());
        let task = tokio::spawn(run(rx, state, metrics.clone()));
        (Self { queue, metrics }, task)
    }

    /// Adds the writer's figures to `registry`.
    pub(crate) fn register_metrics(&self, registry: &mut Registry) {
        let counters = [
            (
                "chat_sender_messages_written",
                "Messages stored (retries of stored ones not counted)",
                &self.metrics.messages,
            ),
            (
                "chat_sender_batches",
                "Write transactions (each holds one or more messages)",
                &self.metrics.batches,
            ),
            (
                "chat_sender_failed_batches",
                "Write transactions that failed",
                &self.metrics.failed_batches,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }

    /// Writes one message (with whatever else is waiting) and returns what became of it.
    pub(crate) async fn write(&self, message: NewMessage) -> Result<StoredMessage, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { message, reply })
            .await
            .map_err(|_| ApiError::Unavailable)?;
        answer.await.map_err(|_| ApiError::Internal)?
    }
}

async fn run(mut queue: mpsc::Receiver<Job>, state: ServiceState, metrics: Arc<WriterMetrics>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        if queue.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        let (messages, replies): (Vec<NewMessage>, Vec<_>) =
            jobs.drain(..).map(|j| (j.message, j.reply)).unzip();
        metrics.batches.inc();
        match state.store.write_messages(&messages).await {
            Ok(written) => {
                let stored = written
                    .outcomes
                    .iter()
                    .filter(|o| matches!(o, StoredMessage::Created(_)))
                    .count();
                metrics.messages.inc_by(stored as u64);
                events::messages_written(&state.bus, &written);
                for (reply, outcome) in replies.into_iter().zip(written.outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                metrics.failed_batches.inc();
                let error = ApiError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn dropping_the_writer_stops_its_task() {
        let Some(env) = testkit::TestEnv::new(testkit::Backend::Embedded).await else {
            return;
        };
        let (writer, task) = MessageWriter::spawn(env.state.clone());
        drop(writer);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the writer's task ends when the writer is dropped")
            .expect("and does not panic");
    }
}
