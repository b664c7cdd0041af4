//! What every SQS-triggered Kairos function shares.
//!
//! - [`records`]: an SQS event as the records a domain call takes. SQS always names its
//!   messages; a message without an id could not be reported as failed, so such a batch is
//!   refused whole (and retried) rather than risking a lost record.
//! - [`respond`]: the failed records as a partial batch response, one log line per failure
//!   with its reason, and the invocation's counts as one CloudWatch Embedded Metric Format line.
//! - [`invocation`]: a span carrying the Lambda request id, so every line logged while handling
//!   the invocation names it.

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kairos::ingest::Record;
use kairos::redact::scrub;
use lambda_runtime::Context;

/// The batch had a message without an id.
#[derive(Debug, thiserror::Error)]
#[error("an SQS record has no messageId; refusing to acknowledge the batch")]
pub struct MissingMessageId;

/// The records of an SQS event (a missing body is an empty one, which fails as a record).
pub fn records(event: &SqsEvent) -> Result<Vec<Record<'_>>, MissingMessageId> {
    event
        .records
        .iter()
        .map(|m| {
            let id = m.message_id.as_deref().ok_or(MissingMessageId)?;
            Ok(Record { id, body: m.body.as_deref().unwrap_or_default() })
        })
        .collect()
}

/// A span for one invocation: every line logged inside it carries the request id.
pub fn invocation(context: &Context, function: &'static str) -> tracing::Span {
    tracing::info_span!("invocation", function, request_id = %context.request_id)
}

/// Time kept back from the invocation's deadline to answer (and log) after the last retry.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(3);

/// When the work of the invocation must be done by: its deadline, less [`ANSWER_MARGIN`].
pub fn deadline(context: &Context) -> Instant {
    let left = context.deadline().duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    Instant::now() + left.saturating_sub(ANSWER_MARGIN)
}

/// One record that failed, and why (scrubbed before it is logged).
pub struct Failed {
    pub record_id: String,
    pub reason: String,
}

/// The partial batch response for `failures`, logging each, with the invocation's `counts`
/// emitted as metrics of `function`.
pub fn respond(function: &str, failures: Vec<Failed>, counts: &[(&str, f64)]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for f in failures {
        tracing::error!(record_id = f.record_id, reason = %scrub(&f.reason), "record returned to the queue");
        response.add_failure(f.record_id);
    }
    let failed = response.batch_item_failures.len() as f64;
    let mut all: Vec<(&str, f64)> = counts.to_vec();
    all.push(("RecordsFailed", failed));
    kairos::telemetry::emit_metrics(function, &all);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ids: &[Option<&str>]) -> SqsEvent {
        let records: Vec<_> =
            ids.iter().map(|id| serde_json::json!({"messageId": id, "body": "{}", "eventSource": "aws:sqs"})).collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    #[test]
    fn a_nameless_message_refuses_the_batch() {
        assert_eq!(records(&event(&[Some("a"), Some("b")])).unwrap().len(), 2);
        assert!(records(&event(&[Some("a"), None])).is_err());
    }

    #[test]
    fn every_line_logged_in_an_invocation_names_its_request() {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = kairos::telemetry::json_subscriber(move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let mut context = Context::default();
            context.request_id = "req-42".into();
            let _in = invocation(&context, "ingest").entered();
            tracing::info!("starting");
            respond("ingest", vec![Failed { record_id: "m1".into(), reason: "bad: ana@mail.example".into() }], &[]);
        });
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logs.lines().count(), 2, "{logs}");
        for line in logs.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["span"]["request_id"], "req-42", "{line}");
        }
        assert!(!logs.contains("ana@mail.example"));
    }
}
