use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::customers;
use crate::profile::Profile;
use crate::store::embedded::EmbeddedStore;
use crate::store::{Condition, Item, Key, Meter, Page, Query, Segment, Write};
use crate::synth;

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap())
}

fn body(id: &str, customer: &str, at: &str, kind: &str, data: serde_json::Value) -> String {
    json!({"schema_version": 1, "id": id, "customer_id": customer, "occurred_at": at, "source": "test", "type": kind, "data": data})
        .to_string()
}

fn order(id: &str, customer: &str, at: &str, price: &str) -> String {
    body(
        id,
        customer,
        at,
        "order_placed",
        json!({"order_id": format!("o-{id}"), "currency": "EUR",
        "lines": [{"product_id": "p", "unit_price": price, "quantity": 1}]}),
    )
}

fn records(bodies: &[String]) -> Vec<Record<'_>> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| Record { id: Box::leak(format!("msg-{i}").into_boxed_str()), body: b })
        .collect()
}

async fn profile(store: &impl Store, customer: &str) -> Profile {
    customers::load(store, &CustomerId::new(customer).unwrap()).await.unwrap().expect("profile exists")
}

fn ids(failures: &[RecordFailure]) -> Vec<&str> {
    failures.iter().map(|f| f.record_id.as_str()).collect()
}

#[tokio::test]
async fn a_batch_delivered_twice_counts_once() {
    let store = EmbeddedStore::new();
    let bodies = vec![
        order("e1", "c1", "2026-11-01T10:00:00Z", "10"),
        order("e2", "c1", "2026-11-03T10:00:00Z", "20"),
        order("e3", "c2", "2026-11-02T10:00:00Z", "5"),
    ];
    let first = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!((first.applied, first.duplicates, first.failures.len()), (3, 0, 0));
    let before = profile(&store, "c1").await;
    let again = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!((again.applied, again.duplicates, again.failures.len()), (0, 3, 0));
    let after = profile(&store, "c1").await;
    assert_eq!(before, after);
    assert_eq!(after.purchases().orders, 2);
    assert_eq!(after.events_applied(), 2);
}

#[tokio::test]
async fn the_same_event_twice_in_one_batch_and_across_batches_counts_once() {
    let store = EmbeddedStore::new();
    let e = order("e1", "c1", "2026-11-01T10:00:00Z", "10");
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&[e.clone(), e.clone()])).await;
    assert_eq!((report.applied, report.duplicates), (1, 1));
    let mixed = vec![e.clone(), order("e2", "c1", "2026-11-02T10:00:00Z", "7")];
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&mixed)).await;
    assert_eq!((report.applied, report.duplicates), (1, 1));
    let p = profile(&store, "c1").await;
    assert_eq!(p.purchases().total_spend.unwrap().amount, crate::money::Amount::parse("17").unwrap());
}

#[tokio::test]
async fn a_malformed_event_is_parked_alone_with_a_field_error() {
    let store = EmbeddedStore::new();
    let bodies = vec![
        order("e1", "c1", "2026-11-01T10:00:00Z", "10"),
        body(
            "e2",
            "c1",
            "2026-11-01T11:00:00Z",
            "order_placed",
            json!({"order_id": "o", "currency": "EUR", "lines": [{"product_id": "p", "unit_price": "1", "quantity": -1}]}),
        ),
        "this is not json".to_string(),
        order("e4", "c2", "2026-11-01T10:00:00Z", "3"),
    ];
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!(report.applied, 2);
    assert!(report.failures.is_empty(), "nothing goes back to the queue: {:?}", report.failures);
    assert_eq!(ids(&report.rejected), ["msg-1", "msg-2"]);
    let message = report.rejected[0].error.to_string();
    assert!(message.contains("data.lines[0].quantity"), "{message}");
    assert!(!report.rejected[0].error.is_retryable());
    assert_eq!(profile(&store, "c1").await.purchases().orders, 1);
    // Parked where an operator finds them, with the field and the record as received.
    let parked = rejected::list(&store, clock().now().date_naive()).await.unwrap();
    assert_eq!(parked.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>(), ["msg-1", "msg-2"]);
    assert_eq!(parked[0].errors[0].field, "data.lines[0].quantity");
    assert_eq!(parked[0].event_id.as_deref(), Some("e2"));
    assert_eq!(parked[1].body, "this is not json");
}

