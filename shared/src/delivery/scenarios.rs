//! Delivery's contract as executable scenarios, for any store: the embedded store runs them in
//! this crate's unit tests, DynamoDB on the emulator in the integration tests. Each gets a fresh
//! store and a recording channel.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use super::channel::{Deliver, DeliveryError, Envelope};
use super::dispatch::{Dispatcher, Settings};
use super::token::Keys;
use super::trace::{self, Outcome};
use crate::campaign::Campaign;
use crate::content::ShopView;
use crate::due::DueSend;
use crate::ids::{CampaignId, CustomerId};
use crate::store::{Store, StoreError};

/// A channel that keeps what it was given; the first `lose` calls fail as unknown (the request
/// went, the answer was lost).
#[derive(Default)]
pub struct Recorder {
    pub sent: Mutex<Vec<Envelope>>,
    pub lose: AtomicUsize,
}

impl Deliver for Recorder {
    async fn deliver(&self, e: &Envelope) -> Result<String, DeliveryError> {
        self.sent.lock().expect("recorder lock").push(e.clone());
        if self.lose.load(Ordering::SeqCst) > 0 {
            self.lose.fetch_sub(1, Ordering::SeqCst);
            return Err(DeliveryError::Unknown("the answer was lost".into()));
        }
        Ok(format!("p-{}", e.message_id))
    }
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.sent.lock().expect("recorder lock").len()
    }
}

/// Settings for the scenarios (the caps given).
pub fn settings(caps: &str) -> Settings {
    Settings {
        caps: super::caps::Caps::parse(caps).expect("scenario caps"),
        cap_transactional: false,
        shop: ShopView {
            name: "Fleet".into(),
            postal_address: "1 Quay, Lyon".into(),
            url: "https://shop.example".into(),
        },
        unsubscribe_base: "https://u.shop.example".into(),
        keys: Keys::parse("k1:0123456789abcdef0123456789abcdef").expect("scenario key"),
        offer_secret: b"offer".to_vec(),
        list_domain: "lists.shop.example".into(),
    }
}

/// A campaign on `channels` (email and SMS content), marketing unless `transactional`.
pub fn campaign(id: &str, channels: &str, transactional: bool) -> Campaign {
    let kind = if transactional { "transactional" } else { "marketing" };
    let text = format!(
        r#"
id: {id}
name: Test {id}
status: active
kind: {kind}
topic: marketing
trigger:
  cart_abandoned:
    after_minutes: 30
channels: [{channels}]
variants:
  - id: a
    email:
      subject: "Hi {{{{ customer.first_name | default: 'there' }}}}"
      html: "<p>Your cart. {{{{ shop.name }}}}, {{{{ shop.postal_address }}}} <a href='{{{{ unsubscribe_url }}}}'>Unsubscribe</a></p>"
      text: "Your cart. {{{{ shop.name }}}}, {{{{ shop.postal_address }}}} Unsubscribe: {{{{ unsubscribe_url }}}}"
    sms:
      body: "Fleet: your cart is waiting. STOP to opt out"
"#
    );
    let (campaign, problems) = crate::campaign::load::read(&format!("{id}.yaml"), &text);
    campaign.unwrap_or_else(|| panic!("scenario campaign: {problems:?}"))
}

async fn ingest<S: Store>(store: &S, now: DateTime<Utc>, events: &[serde_json::Value]) {
    let clock = crate::clock::ManualClock::new(now);
    let bodies: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let records: Vec<crate::ingest::Record> =
        bodies.iter().map(|b| crate::ingest::Record { id: "r", body: b }).collect();
    let report = crate::ingest::ingest_batch(store, &clock, &crate::ingest::IngestConfig::default(), &records).await;
    assert!(report.failures.is_empty() && report.rejected.is_empty(), "{:?} {:?}", report.failures, report.rejected);
}

fn event(id: &str, customer: &str, at: DateTime<Utc>, kind: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"schema_version": 1, "id": id, "customer_id": customer, "occurred_at": at.to_rfc3339(),
        "source": "web", "type": kind, "data": data})
}

