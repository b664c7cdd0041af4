//! The `ingest` Lambda: SQS batches of shop events (from the EventBridge bus, or sent to the
//! queue directly) into profiles.
//!
//! Maps the SQS event to [`kairos::ingest::ingest_batch_until`] and its report back to a partial
//! batch response: only records that may succeed later return to the queue; records that never
//! can are parked by the domain call and acknowledged. Everything else lives in `kairos`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kairos::clock::{Clock, SystemClock};
use kairos::ingest::{IngestConfig, ingest_batch_until};
use kairos::store::Store;
use kairos_lambda::Failed;
use lambda_runtime::LambdaEvent;
use tracing::Instrument;

/// What the handler needs, built once per process.
pub struct Deps<S, C = SystemClock> {
    pub store: S,
    pub config: IngestConfig,
    /// The system clock in production; tests and benchmarks replay time.
    pub clock: C,
}

impl<S> Deps<S> {
    pub fn new(store: S) -> Self {
        Deps { store, config: IngestConfig::default(), clock: SystemClock }
    }
}

/// Serves ingest until the runtime stops: clients once, then one handler call per SQS batch.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let deps = from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&deps, event))).await
}

/// Builds the production dependencies from the environment.
pub async fn from_env() -> Result<Deps<kairos::store::dynamo::DynamoStore>, kairos::config::ConfigError> {
    Ok(Deps::new(kairos::config::dynamo_store().await?))
}

pub async fn handle<S: Store, C: Clock>(
    deps: &Deps<S, C>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let span = kairos_lambda::invocation(&event.context, "ingest");
    async {
        let records = kairos_lambda::records(&event.payload)?;
        let deadline = kairos_lambda::deadline(&event.context);
        let before = deps.store.meter().reading();
        let report = ingest_batch_until(&deps.store, &deps.clock, &deps.config, &records, Some(deadline)).await;
        let used = deps.store.meter().reading().since(&before);
        tracing::info!(
            records = records.len(),
            applied = report.applied,
            duplicates = report.duplicates,
            rejected = report.rejected.len(),
            failed = report.failures.len(),
            customers = report.customers,
            write_units = used.units.writes,
            read_units = used.units.reads(),
            "batch ingested"
        );
        let counts = [
            ("EventsApplied", report.applied as f64),
            ("DuplicatesIgnored", report.duplicates as f64),
            ("RecordsRejected", report.rejected.len() as f64),
            // What DynamoDB reported consuming, and what the item sizes say it should have.
            ("WriteUnitsConsumed", used.reported_writes),
            ("ReadUnitsConsumed", used.reported_reads),
            ("WriteUnitsModelled", used.units.writes as f64),
            ("ReadUnitsModelled", used.units.reads()),
        ];
        let failures = report
            .failures
            .into_iter()
            .map(|f| Failed { record_id: f.record_id, reason: f.error.to_string() })
            .collect();
        Ok(kairos_lambda::respond("ingest", failures, &counts))
    }
    .instrument(span)
    .await
}