#[tokio::test]
async fn a_bad_neighbour_fails_alone_and_the_customers_order_applies() {
    let store = EmbeddedStore::new();
    let bodies = vec![
        order("e1", "c1", "2026-11-01T10:00:00Z", "10"),
        body("e2", "c1", "2026-11-01T10:01:00Z", "customer_updated", json!({"attributes": {"x": 1e300}})),
    ];
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!((report.applied, ids(&report.rejected)), (1, vec!["msg-1"]));
    assert!(report.rejected[0].error.to_string().contains("data.attributes.x"), "{}", report.rejected[0].error);
    assert_eq!(profile(&store, "c1").await.purchases().orders, 1);
}

#[tokio::test]
async fn a_huge_order_in_a_currency_without_minor_units_is_stored_exactly_and_reads_back() {
    let store = EmbeddedStore::new();
    let vnd = body(
        "e1",
        "c1",
        "2026-11-01T10:00:00+07:00",
        "order_placed",
        json!({"order_id": "o1", "currency": "VND", "lines": [{"product_id": "p", "unit_price": "600000000000", "quantity": 2}]}),
    );
    let later = body("e2", "c1", "2026-11-02T10:00:00+07:00", "session_started", json!({"session_id": "s"}));
    for batch in [vec![vnd], vec![later]] {
        let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&batch)).await;
        assert_eq!((report.applied, report.failures.len(), report.rejected.len()), (1, 0, 0));
    }
    let p = profile(&store, "c1").await;
    assert_eq!(p.purchases().total_spend.unwrap().to_string(), "1200000000000 VND");
    assert_eq!(p.events_applied(), 2);
}

#[tokio::test]
async fn a_refused_effect_is_parked_alone_while_the_rest_applies() {
    let store = EmbeddedStore::new();
    let mut bodies = Vec::new();
    for n in 0..5 {
        let mut attributes = serde_json::Map::new();
        for a in 0..50 {
            attributes.insert(format!("a{n}_{a}"), json!(a));
        }
        bodies.push(body(
            &format!("u{n}"),
            "c1",
            &format!("2026-11-01T10:0{n}:00Z"),
            "customer_updated",
            json!({"attributes": attributes}),
        ));
    }
    bodies.push(body(
        "c",
        "c1",
        "2026-11-01T11:00:00Z",
        "consent_changed",
        json!({"channel": "email", "status": "granted", "source": "form"}),
    ));
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    // Four updates fill the profile's 200 attributes; the fifth would exceed them.
    assert_eq!(report.applied, 5);
    assert_eq!(ids(&report.rejected), ["msg-4"]);
    assert!(report.rejected[0].error.to_string().contains("data.attributes"));
    let p = profile(&store, "c1").await;
    assert_eq!(p.contact.attributes.len(), 200);
    assert!(p.consent(crate::contact::Channel::Email, &crate::ids::Topic::new("marketing").unwrap()).is_some());
    // Alone in its batch, and redelivered: refused at once each time, never retried in a loop.
    let lone = vec![bodies[4].clone()];
    for _ in 0..2 {
        let before = store.meter().reading();
        let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&lone)).await;
        assert_eq!((report.applied, report.rejected.len(), report.failures.len()), (0, 1, 0));
        // The batch's read, one strong read to confirm the refusal, and the parked record.
        let used = store.meter().reading().since(&before);
        assert_eq!((used.read_requests, used.write_requests), (2, 1));
    }
}

#[tokio::test]
async fn out_of_order_batches_end_in_the_in_order_profile() {
    let late_first = EmbeddedStore::new();
    let newer = vec![order("e2", "c1", "2026-11-10T10:00:00Z", "30")];
    let older = vec![order("e1", "c1", "2026-11-01T10:00:00Z", "10")];
    ingest_batch(&late_first, &clock(), &IngestConfig::default(), &records(&newer)).await;
    ingest_batch(&late_first, &clock(), &IngestConfig::default(), &records(&older)).await;
    let in_order = EmbeddedStore::new();
    ingest_batch(&in_order, &clock(), &IngestConfig::default(), &records(&older)).await;
    ingest_batch(&in_order, &clock(), &IngestConfig::default(), &records(&newer)).await;
    let (a, b) = (profile(&late_first, "c1").await, profile(&in_order, "c1").await);
    assert_eq!(a, b);
    assert_eq!(a.purchases().last_purchase_at, Some(Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap()));
}