/// A customer with an email and a phone, in `zone`, consenting to marketing on both.
pub async fn customer<S: Store>(store: &S, id: &str, zone: &str, country: &str, phone: &str, at: DateTime<Utc>) {
    let consent = |ch: &str| serde_json::json!({"channel": ch, "topic": "marketing", "status": "granted", "source": "signup_form"});
    ingest(
        store,
        at,
        &[
            event(
                &format!("{id}-u"),
                id,
                at,
                "customer_updated",
                serde_json::json!({"email": format!("{id}@example.com"),
            "phone": phone, "time_zone": zone, "country": country, "first_name": "Ana"}),
            ),
            event(&format!("{id}-ke"), id, at, "consent_changed", consent("email")),
            event(&format!("{id}-ks"), id, at, "consent_changed", consent("sms")),
            event(
                &format!("{id}-a"),
                id,
                at,
                "cart_item_added",
                serde_json::json!({"product_id": "sku-1", "quantity": 1, "unit_price": "12.50", "currency": "EUR"}),
            ),
        ],
    )
    .await;
}

/// A due send of `campaign` (version 1) for `customer`, queued as triggers queue it.
pub async fn queue<S: Store>(
    store: &S,
    customer: &str,
    campaign: &str,
    occurrence: &str,
    due_at: DateTime<Utc>,
) -> DueSend {
    let due = DueSend {
        customer_id: CustomerId::new(customer).expect("id"),
        campaign_id: CampaignId::new(campaign).expect("id"),
        occurrence: occurrence.into(),
        due_at,
        reason: "the cart was left".into(),
        created_at: due_at,
        campaign_version: Some(1),
        cause_at: Some(due_at - Duration::minutes(30)),
        product: None,
        placed: false,
        first_due_at: None,
    };
    match store.write(due.writes().expect("writes").into()).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
        Err(e) => panic!("queueing: {e}"),
    }
    due
}

async fn deploy<S: Store>(store: &S, campaigns: &[Campaign], at: DateTime<Utc>) {
    for c in campaigns {
        crate::campaign::stored::deploy(store, c, at).await.expect("deploy");
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("scenario time").with_timezone(&Utc)
}

/// The due queue replayed three times, concurrently and in turn, and a lost answer: one
/// message, and the trace says what happened.
pub async fn replays_and_races_send_once<S: Store + 'static>(store: S) {
    let now = utc("2026-12-02T10:00:00Z");
    customer(&store, "c-1", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(2)).await;
    deploy(&store, &[campaign("cart", "email", false)], now - Duration::days(1)).await;
    let due = queue(&store, "c-1", "cart", "cart-1", now).await;
    let d = std::sync::Arc::new(Dispatcher::new(store, Recorder::default(), settings("email:5/day")));
    let outcomes = join_all((0..6).map(|_| d.send(&due, now))).await;
    for _ in 0..3 {
        d.send(&due, now + Duration::minutes(1)).await.expect("replay");
    }
    let counts = d.run_due(now + Duration::minutes(10), 4).await.expect("run");
    assert_eq!(d.channel.count(), 1, "one message whatever the replays: {outcomes:?} {counts:?}");
    let sent = outcomes.iter().filter(|o| matches!(o, Ok(Outcome::Sent { .. }))).count();
    assert_eq!(sent, 1, "{outcomes:?}");
    let e = d.channel.sent.lock().expect("lock")[0].clone();
    assert!(e.unsubscribe.as_ref().is_some_and(|u| u.one_click.starts_with("https://u.shop.example/u/v1.k1.")));
    assert_eq!(e.list_id, "<cart.lists.shop.example>");
    assert_eq!(e.sent_at.offset().local_minus_utc(), 3600, "sent_at in the customer's own offset");
    let (decisions, problems) = trace::of(&d.store, &due.customer_id, None).await.expect("trace");
    assert!(problems.is_empty());
    assert_eq!(decisions.iter().filter(|x| matches!(x.outcome, Outcome::Sent { .. })).count(), 1, "{decisions:?}");
    let why = trace::answer(&due.customer_id, Some(&due.campaign_id), &decisions);
    assert!(why.contains("was sent by email") && why.contains("consented to marketing by email"), "{why}");

    // A lost answer: the provider may have sent it, so it is never tried again.
    let lost = queue(&d.store, "c-1", "cart", "cart-2", now).await;
    d.channel.lose.store(1, Ordering::SeqCst);
    let first = d.send(&lost, now + Duration::minutes(1)).await.expect("send");
    assert!(matches!(first, Outcome::Unknown { .. }), "{first:?}");
    let again = d.send(&lost, now + Duration::minutes(2)).await.expect("send");
    assert!(matches!(again, Outcome::Unknown { .. }), "{again:?}");
    assert_eq!(d.channel.count(), 2, "the lost one was handed over once, never again");
    let (decisions, _) = trace::of(&d.store, &lost.customer_id, Some(&lost.campaign_id)).await.expect("trace");
    assert!(trace::answer(&lost.customer_id, None, &decisions).contains("never repeated"));
}

