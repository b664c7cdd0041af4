//! Loyalty against the emulator: accrual through the ingest handler, redemptions through the
//! redemption handler (concurrently), the nightly job through the runner, the ledger read back
//! and summed every time.

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use chrono::{DateTime, Duration, Utc};
use kairos::clock::ManualClock;
use kairos::ids::CustomerId;
use kairos::jobs::local::LocalQueue;
use kairos::jobs::runner::{Runner, drain};
use kairos::loyalty::accounts::{self, Statement, statement};
use kairos::loyalty::job::{LoyaltyJob, RunModel};
use kairos::loyalty::{DeployedProgram, ProgramCache, program, stored};
use kairos::store::dynamo::DynamoStore;
use kairos_tests::{failed_ids, shop_event as event};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

const PROGRAM: &str = "
id: club
name: Club
currency: EUR
points_per_unit: 1
currencies: {JPY: 0.01}
earn:
  - {id: shoes, category: Shoes, multiplier: 2, stop: true}
  - {id: base, multiplier: 1}
  - {id: first, action: first_order, points: 100}
  - {id: review, action: review, points: 50}
  - {id: birthday, action: birthday, points: 25}
pending_days: 14
expiry: {months: 2, notice_days: 20}
tiers:
  qualify_by: points
  window_months: 2
  levels:
    - {id: member, name: Member, min: 0}
    - {id: silver, name: Silver, min: 300, earn_multiplier: 1.5}
  downgrade: {grace_days: 0}
rewards:
  - {id: coffee, name: A coffee, cost: 100, gives: free_shipping, code_prefix: CAFE}
  - {id: big, name: Something big, cost: 100000, gives: {percent_off: 20}}
";

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

async fn shop(yaml: &str) -> (DynamoStore, DeployedProgram) {
    let store = kairos_tests::fresh_store().await;
    let (p, problems) = program::read("club.yaml", yaml);
    assert!(problems.is_empty(), "{problems:?}");
    stored::deploy(&store, &p.unwrap(), Utc::now()).await.unwrap();
    let deployed = stored::current(&store).await.unwrap().unwrap();
    (store, deployed)
}

fn ingest_deps(store: DynamoStore, now: DateTime<Utc>) -> kairos_ingest::Deps<DynamoStore, ManualClock> {
    kairos_ingest::Deps { store, config: Default::default(), clock: ManualClock::new(now) }
}

fn order(id: &str, customer: &str, at: &str, lines: Value) -> String {
    event(id, customer, at, "order_placed", json!({"order_id": format!("o-{id}"), "currency": "EUR", "lines": lines}))
}

fn line(product: &str, category: &str, price: &str, quantity: u32) -> Value {
    json!({"product_id": product, "category": category, "unit_price": price, "quantity": quantity})
}

async fn ledger(store: &DynamoStore, customer: &str) -> Statement {
    let s = statement(store, &CustomerId::new(customer).unwrap()).await.unwrap();
    if let Some(a) = &s.account {
        a.check_sums(&s.entries).unwrap_or_else(|e| panic!("{customer}: {e}"));
        assert!(a.consistent(), "{customer}: {a:?}");
    }
    s
}

fn balances(s: &Statement) -> (i64, i64) {
    let a = s.account.as_ref().expect("an account");
    (a.pending_points(), a.active_points())
}

