//! The rules, checked from a simulation's files alone (`events.jsonl`, `outbox.jsonl`,
//! `accounts.jsonl`), apart from the code that applied them: no message without consent for its
//! channel and topic, none in quiet hours, none over a cap, none to a suppressed address, every
//! event applied once, every loyalty ledger adding up to its balances.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};
use serde_json::Value;

use crate::delivery::caps::{Caps, Limits};

/// What the checks found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Findings {
    pub messages: usize,
    pub events: usize,
    pub accounts: usize,
    /// Each message or customer that broke a rule, with the rule.
    pub violations: Vec<String>,
}

#[derive(Default)]
struct Person {
    country: Option<String>,
    phone: Option<String>,
    /// (channel, topic) → (when, granted), in time order.
    consents: BTreeMap<(String, String), Vec<(DateTime<Utc>, bool)>>,
    /// channel → (when, suppressed).
    suppressions: BTreeMap<String, Vec<(DateTime<Utc>, bool)>>,
    events: HashSet<String>,
}

fn at_of(v: &Value, field: &str) -> Option<DateTime<FixedOffset>> {
    v.get(field).and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
}

fn latest(list: Option<&Vec<(DateTime<Utc>, bool)>>, at: DateTime<Utc>) -> Option<bool> {
    list.and_then(|l| l.iter().filter(|(t, _)| *t <= at).max_by_key(|(t, _)| *t).map(|(_, v)| *v))
}

/// Hands each non-blank line of a JSON Lines file to `each`, parsed, one at a time: a large run's
/// events do not fit in memory as documents (ten thousand customers' took 3 GB).
fn each_line(path: &Path, mut each: impl FnMut(Value)) -> Result<(), String> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if !line.trim().is_empty() {
            each(serde_json::from_str(&line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?);
        }
    }
    Ok(())
}

/// Checks the run in `dir` against `caps` and each campaign's own sending window (`HH:MM` to
/// `HH:MM`, by campaign id).
pub fn check(dir: &Path, caps: &Caps, windows: &BTreeMap<String, (NaiveTime, NaiveTime)>) -> Result<Findings, String> {
    let mut f = Findings::default();
    let mut people: HashMap<String, Person> = HashMap::new();
    each_line(&dir.join("events.jsonl"), |e| {
        f.events += 1;
        let Some(customer) = e.get("customer_id").and_then(Value::as_str) else { return };
        let id = e.get("id").and_then(Value::as_str).unwrap_or("");
        let p = people.entry(customer.to_string()).or_default();
        if !p.events.insert(id.into()) {
            return;
        }
        let at = at_of(&e, "occurred_at").map(|t| t.with_timezone(&Utc));
        let data = &e["data"];
        match (e["type"].as_str(), at) {
            (Some("customer_updated"), _) => {
                if let Some(c) = data.get("country").and_then(Value::as_str) {
                    p.country = Some(c.to_string());
                }
                if let Some(ph) = data.get("phone").and_then(Value::as_str) {
                    p.phone = Some(ph.to_string());
                }
            }
            (Some("consent_changed"), Some(at)) => {
                let key = (
                    data["channel"].as_str().unwrap_or("").to_string(),
                    data["topic"].as_str().unwrap_or("marketing").to_string(),
                );
                p.consents.entry(key).or_default().push((at, data["status"] == "granted"));
            }
            (Some("suppression_changed"), Some(at)) => {
                let channel = data["channel"].as_str().unwrap_or("").to_string();
                p.suppressions.entry(channel).or_default().push((at, data["status"] == "suppressed"));
            }
            _ => {}
        }
    })?;
    // Messages per customer and channel, for the caps.
    let mut sent: HashMap<(String, String), Vec<DateTime<FixedOffset>>> = HashMap::new();
    each_line(&dir.join("outbox.jsonl"), |m| {
        f.messages += 1;
        let (Some(customer), Some(channel), Some(local)) =
            (m["customer_id"].as_str(), m["channel"].as_str(), at_of(&m, "sent_at"))
        else {
            f.violations.push(format!("an outbox line without customer, channel or time: {m}"));
            return;
        };
        let id = m["message_id"].as_str().unwrap_or("?");
        let at = local.with_timezone(&Utc);
        let marketing = m["kind"] != "transactional";
        let topic = m["topic"].as_str().unwrap_or("transactional");
        let p = people.entry(customer.to_string()).or_default();
        if marketing && latest(p.consents.get(&(channel.to_string(), topic.to_string())), at) != Some(true) {
            f.violations.push(format!("{id} to {customer} by {channel}: no consent to {topic} at {at}"));
        }
        if latest(p.suppressions.get(channel), at) == Some(true) {
            f.violations.push(format!("{id} to {customer} by {channel}: the address was suppressed at {at}"));
        }
        if marketing && channel == "sms" {
            let country = p.country.clone().unwrap_or_default();
            if !crate::delivery::oracle::law_allows(&country, p.phone.as_deref().unwrap_or(""), local.naive_local()) {
                f.violations.push(format!("{id} to {customer} by sms at {local}: inside the law's quiet hours"));
            }
        }
        if let Some((from, until)) = m["campaign_id"].as_str().and_then(|c| windows.get(c)) {
            let t = local.time();
            let inside = if from <= until { *from <= t && t < *until } else { t >= *from || t < *until };
            if !inside {
                f.violations.push(format!("{id} at {local}: outside its campaign's window"));
            }
        }
        if marketing {
            sent.entry((customer.to_string(), channel.to_string())).or_default().push(local);
            sent.entry((customer.to_string(), "all".to_string())).or_default().push(local);
        }
    })?;
    for ((customer, channel), mut times) in sent {
        times.sort();
        let limits: Limits = match channel.as_str() {
            "email" => caps.email,
            "sms" => caps.sms,
            "push" => caps.push,
            _ => caps.all,
        };
        let mut per_day: BTreeMap<chrono::NaiveDate, u32> = BTreeMap::new();
        for t in &times {
            *per_day.entry(t.date_naive()).or_insert(0) += 1;
        }
        if let Some(day) = limits.day
            && let Some((d, n)) = per_day.iter().find(|(_, n)| **n > day)
        {
            f.violations.push(format!("{customer}: {n} {channel} messages on {d} (cap {day} a day)"));
        }
        if let Some(week) = limits.week {
            for (i, t) in times.iter().enumerate() {
                let within = times[i..].iter().take_while(|u| **u < *t + Duration::days(7)).count() as u32;
                if within > week {
                    f.violations.push(format!(
                        "{customer}: {within} {channel} messages in the 7 days from {t} (cap {week} a week)"
                    ));
                    break;
                }
            }
        }
    }
    each_line(&dir.join("accounts.jsonl"), |a| {
        f.accounts += 1;
        let customer = a["customer_id"].as_str().unwrap_or("?").to_string();
        let applied = a["events_applied"].as_u64().unwrap_or(0);
        let produced = people.get(&customer).map_or(0, |p| p.events.len()) as u64;
        if applied != produced {
            f.violations.push(format!("{customer}: {produced} distinct events produced, {applied} applied"));
        }
        if let Some(l) = a.get("loyalty").filter(|l| !l.is_null()) {
            if l["entries_pending"] != l["pending"]
                || l["entries_active"] != l["active"]
                || l["numbered"] != l["entries"]
            {
                f.violations.push(format!("{customer}: the ledger does not add up to the balances: {l}"));
            }
        }
    })?;
    Ok(f)
}