/// SMS at night in France waits for 08:00 (and Sunday waits for Monday); a customer whose
/// zone is unknown gets it only when it is day in every zone of their country; transactional
/// messages are exempt.
pub async fn quiet_hours_defer_to_the_first_allowed_minute<S: Store + 'static>(store: S) {
    // Tuesday 1 December 2026, 22:30 in Paris.
    let night = utc("2026-12-01T21:30:00Z");
    customer(&store, "c-fr", "Europe/Paris", "FR", "+33612345678", night - Duration::hours(3)).await;
    deploy(&store, &[campaign("sms", "sms", false), campaign("receipt", "sms", true)], night - Duration::days(1)).await;
    let due = queue(&store, "c-fr", "sms", "n-1", night).await;
    let d = std::sync::Arc::new(Dispatcher::new(
        store,
        Recorder::default(),
        settings("sms:5/day,10/week all:10/day,20/week"),
    ));
    let out = d.send(&due, night).await.expect("send");
    assert_eq!(out, Outcome::Deferred { until: utc("2026-12-02T07:00:00Z") }, "08:00 in Paris");
    assert_eq!(d.channel.count(), 0);
    let counts = d.run_due(utc("2026-12-02T07:05:00Z"), 4).await.expect("run");
    assert_eq!((counts.sent, d.channel.count()), (1, 1), "{counts:?}");
    let e = d.channel.sent.lock().expect("lock")[0].clone();
    assert_eq!(e.sent_at.to_rfc3339(), "2026-12-02T08:05:00+01:00");
    // A transactional SMS at night goes at once.
    let receipt = queue(&d.store, "c-fr", "receipt", "r-1", night).await;
    assert!(matches!(d.send(&receipt, night).await.expect("send"), Outcome::Sent { .. }));
    // Sunday 6 December, 10:00 in Paris: no marketing SMS until Monday 08:00.
    let sunday = utc("2026-12-06T09:00:00Z");
    let due = queue(&d.store, "c-fr", "sms", "n-2", sunday).await;
    assert_eq!(d.send(&due, sunday).await.expect("send"), Outcome::Deferred { until: utc("2026-12-07T07:00:00Z") });
}