#[tokio::test]
async fn accrual_batches_delivered_three_times_give_the_same_ledger() {
    let (store, _) = shop(PROGRAM).await;
    let now = t("2026-11-20T12:00:00Z");
    let deps = ingest_deps(store, now);
    let bodies = vec![
        order(
            "e1",
            "c1",
            "2026-11-01T10:00:00+01:00",
            json!([line("run-1", "Shoes", "60.00", 1), line("sock", "Socks", "9.99", 2)]),
        ),
        order("e2", "c1", "2026-11-10T10:00:00+01:00", json!([line("tee", "Tops", "25", 1)])),
        event(
            "e3",
            "c1",
            "2026-11-11T10:00:00Z",
            "order_refunded",
            json!({"order_id": "o-e2", "refund_id": "r1", "scope": "whole"}),
        ),
        event(
            "e4",
            "c1",
            "2026-11-12T10:00:00Z",
            "action_performed",
            json!({"action": "review", "reference": "rev-1"}),
        ),
        // The same review sent again under another event id: one bonus.
        event(
            "e5",
            "c1",
            "2026-11-12T10:05:00Z",
            "action_performed",
            json!({"action": "review", "reference": "rev-1"}),
        ),
        event("e6", "c1", "2026-11-12T11:00:00Z", "action_performed", json!({"action": "quiz"})),
        // A refund that arrives before its order, in a JPY order of another customer.
        event(
            "e7",
            "c2",
            "2026-11-15T10:00:00Z",
            "order_refunded",
            json!({"order_id": "o-e8", "refund_id": "r2", "scope": "lines", "lines": [{"product_id": "bag", "quantity": 1}]}),
        ),
        event(
            "e8",
            "c2",
            "2026-11-14T10:00:00Z",
            "order_placed",
            json!({"order_id": "o-e8", "currency": "JPY", "lines": [line("bag", "Bags", "5000", 2), line("pin", "Bags", "1000", 1)]}),
        ),
    ];
    // One record each, as a busy queue would deliver them (the refund first, before its order).
    let mut first = None;
    for round in 0..3 {
        let mut order: Vec<&String> = bodies.iter().collect();
        if round == 1 {
            order.reverse();
        }
        for body in order {
            let batch = kairos_tests::named(std::slice::from_ref(body), &format!("r{round}"));
            let response = kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&batch)).await.unwrap();
            assert!(failed_ids(&response).is_empty());
        }
        let seen = (ledger(&deps.store, "c1").await, ledger(&deps.store, "c2").await);
        let snapshot = (seen.0.entries.len(), balances(&seen.0), seen.1.entries.len(), balances(&seen.1));
        match &first {
            None => first = Some(snapshot),
            Some(f) => assert_eq!(f, &snapshot, "delivery {round} changed the ledger"),
        }
    }
    let c1 = ledger(&deps.store, "c1").await;
    // e1: shoes 60 × 2 = 120, socks 19.98 → 19, and the first-order bonus of 100 with them,
    // released on 16 November (before "now"); e2: 25, all reversed; the review +50 once; a quiz
    // earns nothing (no rule).
    assert_eq!(balances(&c1), (0, 289));
    let causes: Vec<&str> = c1.entries.iter().map(|e| e.cause.as_str()).collect();
    assert_eq!(
        causes,
        [
            "order o-e1",
            "release of points pending until 2026-11-16",
            "order o-e2",
            "refund r1 of order o-e2",
            "review rev-1"
        ]
    );
    let c2 = ledger(&deps.store, "c2").await;
    // 11,000 JPY at 0.01 = 110 points and the first-order bonus of 100; one bag of the two
    // (5,000 of the 11,000 JPY paid) was refunded before the order came: that share (45%) of the
    // 210, 95 points, is taken at once.
    assert_eq!(balances(&c2).0, 115);
    assert_eq!(c2.account.unwrap().totals.reversed, 95);
}

async fn redeem_call(deps: &kairos_redeem::Deps<DynamoStore>, body: &str, now: DateTime<Utc>) -> (i64, Value) {
    let payload = json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}, "timeEpoch": 0},
        "body": body, "isBase64Encoded": false,
    });
    let request: LambdaFunctionUrlRequest = serde_json::from_value(payload).unwrap();
    let response =
        kairos_redeem::handle(deps, LambdaEvent::new(request, kairos_tests::lambda_context()), now).await.unwrap();
    (response.status_code, serde_json::from_str(&response.body.unwrap()).unwrap())
}

