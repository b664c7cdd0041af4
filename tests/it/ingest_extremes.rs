//! The ingest handler against DynamoDB on the emulator, with what real shops send that is valid
//! but unusual: huge amounts, long histories, bad neighbours, a customer everyone writes to at
//! once, a damaged item, and answers lost on the way back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use kairos::customers;
use kairos::ids::CustomerId;
use kairos::ingest::rejected;
use kairos::profile::Profile;
use kairos::store::dynamo::DynamoStore;
use kairos::store::{Store, item_size, scan_all};
use kairos_ingest::{Deps, handle};
use serde_json::json;

fn deps(store: DynamoStore) -> Deps<DynamoStore> {
    Deps::new(store)
}

use kairos_tests::{failed_ids as failed, shop_event as event, sqs_batch as sqs_event};

fn named(bodies: Vec<String>, prefix: &str) -> Vec<(String, String)> {
    kairos_tests::named(&bodies, prefix)
}

async fn profile(store: &DynamoStore, customer: &str) -> Profile {
    customers::load(store, &CustomerId::new(customer).unwrap()).await.unwrap().expect("a profile")
}

#[tokio::test]
async fn a_trillion_dong_order_is_stored_exactly_and_the_customer_stays_writable() {
    let deps = deps(kairos_tests::fresh_store().await);
    let vnd = event(
        "e1",
        "c1",
        "2026-11-01T10:00:00+07:00",
        "order_placed",
        json!({"order_id": "o1", "currency": "VND", "lines": [{"product_id": "p", "unit_price": "600000000000", "quantity": 2}]}),
    );
    assert!(failed(&handle(&deps, sqs_event(&named(vec![vnd], "a"))).await.unwrap()).is_empty());
    let later = event("e2", "c1", "2026-11-02T10:00:00+07:00", "product_viewed", json!({"product_id": "p"}));
    assert!(failed(&handle(&deps, sqs_event(&named(vec![later], "b"))).await.unwrap()).is_empty());
    let p = profile(&deps.store, "c1").await;
    assert_eq!(p.purchases().total_spend.unwrap().to_string(), "1200000000000 VND");
    assert_eq!(p.events_applied(), 2);
    // Listings read it too.
    assert!(scan_all(&deps.store, None).await.unwrap().len() >= 2);
}

#[tokio::test]
async fn a_customer_with_260_orders_of_60_lines_keeps_every_order() {
    let deps = deps(kairos_tests::fresh_store().await);
    let product =
        |l: usize| format!("{}-{l:03}", "industrial-fastener-assortment-stainless-a4-din-912-m8x40".repeat(2));
    let bodies: Vec<String> = (0..260)
        .map(|n| {
            let lines: Vec<_> = (0..60)
                .map(|l| json!({"product_id": product(l), "category": "Industrial supplies > Fasteners", "unit_price": "0.42", "quantity": 500}))
                .collect();
            event(
                &format!("order-event-{n}"),
                "b2b-account",
                &format!("2024-{:02}-{:02}T10:00:00Z", 1 + n % 12, 1 + n % 28),
                "order_placed",
                // Long order ids (an ERP's), so the history outgrows one item and archives.
                json!({"order_id": format!("ERP-PURCHASE-ORDER-{n:05}-{}", "X".repeat(100)), "currency": "EUR", "lines": lines}),
            )
        })
        .collect();
    for (n, batch) in named(bodies, "o").chunks(10).enumerate() {
        let response = handle(&deps, sqs_event(batch)).await.unwrap();
        assert!(failed(&response).is_empty(), "batch {n}: {:?}", failed(&response));
    }
    let p = profile(&deps.store, "b2b-account").await;
    assert_eq!((p.purchases().orders, p.events_applied()), (260, 260));
    assert!(!p.archived_orders.is_empty(), "older orders moved to archive items");
    let largest = scan_all(&deps.store, None).await.unwrap().iter().map(item_size).max().unwrap();
    assert!(largest < 100 * 1024, "the largest item is {largest} bytes");
    let parked = rejected::list(&deps.store, Utc::now().date_naive()).await.unwrap();
    assert!(parked.is_empty(), "{parked:?}");
}

#[tokio::test]
async fn a_bad_neighbour_is_parked_alone_with_its_field_and_the_order_applies() {
    let deps = deps(kairos_tests::fresh_store().await);
    let batch = named(
        vec![
            event(
                "e1",
                "c1",
                "2026-11-01T10:00:00Z",
                "order_placed",
                json!({"order_id": "o1", "currency": "EUR", "lines": [{"product_id": "p", "unit_price": "25.00", "quantity": 1}]}),
            ),
            event("e2", "c1", "2026-11-01T10:00:01Z", "customer_updated", json!({"attributes": {"x": 1e300}})),
        ],
        "n",
    );
    let response = handle(&deps, sqs_event(&batch)).await.unwrap();
    assert!(failed(&response).is_empty(), "neither is retried: {:?}", failed(&response));
    assert_eq!(profile(&deps.store, "c1").await.purchases().orders, 1);
    let parked = rejected::list(&deps.store, Utc::now().date_naive()).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].record_id, "n-1");
    assert_eq!(parked[0].errors[0].field, "data.attributes.x");
}