#[tokio::test]
async fn synthetic_shop_ends_in_exactly_the_generated_totals() {
    let store = EmbeddedStore::new();
    let now = clock();
    let (events, expected) = synth::shop_events(7, 100, 1000, now.now());
    let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    for batch in bodies.chunks(10) {
        let report = ingest_batch(&store, &now, &IngestConfig::default(), &records(batch)).await;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }
    for (customer, books) in &expected.customers {
        let mismatches = books.mismatches(&profile(&store, customer.as_str()).await);
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }
    // Each event writes its part once; orders also clear the cart.
    let writes = store.meter().reading().write_requests;
    assert!(writes <= 1150, "{writes} write requests for 1000 events");
}

/// Wraps a store and fails the first `n` writes as a throttled store would.
struct Flaky<S> {
    inner: S,
    failures_left: AtomicU32,
    /// Writes to let through before failing.
    allow_first: AtomicU32,
}

impl Flaky<EmbeddedStore> {
    fn failing(n: u32) -> Self {
        Flaky { inner: EmbeddedStore::new(), failures_left: AtomicU32::new(n), allow_first: AtomicU32::new(0) }
    }
}

impl<S: Store> Store for Flaky<S> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key], consistency: Consistency) -> Result<Vec<Fetched>, StoreError> {
        self.inner.get_many(keys, consistency).await
    }
    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(pk, query).await
    }
    async fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: crate::store::Wanted<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.scan(segment, after, limit, consistency, wanted).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let allowed = self.allow_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if !allowed && self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            return Err(StoreError::Throttled);
        }
        self.inner.write(writes).await
    }
    fn meter(&self) -> &Meter {
        self.inner.meter()
    }
}

#[tokio::test]
async fn a_store_that_stays_busy_fails_only_that_customer_and_redelivery_applies_once() {
    let store = Flaky::failing(100);
    let config = IngestConfig { max_attempts: 2, ..IngestConfig::default() };
    let bodies = vec![order("e1", "c1", "2026-11-01T10:00:00Z", "10")];
    let report = ingest_batch(&store, &clock(), &config, &records(&bodies)).await;
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].error.is_retryable());
    store.failures_left.store(1, Ordering::SeqCst);
    let retry = ingest_batch(&store, &clock(), &config, &records(&bodies)).await;
    assert!(retry.failures.is_empty());
    assert_eq!(retry.applied, 1);
    let third = ingest_batch(&store, &clock(), &config, &records(&bodies)).await;
    assert_eq!((third.applied, third.duplicates), (0, 1));
    assert_eq!(profile(&store.inner, "c1").await.purchases().orders, 1);
}

/// A unit written in several writes: when a later one fails, the events of the earlier ones are
/// reported applied (not failed), and a redelivery finds them applied.
#[tokio::test]
async fn a_failure_after_a_first_write_fails_only_the_events_not_yet_written() {
    let store = Flaky::failing(1000);
    store.allow_first.store(1, Ordering::SeqCst);
    let config = IngestConfig { max_attempts: 1, ..IngestConfig::default() };
    let bodies: Vec<String> = (0..60)
        .map(|i| body(&format!("v{i}"), "c1", "2026-11-01T10:00:00Z", "product_viewed", json!({"product_id": "p"})))
        .collect();
    let report = ingest_batch(&store, &clock(), &config, &records(&bodies)).await;
    assert_eq!((report.applied, report.failures.len()), (48, 12));
    store.failures_left.store(0, Ordering::SeqCst);
    let again = ingest_batch(&store, &clock(), &config, &records(&bodies)).await;
    assert_eq!((again.applied, again.duplicates), (12, 48));
    assert_eq!(profile(&store.inner, "c1").await.browse.views[0].count, 60);
}

/// A store whose eventually consistent reads return an older version of one item.
struct Stale {
    inner: EmbeddedStore,
    old: Item,
}

impl Store for Stale {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key], consistency: Consistency) -> Result<Vec<Fetched>, StoreError> {
        let mut items = self.inner.get_many(keys, consistency).await?;
        if consistency == Consistency::Eventual {
            for (k, item) in keys.iter().zip(items.iter_mut()) {
                if *k == self.old.key {
                    *item = Ok(Some(self.old.clone()));
                }
            }
        }
        Ok(items)
    }
    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(pk, query).await
    }
    async fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: crate::store::Wanted<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.scan(segment, after, limit, consistency, wanted).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.inner.write(writes).await
    }
    fn meter(&self) -> &Meter {
        self.inner.meter()
    }
}

