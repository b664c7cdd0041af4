//! Lambda: provider feedback. SNS delivers SES's events (the configuration set's destination)
//! and inbound SMS; each message goes to [`kairos::delivery::feedback::handle`], whose events
//! take the normal ingest path. A store failure fails the invocation (SNS retries it, then the
//! on-failure destination keeps it); a message that cannot be read is logged and acknowledged.

use aws_lambda_events::event::sns::SnsEvent;
use kairos::store::Store;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let store = kairos::config::dynamo_store().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&store, event, chrono::Utc::now()))).await
}

pub async fn handle<S: Store>(
    store: &S,
    event: LambdaEvent<SnsEvent>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, lambda_runtime::Error> {
    let (mut events, mut ignored) = (0, 0);
    for record in &event.payload.records {
        let handled = kairos::delivery::feedback::handle(store, &record.sns.message, now).await?;
        events += handled.events;
        if let Some(why) = handled.ignored {
            ignored += 1;
            tracing::info!(reason = %kairos::redact::scrub(&why), "feedback message ignored");
        }
    }
    kairos::telemetry::emit_metrics("feedback", &[("Events", events as f64), ("Ignored", ignored as f64)]);
    Ok(json!({"events": events, "ignored": ignored}))
}
