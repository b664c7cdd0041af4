//! The delivery property: over random customers (zones with and without DST, or none; US,
//! Florida, French and German numbers; consents granted, withdrawn or missing; suppressed
//! addresses), random campaigns (channels, marketing or transactional, their own quiet hours)
//! and random due times (DST changes included), every message that went had consent, was not
//! in anyone's quiet hours, kept every cap and did not go to a suppressed address — checked by
//! an oracle written apart from the policy — and every send's fate is in the trace.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::dispatch::Dispatcher;
use super::scenarios::{Recorder, campaign, settings};
use super::trace::{self, Outcome};
use crate::campaign::{Kind, QuietHours};
use crate::contact::Channel;
use crate::store::embedded::EmbeddedStore;

const ZONES: [Option<&str>; 6] = [
    Some("America/New_York"),
    Some("America/Los_Angeles"),
    Some("Europe/Paris"),
    Some("Asia/Tokyo"),
    Some("Australia/Sydney"),
    None,
];
/// (country, phone): New York, Miami (Florida), Paris, Berlin.
const NUMBERS: [(&str, &str); 4] =
    [("US", "+12125550100"), ("US", "+13055550100"), ("FR", "+33612345678"), ("DE", "+4915112345678")];

#[derive(Clone, Debug)]
struct Person {
    zone: Option<&'static str>,
    number: usize,
    /// Per channel (email, sms): granted, revoked, none.
    consent: [u8; 2],
    suppressed: [bool; 2],
}

fn person() -> impl Strategy<Value = Person> {
    (0..ZONES.len(), 0..NUMBERS.len(), [0u8..3, 0u8..3], [prop::bool::weighted(0.15), prop::bool::weighted(0.15)])
        .prop_map(|(z, number, consent, suppressed)| Person { zone: ZONES[z], number, consent, suppressed })
}

#[derive(Clone, Debug)]
struct Plan {
    channels: usize,
    transactional: bool,
    window: Option<(u32, u32)>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (0usize..3, prop::bool::weighted(0.2), prop::option::weighted(0.3, (6u32..12, 14u32..23)))
        .prop_map(|(channels, transactional, window)| Plan { channels, transactional, window })
}

use super::oracle::law_allows;

fn zones_of(p: &Person) -> Vec<chrono_tz::Tz> {
    match p.zone {
        Some(z) => vec![z.parse().unwrap()],
        None => match NUMBERS[p.number].0 {
            "US" => [
                "America/New_York",
                "America/Chicago",
                "America/Denver",
                "America/Los_Angeles",
                "America/Anchorage",
                "Pacific/Honolulu",
            ]
            .iter()
            .map(|z| z.parse().unwrap())
            .collect(),
            "FR" => vec![chrono_tz::Europe::Paris],
            "DE" => vec![chrono_tz::Europe::Berlin],
            _ => vec![chrono_tz::UTC],
        },
    }
}

async fn shop(store: &EmbeddedStore, people: &[Person], at: DateTime<Utc>) {
    let mut events = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let id = format!("p-{i}");
        let (country, phone) = NUMBERS[p.number];
        let mut details = serde_json::json!({"email": format!("{id}@example.com"), "phone": phone, "country": country});
        if let Some(z) = p.zone {
            details["time_zone"] = z.into();
        }
        // Details first: a suppression names the address on record then.
        let ev = |n: &str, kind: &str, data: serde_json::Value| {
            let at = if kind == "customer_updated" { at } else { at + Duration::seconds(1) };
            serde_json::json!({"schema_version": 1, "id": format!("{id}-{n}"), "customer_id": id, "occurred_at": at.to_rfc3339(),
                "source": "web", "type": kind, "data": data})
        };
        events.push(ev("u", "customer_updated", details));
        for (c, ch) in ["email", "sms"].iter().enumerate() {
            if p.consent[c] < 2 {
                let status = if p.consent[c] == 0 { "granted" } else { "revoked" };
                events.push(ev(
                    &format!("k{c}"),
                    "consent_changed",
                    serde_json::json!({"channel": ch, "topic": "marketing", "status": status, "source": "form"}),
                ));
            }
            if p.suppressed[c] {
                let reason = if c == 0 { "hard_bounce" } else { "sms_stop" };
                events.push(ev(
                    &format!("s{c}"),
                    "suppression_changed",
                    serde_json::json!({"channel": ch, "status": "suppressed", "reason": reason}),
                ));
            }
        }
    }
    let clock = crate::clock::ManualClock::new(at + Duration::minutes(1));
    let bodies: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let records: Vec<crate::ingest::Record> =
        bodies.iter().map(|b| crate::ingest::Record { id: "r", body: b }).collect();
    let report = crate::ingest::ingest_batch(store, &clock, &crate::ingest::IngestConfig::default(), &records).await;
    assert!(report.failures.is_empty() && report.rejected.is_empty(), "{:?} {:?}", report.failures, report.rejected);
}

const CHANNELS: [&str; 3] = ["email", "sms", "sms, email"];
const CAPS: &str = "email:1/day,2/week sms:1/day,2/week all:2/day,3/week";

