//! The SQS task queue: tasks as JSON message bodies, sent ten at a time.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::{QueueError, Task, TaskQueue};

/// SendMessageBatch's limit.
const BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue { client, url: url.into() }
    }
}

impl TaskQueue for SqsQueue {
    async fn enqueue(&self, tasks: Vec<Task>) -> Result<(), QueueError> {
        self.send_all(&tasks).await
    }
}

impl SqsQueue {
    /// Sends each value as one message's JSON body, ten to a request.
    pub async fn send_all<T: serde::Serialize>(&self, values: &[T]) -> Result<(), QueueError> {
        let total = values.len();
        let fail = |failed: usize, reason: String| QueueError::Send { failed, total, reason };
        for chunk in values.chunks(BATCH) {
            let mut pending: Vec<SendMessageBatchRequestEntry> = Vec::with_capacity(chunk.len());
            for (i, task) in chunk.iter().enumerate() {
                let body = serde_json::to_string(task).map_err(|e| fail(chunk.len(), e.to_string()))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(format!("t{i}"))
                    .message_body(body)
                    .build()
                    .map_err(|e| fail(chunk.len(), e.to_string()))?;
                pending.push(entry);
            }
            // Entries SQS could not take this time are sent again (a few times), then reported.
            for attempt in 0..4 {
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        fail(pending.len(), aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
                    })?;
                let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
                if failed.is_empty() {
                    break;
                }
                pending.retain(|e| failed.contains(&e.id));
                if attempt == 3 {
                    let reason = out.failed.first().and_then(|f| f.message.clone()).unwrap_or_default();
                    return Err(fail(pending.len(), reason));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}
