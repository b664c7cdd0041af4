//! The ingest handler against DynamoDB and SQS on the emulator.

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use kairos::customers;
use kairos::ids::CustomerId;
use kairos::ingest::rejected;
use kairos::profile::Profile;
use kairos::store::Store;
use kairos::store::dynamo::DynamoStore;
use kairos_ingest::{Deps, handle};
use lambda_runtime::LambdaEvent;
use serde_json::json;

async fn deps() -> Deps<DynamoStore> {
    Deps::new(kairos_tests::fresh_store().await)
}

fn sqs_event(messages: &[(String, String)]) -> LambdaEvent<SqsEvent> {
    kairos_tests::sqs_batch(messages)
}

use kairos_tests::{failed_ids, shop_event as event};

fn order(id: &str, customer: &str, at: &str, price: &str) -> String {
    event(
        id,
        customer,
        at,
        "order_placed",
        json!({"order_id": format!("o-{id}"), "currency": "EUR",
        "lines": [{"product_id": "sku-1", "category": "Shoes", "unit_price": price, "quantity": 1}]}),
    )
}

fn messages(bodies: &[String]) -> Vec<(String, String)> {
    kairos_tests::named(bodies, "msg")
}

async fn profile(store: &DynamoStore, customer: &str) -> Profile {
    customers::load(store, &CustomerId::new(customer).unwrap()).await.unwrap().expect("profile written")
}

#[tokio::test]
async fn the_same_batch_delivered_twice_counts_once() {
    let deps = deps().await;
    let batch = messages(&[
        order("e1", "c1", "2026-11-01T10:00:00+01:00", "10.00"),
        order("e2", "c1", "2026-11-05T10:00:00+01:00", "25.50"),
        event("e3", "c2", "2026-11-02T10:00:00Z", "product_viewed", json!({"product_id": "sku-9", "category": "Home"})),
    ]);
    assert!(failed_ids(&handle(&deps, sqs_event(&batch)).await.unwrap()).is_empty());
    let first = profile(&deps.store, "c1").await;
    assert!(failed_ids(&handle(&deps, sqs_event(&batch)).await.unwrap()).is_empty());
    let second = profile(&deps.store, "c1").await;
    assert_eq!(first, second);
    let s = second.purchases();
    assert_eq!((s.orders, second.events_applied()), (2, 2));
    assert_eq!(s.total_spend.unwrap().to_string(), "35.50 EUR");
    assert_eq!(profile(&deps.store, "c2").await.browse.views.len(), 1);
}

#[tokio::test]
async fn the_same_event_in_two_batches_counts_once() {
    let deps = deps().await;
    let e1 = order("e1", "c1", "2026-11-01T10:00:00Z", "10");
    handle(&deps, sqs_event(&messages(std::slice::from_ref(&e1)))).await.unwrap();
    let second = messages(&[e1, order("e2", "c1", "2026-11-02T10:00:00Z", "5")]);
    assert!(failed_ids(&handle(&deps, sqs_event(&second)).await.unwrap()).is_empty());
    let p = profile(&deps.store, "c1").await;
    assert_eq!((p.purchases().orders, p.events_applied()), (2, 2));
    assert_eq!(p.purchases().total_spend.unwrap().to_string(), "15.00 EUR");
}

#[tokio::test]
async fn a_malformed_event_is_parked_alone_and_acknowledged() {
    let deps = deps().await;
    let bad = event(
        "e2",
        "c1",
        "2026-11-01T10:00:00Z",
        "consent_changed",
        json!({"channel": "email", "status": "maybe", "source": "form"}),
    );
    let batch = messages(&[
        order("e1", "c1", "2026-11-01T10:00:00Z", "10"),
        bad,
        event(
            "e3",
            "c1",
            "2026-11-01T11:00:00Z",
            "customer_updated",
            json!({"time_zone": "Europe/Berlin", "email": "ana@shop.example"}),
        ),
    ]);
    let response = handle(&deps, sqs_event(&batch)).await.unwrap();
    assert!(failed_ids(&response).is_empty(), "a record that can never apply is not retried");
    let p = profile(&deps.store, "c1").await;
    assert_eq!(p.events_applied(), 2);
    assert_eq!(p.time_zone(), chrono_tz_berlin());
    let parked = rejected::list(&deps.store, Utc::now().date_naive()).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!((parked[0].record_id.as_str(), parked[0].errors[0].field.as_str()), ("msg-1", "data.status"));
}

fn chrono_tz_berlin() -> chrono_tz::Tz {
    chrono_tz::Europe::Berlin
}