/// Five campaigns racing for one customer, many workers each: never more than the cap.
pub async fn caps_hold_under_a_race<S: Store + 'static>(store: S) {
    let now = utc("2026-12-02T10:00:00Z");
    customer(&store, "c-cap", "Europe/Berlin", "DE", "+4915112345678", now - Duration::hours(3)).await;
    let campaigns: Vec<Campaign> = (0..5).map(|i| campaign(&format!("race-{i}"), "email", false)).collect();
    deploy(&store, &campaigns, now - Duration::days(1)).await;
    let mut sends = Vec::new();
    for i in 0..5 {
        sends.push(queue(&store, "c-cap", &format!("race-{i}"), "x", now).await);
    }
    let d = std::sync::Arc::new(Dispatcher::new(
        store,
        Recorder::default(),
        settings("email:2/day,3/week all:2/day,3/week"),
    ));
    let outcomes = join_all(sends.iter().flat_map(|s| [s, s, s]).map(|s| d.send(s, now))).await;
    let sent = outcomes.iter().filter(|o| matches!(o, Ok(Outcome::Sent { .. }))).count();
    assert_eq!(sent, 2, "the daily cap of two: {outcomes:?}");
    // The tick of that minute comes too (the sends were already handled or moved).
    d.run_due(now + Duration::minutes(3), 8).await.expect("run");
    assert_eq!(d.channel.count(), 2);
    let deferred = outcomes.iter().filter(|o| matches!(o, Ok(Outcome::Deferred { .. }))).count();
    assert!(deferred >= 3, "the others wait for the next day (in Berlin): {outcomes:?}");
    for o in &outcomes {
        if let Ok(Outcome::Deferred { until }) = o {
            assert_eq!(*until, utc("2026-12-03T08:00:00Z"), "the start of the next day in Berlin, not its midnight");
        }
    }
    // The next day one more fits the week's three; the fourth and fifth wait past their expiry
    // and are dropped, never sent late.
    // (The tick of the minute they moved to, as of the next morning.)
    let (moved, problems) = super::dispatch::Ticker::due_in(&d.store, utc("2026-12-03T08:00:00Z")).await.expect("due");
    // At least the three that waited (a racing attempt that lost to a send may have moved its
    // copy too: that copy finds the claim and does nothing).
    assert!(problems.is_empty() && moved.len() >= 3, "{moved:?}");
    let next_morning = utc("2026-12-03T09:00:00Z");
    let outcomes = join_all(moved.iter().map(|s| d.send(s, next_morning))).await;
    assert_eq!(d.channel.count(), 3, "{outcomes:?}");
    let dropped = outcomes.iter().filter(|o| matches!(o, Ok(Outcome::Dropped))).count();
    assert_eq!(dropped, 2, "{outcomes:?}");
}

/// A hard bounce suppresses the address; a new address is not suppressed; a STOP suppresses
/// SMS (and lifting it with START allows it again); a send past its expiry is dropped; a
/// paused campaign sends nothing.
pub async fn suppression_expiry_and_pause_stop_sends<S: Store + 'static>(store: S) {
    let now = utc("2026-12-02T10:00:00Z");
    customer(&store, "c-s", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(3)).await;
    deploy(&store, &[campaign("mail", "email", false), campaign("text", "sms", false)], now - Duration::days(1)).await;
    let suppress = |id: &str, ch: &str, status: &str, reason: &str| {
        event(
            id,
            "c-s",
            now - Duration::minutes(5),
            "suppression_changed",
            serde_json::json!({"channel": ch, "status": status, "reason": reason}),
        )
    };
    ingest(
        &store,
        now,
        &[suppress("b-1", "email", "suppressed", "hard_bounce"), suppress("s-1", "sms", "suppressed", "sms_stop")],
    )
    .await;
    let mail = queue(&store, "c-s", "mail", "1", now).await;
    let text = queue(&store, "c-s", "text", "1", now).await;
    let late = queue(&store, "c-s", "text", "late", now - Duration::days(4)).await;
    let d = std::sync::Arc::new(Dispatcher::new(store, Recorder::default(), settings("email:5/day all:10/day")));
    assert_eq!(d.send(&mail, now).await.expect("send"), Outcome::Suppressed);
    assert_eq!(d.send(&text, now).await.expect("send"), Outcome::Suppressed);
    assert_eq!(d.send(&late, now).await.expect("send"), Outcome::Dropped);
    let (decisions, _) = trace::of(&d.store, &mail.customer_id, None).await.expect("trace");
    let why = trace::answer(&mail.customer_id, None, &decisions);
    assert!(why.contains("bounced hard") && why.contains("opt-out word") && why.contains("too late"), "{why}");
    // A new email address is not suppressed; START lifts the SMS suppression.
    ingest(
        &d.store,
        now,
        &[
            event(
                "u-2",
                "c-s",
                now - Duration::minutes(1),
                "customer_updated",
                serde_json::json!({"email": "ana.new@example.com"}),
            ),
            suppress("s-2", "sms", "lifted", "sms_stop"),
        ],
    )
    .await;
    let mail = queue(&d.store, "c-s", "mail", "2", now).await;
    let text = queue(&d.store, "c-s", "text", "2", now).await;
    assert!(matches!(d.send(&mail, now).await.expect("send"), Outcome::Sent { .. }));
    assert!(matches!(d.send(&text, now).await.expect("send"), Outcome::Sent { .. }));
    // Paused: nothing goes.
    let mut paused = campaign("mail", "email", false);
    paused.status = crate::campaign::Status::Paused;
    crate::campaign::stored::deploy(&d.store, &paused, now).await.expect("deploy");
    let mail = queue(&d.store, "c-s", "mail", "3", now).await;
    let later = now + Duration::minutes(5);
    assert_eq!(d.send(&mail, later).await.expect("send"), Outcome::Dropped);
}

