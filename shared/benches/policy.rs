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
        "{n} decisions (quiet hours and consent) in {seconds:.2} s: {:.0} per second on one core; {allowed} allowed, {deferred} deferred",
        n as f64 / seconds
    );
}
