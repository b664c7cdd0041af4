//! The `dispatch` Lambda. Two triggers:
//!
//! - EventBridge Scheduler, every minute: a tick hands every due minute not yet handed out
//!   (oldest first) to the dispatch queue, one due send per message ([`kairos::delivery::dispatch::tick`]).
//! - The dispatch queue, in batches: each due send through [`kairos::delivery::dispatch::Dispatcher::send`]
//!   (policy, claim, provider, trace); the ones that failed go back (partial batch failure).
//!   Claims make a redelivered or raced send harmless.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use kairos::delivery::channel::{ByChannel, Deliver};
use kairos::delivery::dispatch::{Counts, Dispatcher, SendQueue, Settings, tick};
use kairos::delivery::ses::Ses;
use kairos::delivery::sns::Sns;
use kairos::due::DueSend;
use kairos::jobs::sqs::SqsQueue;
use kairos::store::Store;
use kairos_lambda::Failed;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use tracing::Instrument;

pub struct Deps<S, D, Q> {
    pub dispatcher: Dispatcher<S, D>,
    pub queue: Q,
}

type Production = Deps<kairos::store::dynamo::DynamoStore, ByChannel<Ses, Sns>, SqsQueue>;

/// The production dependencies, from the environment: the table, the dispatch queue
/// (`KAIROS_DISPATCH_QUEUE_URL`), SES and SNS, and the settings ([`Settings::from_lookup`]).
pub async fn from_env() -> Result<Production, lambda_runtime::Error> {
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = Settings::from_lookup(lookup)?;
    let sdk = kairos::config::aws().await;
    let store = kairos::config::dynamo_store().await?;
    let ses = Ses::from_lookup(aws_sdk_sesv2::Client::new(&sdk), lookup)?;
    let sns = Sns::from_lookup(aws_sdk_sns::Client::new(&sdk), lookup)?;
    let url = std::env::var("KAIROS_DISPATCH_QUEUE_URL").map_err(|_| "KAIROS_DISPATCH_QUEUE_URL is required")?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url);
    Ok(Deps { dispatcher: Dispatcher::new(store, ByChannel { email: ses, other: sns }, settings), queue })
}

pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let deps = from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event: LambdaEvent<Value>| {
        let deps = &deps;
        async move { handle(deps, event, Utc::now()).await }
    }))
    .await
}

/// One invocation as of `now`: a tick, or a batch of due sends.
pub async fn handle<S: Store, D: Deliver, Q: SendQueue>(
    deps: &Deps<S, D, Q>,
    event: LambdaEvent<Value>,
    now: DateTime<Utc>,
) -> Result<Value, lambda_runtime::Error> {
    let span = kairos_lambda::invocation(&event.context, "dispatch");
    if event.payload.get("Records").is_none() {
        let report = tick(&deps.dispatcher.store, &deps.queue, now).instrument(span).await?;
        kairos::telemetry::emit_metrics(
            "dispatch-tick",
            &[
                ("Minutes", report.minutes as f64),
                ("HandedOut", report.handed_out as f64),
                ("Unreadable", report.unreadable as f64),
            ],
        );
        return Ok(json!({ "tick": report }));
    }
    let sqs: SqsEvent = serde_json::from_value(event.payload)?;
    async {
        let mut failures = Vec::new();
        let mut counts = Counts::default();
        for record in kairos_lambda::records(&sqs)? {
            let due: DueSend = match serde_json::from_str(record.body) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(Failed { record_id: record.id.to_string(), reason: format!("not a due send: {e}") });
                    continue;
                }
            };
            let outcome = deps.dispatcher.send(&due, now).await;
            counts.add(&outcome);
            if let Err(e) = outcome {
                failures.push(Failed { record_id: record.id.to_string(), reason: e.to_string() });
            }
        }
        let metrics = [
            ("Sent", counts.sent as f64),
            ("Deferred", counts.deferred as f64),
            ("Suppressed", counts.suppressed as f64),
            ("Exited", counts.exited as f64),
            ("Dropped", counts.dropped as f64),
            ("Refused", counts.refused as f64),
            ("Unknown", counts.unknown as f64),
        ];
        Ok(serde_json::to_value(kairos_lambda::respond("dispatch", failures, &metrics))?)
    }
    .instrument(span)
    .await
}