/// A refusal decided on a stale read is decided again on a strong one.
#[tokio::test]
async fn an_event_refused_on_a_stale_read_is_decided_again_on_a_fresh_one() {
    let inner = EmbeddedStore::new();
    // Four updates of fifty (the most one event carries) fill the profile's 200 attributes.
    let fill: Vec<String> = (0..4)
        .map(|n| {
            let some: serde_json::Map<String, serde_json::Value> =
                (0..50).map(|a| (format!("a{n}_{a}"), json!(a))).collect();
            body(&format!("u0-{n}"), "c1", "2026-11-01T10:00:00Z", "customer_updated", json!({"attributes": some}))
        })
        .collect();
    assert_eq!(ingest_batch(&inner, &clock(), &IngestConfig::default(), &records(&fill)).await.applied, 4);
    let old = inner.get(&keys::part(&CustomerId::new("c1").unwrap(), keys::PartKind::Contact)).await.unwrap().unwrap();
    let clear = body("u1", "c1", "2026-11-01T10:01:00Z", "customer_updated", json!({"attributes": {"a0_0": null}}));
    let cleared = ingest_batch(&inner, &clock(), &IngestConfig::default(), &records(&[clear])).await;
    assert_eq!(cleared.applied, 1, "{cleared:?}");
    let store = Stale { inner, old };
    // The stale read still shows 200 attributes; the table has room for one more.
    let add = body("u2", "c1", "2026-11-01T10:02:00Z", "customer_updated", json!({"attributes": {"new": true}}));
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&[add])).await;
    assert_eq!((report.applied, report.rejected.len()), (1, 0), "{:?}", report.rejected);
    assert_eq!(profile(&store.inner, "c1").await.attribute("new"), Some(&json!(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_batches_for_one_customer_lose_nothing() {
    let store = Arc::new(EmbeddedStore::new());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let bodies = vec![order(&format!("e{i}"), "c1", "2026-11-01T10:00:00Z", "1")];
                ingest_batch(
                    &*store,
                    &clock(),
                    &IngestConfig { max_attempts: 50, ..IngestConfig::default() },
                    &records(&bodies),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().failures.is_empty());
    }
    assert_eq!(profile(&*store, "c1").await.purchases().orders, 8);
}

/// A hot customer: far more events within minutes than one part can remember. The ids that do
/// not fit move to markers, so redelivering every one of them still changes nothing.
#[tokio::test]
async fn a_burst_of_events_for_one_customer_is_deduplicated_beyond_what_one_item_holds() {
    let store = EmbeddedStore::new();
    let bodies: Vec<String> = (0..250)
        .map(|i| {
            body(
                &format!("v{i}"),
                "c1",
                "2026-11-01T10:00:00Z",
                "product_viewed",
                json!({"product_id": format!("p{i}")}),
            )
        })
        .collect();
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!((report.applied, report.failures.len()), (250, 0));
    assert_eq!(profile(&store, "c1").await.events_applied(), 250);
    let again = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!((again.applied, again.duplicates), (0, 250));
    for batch in bodies.chunks(10) {
        let r = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(batch)).await;
        assert_eq!(r.duplicates, batch.len());
    }
    let p = profile(&store, "c1").await;
    assert_eq!(p.events_applied(), 250);
    assert_eq!(p.browse.interest.values().sum::<u32>(), 0, "no categories given");
}

#[tokio::test]
async fn a_corrupt_part_fails_only_its_customer() {
    let store = EmbeddedStore::new();
    let c1 = CustomerId::new("c1").unwrap();
    let mut body_doc = crate::store::Document::new();
    body_doc.insert("m".into(), json!({"n": "not a number"}));
    let item = Item::new(keys::part(&c1, keys::PartKind::Browse), 3, body_doc);
    store.write(vec![Write::Put { item, condition: Condition::NotExists }]).await.unwrap();
    let bodies = vec![
        body("e1", "c1", "2026-11-01T10:00:00Z", "product_viewed", json!({"product_id": "p"})),
        body("e2", "c1", "2026-11-01T10:00:00Z", "session_started", json!({"session_id": "s"})),
        body("e3", "c2", "2026-11-01T10:00:00Z", "product_viewed", json!({"product_id": "p"})),
    ];
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
    assert_eq!(ids(&report.failures), ["msg-0"], "only the event for the unreadable part");
    assert!(report.failures[0].error.to_string().contains("C#c1|P#B"), "{}", report.failures[0].error);
    assert!(report.failures[0].error.is_retryable(), "waits in the queue for a repair");
    assert_eq!(report.applied, 2);
    assert_eq!(profile(&store, "c2").await.events_applied(), 1);
}

#[tokio::test]
async fn a_long_history_of_big_orders_stays_writable_and_every_order_counts() {
    let store = EmbeddedStore::new();
    let product = |l: usize| format!("{}-{l:03}", "sku-with-a-very-long-identifier-from-a-big-catalogue".repeat(2));
    let bodies: Vec<String> = (0..260)
        .map(|n| {
            let lines: Vec<_> = (0..60).map(|l| json!({"product_id": product(l), "category": "Industrial supplies", "unit_price": "12.50", "quantity": 3})).collect();
            body(&format!("o{n}"), "b2b", &format!("2025-{:02}-{:02}T10:00:00Z", 1 + n % 12, 1 + n % 28), "order_placed",
                // An ERP's long order ids, so the history outgrows one item and archives.
                json!({"order_id": format!("order-{n:04}-{}", "X".repeat(100)), "currency": "EUR", "lines": lines}))
        })
        .collect();
    for batch in bodies.chunks(10) {
        let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(batch)).await;
        assert!(
            report.failures.is_empty() && report.rejected.is_empty(),
            "{:?} {:?}",
            report.failures,
            report.rejected
        );
    }
    let p = profile(&store, "b2b").await;
    assert_eq!(p.purchases().orders, 260);
    assert_eq!(p.events_applied(), 260);
    assert!(!p.archived_orders.is_empty(), "the oldest orders are archived");
    let oldest = format!("order-0000-{}", "X".repeat(100));
    let everything = crate::store::scan_all(&store, None).await.unwrap();
    let largest = everything.iter().map(crate::store::item_size).max().unwrap();
    assert!(largest < 100 * 1024, "largest item {largest} bytes");
    // A copy of the oldest (archived) order, sent again with a new id and a new time, is the same
    // order: it is found in the archives and counts once.
    let resent = body(
        "o0-again",
        "b2b",
        "2026-11-01T10:00:00Z",
        "order_placed",
        json!({"order_id": oldest, "currency": "EUR", "lines": [{"product_id": "x", "unit_price": "1", "quantity": 1}]}),
    );
    assert_eq!(ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&[resent])).await.applied, 1);
    assert_eq!(profile(&store, "b2b").await.purchases().orders, 260);
    // A refund of the oldest order still finds it.
    let refund = body(
        "r1",
        "b2b",
        "2026-11-01T10:00:00Z",
        "order_refunded",
        json!({"order_id": oldest, "refund_id": "r1", "scope": "whole"}),
    );
    let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&[refund])).await;
    assert_eq!(report.applied, 1);
    assert_eq!(profile(&store, "b2b").await.purchases().orders, 259);
}

