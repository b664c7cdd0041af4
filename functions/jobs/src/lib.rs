//! Lambdas for scheduled jobs over every customer: the `send-time` refit, `churn` scoring, the
//! `recommend` build, the `scheduled` campaigns (broadcasts and birthdays) and the nightly
//! `loyalty` run.
//!
//! Two triggers per function. EventBridge Scheduler invokes it with
//! `{"run": "<scheduled time>", "segments": N}`: it starts (or resumes) that run and fans the
//! segments out to the job's task queue. The task queue invokes it with SQS batches of segment
//! tasks: it works each and reports the ones that failed (partial batch failure). The protocol is
//! `kairos::jobs::runner`; what a job computes is its `SegmentedJob` implementation.

// The runner's futures nest deeply (segments, customers, store calls).
#![recursion_limit = "256"]

use aws_lambda_events::event::sqs::SqsEvent;
use kairos::campaign::scheduled::ScheduledJob;
use kairos::jobs::runner::{Deadline, Runner};
use kairos::jobs::sqs::SqsQueue;
use kairos::jobs::{SegmentedJob, Task, TaskQueue};
use kairos::loyalty::job::{LoyaltyJob, RunModel};
use kairos::store::Store;
use kairos_lambda::Failed;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

pub struct Deps<S, Q, J> {
    pub store: S,
    pub queue: Q,
    pub job: J,
    /// Segments per run when the schedule does not say.
    pub segments: u32,
    /// Scan pages an invocation works before handing its segment on (besides its deadline).
    pub max_pages: Option<usize>,
}

/// Builds the production dependencies for `job` from the environment: the table, the task queue
/// (`KAIROS_TASK_QUEUE_URL`), the default segment count (`KAIROS_SEGMENTS`, 16) and an optional
/// bound on the scan pages (of 500 items) per invocation (`KAIROS_PAGES_PER_INVOCATION`).
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
    let max_pages = match std::env::var("KAIROS_PAGES_PER_INVOCATION") {
        Ok(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("KAIROS_PAGES_PER_INVOCATION={v:?} is not a whole number above 0"))?,
        ),
        Err(_) => None,
    };
    Ok(Deps { store, queue, job, segments, max_pages })
}

/// Serves `job` until the runtime stops: clients once, then one handler call per schedule tick
/// or task batch.
pub async fn serve<J: SegmentedJob>(job: J) -> Result<(), lambda_runtime::Error> {
    let deps = from_env(job).await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&deps, event))).await
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
    let span = kairos_lambda::invocation(&event.context, J::NAME);
    if event.payload.get("Records").is_some() {
        let sqs: SqsEvent = serde_json::from_value(event.payload)?;
        // Leave the margin to the runner: it hands unfinished segments on before the deadline.
        let deadline = Deadline { at: Some(kairos_lambda::deadline(&event.context)), max_pages: deps.max_pages };
        work_tasks(deps, &sqs, now, deadline).instrument(span).await
    } else {
        start(deps, event.payload, now).instrument(span).await
    }
}

/// Serves the scheduled campaigns: each schedule tick starts the runs due (broadcasts near their
/// moment, the day's birthdays), with the campaigns as deployed now; task batches are worked like
/// any job's.
pub async fn serve_scheduled() -> Result<(), lambda_runtime::Error> {
    let deps = from_env(ScheduledJob).await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle_scheduled(&deps, event))).await
}

/// What the scheduled-campaigns tick may say (nothing is needed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TickRequest {
    /// The scheduled time (for the logs: runs are named by what they send).
    #[serde(default)]
    pub tick: Option<String>,
    #[serde(default)]
    pub segments: Option<u32>,
}

pub async fn handle_scheduled<S: Store, Q: TaskQueue>(
    deps: &Deps<S, Q, ScheduledJob>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_scheduled_at(deps, event, chrono::Utc::now()).await
}

/// [`handle_scheduled`] as of `now`.
pub async fn handle_scheduled_at<S: Store, Q: TaskQueue>(
    deps: &Deps<S, Q, ScheduledJob>,
    event: LambdaEvent<Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, lambda_runtime::Error> {
    if event.payload.get("Records").is_some() {
        return handle_at(deps, event, now).await;
    }
    let span = kairos_lambda::invocation(&event.context, ScheduledJob::NAME);
    let request: TickRequest = serde_json::from_value(event.payload)
        .map_err(|e| format!("expected {{\"tick\": \"<time>\", \"segments\": N}} or an SQS event: {e}"))?;
    let segments = request.segments.unwrap_or(deps.segments);
    let started =
        kairos::campaign::scheduled::start_due(&deps.store, &deps.queue, segments, now).instrument(span).await?;
    let runs: Vec<Value> = started.iter().map(|(run, state)| json!({ "run": run, "state": state })).collect();
    Ok(json!({ "job": ScheduledJob::NAME, "tick": request.tick, "runs": runs }))
}

/// Serves the nightly loyalty job: each schedule tick starts (or resumes) that night's run with
/// the program in force; task batches are worked like any job's.
pub async fn serve_loyalty() -> Result<(), lambda_runtime::Error> {
    let deps = from_env(LoyaltyJob).await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle_loyalty(&deps, event))).await
}

