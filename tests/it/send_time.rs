//! The scheduled send-time refit against DynamoDB and SQS on the emulator: the schedule's
//! invocation fans out one task per segment, each worker invocation takes one message, and every
//! customer's model is written exactly once even when a message comes back.

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::Utc;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::jobs::runner::{RunPhase, RunState};
use kairos::jobs::sqs::SqsQueue;
use kairos::keys::{SEND_TIME_MODEL as MODEL_SK, SEND_TIME_PRIORS};
use kairos::sto::job::CustomerModel;
use kairos::sto::job::SendTimeJob;
use kairos::store::{Key, Store, decode, scan_all};
use kairos_jobs::{Deps, handle};
use kairos_tests::lambda_context as context;
use lambda_runtime::LambdaEvent;
use serde_json::json;

#[tokio::test]
async fn the_fan_out_refreshes_every_customer_exactly_once() {
    let store = kairos_tests::fresh_store().await;
    let now = Utc::now();
    let (events, expected) = kairos::synth::shop_events(5, 60, 900, now);
    let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    for chunk in bodies.chunks(50) {
        let records: Vec<Record> = chunk.iter().map(|b| Record { id: "r", body: b }).collect();
        let report = ingest_batch(&store, &kairos::clock::SystemClock, &IngestConfig::default(), &records).await;
        assert!(report.failures.is_empty());
    }
    let customers = expected.customers.len();

    let (sqs, url) = kairos_tests::task_queue("sto-tasks").await;
    let deps = Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: SendTimeJob, segments: 4, max_pages: None };
    let run = "2026-11-24T03:00:00Z";

    // The schedule's invocation.
    let started = handle(&deps, LambdaEvent::new(json!({"run": run, "segments": 4}), context())).await.unwrap();
    assert_eq!(started["state"]["phase"], "gathering");

    // Workers: one message per invocation, as the event source mapping's batch size of 1 does.
    let invocations = kairos_tests::work_queue(&sqs, &url, |event| async {
        handle(&deps, LambdaEvent::new(event, context())).await.unwrap()
    })
    .await;
    assert_eq!(invocations, 4 + 4 + 1, "a gather and an apply task per segment, and the redelivery");

    let models: Vec<_> =
        scan_all(&deps.store, Some(MODEL_SK)).await.unwrap().into_iter().filter(|i| i.key.sk == MODEL_SK).collect();
    assert_eq!(models.len(), customers, "every customer has a model");
    assert!(models.iter().all(|m| m.version == 1), "and it was written once");
    assert!(models.iter().all(|m| m.body["run"] == run));
    let model: CustomerModel = decode(models[0].clone()).unwrap();
    assert!(!model.best_hours.is_empty());

    let state: RunState =
        decode(deps.store.get(&Key::new(format!("JOB#sto#{run}"), "STATE")).await.unwrap().unwrap()).unwrap();
    assert_eq!(state.phase, RunPhase::Done);
    let priors = deps.store.get(&Key::new(SEND_TIME_PRIORS.0, SEND_TIME_PRIORS.1)).await.unwrap().unwrap();
    assert_eq!(priors.body["run"], run);

    // The scheduler retrying the same tick resumes a finished run: nothing more to do.
    let again = handle(&deps, LambdaEvent::new(json!({"run": run}), context())).await.unwrap();
    assert_eq!(again["state"]["phase"], "done");
    let left = sqs.receive_message().queue_url(&url).send().await.unwrap().messages.unwrap_or_default();
    assert!(left.is_empty());
}

#[tokio::test]
async fn malformed_invocations_are_refused_with_a_reason() {
    let store = kairos_tests::fresh_store().await;
    let sqs = kairos_tests::sqs();
    let url =
        sqs.create_queue().queue_name(kairos_tests::unique_name("sto-bad")).send().await.unwrap().queue_url.unwrap();
    let deps = Deps { store, queue: SqsQueue::new(sqs, &url), job: SendTimeJob, segments: 2, max_pages: None };
    let err = handle(&deps, LambdaEvent::new(json!({"runn": "x"}), context())).await.unwrap_err();
    assert!(err.to_string().contains("expected"), "{err}");
    let event = json!({"Records": [{"messageId": "m1", "body": "not a task"}, {"messageId": "m2", "body": "{\"job\":\"sto\",\"run\":\"r\",\"phase\":\"gather\",\"segment\":5,\"total\":2}"}]});
    let response: SqsBatchResponse =
        serde_json::from_value(handle(&deps, LambdaEvent::new(event, context())).await.unwrap()).unwrap();
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m1", "m2"]);
}