#[tokio::test]
async fn fifty_concurrent_redemptions_never_drive_the_balance_below_zero() {
    let (store, deployed) = shop(PROGRAM).await;
    let now = t("2026-11-20T12:00:00Z");
    let c = CustomerId::new("hot").unwrap();
    // 1,050 points: ten coffees, and 50 left.
    accounts::adjust(&store, &deployed.program, &c, 1050, "opening balance", "test", "open", now).await.unwrap();
    let deps = Arc::new(kairos_redeem::Deps { store, program: ProgramCache::default(), secret: b"s".to_vec() });
    let calls = (0..50).map(|i| {
        let deps = deps.clone();
        tokio::spawn(async move {
            let body =
                json!({"customer_id": "hot", "reward_id": "coffee", "idempotency_key": format!("k{i}")}).to_string();
            redeem_call(&deps, &body, now).await
        })
    });
    let answers: Vec<(i64, Value)> = futures::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused = answers.iter().filter(|(s, b)| *s == 409 && b["error"]["code"] == "insufficient_points").count();
    assert_eq!((ok, refused), (10, 40), "{answers:?}");
    let s = ledger(&deps.store, "hot").await;
    assert_eq!(balances(&s), (0, 50));
    assert_eq!(s.entries.iter().filter(|e| e.kind == kairos::loyalty::ledger::EntryKind::Redeem).count(), 10);
    // Every code differs; the balances each answer gave are distinct points of one sequence.
    let mut codes: Vec<&str> =
        answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b["reward"]["code"].as_str().unwrap()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 10);
}