/// A campaign for customers whose own hours the send-time model knows: the audience, checked
/// when the send is due, reads the posterior the policy would use; a new customer exits.
pub async fn send_time_audience_reads_the_posterior<S: Store + 'static>(store: S) {
    let now = utc("2026-12-02T10:00:00Z");
    customer(&store, "c-new", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(2)).await;
    customer(&store, "c-known", "Europe/Paris", "FR", "+33612345679", now - Duration::hours(2)).await;
    let sessions: Vec<serde_json::Value> = (1..=40)
        .map(|day| {
            let at = now - Duration::days(day) + Duration::hours(8);
            event(
                &format!("s-{day}"),
                "c-known",
                at,
                "session_started",
                serde_json::json!({"session_id": format!("s-{day}")}),
            )
        })
        .collect();
    ingest(&store, now, &sessions).await;
    let mut known_only = campaign("known", "email", false);
    known_only.audience = Some(crate::campaign::Filter::SendTimeConfidence { min: 0.5 });
    deploy(&store, &[known_only], now - Duration::days(1)).await;
    let d = Dispatcher::new(store, Recorder::default(), settings("email:5/day"));
    let new = queue(&d.store, "c-new", "known", "1", now).await;
    let known = queue(&d.store, "c-known", "known", "1", now).await;
    assert_eq!(d.send(&new, now).await.expect("send"), Outcome::Exited);
    assert!(matches!(d.send(&known, now).await.expect("send"), Outcome::Sent { .. }));
    let (decisions, _) = trace::of(&d.store, &new.customer_id, None).await.expect("trace");
    assert!(decisions.iter().any(|x| x.reasons.iter().any(|r| r.contains("audience"))), "{decisions:?}");
}

/// A send the daily cap holds opens the customer's next day instead of waking them at midnight,
/// and a campaign that names a local time keeps it on that day.
pub async fn a_held_send_waits_for_the_customers_day<S: Store + 'static>(store: S) {
    // Wednesday 2 December 2026, 11:00 in Paris.
    let now = utc("2026-12-02T10:00:00Z");
    customer(&store, "c-day", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(3)).await;
    let mut morning = campaign("morning", "email", false);
    morning.send_time = crate::campaign::SendTime::LocalTime { at: "10:30".into() };
    deploy(&store, &[campaign("first", "email", false), campaign("plain", "email", false), morning], now).await;
    let d = Dispatcher::new(store, Recorder::default(), settings("email:1/day,5/week"));
    let first = queue(&d.store, "c-day", "first", "1", now).await;
    assert!(matches!(d.send(&first, now).await.expect("send"), Outcome::Sent { .. }));
    let plain = queue(&d.store, "c-day", "plain", "1", now).await;
    assert_eq!(
        d.send(&plain, now).await.expect("send"),
        Outcome::Deferred { until: utc("2026-12-03T08:00:00Z") },
        "09:00 in Paris, not midnight"
    );
    // Placed at 10:30 already (due then), held by the cap: 10:30 the next day.
    let due = queue(&d.store, "c-day", "morning", "1", utc("2026-12-02T09:30:00Z"))
        .await
        .moved_to(utc("2026-12-02T09:30:00Z"));
    assert_eq!(d.send(&due, now).await.expect("send"), Outcome::Deferred { until: utc("2026-12-03T09:30:00Z") });
    let (decisions, _) = trace::of(&d.store, &due.customer_id, Some(&due.campaign_id)).await.expect("trace");
    assert!(
        decisions.iter().any(|x| x.reasons.iter().any(|r| r.contains("kept at the campaign's 10:30"))),
        "{decisions:?}"
    );
}

