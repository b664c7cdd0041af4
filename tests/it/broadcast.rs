//! A broadcast against DynamoDB and SQS on the emulator: 1,000 customers across four time zones,
//! exactly one due send per audience member at 10:00 in their own zone, none for anyone else,
//! and nothing more when the schedule ticks again, a task is redelivered, or the campaign is
//! redeployed.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use kairos::campaign::bandit::held_out;
use kairos::campaign::stored::deploy;
use kairos::campaign::{SendTime, Status, Trigger, load};
use kairos::due::DueSend;
use kairos::jobs::sqs::SqsQueue;
use kairos::store::decode;
use kairos_jobs::{Deps, handle_scheduled_at};
use kairos_tests::lambda_context as context;
use lambda_runtime::LambdaEvent;
use serde_json::json;

use crate::churn_job::{due_sends, loaded};

const CUSTOMERS: usize = 1_000;
const ZONES: [&str; 4] = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"];

/// Customer `i`: a zone, a country (every third in France), and consent to the newsletter by
/// email for all but every seventh.
fn customer_events(now: DateTime<Utc>) -> (Vec<String>, Vec<(String, Tz)>) {
    let at = (now - Duration::days(30)).to_rfc3339();
    let (mut events, mut audience) = (Vec::new(), Vec::new());
    for i in 0..CUSTOMERS {
        let c = format!("c{i:04}");
        let zone = ZONES[i % ZONES.len()];
        let country = if i % 3 == 0 {
            "FR"
        } else if i % 2 == 0 {
            "DE"
        } else {
            "US"
        };
        let details = json!({"time_zone": zone, "country": country, "email": format!("{c}@example.com")});
        events.push(kairos_tests::shop_event(&format!("{c}-u"), &c, &at, "customer_updated", details));
        let consented = i % 7 != 0;
        if consented {
            let consent = json!({"channel": "email", "topic": "newsletter", "status": "granted", "source": "checkout"});
            events.push(kairos_tests::shop_event(&format!("{c}-k"), &c, &at, "consent_changed", consent));
        }
        if consented && country != "FR" {
            audience.push((c, zone.parse().unwrap()));
        }
    }
    (events, audience)
}

#[tokio::test]
async fn a_broadcast_queues_exactly_one_send_per_audience_member_at_their_local_ten_oclock() {
    let now = Utc.with_ymd_and_hms(2026, 12, 10, 6, 0, 0).unwrap();
    let (events, audience) = customer_events(now);
    let store = loaded(&events, now).await;

    // The winter sale, active, from 07:00 UTC, at 10:00 local, to Germany and the US.
    let text = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/winter-sale.yaml")).unwrap();
    let (campaign, problems) = load::read("winter-sale.yaml", &text);
    let mut campaign = campaign.unwrap_or_else(|| panic!("{problems:?}"));
    campaign.status = Status::Active;
    campaign.trigger = Trigger::Broadcast { at: (now + Duration::hours(1)).fixed_offset() };
    campaign.send_time = SendTime::LocalTime { at: "10:00".into() };
    campaign.audience = Some(kairos::campaign::Filter::Country(vec!["DE".into(), "US".into()]));
    deploy(&store, &campaign, now).await.unwrap();
    // Its holdout (5%) gets nothing.
    let before = audience.len();
    let audience: Vec<(String, Tz)> = audience
        .into_iter()
        .filter(|(id, _)| !held_out(&campaign, &kairos::ids::CustomerId::new(id.as_str()).unwrap()))
        .collect();
    assert!(audience.len() < before && audience.len() > before * 9 / 10, "{} of {before}", audience.len());

    let (sqs, url) = kairos_tests::task_queue("scheduled-tasks").await;
    let deps = Deps {
        store,
        queue: SqsQueue::new(sqs.clone(), &url),
        job: kairos::campaign::scheduled::ScheduledJob,
        segments: 3,
        max_pages: None,
    };
    let tick = |at: DateTime<Utc>| {
        let deps = &deps;
        async move {
            handle_scheduled_at(deps, LambdaEvent::new(json!({"tick": at.to_rfc3339()}), context()), at).await.unwrap()
        }
    };
    let work = || {
        let deps = &deps;
        kairos_tests::work_queue(&sqs, &url, move |event| async move {
            handle_scheduled_at(deps, LambdaEvent::new(event, context()), now).await.unwrap()
        })
    };

    // Three hours before the moment: too early, nothing starts.
    assert_eq!(tick(now - Duration::hours(2)).await["runs"], json!([]));
    let started = tick(now).await;
    assert_eq!(started["runs"][0]["run"], "broadcast-winter-sale-v1", "{started}");
    // One apply task per segment, the first redelivered.
    assert_eq!(work().await, 3 + 1);

    let check = |items: Vec<kairos::store::Item>| {
        let sends: Vec<DueSend> = items.into_iter().map(|i| decode(i).unwrap()).collect();
        let mut customers: Vec<&str> = sends.iter().map(|s| s.customer_id.as_str()).collect();
        customers.sort_unstable();
        customers.dedup();
        assert_eq!(customers.len(), sends.len(), "one send per customer");
        assert_eq!(sends.len(), audience.len(), "every audience member, nobody else");
        let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap();
        for (id, zone) in &audience {
            let send =
                sends.iter().find(|s| s.customer_id.as_str() == id).unwrap_or_else(|| panic!("{id} has no send"));
            let local = send.due_at.with_timezone(zone);
            assert_eq!(local.time(), ten, "{id} in {zone}: {local}");
            assert!(send.due_at >= now + Duration::hours(1), "{id}: not before the broadcast's moment");
            assert!(send.due_at < now + Duration::hours(25), "{id}: their next 10:00");
            assert_eq!(send.occurrence, "broadcast");
            assert_eq!(send.campaign_version, Some(1));
        }
        sends
    };
    let first = check(due_sends(&deps.store).await);
    assert!(first.iter().any(|s| s.due_at.hour() != first[0].due_at.hour()), "the zones' ten o'clocks differ");

    // The schedule ticks again: the run is done, nothing new.
    let again = tick(now + Duration::minutes(15)).await;
    assert_eq!(again["runs"][0]["state"]["phase"], "done", "{again}");
    assert_eq!(work().await, 0);
    // A fix deployed after the run (a new version, a new run, sends due at another minute):
    // every send was queued before, and only its once-marker says so.
    campaign.name = "Winter sale 2026 (fixed)".into();
    campaign.send_time = SendTime::LocalTime { at: "11:00".into() };
    deploy(&deps.store, &campaign, now).await.unwrap();
    let fixed = tick(now + Duration::minutes(30)).await;
    assert_eq!(fixed["runs"][0]["run"], "broadcast-winter-sale-v2", "{fixed}");
    work().await;
    check(due_sends(&deps.store).await);
}

