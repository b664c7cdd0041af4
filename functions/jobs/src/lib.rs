//! Lambdas for scheduled jobs over every customer: the `send-time` refit and `churn` scoring.
//!
//! Two triggers per function. EventBridge Scheduler invokes it with
//! `{"run": "<scheduled time>", "segments": N}`: it starts (or resumes) that run and fans the
//! segments out to the job's task queue. The task queue invokes it with SQS batches of segment
//! tasks: it works each and reports the ones that failed (partial batch failure). The protocol is
//! `kairos::jobs::runner`; what a job computes is its `SegmentedJob` implementation.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kairos::jobs::runner::{Deadline, Runner};
use kairos::jobs::sqs::SqsQueue;
use kairos::jobs::{SegmentedJob, Task, TaskQueue};
use kairos::redact::scrub;
use kairos::store::Store;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};

pub struct Deps<S, Q, J> {
    pub store: S,
    pub queue: Q,
    pub job: J,
    /// Segments per run when the schedule does not say.
    pub segments: u32,
}

/// Builds the production dependencies for `job` from the environment: the table, the task queue
/// (`KAIROS_TASK_QUEUE_URL`) and the default segment count (`KAIROS_SEGMENTS`, 16).
pub async fn from_env<J>(
    job: J,
) -> Result<Deps<kairos::store::dynamo::DynamoStore, SqsQueue, J>, lambda_runtime::Error> {
    let store = kairos::config::dynamo_store().await?;
    let url = std::env::var("KAIROS_TASK_QUEUE_URL")
        .map_err(|_| "KAIROS_TASK_QUEUE_URL is required: the job's task queue")?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&kairos::config::aws().await), url);
    let segments = match std::env::var("KAIROS_SEGMENTS") {
        Ok(v) => v.parse().map_err(|_| format!("KAIROS_SEGMENTS={v:?} is not a whole number"))?,
        Err(_) => 16,
    };
    Ok(Deps { store, queue, job, segments })
}

/// What the schedule sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The run's id: the scheduled time, so a retried schedule resumes the same run.
    pub run: String,
    #[serde(default)]
    pub segments: Option<u32>,
}

pub async fn handle<S: Store, Q: TaskQueue, J: SegmentedJob>(
    deps: &Deps<S, Q, J>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_at(deps, event, chrono::Utc::now()).await
}

/// [`handle`] as of `now` (tests replay nights).
pub async fn handle_at<S: Store, Q: TaskQueue, J: SegmentedJob>(
    deps: &Deps<S, Q, J>,
    event: LambdaEvent<Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, lambda_runtime::Error> {
    let runner = Runner { store: &deps.store, queue: &deps.queue, job: &deps.job };
    if event.payload.get("Records").is_some() {
        let sqs: SqsEvent = serde_json::from_value(event.payload)?;
        // Leave the margin to the runner: it hands unfinished segments on before the deadline.
        let left = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO);
        let deadline = Deadline(Some(Instant::now() + left));
        let mut response = SqsBatchResponse::default();
        for message in sqs.records {
            let id = message.message_id.clone().unwrap_or_default();
            let task: Task = match message.body.as_deref().map(serde_json::from_str) {
                Some(Ok(task)) => task,
                Some(Err(e)) => {
                    tracing::error!(message_id = id, error = %scrub(&e.to_string()), "not a task");
                    response.add_failure(id);
                    continue;
                }
                None => {
                    response.add_failure(id);
                    continue;
                }
            };
            let (run, segment, phase) = (task.run.clone(), task.segment, task.phase);
            if let Err(e) = runner.handle(task, now, deadline).await {
                tracing::error!(message_id = id, job = J::NAME, run, segment, ?phase, error = %e, "task failed");
                response.add_failure(id);
            }
        }
        return Ok(serde_json::to_value(response)?);
    }
    let request: StartRequest = serde_json::from_value(event.payload)
        .map_err(|e| format!("expected {{\"run\": \"<id>\", \"segments\": N}} or an SQS event: {e}"))?;
    let state = runner.start(&request.run, request.segments.unwrap_or(deps.segments), now).await?;
    Ok(json!({ "job": J::NAME, "run": request.run, "state": state }))
}