/// Holding a send for the customer's day never costs it the campaign's own hours or its expiry:
/// a local time before 09:00 is kept on the held day, a campaign's window opens the day instead
/// of 09:00 (also when the window closes before 09:00), and a customer whose zone is unknown
/// keeps the campaign's time in the zone their caps count days in.
pub async fn held_sends_keep_the_campaigns_hours_and_expiry<S: Store + 'static>(store: S) {
    use crate::campaign::{QuietHours, SendTime};
    let t0 = utc("2026-12-02T04:00:00Z");
    for id in ["c-early", "c-window", "c-dawn"] {
        customer(&store, id, "Europe/Paris", "FR", "+33612345678", t0).await;
    }
    // A US customer with no known zone (the caps count New York's days, the first of theirs).
    let consent =
        serde_json::json!({"channel": "email", "topic": "marketing", "status": "granted", "source": "signup_form"});
    ingest(
        &store,
        t0,
        &[
            event(
                "us-u",
                "c-us",
                t0,
                "customer_updated",
                serde_json::json!({"email": "c-us@example.com", "country": "US"}),
            ),
            event("us-k", "c-us", t0, "consent_changed", consent),
        ],
    )
    .await;
    let mut early = campaign("early", "email", false);
    early.send_time = SendTime::LocalTime { at: "08:00".into() };
    early.expire_after_hours = Some(30);
    let mut window = campaign("window", "email", false);
    window.quiet_hours = Some(QuietHours { send_from: "08:00".into(), send_until: "22:00".into() });
    window.expire_after_hours = Some(24);
    let mut dawn = campaign("dawn", "email", false);
    dawn.quiet_hours = Some(QuietHours { send_from: "06:00".into(), send_until: "08:30".into() });
    dawn.expire_after_hours = Some(24);
    let mut us = campaign("us", "email", false);
    us.send_time = SendTime::LocalTime { at: "10:30".into() };
    deploy(&store, &[campaign("first", "email", false), early, window, dawn, us], t0).await;
    let d = Dispatcher::new(store, Recorder::default(), settings("email:1/day"));
    let held = async |customer: &str, campaign: &str, due_at: &str, now: &str| {
        let now = utc(now);
        let first = queue(&d.store, customer, "first", "1", now).await;
        assert!(matches!(d.send(&first, now).await.expect("send"), Outcome::Sent { .. }));
        let due = queue(&d.store, customer, campaign, "1", utc(due_at)).await.moved_to(utc(due_at));
        d.send(&due, now).await.expect("send")
    };
    // Due at 08:00 Paris, handled at 11:00 after the day's one email: 08:00 tomorrow (within
    // its 30 hours), not 08:00 the day after (past them: dropped).
    assert_eq!(
        held("c-early", "early", "2026-12-02T07:00:00Z", "2026-12-02T10:00:00Z").await,
        Outcome::Deferred { until: utc("2026-12-03T07:00:00Z") }
    );
    // The samples' 08:00-22:00 window with 24 hours to go, due at 08:30: its window opens the
    // day (08:00, inside the expiry), not 09:00 (past it).
    assert_eq!(
        held("c-window", "window", "2026-12-02T07:30:00Z", "2026-12-02T07:30:00Z").await,
        Outcome::Deferred { until: utc("2026-12-03T07:00:00Z") }
    );
    // A window that closes at 08:30: 06:00 tomorrow, not a day later.
    assert_eq!(
        held("c-dawn", "dawn", "2026-12-02T06:00:00Z", "2026-12-02T06:00:00Z").await,
        Outcome::Deferred { until: utc("2026-12-03T05:00:00Z") }
    );
    // No zone: 10:30 in New York tomorrow (15:30 UTC), not 10:30 UTC (05:30 there).
    assert_eq!(
        held("c-us", "us", "2026-12-02T15:00:00Z", "2026-12-02T15:00:00Z").await,
        Outcome::Deferred { until: utc("2026-12-03T15:30:00Z") }
    );
    let (decisions, _) =
        trace::of(&d.store, &crate::ids::CustomerId::new("c-us").expect("id"), None).await.expect("trace");
    assert!(
        decisions
            .iter()
            .any(|x| x.reasons.iter().any(|r| r.contains("kept at the campaign's 10:30 (America/New_York)"))),
        "{decisions:?}"
    );
}