#[tokio::test]
async fn malformed_and_repeated_requests_get_their_answers_and_change_nothing() {
    let (store, deployed) = shop(PROGRAM).await;
    let now = t("2026-11-20T12:00:00Z");
    let c = CustomerId::new("c1").unwrap();
    accounts::adjust(&store, &deployed.program, &c, 250, "opening balance", "test", "open", now).await.unwrap();
    let deps = kairos_redeem::Deps { store, program: ProgramCache::default(), secret: b"s".to_vec() };
    let before = ledger(&deps.store, "c1").await.entries.len();
    let cases = [
        ("{\"customer_id\": \"c1\"", 400, "."),
        (r#"{"customer_id": "c1", "reward_id": "coffee"}"#, 400, "idempotency_key"),
        (r#"{"customer_id": "c 1", "reward_id": "coffee", "idempotency_key": "k"}"#, 400, "customer_id"),
        (r#"{"customer_id": "c1", "reward_id": "coffee", "idempotency_key": "k", "points": 1}"#, 400, "points"),
        (r#"{"customer_id": "c1", "reward_id": "yacht", "idempotency_key": "k"}"#, 404, "reward_id"),
        (r#"{"customer_id": "nobody", "reward_id": "coffee", "idempotency_key": "k"}"#, 404, "customer_id"),
    ];
    for (body, status, field) in cases {
        let (got, answer) = redeem_call(&deps, body, now).await;
        assert_eq!((got, answer["error"]["field"].as_str()), (status, Some(field)), "{body}: {answer}");
    }
    let (status, answer) =
        redeem_call(&deps, r#"{"customer_id": "c1", "reward_id": "big", "idempotency_key": "k0"}"#, now).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("insufficient_points")));
    assert_eq!(ledger(&deps.store, "c1").await.entries.len(), before, "no answer above wrote anything");
    let body = r#"{"customer_id": "c1", "reward_id": "coffee", "idempotency_key": "k1"}"#;
    let first = redeem_call(&deps, body, now).await;
    assert_eq!(first.0, 200);
    assert_eq!(first.1["balances"]["active"], 150);
    // The same key again, later: the same answer, nothing spent.
    let again = redeem_call(&deps, body, now + Duration::minutes(5)).await;
    assert_eq!(again, first);
    // The same key for another reward: refused, named.
    let other = redeem_call(&deps, r#"{"customer_id": "c1", "reward_id": "big", "idempotency_key": "k1"}"#, now).await;
    assert_eq!((other.0, other.1["error"]["field"].as_str()), (400, Some("idempotency_key")));
    let s = ledger(&deps.store, "c1").await;
    assert_eq!((s.entries.len(), balances(&s)), (before + 1, (0, 150)));
}

/// The nightly job over the table at `now`.
async fn night(store: &DynamoStore, deployed: &DeployedProgram, now: DateTime<Utc>) {
    let queue = LocalQueue::new();
    let job = LoyaltyJob;
    let runner = Runner { store, queue: &queue, job: &job };
    let run = now.format("%Y-%m-%dT%H-%M").to_string();
    runner.start_with_model(&run, 2, &RunModel { program: Some(deployed.clone()) }, now).await.unwrap();
    drain(&runner, now).await.unwrap();
}

#[tokio::test]
async fn a_refund_after_a_partial_redemption_takes_what_is_left_and_records_the_shortfall() {
    let (store, deployed) = shop(&PROGRAM.replace("pending_days: 14", "pending_days: 0")).await;
    let now = t("2026-11-20T12:00:00Z");
    let deps = ingest_deps(store, now);
    let body = order("e1", "c1", "2026-11-19T10:00:00Z", json!([line("tee", "Tops", "180", 1)]));
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[body], "m"))).await.unwrap();
    // 180 for the order and 100 for the first order (part of it), active at once (no return
    // window).
    assert_eq!(balances(&ledger(&deps.store, "c1").await), (0, 280));
    let request =
        kairos::loyalty::redeem::parse(br#"{"customer_id": "c1", "reward_id": "coffee", "idempotency_key": "a"}"#)
            .unwrap();
    for key in ["a", "b"] {
        let mut r = request.clone();
        r.idempotency_key = kairos::loyalty::redeem::IdempotencyKey::try_from(key.to_string()).unwrap();
        assert_eq!(accounts::redeem(&deps.store, Some(&deployed), &r, b"s", now).await.unwrap().status, 200);
    }
    let refund = event(
        "e2",
        "c1",
        "2026-11-20T11:00:00Z",
        "order_refunded",
        json!({"order_id": "o-e1", "refund_id": "r1", "scope": "whole"}),
    );
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[refund], "m"))).await.unwrap();
    let s = ledger(&deps.store, "c1").await;
    let reversal = s.entries.last().unwrap();
    // All 280 go back with the whole order (its first-order bonus too); 80 were left: taken,
    // the other 200 recorded as already spent.
    assert_eq!((reversal.active, reversal.shortfall), (-80, 200));
    assert_eq!(balances(&s), (0, 0));
    assert_eq!(s.account.as_ref().unwrap().totals.shortfall, 200);
    let _ = deployed;
}

#[tokio::test]
async fn pending_points_release_at_the_boundary_and_lots_expire_oldest_first() {
    let (store, deployed) = shop(PROGRAM).await;
    let day1 = t("2026-09-10T10:00:00Z");
    let deps = ingest_deps(store, day1 + Duration::hours(1));
    let first = order("e1", "c1", "2026-09-10T10:00:00Z", json!([line("tee", "Tops", "40", 1)]));
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[first], "m"))).await.unwrap();
    let store = &deps.store;
    // Earned 10 September with 14 days pending: spendable from 25 September, 00:00 UTC.
    night(store, &deployed, t("2026-09-24T23:59:00Z")).await;
    assert_eq!(
        balances(&ledger(store, "c1").await),
        (140, 0),
        "the order's points (and its first-order bonus) still pending"
    );
    night(store, &deployed, t("2026-09-25T00:00:00Z")).await;
    assert_eq!(balances(&ledger(store, "c1").await), (0, 140));
    deps.clock.set(t("2026-10-05T10:00:00Z"));
    let second = order("e2", "c1", "2026-10-05T10:00:00Z", json!([line("cap", "Tops", "30", 1)]));
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[second], "m"))).await.unwrap();
    assert_eq!(balances(&ledger(store, "c1").await), (30, 140));
    // September's lot (40, and the first-order bonus of 100) expires at the end of November
    // (two months), October's at the end of December: oldest first.
    night(store, &deployed, t("2026-11-15T03:00:00Z")).await;
    let s = ledger(store, "c1").await;
    let a = s.account.as_ref().unwrap();
    assert_eq!(a.expiring.as_ref().map(|e| (e.on.to_string(), e.points)), Some(("2026-12-01".to_string(), 140)));
    night(store, &deployed, t("2026-12-01T00:30:00Z")).await;
    assert_eq!(balances(&ledger(store, "c1").await), (0, 30));
    night(store, &deployed, t("2027-01-01T00:30:00Z")).await;
    let s = ledger(store, "c1").await;
    assert_eq!(balances(&s), (0, 0));
    let expired: Vec<i64> =
        s.entries.iter().filter(|e| e.kind == kairos::loyalty::ledger::EntryKind::Expire).map(|e| e.active).collect();
    assert_eq!(expired, [-140, -30]);
    // A night that changes nothing writes nothing.
    let before = ledger(store, "c1").await.entries.len();
    night(store, &deployed, t("2027-01-02T00:30:00Z")).await;
    assert_eq!(ledger(store, "c1").await.entries.len(), before);
}

