//! Event triggers against DynamoDB on the emulator, through the Lambda handler and stream
//! events built from the table's real items before and after each write: a cart change queues
//! one reminder after the delay; a redelivered or raced record queues none more; an order before
//! the delay ends it when it is due.

use aws_lambda_events::event::dynamodb::Event;
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use kairos::campaign::exit;
use kairos::campaign::stored::deploy;
use kairos::due::DueSend;
use kairos::ids::CustomerId;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::keys::{self, PartKind};
use kairos::store::dynamo::DynamoStore;
use kairos::store::{Query, Store};
use kairos_triggers::{Deps, handle};
use serde_json::{Value, json};

/// The item at `key` as the table holds it, in DynamoDB JSON (what a stream image carries).
async fn raw(store: &DynamoStore, key: &kairos::store::Key) -> Value {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(key.pk.clone()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(key.sk.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    match out.item {
        Some(item) => serde_json::to_value(serde_dynamo::Item::from(item)).unwrap(),
        None => json!({}),
    }
}

fn stream_event(records: &[(Value, Value, u64)]) -> Event {
    let records: Vec<Value> = records
        .iter()
        .map(|(old, new, seq)| {
            json!({"awsRegion": "eu-west-1", "eventID": format!("e{seq}"), "eventName": "MODIFY", "eventSource": "aws:dynamodb",
                "eventVersion": "1.1", "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x",
                "dynamodb": {"Keys": {"pk": new["pk"], "sk": new["sk"]}, "NewImage": new, "OldImage": old,
                    "SequenceNumber": seq.to_string(), "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

async fn ingest(store: &DynamoStore, now: DateTime<Utc>, events: &[Value]) {
    let clock = kairos::clock::ManualClock::new(now);
    let bodies: Vec<String> = events.iter().map(Value::to_string).collect();
    let records: Vec<Record> = bodies.iter().map(|b| Record { id: "r", body: b }).collect();
    let report = ingest_batch(store, &clock, &IngestConfig::default(), &records).await;
    assert!(report.failures.is_empty() && report.rejected.is_empty(), "{:?}", report.failures);
}

fn event(id: &str, at: DateTime<Utc>, kind: &str, data: Value) -> Value {
    json!({"schema_version": 1, "id": id, "customer_id": "c-1", "occurred_at": at.to_rfc3339(), "source": "web", "type": kind, "data": data})
}

fn facts(profile: &kairos::profile::Profile) -> kairos::campaign::audience::Facts<'_> {
    kairos::campaign::audience::Facts::of(profile, None)
}

async fn due_sends(store: &DynamoStore, at: DateTime<Utc>) -> Vec<DueSend> {
    let mut out = Vec::new();
    for shard in 0..keys::DUE_SHARDS {
        let pk = format!("DUE#{}#{shard}", keys::due_minute(at));
        let page = store.query(&pk, &Query::prefix("")).await.unwrap();
        out.extend(page.items.into_iter().map(|i| kairos::store::decode::<DueSend>(i).unwrap()));
    }
    out
}

#[tokio::test]
async fn a_cart_change_queues_one_reminder_and_an_order_before_it_is_due_ends_it() {
    let store = kairos_tests::fresh_store().await;
    let now = Utc::now();
    let text = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/cart-abandoned.yaml")).unwrap();
    let campaign = kairos::campaign::load::read("cart-abandoned.yaml", &text).0.unwrap();
    deploy(&store, &campaign, now).await.unwrap();
    let customer = CustomerId::new("c-1").unwrap();
    let part = keys::part(&customer, PartKind::Browse);

    ingest(&store, now, &[event("v1", now, "product_viewed", json!({"product_id": "sku-1"}))]).await;
    let before = raw(&store, &part).await;
    let added = now + Duration::seconds(5);
    ingest(
        &store,
        added,
        &[event(
            "a1",
            added,
            "cart_item_added",
            json!({"product_id": "sku-1", "quantity": 1, "unit_price": "1500", "currency": "JPY"}),
        )],
    )
    .await;
    let after = raw(&store, &part).await;

    let deps = Deps::new(store);
    let response = handle(&deps, stream_event(&[(before.clone(), after.clone(), 1)]), added).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let due_at = DateTime::from_timestamp(added.timestamp(), 0).unwrap() + Duration::minutes(60);
    let queued = due_sends(&deps.store, due_at).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!((queued[0].campaign_id.as_str(), queued[0].campaign_version), ("cart-abandoned", Some(1)));

    // The same record delivered again, and raced by four concurrent invocations: nothing more.
    let again: Vec<_> =
        (0..5).map(|_| handle(&deps, stream_event(&[(before.clone(), after.clone(), 1)]), added)).collect();
    for r in join_all(again).await {
        assert!(r.unwrap().batch_item_failures.is_empty());
    }
    assert_eq!(due_sends(&deps.store, due_at).await.len(), 1);

    // Without an order it still goes when due.
    let send = &queued[0];
    let quiet = kairos::customers::load(&deps.store, &customer).await.unwrap().unwrap();
    assert_eq!(exit::check(&campaign, &facts(&quiet), send.cause_at.unwrap(), None, None, due_at), Ok(()));

    // An order arrives before the reminder is due: when due, it exits with the reason.
    let ordered = added + Duration::minutes(30);
    ingest(
        &deps.store,
        ordered,
        &[event(
            "o1",
            ordered,
            "order_placed",
            json!({"order_id": "o-1", "currency": "JPY",
        "lines": [{"product_id": "sku-1", "unit_price": "1500", "quantity": 1}]}),
        )],
    )
    .await;
    let profile = kairos::customers::load(&deps.store, &customer).await.unwrap().unwrap();
    let why = exit::check(&campaign, &facts(&profile), send.cause_at.unwrap(), send.product.as_ref(), None, due_at);
    assert!(why.is_err(), "the order ends the reminder: {why:?}");
}

#[tokio::test]
async fn a_record_that_cannot_be_read_fails_alone_and_the_stream_resumes_from_it() {
    let store = kairos_tests::fresh_store().await;
    let now = Utc::now();
    let text = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/cart-abandoned.yaml")).unwrap();
    deploy(&store, &kairos::campaign::load::read("c", &text).0.unwrap(), now).await.unwrap();
    let customer = CustomerId::new("c-1").unwrap();
    ingest(
        &store,
        now,
        &[event(
            "a1",
            now,
            "cart_item_added",
            json!({"product_id": "sku-1", "quantity": 1, "unit_price": "2", "currency": "EUR"}),
        )],
    )
    .await;
    let good = raw(&store, &keys::part(&customer, PartKind::Browse)).await;
    let mut broken = good.clone();
    broken["pk"] = json!({"N": "5"});
    let deps = Deps::new(store);
    let response =
        handle(&deps, stream_event(&[(json!({}), good.clone(), 1), (json!({}), broken, 2), (json!({}), good, 3)]), now)
            .await
            .unwrap();
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(failed, ["2"], "the first record was handled, the broken one reported");
    let due_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap() + Duration::minutes(60);
    assert_eq!(due_sends(&deps.store, due_at).await.len(), 1);
}
