//! Dispatch of 100,000 due sends through the outbox on the embedded store, as `kairos
//! dispatch` runs it: every send re-reads its profile, passes the policy, is claimed with its
//! cap place, rendered (Liquid) and written to the outbox, with its decision traced. The store's
//! meter gives what the same sends cost on DynamoDB.
//!
//! `cargo bench -p kairos --bench dispatch` (without `--bench`, as `cargo test` runs it, 500).

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use kairos::content::ShopView;
use kairos::delivery::caps::Caps;
use kairos::delivery::channel::Outbox;
use kairos::delivery::dispatch::{Dispatcher, Settings};
use kairos::delivery::token::Keys;
use kairos::due::DueSend;
use kairos::ids::{CampaignId, CustomerId};
use kairos::store::Store;
use kairos::store::embedded::EmbeddedStore;

const CAMPAIGN: &str = r#"
id: news
name: News
status: active
topic: marketing
trigger:
  cart_abandoned:
    after_minutes: 30
channels: [email, sms]
variants:
  - id: a
    email:
      subject: "{{ customer.first_name | default: 'Hi' }}, your cart is waiting"
      html: "<p>{% for line in cart.lines %}{{ line.quantity }} × {{ line.product.title }} {% endfor %}{{ cart.total }}</p><p>{{ shop.name }}, {{ shop.postal_address }} <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
      text: "{{ cart.total }}. {{ shop.name }}, {{ shop.postal_address }} Unsubscribe: {{ unsubscribe_url }}"
    sms:
      body: "Your cart is waiting. STOP to opt out"
  - id: b
    email:
      subject: "Still thinking it over?"
      html: "<p>{{ cart.item_count }} items. {{ shop.name }}, {{ shop.postal_address }} <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
      text: "{{ cart.item_count }} items. {{ shop.name }}, {{ shop.postal_address }} {{ unsubscribe_url }}"
    sms:
      body: "Still thinking it over? STOP to opt out"
"#;

// Both cores, as a dispatch worker has them.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let customers = if full { 50_000 } else { 250 };
    let per_customer = 2;
    let now: DateTime<Utc> = "2026-12-02T11:00:00Z".parse().unwrap();
    let store = EmbeddedStore::new();
    let zones = ["Europe/Paris", "Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    let mut bodies = Vec::new();
    for i in 0..customers {
        let id = format!("c-{i}");
        let at = (now - Duration::days(1)).to_rfc3339();
        let ev = |n: &str, kind: &str, data: serde_json::Value| {
            serde_json::json!({"schema_version": 1, "id": format!("{id}-{n}"), "customer_id": id, "occurred_at": at,
                "source": "web", "type": kind, "data": data})
            .to_string()
        };
        bodies.push(ev(
            "u",
            "customer_updated",
            serde_json::json!({"email": format!("{id}@example.com"), "phone": "+33612345678",
            "time_zone": zones[i % zones.len()], "country": "FR", "first_name": "Ana"}),
        ));
        bodies.push(ev(
            "k",
            "consent_changed",
            serde_json::json!({"channel": "email", "topic": "marketing", "status": "granted", "source": "form"}),
        ));
        bodies.push(ev("a", "cart_item_added", serde_json::json!({"product_id": format!("sku-{}", i % 300), "quantity": 1 + i % 3, "unit_price": "19.90", "currency": "EUR"})));
    }
    let clock = kairos::clock::ManualClock::new(now - Duration::hours(20));
    for chunk in bodies.chunks(3_000) {
        let records: Vec<kairos::ingest::Record> =
            chunk.iter().map(|b| kairos::ingest::Record { id: "r", body: b }).collect();
        let report =
            kairos::ingest::ingest_batch(&store, &clock, &kairos::ingest::IngestConfig::default(), &records).await;
        assert!(report.failures.is_empty() && report.rejected.is_empty());
    }
    let (campaign, problems) = kairos::campaign::load::read("news.yaml", CAMPAIGN);
    let campaign = campaign.unwrap_or_else(|| panic!("{problems:?}"));
    let mut second = campaign.clone();
    second.id = CampaignId::new("news-2").unwrap();
    for c in [&campaign, &second] {
        kairos::campaign::stored::deploy(&store, c, now - Duration::days(2)).await.unwrap();
    }
    for i in 0..customers {
        for c in [&campaign.id, &second.id].into_iter().take(per_customer) {
            let due = DueSend {
                customer_id: CustomerId::new(format!("c-{i}")).unwrap(),
                campaign_id: c.clone(),
                occurrence: "cart-1".into(),
                due_at: now - Duration::minutes(5),
                reason: "the cart was left".into(),
                created_at: now - Duration::minutes(35),
                campaign_version: Some(1),
                cause_at: Some(now - Duration::minutes(40)),
                product: None,
                placed: false,
                first_due_at: None,
            };
            store.write(due.writes().unwrap().into()).await.unwrap();
        }
    }
    let settings = Settings {
        caps: Caps::parse("email:1/day,3/week sms:1/day all:2/day").unwrap(),
        cap_transactional: false,
        shop: ShopView {
            name: "Fleet".into(),
            postal_address: "1 Quay, Lyon".into(),
            url: "https://shop.example".into(),
        },
        unsubscribe_base: "https://u.shop.example".into(),
        keys: Keys::parse("k1:0123456789abcdef0123456789abcdef").unwrap(),
        offer_secret: b"offer".to_vec(),
        list_domain: "lists.shop.example".into(),
    };
    let dir = std::env::temp_dir().join(format!("kairos-dispatch-bench-{}", std::process::id()));
    let outbox = Outbox::open(&dir.join("outbox.jsonl")).unwrap();
    let before = store.meter().reading();
    let d = std::sync::Arc::new(Dispatcher::new(store, outbox, settings));
    let began = Instant::now();
    let counts = d.run_due(now, 64).await.unwrap();
    d.channel.flush().unwrap();
    let seconds = began.elapsed().as_secs_f64();
    let cost = d.store.meter().reading().since(&before);
    let sends = customers * per_customer;
    println!(
        "{sends} due sends dispatched in {seconds:.2} s ({:.0} a second): {} sent, {} deferred (caps), {} suppressed, {} failed",
        sends as f64 / seconds,
        counts.sent,
        counts.deferred,
        counts.suppressed,
        counts.failed
    );
    println!(
        "per due send: {:.2} read units, {:.2} write units; ${:.2} per million due sends on DynamoDB on-demand",
        cost.units.reads() / sends as f64,
        cost.units.writes as f64 / sends as f64,
        cost.units.dollars() / sends as f64 * 1e6
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(counts.failed, 0);
    assert_eq!(counts.sent + counts.deferred, sends, "{counts:?}");
}
