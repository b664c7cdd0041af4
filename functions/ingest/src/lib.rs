//! The `ingest` Lambda: SQS batches of shop events (from the EventBridge bus) into profiles.
//!
//! Maps the SQS event to [`kairos::ingest::ingest_batch`] and its report back to a partial batch
//! response: only the failed records return to the queue (and, after the queue's receive limit,
//! to its dead-letter queue). Everything else lives in `kairos`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kairos::clock::SystemClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::store::Store;
use kairos::telemetry;
use lambda_runtime::LambdaEvent;

/// What the handler needs, built once per process.
pub struct Deps<S> {
    pub store: S,
    pub config: IngestConfig,
}

/// Builds the production dependencies from the environment.
pub async fn from_env() -> Result<Deps<kairos::store::dynamo::DynamoStore>, kairos::config::ConfigError> {
    let store = kairos::config::dynamo_store().await?;
    let dedupe_window = kairos::config::days("KAIROS_DEDUPE_DAYS", 30)?;
    Ok(Deps { store, config: IngestConfig { dedupe_window, ..IngestConfig::default() } })
}

pub async fn handle<S: Store>(
    deps: &Deps<S>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let messages = &event.payload.records;
    // SQS always sets a message id; without one a record could not be handed back, so a
    // nameless record fails the whole invocation (the batch is retried) rather than being lost.
    if messages.iter().any(|m| m.message_id.is_none()) {
        return Err("an SQS record has no messageId; refusing to acknowledge the batch".into());
    }
    let records: Vec<Record> = messages
        .iter()
        .map(|m| Record {
            id: m.message_id.as_deref().unwrap_or_default(),
            body: m.body.as_deref().unwrap_or_default(),
        })
        .collect();
    let report = ingest_batch(&deps.store, &SystemClock, &deps.config, &records).await;
    tracing::info!(
        request_id = %event.context.request_id,
        records = records.len(),
        applied = report.applied,
        duplicates = report.duplicates,
        failed = report.failures.len(),
        customers = report.customers,
        "batch ingested"
    );
    let counts = [
        ("EventsApplied", report.applied as u64),
        ("DuplicatesIgnored", report.duplicates as u64),
        ("RecordsFailed", report.failures.len() as u64),
    ];
    println!("{}", telemetry::emf_line("ingest", chrono::Utc::now().timestamp_millis(), &counts));
    let mut response = SqsBatchResponse::default();
    for failure in report.failures {
        response.add_failure(failure.record_id);
    }
    Ok(response)
}
