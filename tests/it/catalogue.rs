//! Catalogue events through the ingest handler, against DynamoDB on the emulator.

use futures::future::join_all;
use kairos::catalogue;
use kairos::ids::ProductId;
use kairos::keys;
use kairos::store::dynamo::DynamoStore;
use kairos::store::{Condition, Item, Store, Write};
use kairos_ingest::{Deps, handle};
use kairos_tests::{failed_ids, named, sqs_batch};
use serde_json::{Value, json};

fn product(id: &str, sku: &str, at: &str, title: &str, extra: Value) -> String {
    let mut data = json!({"product_id": sku, "title": title, "url": format!("https://shop.example/p/{sku}"),
        "price": "89.90", "currency": "EUR", "category_path": ["Shoes", "Running"], "brand": "Fleet"});
    if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    json!({"schema_version": 1, "id": id, "occurred_at": at, "source": "feed", "type": "product_updated", "data": data})
        .to_string()
}

async fn stored(store: &DynamoStore, sku: &str) -> Option<catalogue::Product> {
    catalogue::get(store, &ProductId::new(sku).unwrap()).await.unwrap()
}

#[tokio::test]
async fn the_newest_update_wins_whatever_the_order_and_redeliveries() {
    let deps = Deps::new(kairos_tests::fresh_store().await);
    let old = product("u1", "sku-1", "2026-11-01T10:00:00Z", "Trail runner", json!({}));
    let new = product("u2", "sku-1", "2026-11-02T10:00:00Z", "Trail runner II", json!({"in_stock": false}));
    // The newer first, then the older, then both again.
    for batch in [vec![new.clone()], vec![old.clone()], vec![old, new]] {
        let response = handle(&deps, sqs_batch(&named(&batch, "m"))).await.unwrap();
        assert!(failed_ids(&response).is_empty());
    }
    let p = stored(&deps.store, "sku-1").await.expect("stored");
    assert_eq!((p.title.as_str(), p.in_stock, p.event_id.as_str()), ("Trail runner II", false, "u2"));
    assert_eq!(p.category_path, ["Shoes", "Running"]);
}

#[tokio::test]
async fn customer_and_catalogue_events_share_a_batch_and_bad_ones_fail_alone() {
    let deps = Deps::new(kairos_tests::fresh_store().await);
    let view = kairos_tests::shop_event(
        "v1",
        "c1",
        "2026-11-02T10:00:00Z",
        "product_viewed",
        json!({"product_id": "sku-unknown"}),
    );
    let batch = vec![
        product("u1", "sku-1", "2026-11-01T10:00:00Z", "Mug", json!({})),
        view,
        product("u2", "sku-2", "2026-11-01T10:00:00Z", "Bad", json!({"url": "/relative"})),
        product("u3", "sku-3", "2026-11-01T10:00:00Z", "No currency", json!({"currency": null})),
    ];
    let response = handle(&deps, sqs_batch(&named(&batch, "m"))).await.unwrap();
    // Invalid records are parked, not retried: nothing comes back to the queue.
    assert!(failed_ids(&response).is_empty());
    assert!(stored(&deps.store, "sku-1").await.is_some());
    assert!(stored(&deps.store, "sku-2").await.is_none() && stored(&deps.store, "sku-3").await.is_none());
    // A view of a product the catalogue does not know is kept as ever.
    let c1 = kairos::customers::load(&deps.store, &kairos::ids::CustomerId::new("c1").unwrap()).await.unwrap();
    assert_eq!(c1.expect("profile").browse.views.len(), 1);
    let parked = kairos::ingest::rejected::list(&deps.store, chrono::Utc::now().date_naive()).await.unwrap();
    let fields: Vec<String> = parked.iter().flat_map(|r| r.errors.iter().map(|e| e.field.clone())).collect();
    assert!(fields.iter().any(|f| f == "data.url"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "data.currency" || f == "data.price"), "{fields:?}");
}