async fn run(people: Vec<Person>, plans: Vec<Plan>, starts: Vec<i64>) -> Result<(), TestCaseError> {
    // Around the 2026 autumn DST changes (Europe 25 October, US 1 November) and a French holiday
    // (11 November), at any minute.
    let base = DateTime::parse_from_rfc3339("2026-10-24T00:00:00Z").unwrap().with_timezone(&Utc);
    let store = EmbeddedStore::new();
    shop(&store, &people, base - Duration::days(1)).await;
    let mut campaigns = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let mut c = campaign(&format!("c{i}"), CHANNELS[p.channels], p.transactional);
        c.quiet_hours =
            p.window.map(|(f, u)| QuietHours { send_from: format!("{f:02}:00"), send_until: format!("{u:02}:00") });
        crate::campaign::stored::deploy(&store, &c, base - Duration::days(1)).await.unwrap();
        campaigns.push(c);
    }
    let d = Dispatcher::new(store, Recorder::default(), settings(CAPS));
    let mut queued = Vec::new();
    for (n, start) in starts.iter().enumerate() {
        let at = base + Duration::minutes(*start);
        let person = n % people.len();
        let c = n % campaigns.len();
        let due =
            super::scenarios::queue(&d.store, &format!("p-{person}"), &format!("c{c}"), &format!("o{n}"), at).await;
        queued.push(due);
    }
    // In time order, as the clock runs: each send at its due time, each deferral at the moment
    // it moved to.
    let mut pending: Vec<(DateTime<Utc>, crate::due::DueSend)> = queued.iter().map(|q| (q.due_at, q.clone())).collect();
    let mut steps = 0;
    while !pending.is_empty() {
        steps += 1;
        prop_assert!(steps < 1000, "deferrals never end");
        pending.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        let Some((t, due)) = pending.pop() else { break };
        match d.send(&due, t).await {
            Ok(Outcome::Deferred { until }) => {
                DEFERRED.fetch_add(1, Ordering::SeqCst);
                prop_assert!(until > t, "a deferral moves forward");
                pending.push((until, due.moved_to(until)));
            }
            Ok(_) => {}
            Err(e) => return Err(TestCaseError::fail(format!("a send failed: {e}"))),
        }
    }
    // The oracle, over everything that went.
    let sent = d.channel.sent.lock().unwrap().clone();
    SENT.fetch_add(sent.len(), Ordering::SeqCst);
    let mut per_day: BTreeMap<(String, String, chrono::NaiveDate), u32> = BTreeMap::new();
    let mut times: BTreeMap<(String, String), Vec<DateTime<Utc>>> = BTreeMap::new();
    for e in &sent {
        let i: usize = e.customer_id.as_str()[2..].parse().unwrap();
        let p = &people[i];
        let c: usize = e.campaign_id.as_str()[1..].parse().unwrap();
        let plan = &plans[c];
        let at = e.sent_at.with_timezone(&Utc);
        let ch = if e.channel == Channel::Email { 0 } else { 1 };
        prop_assert!(!p.suppressed[ch], "to a suppressed address: {e:?}");
        if e.kind == Kind::Marketing {
            prop_assert!(p.consent[ch] == 0, "without consent: {e:?} {p:?}");
            let (country, phone) = NUMBERS[p.number];
            for tz in zones_of(p) {
                let local = at.with_timezone(&tz).naive_local();
                if e.channel == Channel::Sms {
                    prop_assert!(
                        law_allows(country, phone, local),
                        "in the law's quiet hours: {e:?} at {local} ({tz})"
                    );
                }
                if let Some((f, u)) = plan.window {
                    prop_assert!((f..u).contains(&local.hour()), "outside the campaign's hours: {e:?} at {local}");
                }
            }
            let tz = zones_of(p)[0];
            for key in [e.channel.as_str().to_string(), "all".to_string()] {
                *per_day
                    .entry((e.customer_id.to_string(), key.clone(), at.with_timezone(&tz).date_naive()))
                    .or_default() += 1;
                times.entry((e.customer_id.to_string(), key)).or_default().push(at);
            }
        }
    }
    for ((who, scope, day), n) in &per_day {
        let cap = if scope == "all" { 2 } else { 1 };
        prop_assert!(*n <= cap, "{who}: {n} {scope} messages on {day}");
    }
    for ((who, scope), mut ts) in times {
        ts.sort();
        let cap = if scope == "all" { 3 } else { 2 };
        for (i, t) in ts.iter().enumerate() {
            let in_week = ts[..=i].iter().filter(|s| **s > *t - Duration::days(7)).count();
            prop_assert!(in_week <= cap, "{who}: {in_week} {scope} messages in the 7 days to {t}");
        }
    }
    // Every send's fate is explained.
    for q in &queued {
        let (decisions, problems) = trace::of(&d.store, &q.customer_id, Some(&q.campaign_id)).await.unwrap();
        prop_assert!(problems.is_empty());
        let mine: Vec<_> = decisions.into_iter().filter(|x| x.occurrence == q.occurrence).collect();
        prop_assert!(!mine.is_empty(), "no decision for {q:?}");
        let why = trace::answer(&q.customer_id, Some(&q.campaign_id), &mine);
        prop_assert!(why.contains(q.campaign_id.as_str()) && mine.iter().all(|x| !x.reasons.is_empty()), "{why}");
    }
    Ok(())
}

/// Messages sent and deferrals made over all cases: the property must not hold vacuously.
static SENT: AtomicUsize = AtomicUsize::new(0);
static DEFERRED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn no_message_breaks_consent_quiet_hours_caps_or_suppression() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
    let strategy = (
        prop::collection::vec(person(), 1..6),
        prop::collection::vec(plan(), 1..4),
        prop::collection::vec(0i64..(60 * 24 * 21), 1..30),
    );
    let result = runner.run(&strategy, |(people, plans, starts)| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(people, plans, starts))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (sent, deferred) = (SENT.load(Ordering::SeqCst), DEFERRED.load(Ordering::SeqCst));
    assert!(
        sent > 100 && deferred > 50,
        "too little went or waited to test anything: {sent} sent, {deferred} deferred"
    );
}
