//! Policy decisions in process, on one core: the quiet-hours rule and the consent rule for
//! marketing SMS and email at moments spread over a year, customers in many zones, a mix of
//! allowed and deferred sends.
//!
//! `cargo bench -p kairos --bench policy` reports decisions per second. Without `--bench` (as
//! `cargo test` runs it), a few thousand.

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use kairos::contact::Channel;
use kairos::delivery::caps::{Caps, Ledger};
use kairos::delivery::policy::{Ask, Rule, decide};
use kairos::delivery::quiet::{Verdict, check, rules_for};
use kairos::ids::{CustomerId, Topic};
use kairos::profile::Profile;
use kairos::profile::reach::{self, Purpose};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 2_000_000 } else { 2_000 };
    let zones: Vec<Tz> =
        ["America/New_York", "America/Chicago", "Europe/Paris", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"]
            .iter()
            .map(|z| z.parse().unwrap())
            .collect();
    let rule_sets = [
        rules_for(Channel::Sms, Some("US"), Some("+13055550123")),
        rules_for(Channel::Sms, Some("US"), Some("+12015550123")),
        rules_for(Channel::Sms, Some("FR"), Some("+33612345678")),
        rules_for(Channel::Email, Some("DE"), None),
    ];
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let topic = Topic::new("marketing").unwrap();
    let profile = Profile::new(CustomerId::new("c-1").unwrap());
    let (mut deferred, mut allowed) = (0u64, 0u64);
    let began = Instant::now();
    for i in 0..n {
        // Moments 37 minutes apart: every hour of the day, weekdays, Sundays and holidays.
        let at = start + Duration::minutes(37 * i as i64);
        let tz = zones[i % zones.len()];
        match check(black_box(at), tz, &rule_sets[i % rule_sets.len()]) {
            Verdict::Allow => allowed += 1,
            Verdict::DeferUntil { .. } => deferred += 1,
            Verdict::Suppress { .. } => {}
        }
        black_box(reach::check(&profile, Purpose::Marketing, Some(&topic), Channel::Sms));
    }
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{n} rule evaluations (quiet hours and consent) in {seconds:.2} s: {:.0} per second on one core; {allowed} allowed, {deferred} deferred",
        n as f64 / seconds
    );
    // The whole policy for one channel, as dispatch asks it: consent, suppression, quiet hours
    // in the customer's zone, and the caps over a ledger of a busy week.
    let profiles: Vec<Profile> = zones.iter().enumerate().map(|(i, z)| consenting(i, z.name())).collect();
    let caps = Caps::default();
    let ledger = (0..5).fold(Ledger::default(), |l, d| l.with(Channel::Email, start + Duration::days(d)));
    // First the decisions alone (what a send's policy costs), then with every reason written
    // out as a sentence (what dispatch pays to keep the trace).
    for explain in [false, true] {
        let (mut sent, mut waited) = (0u64, 0u64);
        let began = Instant::now();
        for i in 0..n {
            let at = start + Duration::minutes(37 * i as i64);
            let channel = if i % 2 == 0 { Channel::Sms } else { Channel::Email };
            let d = decide(black_box(&Ask {
                profile: &profiles[i % profiles.len()],
                purpose: Purpose::Marketing,
                topic: Some(&topic),
                channel,
                at,
                campaign_window: None,
                caps: &caps,
                ledger: &ledger,
                cap_transactional: false,
            }));
            if explain {
                black_box(d.explained());
            }
            match d.rule {
                Rule::Allow => sent += 1,
                Rule::DeferUntil(_) => waited += 1,
                Rule::Suppress => {}
            }
        }
        let seconds = began.elapsed().as_secs_f64();
        println!(
            "{n} policy decisions (consent, suppression, quiet hours, caps){} in {seconds:.2} s: {:.0} per second on one core; {sent} allowed, {waited} deferred",
            if explain { " with their reasons written out, as dispatch traces them" } else { "" },
            n as f64 / seconds
        );
    }
}

/// A customer in `zone` with an email and a US number, consenting to marketing on both.
fn consenting(i: usize, zone: &str) -> Profile {
    let mut p = Profile::new(CustomerId::new(format!("c-{i}")).unwrap());
    let at = "2025-12-01T10:00:00Z";
    let events = [
        serde_json::json!({"type": "customer_updated", "data": {"email": format!("c{i}@example.com"), "phone": "+12015550123", "time_zone": zone, "country": "US"}}),
        serde_json::json!({"type": "consent_changed", "data": {"channel": "email", "topic": "marketing", "status": "granted", "source": "form"}}),
        serde_json::json!({"type": "consent_changed", "data": {"channel": "sms", "topic": "marketing", "status": "granted", "source": "form"}}),
    ];
    for (n, e) in events.into_iter().enumerate() {
        let mut e = e;
        e["schema_version"] = 1.into();
        e["id"] = format!("e{n}").into();
        e["customer_id"] = format!("c-{i}").into();
        e["occurred_at"] = at.into();
        e["source"] = "web".into();
        let now = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc);
        if let Ok(kairos::event::Inbound::Customer(e)) = kairos::event::parse_inbound(&e.to_string(), now) {
            p.apply(&e).unwrap();
        }
    }
    p
}