#[tokio::test]
async fn racing_updates_of_one_product_leave_the_newest() {
    let store = kairos_tests::fresh_store().await;
    let events: Vec<_> = (0..12)
        .map(|i| {
            let text =
                product(&format!("u{i:02}"), "hot", &format!("2026-11-01T10:00:{i:02}Z"), &format!("v{i}"), json!({}));
            match kairos::event::parse_inbound(&text, chrono::Utc::now()).unwrap() {
                kairos::event::Inbound::Product(p) => p,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    // All at once; an update that keeps losing the race comes back as retryable (the queue
    // redelivers it), never as applied-but-lost: redeliver until each is done.
    let tasks: Vec<_> = events.iter().map(|e| catalogue::apply(&store, e)).collect();
    let mut pending: Vec<usize> = Vec::new();
    for (i, r) in join_all(tasks).await.into_iter().enumerate() {
        match r {
            Ok(_) => {}
            Err(e) if e.is_retryable() => pending.push(i),
            Err(e) => panic!("update {i}: {e}"),
        }
    }
    for i in pending {
        let mut tries = 0;
        while let Err(e) = catalogue::apply(&store, &events[i]).await {
            assert!(e.is_retryable() && tries < 10, "{e}");
            tries += 1;
        }
    }
    assert_eq!(stored(&store, "hot").await.unwrap().title, "v11");
}

#[tokio::test]
async fn a_corrupt_product_fails_only_itself_in_a_listing_and_is_repaired_by_an_update() {
    let store = kairos_tests::fresh_store().await;
    for (i, sku) in ["a", "b", "c"].iter().enumerate() {
        let text = product(&format!("u{i}"), sku, "2026-11-01T10:00:00Z", "Thing", json!({}));
        let kairos::event::Inbound::Product(p) = kairos::event::parse_inbound(&text, chrono::Utc::now()).unwrap()
        else {
            panic!()
        };
        catalogue::apply(&store, &p).await.unwrap();
    }
    let key = keys::product(&ProductId::new("b").unwrap());
    let mut body = serde_json::Map::new();
    body.insert("title".into(), json!(17));
    store.write(vec![Write::Put { item: Item::new(key, 9, body), condition: Condition::Always }]).await.unwrap();
    let (products, problems) = catalogue::list(&store).await.unwrap();
    let ids: Vec<&str> = products.iter().map(|p| p.product_id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = product("u9", "b", "2026-11-03T10:00:00Z", "Fixed", json!({}));
    let kairos::event::Inbound::Product(p) = kairos::event::parse_inbound(&text, chrono::Utc::now()).unwrap() else {
        panic!()
    };
    assert_eq!(catalogue::apply(&store, &p).await.unwrap(), catalogue::Outcome::Applied);
    assert_eq!(stored(&store, "b").await.unwrap().title, "Fixed");
}

#[tokio::test]
async fn one_event_id_for_two_products_in_a_batch_updates_both() {
    let deps = Deps::new(kairos_tests::fresh_store().await);
    let batch = vec![
        product("same-id", "sku-1", "2026-11-01T10:00:00Z", "Mug", json!({})),
        product("same-id", "sku-2", "2026-11-01T10:00:00Z", "Cup", json!({})),
    ];
    let response = handle(&deps, sqs_batch(&named(&batch, "m"))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(stored(&deps.store, "sku-1").await.unwrap().title, "Mug");
    assert_eq!(stored(&deps.store, "sku-2").await.unwrap().title, "Cup");
}

#[tokio::test]
async fn a_restock_and_a_price_drop_are_recorded_with_the_product_once_per_day() {
    let deps = Deps::new(kairos_tests::fresh_store().await);
    let out = product("u1", "sku-1", "2026-11-01T10:00:00Z", "Mug", json!({"in_stock": false}));
    let back = product("u2", "sku-1", "2026-11-02T10:00:00Z", "Mug", json!({"price": "79.90"}));
    let euros = product("u3", "sku-2", "2026-11-02T09:00:00Z", "Cup", json!({}));
    let dollars = product("u4", "sku-2", "2026-11-02T11:00:00Z", "Cup", json!({"price": "9.00", "currency": "USD"}));
    // In order, then all again (redelivery), then the oldest late: the same changes.
    for batch in
        [vec![out.clone(), euros.clone()], vec![back.clone(), dollars.clone()], vec![out, back, euros, dollars]]
    {
        let response = handle(&deps, sqs_batch(&named(&batch, "m"))).await.unwrap();
        assert!(failed_ids(&response).is_empty());
    }
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let (changes, problems) =
        catalogue::changes::on_days(&deps.store, day - chrono::Duration::days(1), day).await.unwrap();
    assert!(problems.is_empty());
    let kinds: Vec<(&str, &catalogue::changes::ChangeKind)> =
        changes.iter().map(|c| (c.product.as_str(), &c.kind)).collect();
    // A currency change is not a price drop.
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&("sku-1", &catalogue::changes::ChangeKind::Restocked)));
    let drop = changes.iter().find_map(|c| c.kind.drop_percent()).expect("a price drop");
    assert!((drop - 11.12).abs() < 0.01, "{drop}");
}
