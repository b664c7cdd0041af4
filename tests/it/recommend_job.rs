//! The nightly recommendation build against DynamoDB and SQS on the emulator: one task per
//! segment through the queue, every customer's picks written exactly once, a redelivered task
//! harmless, and the products a customer already has never among them.

use chrono::Utc;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::jobs::sqs::SqsQueue;
use kairos::keys::{RECOMMEND_MODEL, RECOMMENDATIONS};
use kairos::recommend::job::{CustomerRecs, RecommendJob, StoredWhy, all_touches};
use kairos::store::{Key, Store, decode, scan_all};
use kairos_jobs::{Deps, handle};
use kairos_tests::lambda_context as context;
use lambda_runtime::LambdaEvent;
use serde_json::json;

#[tokio::test]
async fn the_fan_out_stores_every_customers_picks_exactly_once() {
    let store = kairos_tests::fresh_store().await;
    let now = Utc::now();
    let (events, expected) = kairos::synth::shop_events(11, 50, 1500, now);
    let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    for chunk in bodies.chunks(50) {
        let records: Vec<Record> = chunk.iter().map(|b| Record { id: "r", body: b }).collect();
        let report = ingest_batch(&store, &kairos::clock::SystemClock, &IngestConfig::default(), &records).await;
        assert!(report.failures.is_empty());
    }
    let (sqs, url) = kairos_tests::task_queue("recommend-tasks").await;
    let deps = Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: RecommendJob, segments: 3, max_pages: None };
    let run = "2026-11-24T05:00:00Z";
    let started = handle(&deps, LambdaEvent::new(json!({"run": run}), context())).await.unwrap();
    assert_eq!(started["state"]["phase"], "gathering");
    let invocations = kairos_tests::work_queue(&sqs, &url, |event| async {
        handle(&deps, LambdaEvent::new(event, context())).await.unwrap()
    })
    .await;
    assert_eq!(invocations, 3 + 3 + 1, "a gather and an apply task per segment, and the redelivery");

    let outputs: Vec<_> = scan_all(&deps.store, Some(RECOMMENDATIONS))
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.key.sk == RECOMMENDATIONS)
        .collect();
    assert_eq!(outputs.len(), expected.customers.len());
    assert!(outputs.iter().all(|o| o.version == 1), "each written once");
    let mut followed = 0;
    for item in outputs {
        let customer = kairos::keys::customer_of(&item.key.pk).unwrap();
        let profile = kairos::customers::load(&deps.store, &customer).await.unwrap().unwrap();
        let own: Vec<String> = all_touches(&profile).iter().map(|t| t.0.to_string()).collect();
        let recs: CustomerRecs = decode(item).unwrap();
        assert!(!recs.picks.is_empty());
        for p in &recs.picks {
            assert!(
                matches!(p.why, StoredWhy::Replenish { .. }) || !own.contains(&p.product),
                "{customer}: {}",
                p.product
            );
        }
        followed += usize::from(recs.picks.iter().any(|p| matches!(p.why, StoredWhy::Followed { .. })));
    }
    assert!(followed > 0, "some picks follow the customer's own activity");
    let published = deps.store.get(&Key::new(RECOMMEND_MODEL.0, RECOMMEND_MODEL.1)).await.unwrap().unwrap();
    assert_eq!(published.body["run"], run);
    let popular = published.body.get("model").and_then(|m| m.get("popular")).and_then(|p| p.as_array());
    assert!(popular.is_some_and(|p| !p.is_empty()), "{:?}", published.body);
}
