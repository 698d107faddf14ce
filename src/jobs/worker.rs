//! Queue messages into job steps: the worker Lambda's SQS batch (with
//! partial batch failures) and the in-process worker of `make run`, which
//! polls the queue.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::step::{run_step, StepOutcome};
use super::{JobMessage, Jobs};
use crate::deadline::Deadline;

/// A step stops reading this long before its answer is due, for its last
/// part, its tail and its commit.
pub const STEP_RESERVE: Duration = Duration::from_secs(10);

/// What to do with a message once its step is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it: the step ran, or there is nothing to run.
    Done,
    /// Leave it: the queue delivers it again after its visibility timeout
    /// (and to the dead-letter queue after too many receives).
    Retry,
}

/// When a step within `deadline` stops reading: [`STEP_RESERVE`] before
/// its answer is due (at once when less is left).
pub fn step_stop(deadline: &Deadline) -> Instant {
    let now = Instant::now();
    deadline
        .answer_by()
        .checked_sub(STEP_RESERVE)
        .filter(|stop| *stop > now)
        .unwrap_or(now)
}

/// Runs the step a message body asks for.
pub async fn handle_message(
    jobs: &Jobs,
    body: &str,
    stop: Instant,
    deadline: &Deadline,
) -> Disposition {
    let message: JobMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(_) => {
            // Not ours: nothing to run, whatever the retries.
            tracing::error!("a job message that does not parse was dropped");
            return Disposition::Done;
        }
    };
    let outcome = run_step(jobs, &message.org_id, &message.job_id, stop, deadline).await;
    tracing::info!(job_id = %message.job_id, sent_seq = message.seq, outcome = ?outcome, "job message handled");
    match outcome {
        StepOutcome::Retry => Disposition::Retry,
        _ => Disposition::Done,
    }
}

/// The worker Lambda's handler of an SQS event: each record's step in
/// turn, within `deadline`; the answer lists the records to deliver again
/// (`batchItemFailures`, with `ReportBatchItemFailures` on the event
/// source). The template sends one record per batch.
pub async fn handle_sqs_event(jobs: &Jobs, event: &Value, deadline: &Deadline) -> Value {
    let mut failures = Vec::new();
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    for record in &records {
        let id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        let stop = step_stop(deadline);
        if handle_message(jobs, body, stop, deadline).await == Disposition::Retry {
            failures.push(json!({ "itemIdentifier": id }));
        }
    }
    json!({ "batchItemFailures": failures })
}

/// The in-process worker of `make run`: receives the queue's messages one
/// at a time and runs each step with `timeout` as its invocation's
/// timeout, deleting the message unless it is to be retried. Runs until
/// the process ends.
pub async fn poll(jobs: Jobs, queue: super::sqs::SqsQueue, timeout: Duration) {
    tracing::info!("in-process export job worker polling the queue");
    loop {
        let received = match queue.receive(1, 5).await {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(error = %e.message, "receiving job messages failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for (receipt, body) in received {
            let deadline = Deadline::after(timeout);
            let stop = step_stop(&deadline);
            if handle_message(&jobs, &body, stop, &deadline).await == Disposition::Done {
                if let Err(e) = queue.delete(&receipt).await {
                    tracing::warn!(error = %e.message, "deleting a job message failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_stops_reading_ten_seconds_before_its_answer_is_due() {
        // A 5-minute invocation: the answer is due 2 s before its end, the
        // reading stops 10 s before that.
        let deadline = Deadline::after(Duration::from_secs(300));
        let left = step_stop(&deadline) - Instant::now();
        assert!(
            left <= Duration::from_secs(288) && left > Duration::from_secs(287),
            "{left:?}"
        );
        // Less than the reserve left: at once (a step still reads a page).
        let short = Deadline::after(Duration::from_secs(5));
        assert!(step_stop(&short) <= Instant::now());
    }
}