#[tokio::test]
async fn tiers_move_up_at_once_and_down_when_the_window_passes_in_the_members_zone() {
    let (store, deployed) = shop(PROGRAM).await;
    let deps = ingest_deps(store, t("2026-02-01T05:00:00Z"));
    let zone = event("e0", "ny", "2026-01-05T10:00:00Z", "customer_updated", json!({"time_zone": "America/New_York"}));
    // 23:30 on 31 January in New York is February in UTC: it counts for January there.
    let late = order("e1", "ny", "2026-01-31T23:30:00-05:00", json!([line("boot", "Shoes", "160", 1)]));
    for body in [zone, late] {
        kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[body], "m"))).await.unwrap();
    }
    let store = &deps.store;
    let tier = |s: &Statement| s.account.as_ref().and_then(|a| a.tier.as_ref()).map(|t| t.id.clone());
    // 320 + 100 (first order) in January: silver at once.
    assert_eq!(tier(&ledger(store, "ny").await).as_deref(), Some("silver"));
    // The window is this month and the one before, in New York: on 28 February January still
    // counts; at 00:30 UTC on 1 March it is 19:30 on 28 February there (after the DST-free
    // winter offset), still February.
    night(store, &deployed, t("2026-02-28T12:00:00Z")).await;
    night(store, &deployed, t("2026-03-01T00:30:00Z")).await;
    assert_eq!(tier(&ledger(store, "ny").await).as_deref(), Some("silver"));
    // 1 March in New York: January has left the window; no grace: down to member.
    night(store, &deployed, t("2026-03-01T06:00:00Z")).await;
    let s = ledger(store, "ny").await;
    assert_eq!(tier(&s).as_deref(), Some("member"));
    let events: Vec<String> = s.account.unwrap().events.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    // After the spring change (8 March), an order at 23:30 on 31 March New York time (03:30 UTC on
    // 1 April) counts for March there, and with it the window qualifies again.
    deps.clock.set(t("2026-04-01T04:00:00Z"));
    let march = order("e2", "ny", "2026-03-31T23:30:00-04:00", json!([line("boot2", "Shoes", "150", 1)]));
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[march], "m"))).await.unwrap();
    let s = ledger(store, "ny").await;
    assert_eq!(tier(&s).as_deref(), Some("silver"));
    let months: Vec<String> = s.account.unwrap().months.iter().map(|m| m.month.to_string()).collect();
    assert!(months.contains(&"2026-03".to_string()), "{months:?}");
}

#[tokio::test]
async fn the_stream_record_of_a_tier_change_queues_the_campaign_once() {
    let (store, _) = shop(PROGRAM).await;
    let campaign = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/tier-changed.yaml"))
        .unwrap()
        .replace("to: gold", "to: silver");
    let (c, problems) = kairos::campaign::load::read("tier.yaml", &campaign);
    assert!(problems.iter().all(|p| p.severity != kairos::findings::Severity::Error), "{problems:?}");
    kairos::campaign::stored::deploy(&store, &c.unwrap(), Utc::now()).await.unwrap();
    let now = Utc::now();
    let deps = ingest_deps(store, now);
    let big = order("e1", "vip", &now.to_rfc3339(), json!([line("boot", "Shoes", "200", 1)]));
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&[big], "m"))).await.unwrap();
    let key = kairos::keys::loyalty_account(&CustomerId::new("vip").unwrap());
    let new = kairos::store::Store::get(&deps.store, &key).await.unwrap().unwrap();
    let record = kairos::campaign::triggers::Record { key, old: None, new: Some(new) };
    let (campaigns, _) = kairos::campaign::stored::current(&deps.store).await.unwrap();
    for round in 0..2 {
        let outcome = kairos::campaign::triggers::handle(&deps.store, &campaigns, &record, now).await.unwrap();
        assert_eq!((outcome.queued, outcome.already), if round == 0 { (1, 0) } else { (0, 1) });
    }
}