/// A shared guest id, a bot, a B2B account: eight invocations at once, all for one customer, at
/// about 5,000 events a minute. Nothing fails, nothing reaches a dead-letter queue, every event
/// counts once, and redelivering some changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_customer_under_eight_concurrent_writers_loses_nothing() {
    let deps = Arc::new(deps(kairos_tests::fresh_store().await));
    let (writers, rounds) = (8, 12);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let deps = Arc::clone(&deps);
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for r in 0..rounds {
                    let bodies: Vec<String> = (0..10)
                        .map(|i| {
                            let id = format!("w{w}-r{r}-{i}");
                            let at = format!("2026-11-01T10:{:02}:{:02}Z", r, (w * 7 + i) % 60);
                            if i % 5 == 0 {
                                event(&id, "guest", &at, "session_started", json!({"session_id": id}))
                            } else {
                                event(&id, "guest", &at, "product_viewed", json!({"product_id": format!("p{}", i % 4)}))
                            }
                        })
                        .collect();
                    let batch = named(bodies, &format!("w{w}-r{r}"));
                    let started = std::time::Instant::now();
                    let response = handle(&deps, sqs_event(&batch)).await.unwrap();
                    assert!(failed(&response).is_empty(), "writer {w} round {r}: {:?}", failed(&response));
                    sent.extend(batch);
                    // About 10 events per writer per second: 80 a second, 4,800 a minute.
                    tokio::time::sleep(Duration::from_millis(1000).saturating_sub(started.elapsed())).await;
                }
                sent
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let total = all.len() as u64;
    let p = profile(&deps.store, "guest").await;
    assert_eq!(p.events_applied(), total);
    let views: u64 = p.browse.views.iter().map(|v| u64::from(v.count)).sum();
    assert_eq!(views, total * 4 / 5, "every view counted once");
    assert_eq!(p.engagement.total(kairos::profile::engagement::EngagementKind::Session), total / 5);
    // The queue redelivers some of them, in new batches: all recognised.
    let again: Vec<(String, String)> = all.iter().step_by(7).cloned().collect();
    for batch in again.chunks(10) {
        assert!(failed(&handle(&deps, sqs_event(batch)).await.unwrap()).is_empty());
    }
    assert_eq!(profile(&deps.store, "guest").await.events_applied(), total);
}

#[tokio::test]
async fn an_undecodable_item_fails_only_its_customer() {
    let deps = deps(kairos_tests::fresh_store().await);
    // A hand edit gone wrong: the browse part's bookkeeping is not a map.
    deps.store
        .client()
        .put_item()
        .table_name(deps.store.table())
        .item("pk", AttributeValue::S("C#damaged".into()))
        .item("sk", AttributeValue::S("P#B".into()))
        .item("v", AttributeValue::N("3".into()))
        .item("m", AttributeValue::S("edited by hand".into()))
        .send()
        .await
        .unwrap();
    let batch = named(
        vec![
            event("e1", "damaged", "2026-11-01T10:00:00Z", "product_viewed", json!({"product_id": "p"})),
            event("e2", "damaged", "2026-11-01T10:00:00Z", "session_started", json!({"session_id": "s"})),
            event("e3", "fine", "2026-11-01T10:00:00Z", "product_viewed", json!({"product_id": "p"})),
        ],
        "d",
    );
    let response = handle(&deps, sqs_event(&batch)).await.unwrap();
    assert_eq!(failed(&response), ["d-0"], "only the event for the damaged part goes back to the queue");
    assert_eq!(profile(&deps.store, "fine").await.events_applied(), 1);
    // Listing every profile still works, and names what it could not read.
    let page = deps
        .store
        .scan(
            kairos::store::Segment::WHOLE,
            None,
            100,
            kairos::store::Consistency::Strong,
            kairos::store::Wanted::Every,
        )
        .await
        .unwrap();
    assert!(page.items.iter().any(|i| i.key.pk == "C#fine"));
    match customers::load(&deps.store, &CustomerId::new("damaged").unwrap()).await {
        Err(kairos::store::StoreError::Corrupt { key, .. }) => assert_eq!(key, "C#damaged|P#B"),
        other => panic!("expected the damaged part to be reported by key, got {other:?}"),
    }
}

/// The write succeeds on the server but its answer is lost; the SDK sends it again. Whether it
/// was a single conditional write or a transaction, the events apply once.
#[tokio::test]
async fn writes_whose_answers_were_lost_apply_once() {
    let (client, lost) = kairos_tests::dynamodb_losing_first_answers(&["PutItem", "TransactWriteItems"]);
    let store = DynamoStore::new(client, kairos_tests::unique_name("kairos"));
    store.create_table().await.unwrap();
    let deps = deps(store);
    // Sixty events of one customer in one batch: the first write holds 48 and is a single
    // conditional write; the second also moves ids its part cannot hold to markers, which
    // makes it a transaction.
    let bodies: Vec<String> = (0..60)
        .map(|i| {
            event(
                &format!("v{i}"),
                "c1",
                "2026-11-01T10:00:00Z",
                "product_viewed",
                json!({"product_id": format!("p{}", i % 3)}),
            )
        })
        .collect();
    let batch = named(bodies, "l");
    let response = handle(&deps, sqs_event(&batch)).await.unwrap();
    assert!(failed(&response).is_empty(), "{:?}", failed(&response));
    assert_eq!(lost.lost.load(Ordering::SeqCst), 2, "one single write and one transaction lost their answers");
    let p = profile(&deps.store, "c1").await;
    assert_eq!(p.events_applied(), 60);
    assert_eq!(p.browse.views.iter().map(|v| v.count).sum::<u32>(), 60);
    // And the whole batch redelivered changes nothing.
    assert!(failed(&handle(&deps, sqs_event(&batch)).await.unwrap()).is_empty());
    assert_eq!(profile(&deps.store, "c1").await.events_applied(), 60);
}