/// Collects everything logged, as the JSON lines Lambda would ship.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_never_carry_an_address_even_from_misplaced_input() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let emails = ["ana.lopez@mail.example", "bo+promo@shop.example"];
    let phones = ["+14155550142", "4155550142"];
    let bodies = vec![
        // Addresses where they belong: stored, never logged.
        body("e1", "c1", "2026-11-01T10:00:00Z", "customer_updated", json!({"email": emails[0], "phone": phones[0]})),
        // Addresses where they do not belong: rejected, and the rejection must not echo them.
        body(
            "e2",
            "c1",
            "2026-11-01T10:00:00Z",
            "consent_changed",
            json!({"channel": emails[1], "status": "granted", "source": "x"}),
        ),
        body("e3", "c1", "2026-11-01T10:00:00Z", "session_started", json!({"session_id": 4155550142_u64})),
        body(
            "e4",
            "c1",
            "2026-11-01T10:00:00Z",
            "customer_updated",
            json!({"email": "ana.lopez@", "phone": "call 4155550142"}),
        ),
        body("e5", "c1", "2026-11-01T10:00:00Z", "customer_updated", json!({"first_name": emails[0]})),
        format!("{{\"note\": \"{}\" broken json", emails[0]),
    ];
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = EmbeddedStore::new();
            let report = ingest_batch(&store, &clock(), &IngestConfig::default(), &records(&bodies)).await;
            assert_eq!(report.applied, 2, "{:?}", report.failures);
        });
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() >= 4, "expected the rejections to be logged:\n{logs}");
    for secret in emails.iter().chain(&phones).chain(&["ana.lopez@", "4155550142"]) {
        assert!(!logs.contains(secret), "{secret} appears in the logs:\n{logs}");
    }
}