/// `kairos campaigns audience` counts who an audience on loyalty tiers holds as a scheduled run
/// would (the member's account joined with their profile), not nobody.
#[tokio::test]
async fn an_audience_on_a_tier_is_counted_from_the_members_accounts() {
    let (store, _) = shop(PROGRAM).await;
    let now = Utc::now();
    let deps = ingest_deps(store, now);
    let at = now.to_rfc3339();
    let events = [
        // 200 × 2 (shoes) + 100 for the first order: silver.
        order("a1", "aud-vip", &at, json!([line("boot", "Shoes", "200", 1)])),
        // 10 + 100: a member.
        order("a2", "aud-small", &at, json!([line("cap", "Hats", "10", 1)])),
        // No order: no account at all.
        event("a3", "aud-browser", &at, "product_viewed", json!({"product_id": "boot"})),
    ];
    kairos_ingest::handle(&deps, kairos_tests::sqs_batch(&kairos_tests::named(&events, "aud"))).await.unwrap();
    let text = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/winter-sale.yaml"))
        .unwrap()
        .replace("    - country: [DE, AT]\n    - language: [de]", "    - loyalty_tier: [silver]");
    assert!(text.contains("loyalty_tier: [silver]"));
    let (campaign, problems) = kairos::campaign::load::read("tier-sale.yaml", &text);
    assert!(problems.iter().all(|p| p.severity != kairos::findings::Severity::Error), "{problems:?}");
    let campaign = campaign.unwrap();
    let count = kairos::campaign::audience_scan::count(&deps.store, &campaign, 10, now).await.unwrap();
    assert_eq!((count.matched, count.customers, count.unreadable), (1, 3, 0), "{count:?}");
    assert_eq!(count.sample, [CustomerId::new("aud-vip").unwrap()]);
}

#[test]
fn the_committed_program_schema_is_the_generated_one_and_an_independent_validator_agrees() {
    let root = kairos_tests::repo_root();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("schema/loyalty.v1.json")).unwrap()).unwrap();
    assert_eq!(
        committed,
        program::json_schema(),
        "schema/loyalty.v1.json is stale: regenerate it with `cargo run -p kairos-cli -- loyalty schema > schema/loyalty.v1.json`"
    );
    let sample =
        kairos::yaml::read(&std::fs::read_to_string(root.join("loyalty/program.yaml")).unwrap()).unwrap().value;
    let mut docs: Vec<(&str, Value)> = vec![("valid", sample.clone())];
    let mut with = |what, f: &dyn Fn(&mut Value)| {
        let mut d = sample.clone();
        f(&mut d);
        docs.push((what, d));
    };
    with("no currency", &|d| {
        d.as_object_mut().unwrap().remove("currency");
    });
    with("unknown field", &|d| d["colour"] = json!("red"));
    with("a rule without an id", &|d| {
        d["earn"][0].as_object_mut().unwrap().remove("id");
    });
    with("qualify by visits", &|d| d["tiers"]["qualify_by"] = json!("visits"));
    with("a reward giving a yacht", &|d| d["rewards"][0]["gives"] = json!({"yacht": true}));
    with("a negative cost", &|d| d["rewards"][0]["cost"] = json!(-5));
    let verdicts = kairos_tests::schema_verdicts("schema/loyalty.v1.json", docs.iter().map(|(_, d)| d));
    for ((what, doc), verdict) in docs.iter().zip(&verdicts) {
        let (read, problems) = program::read("doc.yaml", &serde_json::to_string(doc).unwrap());
        assert_eq!(read.is_some(), verdict == "valid", "{what}: the reader says {problems:?}, the schema {verdict}");
        assert_eq!(read.is_some(), *what == "valid", "{what}");
    }
}