pub async fn handle_loyalty<S: Store, Q: TaskQueue>(
    deps: &Deps<S, Q, LoyaltyJob>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_loyalty_at(deps, event, chrono::Utc::now()).await
}

/// [`handle_loyalty`] as of `now`.
pub async fn handle_loyalty_at<S: Store, Q: TaskQueue>(
    deps: &Deps<S, Q, LoyaltyJob>,
    event: LambdaEvent<Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, lambda_runtime::Error> {
    if event.payload.get("Records").is_some() {
        return handle_at(deps, event, now).await;
    }
    let span = kairos_lambda::invocation(&event.context, LoyaltyJob::NAME);
    let request: StartRequest = serde_json::from_value(event.payload)
        .map_err(|e| format!("expected {{\"run\": \"<id>\", \"segments\": N}} or an SQS event: {e}"))?;
    let Some(program) = kairos::loyalty::stored::current(&deps.store).await? else {
        tracing::info!("no loyalty program is deployed: nothing to run");
        return Ok(json!({ "job": LoyaltyJob::NAME, "run": request.run, "state": null }));
    };
    let runner = Runner { store: &deps.store, queue: &deps.queue, job: &deps.job };
    let model = RunModel { program: Some(program) };
    let segments = request.segments.unwrap_or(deps.segments);
    let state = runner.start_with_model(&request.run, segments, &model, now).instrument(span).await?;
    if let (Some(report), Some(at)) = (state.report, state.finished_at) {
        if at == now {
            kairos::telemetry::emit_metrics(&format!("{}-run", LoyaltyJob::NAME), &report.metrics());
        }
    }
    Ok(json!({ "job": LoyaltyJob::NAME, "run": request.run, "state": state }))
}

/// Works each task of an SQS batch; the failed ones go back to the queue.
async fn work_tasks<S: Store, Q: TaskQueue, J: SegmentedJob>(
    deps: &Deps<S, Q, J>,
    sqs: &SqsEvent,
    now: chrono::DateTime<chrono::Utc>,
    deadline: Deadline,
) -> Result<Value, lambda_runtime::Error> {
    let runner = Runner { store: &deps.store, queue: &deps.queue, job: &deps.job };
    let mut failures = Vec::new();
    for record in kairos_lambda::records(sqs)? {
        let task: Task = match serde_json::from_str(record.body) {
            Ok(task) => task,
            Err(e) => {
                failures.push(Failed { record_id: record.id.to_string(), reason: format!("not a task: {e}") });
                continue;
            }
        };
        let (run, segment, phase) = (task.run.clone(), task.segment, task.phase);
        match runner.handle(task, now, deadline).await {
            Ok(Some(report)) => {
                // This task finished the run: its figures, once per run.
                tracing::info!(job = J::NAME, run, ?report, "run finished");
                kairos::telemetry::emit_metrics(&format!("{}-run", J::NAME), &report.metrics());
            }
            Ok(None) => {}
            Err(e) => {
                let reason = format!("{} task of run {run}, segment {segment}, failed: {e}", phase.name());
                failures.push(Failed { record_id: record.id.to_string(), reason });
            }
        }
    }
    Ok(serde_json::to_value(kairos_lambda::respond(J::NAME, failures, &[]))?)
}

/// Starts (or resumes) the run a schedule names. Any failure is the invocation's error: the
/// asynchronous invocation is retried, then goes to the on-failure destination, which alarms.
async fn start<S: Store, Q: TaskQueue, J: SegmentedJob>(
    deps: &Deps<S, Q, J>,
    payload: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, lambda_runtime::Error> {
    let runner = Runner { store: &deps.store, queue: &deps.queue, job: &deps.job };
    let request: StartRequest = serde_json::from_value(payload)
        .map_err(|e| format!("expected {{\"run\": \"<id>\", \"segments\": N}} or an SQS event: {e}"))?;
    let state = runner.start(&request.run, request.segments.unwrap_or(deps.segments), now).await?;
    // A resumed run this very call finished (its last segment was done): its figures, once.
    if let (Some(report), Some(at)) = (state.report, state.finished_at) {
        if at == now {
            kairos::telemetry::emit_metrics(&format!("{}-run", J::NAME), &report.metrics());
        }
    }
    Ok(json!({ "job": J::NAME, "run": request.run, "state": state }))
}