#[tokio::test]
async fn a_late_older_order_does_not_move_last_purchase_backwards() {
    let deps = deps().await;
    handle(&deps, sqs_event(&messages(&[order("e2", "c1", "2026-11-10T09:00:00-05:00", "30")]))).await.unwrap();
    handle(&deps, sqs_event(&messages(&[order("e1", "c1", "2026-10-01T09:00:00-05:00", "10")]))).await.unwrap();
    let s = profile(&deps.store, "c1").await.purchases();
    assert_eq!(s.last_purchase_at.unwrap().to_rfc3339(), "2026-11-10T14:00:00+00:00");
    assert_eq!(s.first_purchase_at.unwrap().to_rfc3339(), "2026-10-01T14:00:00+00:00");
    assert_eq!((s.orders, s.repeat_purchases), (2, 1));
}

#[tokio::test]
async fn a_thousand_events_for_a_hundred_customers_end_in_the_generated_totals() {
    let deps = deps().await;
    let (events, expected) = kairos::synth::shop_events(2026, 100, 1000, Utc::now());
    let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    for (n, batch) in bodies.chunks(10).enumerate() {
        let msgs: Vec<(String, String)> =
            batch.iter().enumerate().map(|(i, b)| (format!("m{n}-{i}"), b.clone())).collect();
        let response = handle(&deps, sqs_event(&msgs)).await.unwrap();
        assert!(failed_ids(&response).is_empty(), "batch {n}: {:?}", failed_ids(&response));
    }
    let writes = deps.store.meter().reading().write_requests;
    assert!(writes <= 1150, "{writes} write requests for 1000 events");
    assert_eq!(expected.customers.len(), 100);
    for (customer, books) in &expected.customers {
        let mismatches = books.mismatches(&profile(&deps.store, customer.as_str()).await);
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }
}

/// The whole path through a real queue with a redrive policy: the poison record is parked on its
/// first receive (not retried into the dead-letter queue), a redelivered batch changes nothing,
/// and a record that fails for a passing reason comes back until it applies.
#[tokio::test]
async fn through_sqs_a_poison_event_is_parked_and_nothing_reaches_the_dead_letter_queue() {
    let deps = deps().await;
    let sqs = kairos_tests::sqs();
    let dlq = sqs.create_queue().queue_name(kairos_tests::unique_name("dlq")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(kairos_tests::unique_name("events"))
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let mut bodies: Vec<String> =
        (0..12).map(|i| order(&format!("e{i}"), &format!("c{}", i % 4), "2026-11-01T10:00:00Z", "9.99")).collect();
    bodies.push(r#"{"schema_version": 1, "id": "poison", "customer_id": "c1", "type": "order_placed"}"#.to_string());
    bodies.extend((0..12).map(|i| order(&format!("e{i}"), &format!("c{}", i % 4), "2026-11-01T10:00:00Z", "9.99")));
    for body in &bodies {
        sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }

    let mut invocations = 0;
    loop {
        let received = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send().await.unwrap();
        let msgs = received.messages.unwrap_or_default();
        if msgs.is_empty() {
            break;
        }
        invocations += 1;
        assert!(invocations < 50, "the queue never drained");
        let batch: Vec<(String, String)> =
            msgs.iter().map(|m| (m.message_id.clone().unwrap(), m.body.clone().unwrap())).collect();
        let failed = failed_ids(&handle(&deps, sqs_event(&batch)).await.unwrap());
        // What Lambda's event source mapping does with a partial batch response: delete the
        // successes; the failures become visible again (immediately here, to keep the test fast).
        for m in &msgs {
            let handle = m.receipt_handle.clone().unwrap();
            if failed.contains(m.message_id.as_ref().unwrap()) {
                sqs.change_message_visibility()
                    .queue_url(&queue)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                sqs.delete_message().queue_url(&queue).receipt_handle(handle).send().await.unwrap();
            }
        }
    }

    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(dead.is_empty(), "nothing is dead-lettered: {dead:?}");
    let parked = rejected::list(&deps.store, Utc::now().date_naive()).await.unwrap();
    assert_eq!(parked.len(), 1, "the poison record is parked once");
    assert!(parked[0].body.contains("poison"));
    assert!(parked[0].errors.iter().any(|e| e.field == "occurred_at"), "{:?}", parked[0].errors);
    for c in 0..4 {
        let p = profile(&deps.store, &format!("c{c}")).await;
        assert_eq!((p.purchases().orders, p.events_applied()), (3, 3), "c{c}");
    }
}
