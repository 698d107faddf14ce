//! The jobs' queue on SQS: one message per step. The worker Lambda gets
//! the messages from its event source; the in-process worker of `make run`
//! receives and deletes them itself.

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use super::{JobMessage, JobQueue};
use crate::aws::sdk_error;
use crate::error::{Fault, FaultKind};

/// The queue at `url`.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// Messages go to the queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    /// Up to `max` messages (receipt handle, body), waiting up to
    /// `wait_seconds` for one.
    pub async fn receive(
        &self,
        max: i32,
        wait_seconds: i32,
    ) -> Result<Vec<(String, String)>, Fault> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(sdk_error("ReceiveMessage"))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| Some((m.receipt_handle?, m.body?)))
            .collect())
    }

    /// Deletes a received message.
    pub async fn delete(&self, receipt: &str) -> Result<(), Fault> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sdk_error("DeleteMessage"))?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, message: &JobMessage) -> Result<(), Fault> {
        let body = serde_json::to_string(message).map_err(|e| Fault {
            kind: FaultKind::Other,
            message: format!("a job message: {e}"),
        })?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(sdk_error("SendMessage"))?;
        Ok(())
    }
}

/// Creates the queue `name` (with a visibility timeout of
/// `visibility_seconds`) if it is missing; its URL. For local runs and
/// tests; `template.yaml` declares it, with its dead-letter queue, for a
/// deployment.
pub async fn ensure_queue(
    client: &Client,
    name: &str,
    visibility_seconds: u32,
) -> Result<String, String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        )
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateQueue {name}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    out.queue_url
        .ok_or_else(|| format!("CreateQueue {name} returned no URL"))
}
