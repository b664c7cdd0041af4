//! The `triggers` Lambda: batches of the table's stream (profile parts before and after each
//! write) into campaigns' due sends.
//!
//! Maps each stream record to [`kairos::campaign::triggers::handle`] and failures to a partial
//! batch response (the stream retries from the first failed record; everything is idempotent,
//! so records after it that succeeded are simply seen again). Everything else lives in `kairos`.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};
use kairos::campaign::stored::Cache;
use kairos::campaign::triggers::{Outcome, Record, handle as on_record};
use kairos::store::dynamo::DynamoStore;
use kairos::store::{Store, StoreError};
use lambda_runtime::LambdaEvent;

/// What the handler needs, built once per process.
pub struct Deps<S> {
    pub store: S,
    pub campaigns: Cache,
}

impl<S> Deps<S> {
    pub fn new(store: S) -> Self {
        Deps { store, campaigns: Cache::default() }
    }
}

pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let deps = Deps::new(kairos::config::dynamo_store().await?);
    lambda_runtime::run(lambda_runtime::service_fn(|event: LambdaEvent<Event>| {
        let deps = &deps;
        async move { handle(deps, event.payload, Utc::now()).await }
    }))
    .await
}

/// One stream record as the domain reads it.
fn record(r: &EventRecord) -> Result<Record, StoreError> {
    let old = DynamoStore::stream_image(r.change.old_image.clone())?;
    let new = DynamoStore::stream_image(r.change.new_image.clone())?;
    let key = new.as_ref().or(old.as_ref()).map(|i| i.key.clone()).ok_or_else(|| StoreError::Corrupt {
        key: "?".into(),
        reason: "a stream record without images: the stream must carry new and old images".into(),
    })?;
    Ok(Record { key, old, new })
}

pub async fn handle<S: Store>(
    deps: &Deps<S>,
    event: Event,
    now: DateTime<Utc>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    // Without the campaigns nothing can be decided: the whole batch is retried.
    let campaigns = deps.campaigns.get(&deps.store, now).await?;
    let mut total = Outcome::default();
    let mut response = DynamoDbEventResponse::default();
    for r in &event.records {
        let result = match record(r) {
            Ok(rec) => on_record(&deps.store, &campaigns, &rec, now).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(o) => {
                total.queued += o.queued;
                total.already += o.already;
            }
            Err(e) => {
                tracing::error!(
                    error = %kairos::redact::scrub(&e.to_string()),
                    sequence = r.change.sequence_number.as_deref().unwrap_or("?"),
                    "stream record failed; the stream retries from it"
                );
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = r.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                // The stream resumes from the first failure: what follows is seen again anyway.
                break;
            }
        }
    }
    tracing::info!(
        records = event.records.len(),
        campaigns = campaigns.len(),
        queued = total.queued,
        already = total.already,
        failed = response.batch_item_failures.len(),
        "stream batch handled"
    );
    Ok(response)
}