/// Five sends of one customer due in the same minute and a daily cap of two, dispatched by a
/// tick that works eight sends at once: the two that have waited longest go, never whichever
/// won a race (and never the first by name).
pub async fn a_cap_goes_to_the_sends_waiting_longest<S: Store + 'static>(store: S) {
    let now = utc("2026-12-02T10:00:00Z");
    customer(&store, "c-order", "Europe/Berlin", "DE", "+4915112345678", now - Duration::hours(3)).await;
    let campaigns: Vec<Campaign> = (0..5).map(|i| campaign(&format!("order-{i}"), "email", false)).collect();
    deploy(&store, &campaigns, now - Duration::days(1)).await;
    // Minutes each has waited (moved here by an earlier decision), by campaign.
    for (i, waited) in [20, 40, 10, 50, 30].into_iter().enumerate() {
        let first_due = now - Duration::minutes(waited);
        let due = DueSend {
            customer_id: CustomerId::new("c-order").expect("id"),
            campaign_id: CampaignId::new(format!("order-{i}")).expect("id"),
            occurrence: "x".into(),
            due_at: now,
            reason: "the cart was left".into(),
            created_at: first_due,
            campaign_version: Some(1),
            cause_at: Some(first_due - Duration::minutes(30)),
            product: None,
            placed: true,
            first_due_at: Some(first_due),
        };
        store.write(due.writes().expect("writes").into()).await.expect("queue");
    }
    let d = std::sync::Arc::new(Dispatcher::new(
        store,
        Recorder::default(),
        settings("email:2/day,3/week all:2/day,3/week"),
    ));
    let counts = d.run_due(now + Duration::minutes(3), 8).await.expect("run");
    let mut sent: Vec<String> =
        d.channel.sent.lock().expect("lock").iter().map(|e| e.campaign_id.to_string()).collect();
    sent.sort();
    assert_eq!(sent, ["order-1", "order-3"], "the two that waited 40 and 50 minutes: {counts:?}");
}

/// Every scenario as a test of the store `$make` builds (an expression giving a fresh store).
#[macro_export]
macro_rules! delivery_scenarios {
    ($make:expr) => {
        #[tokio::test]
        async fn delivery_replays_and_races_send_once() {
            $crate::delivery::scenarios::replays_and_races_send_once($make).await;
        }
        #[tokio::test]
        async fn delivery_quiet_hours_defer_to_the_first_allowed_minute() {
            $crate::delivery::scenarios::quiet_hours_defer_to_the_first_allowed_minute($make).await;
        }
        #[tokio::test]
        async fn delivery_caps_hold_under_a_race() {
            $crate::delivery::scenarios::caps_hold_under_a_race($make).await;
        }
        #[tokio::test]
        async fn delivery_suppression_expiry_and_pause_stop_sends() {
            $crate::delivery::scenarios::suppression_expiry_and_pause_stop_sends($make).await;
        }
        #[tokio::test]
        async fn delivery_a_held_send_waits_for_the_customers_day() {
            $crate::delivery::scenarios::a_held_send_waits_for_the_customers_day($make).await;
        }
        #[tokio::test]
        async fn delivery_held_sends_keep_the_campaigns_hours_and_expiry() {
            $crate::delivery::scenarios::held_sends_keep_the_campaigns_hours_and_expiry($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn delivery_a_cap_goes_to_the_sends_waiting_longest() {
            $crate::delivery::scenarios::a_cap_goes_to_the_sends_waiting_longest($make).await;
        }
        #[tokio::test]
        async fn delivery_send_time_audience_reads_the_posterior() {
            $crate::delivery::scenarios::send_time_audience_reads_the_posterior($make).await;
        }
    };
}

#[cfg(test)]
mod embedded {
    crate::delivery_scenarios!(crate::store::embedded::EmbeddedStore::new());
}