#[tokio::test]
async fn the_daily_run_tells_recent_viewers_once_that_a_product_is_back_in_stock() {
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 0, 10, 0).unwrap();
    let store = kairos_tests::fresh_store().await;
    let ingest = kairos_ingest::Deps::new(store.clone());
    let product = |id: &str, at: &str, in_stock: bool| {
        json!({"schema_version": 1, "id": id, "occurred_at": at, "source": "feed", "type": "product_updated",
            "data": {"product_id": "boots", "title": "Winter boots", "price": "120", "currency": "EUR", "in_stock": in_stock}})
        .to_string()
    };
    // Out of stock, then back: one batch each (a batch's records are applied side by side).
    for (i, update) in [product("p1", "2026-11-20T10:00:00Z", false), product("p2", "2026-12-01T15:00:00Z", true)]
        .into_iter()
        .enumerate()
    {
        let batch = kairos_tests::named(&[update], &format!("p{i}"));
        assert!(
            kairos_tests::failed_ids(&kairos_ingest::handle(&ingest, kairos_tests::sqs_batch(&batch)).await.unwrap())
                .is_empty()
        );
    }
    let mut events = Vec::new();
    for i in 0..12 {
        let c = format!("v{i}");
        let at = "2026-11-25T10:00:00Z";
        let consent = json!({"channel": "email", "topic": "marketing", "status": "granted", "source": "checkout"});
        let email = json!({"email": format!("{c}@example.com")});
        events.push(kairos_tests::shop_event(&format!("{c}-u"), &c, at, "customer_updated", email));
        events.push(kairos_tests::shop_event(&format!("{c}-k"), &c, at, "consent_changed", consent));
        // Two thirds looked at the boots; one of those bought them once they were back.
        if i % 3 != 0 {
            let view = json!({"product_id": "boots"});
            events.push(kairos_tests::shop_event(&format!("{c}-v"), &c, at, "product_viewed", view));
        }
    }
    let order = json!({"order_id": "o-1", "currency": "EUR", "lines": [{"product_id": "boots", "unit_price": "120", "quantity": 1}]});
    events.push(kairos_tests::shop_event("v1-o", "v1", "2026-12-01T16:00:00Z", "order_placed", order));
    for chunk in events.chunks(10) {
        let response =
            kairos_ingest::handle(&ingest, kairos_tests::sqs_batch(&kairos_tests::named(chunk, "m"))).await.unwrap();
        assert!(kairos_tests::failed_ids(&response).is_empty());
    }
    let text = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/back-in-stock.yaml")).unwrap();
    let (campaign, problems) = load::read("back-in-stock.yaml", &text);
    deploy(&store, &campaign.unwrap_or_else(|| panic!("{problems:?}")), now).await.unwrap();

    let (sqs, url) = kairos_tests::task_queue("daily-tasks").await;
    let deps = Deps {
        store,
        queue: SqsQueue::new(sqs.clone(), &url),
        job: kairos::campaign::scheduled::ScheduledJob,
        segments: 2,
        max_pages: None,
    };
    for tick in [now, now + Duration::minutes(15)] {
        let started = handle_scheduled_at(&deps, LambdaEvent::new(json!({}), context()), tick).await.unwrap();
        assert_eq!(started["runs"][0]["run"], "daily-2026-12-02", "{started}");
        kairos_tests::work_queue(&sqs, &url, |event| {
            let deps = &deps;
            async move { handle_scheduled_at(deps, LambdaEvent::new(event, context()), tick).await.unwrap() }
        })
        .await;
    }
    let sends: Vec<DueSend> = due_sends(&deps.store).await.into_iter().map(|i| decode(i).unwrap()).collect();
    let mut who: Vec<&str> = sends.iter().map(|s| s.customer_id.as_str()).collect();
    who.sort_unstable();
    // Viewers (i % 3 != 0) but v1, who bought them: once each.
    assert_eq!(who, ["v10", "v11", "v2", "v4", "v5", "v7", "v8"], "{sends:?}");
    assert!(
        sends
            .iter()
            .all(|s| s.occurrence == "restock-boots-2026-11-25"
                && s.product.as_ref().map(|p| p.as_str()) == Some("boots"))
    );
}
