//! What a simulation shows: the figures (`summary.json`) and a self-contained HTML report with
//! charts drawn as inline SVG (it opens offline, with nothing to fetch).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, FixedOffset, Timelike, Utc};
use serde::Serialize;

use super::run::Config;
use super::shop::{Catalogue, Customer};
use crate::contact::Channel;
use crate::delivery::dispatch::{Counts, Settings};
use crate::delivery::trace::{Decision, Outcome};
use crate::ids::CustomerId;
use crate::risk::RiskBand;
use crate::store::{Store, StoreError};

/// One message delivered, and how its customer answered.
#[derive(Clone, Debug)]
pub struct Sent {
    pub customer: usize,
    pub campaign: String,
    pub channel: Channel,
    pub at: DateTime<Utc>,
    pub local: DateTime<FixedOffset>,
    /// Its campaign lets the send-time model choose the moment.
    pub optimised: bool,
    /// How likely its customer was to notice it when it arrived, and had it arrived when it was
    /// first due (1: an average hour of theirs).
    pub reach: f64,
    pub reach_due: f64,
    pub opened: bool,
    pub clicked: bool,
    pub unsubscribed: bool,
    pub night: bool,
    pub offer: bool,
}

/// What the run recorded as it went.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub events: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub failed: u64,
    pub sent: Vec<Sent>,
    pub orders: Vec<(usize, DateTime<Utc>)>,
    pub attributed_orders: u64,
    /// (campaign, customer, cause): sends queued, and causes whose customer is in the holdout.
    pub treated: Vec<(String, usize, DateTime<Utc>)>,
    pub held_out: Vec<(String, usize, DateTime<Utc>)>,
    pub queued: u64,
    pub unsubscribes: u64,
    pub sms_stops: u64,
    pub redemptions: u64,
    pub revived: u64,
    pub counts: Counts,
}

impl Log {
    pub fn add_counts(&mut self, c: &Counts) {
        self.counts.merge(c);
    }
}

/// What the table holds at the end, per customer.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub risk: Vec<Option<RiskBand>>,
    pub tier: Vec<Option<String>>,
    pub points: Vec<i64>,
    pub recs: Vec<Vec<String>>,
    pub ledgers_balanced: usize,
    pub ledgers_off: Vec<String>,
    pub loyalty: BTreeMap<String, i64>,
    pub tier_changes: usize,
    /// Tier changes by "from → to" (the latest each account keeps).
    pub tier_flows: BTreeMap<String, usize>,
    pub events_applied: Vec<u64>,
    /// One line per customer for `accounts.jsonl`: events applied, and the ledger against the
    /// balances.
    pub accounts: Vec<serde_json::Value>,
}

/// Reads the nightly outputs and ledgers of every customer.
pub async fn gather<S: Store>(store: &S, customers: &[Customer]) -> Result<Facts, StoreError> {
    let mut f = Facts::default();
    for c in customers {
        let Ok(id) = CustomerId::new(c.id.clone()) else { continue };
        let churn: Option<crate::churn::job::CustomerScore> =
            crate::customers::output(store, &id, crate::keys::CHURN_SCORE).await.ok().flatten();
        f.risk.push(churn.map(|s| RiskBand::of(s.score.p_alive)));
        let recs: Option<crate::recommend::job::CustomerRecs> =
            crate::customers::output(store, &id, crate::keys::RECOMMENDATIONS).await.ok().flatten();
        f.recs.push(recs.map(|r| r.picks.into_iter().map(|p| p.product).collect()).unwrap_or_default());
        let statement = crate::loyalty::accounts::statement(store, &id).await?;
        let ledger = statement.account.as_ref().map(|a| {
            serde_json::json!({"pending": a.pending_points(), "active": a.active_points(),
                "entries_pending": statement.entries.iter().map(|e| e.pending).sum::<i64>(),
                "entries_active": statement.entries.iter().map(|e| e.active).sum::<i64>(),
                "entries": statement.entries.len(), "numbered": a.seq})
        });
        match &statement.account {
            Some(a) => {
                match a.check_sums(&statement.entries) {
                    Ok(()) => f.ledgers_balanced += 1,
                    Err(e) => f.ledgers_off.push(format!("{}: {e}", c.id)),
                }
                f.tier.push(a.tier.as_ref().map(|t| t.id.clone()));
                f.points.push(a.active_points());
                let t = &a.totals;
                for (k, v) in [
                    ("earned", t.earned),
                    ("redeemed", t.redeemed),
                    ("expired", t.expired),
                    ("reversed", t.reversed),
                    ("shortfall", t.shortfall),
                ] {
                    *f.loyalty.entry(k.into()).or_default() += v;
                }
                *f.loyalty.entry("pending".into()).or_default() += a.pending_points();
                *f.loyalty.entry("active".into()).or_default() += a.active_points();
                for e in &a.events {
                    if let crate::loyalty::ledger::LoyaltyEvent::TierChanged { from, to, .. } = e {
                        f.tier_changes += 1;
                        let from = from.clone().unwrap_or_else(|| "joined".into());
                        *f.tier_flows.entry(format!("{from} → {to}")).or_insert(0) += 1;
                    }
                }
            }
            None => {
                f.tier.push(None);
                f.points.push(0);
            }
        }
        let profile = crate::customers::load(store, &id).await?;
        let applied = profile.map_or(0, |p| p.events_applied());
        f.events_applied.push(applied);
        f.accounts.push(serde_json::json!({"customer_id": c.id, "events_applied": applied, "loyalty": ledger}));
    }
    Ok(f)
}

/// A rate with its 95% interval (Wilson).
#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    pub n: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

fn rate(hits: usize, n: usize) -> Rate {
    if n == 0 {
        return Rate { n, rate: 0.0, low: 0.0, high: 0.0 };
    }
    let (p, n_f, z) = (hits as f64 / n as f64, n as f64, 1.96_f64);
    let centre = (p + z * z / (2.0 * n_f)) / (1.0 + z * z / n_f);
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / (1.0 + z * z / n_f);
    Rate { n, rate: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
}

/// A campaign against its holdout: orders within 7 days of each cause (from 30 minutes after it),
/// counting causes whose 7 days end inside the run; the interval is between customers.
#[derive(Clone, Debug, Serialize)]
pub struct Lift {
    pub campaign: String,
    pub treated: Rate,
    pub holdout: Rate,
    /// The customers the causes of each group came from.
    pub treated_customers: usize,
    pub holdout_customers: usize,
    /// Treated minus holdout, in points of conversion, with its 95% interval.
    pub difference: f64,
    pub low: f64,
    pub high: f64,
}

/// Rate and variance of a ratio of per-customer sums (conversions over causes), with the
/// variance taken between customers: a customer is in the holdout or not as a whole, so their
/// causes are not independent trials (a heavy browser's dozen abandoned sessions are one draw).
fn clustered(outcomes: &[(usize, bool)]) -> (f64, f64, usize) {
    let mut per: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
    for (c, hit) in outcomes {
        let e = per.entry(*c).or_default();
        e.0 += 1.0;
        e.1 += f64::from(u8::from(*hit));
    }
    let n: f64 = per.values().map(|v| v.0).sum();
    let y: f64 = per.values().map(|v| v.1).sum();
    let m = per.len() as f64;
    let r = if n > 0.0 { y / n } else { 0.0 };
    let var = if m > 1.0 {
        m / (m - 1.0) * per.values().map(|v| (v.1 - r * v.0).powi(2)).sum::<f64>() / (n * n)
    } else {
        f64::NAN
    };
    (r, var, per.len())
}

/// A campaign against its holdout from (customer, converted) per cause; `None` when either
/// group is empty. The interval is between customers (see `clustered`).
fn lift(campaign: &str, treated: &[(usize, bool)], holdout: &[(usize, bool)]) -> Option<Lift> {
    if treated.is_empty() || holdout.is_empty() {
        return None;
    }
    let hits = |o: &[(usize, bool)]| o.iter().filter(|x| x.1).count();
    let ((rt, vt, ct), (rh, vh, ch)) = (clustered(treated), clustered(holdout));
    let difference = rt - rh;
    // With one customer in a group there is no spread to measure: the interval is unknown.
    let se = (vt + vh).sqrt();
    let (low, high) = if se.is_finite() { (difference - 1.96 * se, difference + 1.96 * se) } else { (-1.0, 1.0) };
    Some(Lift {
        campaign: campaign.to_string(),
        treated: rate(hits(treated), treated.len()),
        holdout: rate(hits(holdout), holdout.len()),
        treated_customers: ct,
        holdout_customers: ch,
        difference,
        low,
        high,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub dimension: String,
    pub group: String,
    pub customers: usize,
    pub messages_per_customer: f64,
    pub offers_per_customer: f64,
    pub with_recommendations: f64,
    pub open_rate: f64,
    /// Why the group stands out, if it does.
    pub flag: Option<String>,
}

/// The figures of a run (`summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub customers: usize,
    pub days: u32,
    pub seed: u64,
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub events: BTreeMap<String, u64>,
    pub rules: BTreeMap<String, String>,
    pub decisions: Counts,
    pub messages: BTreeMap<String, usize>,
    pub messages_by_campaign: BTreeMap<String, usize>,
    pub messages_by_day: BTreeMap<String, BTreeMap<String, usize>>,
    pub engagement: BTreeMap<String, Rate>,
    /// Sends by local weekday (Monday 0) and hour, and the customers' true attention there.
    pub heatmap_sent: Vec<Vec<usize>>,
    pub heatmap_true: Vec<Vec<f64>>,
    /// How much more likely an optimised send was to be noticed than at its first due moment.
    pub send_time_lift: Option<(f64, f64, f64)>,
    pub send_time_sends: usize,
    pub lifts: Vec<Lift>,
    pub churn_risk: BTreeMap<String, usize>,
    pub win_back: BTreeMap<String, usize>,
    pub loyalty: BTreeMap<String, i64>,
    pub tiers: BTreeMap<String, usize>,
    pub tier_flows: BTreeMap<String, usize>,
    pub recommendations: BTreeMap<String, f64>,
    pub reasons_suppressed: BTreeMap<String, usize>,
    pub reasons_deferred: BTreeMap<String, usize>,
    pub fairness: Vec<Group>,
    pub checks: BTreeMap<String, String>,
}

/// A reason with what varies (times, counts, ids) taken out, so reasons of one kind count together.
fn kind_of(reason: &str) -> String {
    // "send time: Fri 19:00 Europe/Berlin: the best time…": the kind is what follows the moment.
    let reason = match reason.strip_prefix("send time: ") {
        Some(rest) => {
            let what = rest.rsplit(": ").next().unwrap_or(rest);
            return format!("send time: {}", what.split(" (").next().unwrap_or(what));
        }
        None => reason,
    };
    let head = reason.split(" until ").next().unwrap_or(reason);
    let head = head.split(" (").next().unwrap_or(head);
    let mut out = String::new();
    let mut digits = false;
    for ch in head.chars() {
        if ch.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            digits = false;
            out.push(ch);
        }
    }
    out.trim().chars().take(120).collect()
}

fn value_band(c: &Customer, orders: usize) -> &'static str {
    match orders {
        0 => "no orders",
        1..=2 => "1-2 orders",
        _ if c.sessions_per_week > 4.0 => "heavy",
        _ => "3+ orders",
    }
}

#[allow(clippy::too_many_arguments)]
pub fn summarize(
    config: &Config,
    customers: &[Customer],
    catalogue: &Catalogue,
    log: &Log,
    traces: &BTreeMap<String, Vec<Decision>>,
    facts: &Facts,
    settings: &Settings,
) -> Summary {
    let start = config.start;
    let end = start + Duration::days(i64::from(config.days));
    let in_window: Vec<&Sent> = log.sent.iter().filter(|s| s.at >= start).collect();
    let mut messages = BTreeMap::new();
    let mut by_campaign = BTreeMap::new();
    let mut by_day: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut heat = vec![vec![0usize; 24]; 7];
    for s in &in_window {
        *messages.entry(s.channel.as_str().to_string()).or_insert(0) += 1;
        *by_campaign.entry(s.campaign.clone()).or_insert(0) += 1;
        *by_day.entry(s.at.date_naive().to_string()).or_default().entry(s.channel.as_str().to_string()).or_insert(0) +=
            1;
        heat[s.local.weekday().num_days_from_monday() as usize][s.local.hour() as usize] += 1;
    }
    let mut truth = vec![vec![0.0; 24]; 7];
    for c in customers {
        for (how, a) in c.attention.iter().enumerate() {
            truth[how / 24][how % 24] += a;
        }
    }
    let mut engagement = BTreeMap::new();
    for ch in [Channel::Email, Channel::Sms, Channel::Push] {
        let of: Vec<&&Sent> = in_window.iter().filter(|s| s.channel == ch).collect();
        engagement.insert(format!("{} opened", ch.as_str()), rate(of.iter().filter(|s| s.opened).count(), of.len()));
        engagement.insert(format!("{} clicked", ch.as_str()), rate(of.iter().filter(|s| s.clicked).count(), of.len()));
    }
    let night: Vec<&&Sent> = in_window.iter().filter(|s| s.night).collect();
    engagement.insert("sent in the customer's night".into(), rate(night.len(), in_window.len()));
    // Send time: optimised sends against the same sends at their first due moment.
    let optimised: Vec<&&Sent> = in_window.iter().filter(|s| s.optimised).collect();
    let send_time_lift = (optimised.len() > 1).then(|| {
        let n = optimised.len() as f64;
        let base = optimised.iter().map(|s| s.reach_due).sum::<f64>() / n;
        let diffs: Vec<f64> = optimised.iter().map(|s| s.reach - s.reach_due).collect();
        let mean = diffs.iter().sum::<f64>() / n;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let half = 1.96 * sd / n.sqrt();
        (mean / base, (mean - half) / base, (mean + half) / base)
    });
    // Campaigns against their holdouts: an order within 7 days of the cause.
    let mut orders_of: Vec<Vec<DateTime<Utc>>> = vec![Vec::new(); customers.len()];
    for (c, at) in &log.orders {
        orders_of[*c].push(*at);
    }
    // An order in the 7 days after the cause, from 30 minutes after it: the visit that caused it
    // (an order right after a checkout started, say) is the same for both groups.
    let converted = |c: usize, at: DateTime<Utc>| {
        orders_of[c].iter().any(|o| *o > at + Duration::minutes(30) && *o <= at + Duration::days(7))
    };
    // Only causes whose whole 7 days lie inside the run count, in both groups: a cause near the
    // end has had less time to convert, and only held-out causes are seen before their send is due.
    let observed = |at: DateTime<Utc>| at + Duration::days(7) <= end;
    let mut lifts = Vec::new();
    let campaigns: HashSet<&String> =
        log.treated.iter().map(|t| &t.0).chain(log.held_out.iter().map(|h| &h.0)).collect();
    let mut campaigns: Vec<&String> = campaigns.into_iter().collect();
    campaigns.sort();
    for campaign in campaigns {
        let outcomes = |causes: &[(String, usize, DateTime<Utc>)]| -> Vec<(usize, bool)> {
            causes.iter().filter(|x| &x.0 == campaign && observed(x.2)).map(|x| (x.1, converted(x.1, x.2))).collect()
        };
        if let Some(l) = lift(campaign, &outcomes(&log.treated), &outcomes(&log.held_out)) {
            lifts.push(l);
        }
    }
    let mut churn_risk = BTreeMap::new();
    for r in &facts.risk {
        *churn_risk.entry(r.map_or("not scored", |b| b.name()).to_string()).or_insert(0) += 1;
    }
    let winback: Vec<&&Sent> = in_window.iter().filter(|s| s.campaign == "win-back").collect();
    let mut win_back = BTreeMap::new();
    win_back.insert("sent".to_string(), winback.len());
    win_back.insert("opened".to_string(), winback.iter().filter(|s| s.opened).count());
    win_back.insert("clicked".to_string(), winback.iter().filter(|s| s.clicked).count());
    win_back.insert(
        "ordered within 14 days".to_string(),
        winback
            .iter()
            .filter(|s| orders_of[s.customer].iter().any(|o| *o > s.at && *o <= s.at + Duration::days(14)))
            .count(),
    );
    win_back.insert("customers revived".to_string(), log.revived as usize);
    let mut tiers = BTreeMap::new();
    for t in &facts.tier {
        *tiers.entry(t.clone().unwrap_or_else(|| "not a member".into())).or_insert(0) += 1;
    }
    let mut loyalty = facts.loyalty.clone();
    loyalty.insert("redemptions".into(), log.redemptions as i64);
    loyalty.insert("tier changes".into(), facts.tier_changes as i64);
    // Recommendations: how much of the catalogue they reach, and how much of the long tail.
    let mut orders_by_product: BTreeMap<&str, usize> = BTreeMap::new();
    let recs: Vec<&String> = facts.recs.iter().flatten().collect();
    let distinct: HashSet<&String> = recs.iter().copied().collect();
    let tail: HashSet<&str> = catalogue
        .by_category
        .iter()
        .flat_map(|list| list.iter().skip(list.len() / 5).map(|&p| catalogue.products[p].id.as_str()))
        .collect();
    for p in &recs {
        *orders_by_product.entry(p.as_str()).or_insert(0) += 1;
    }
    let mut recommendations = BTreeMap::new();
    recommendations
        .insert("customers with recommendations".into(), facts.recs.iter().filter(|r| !r.is_empty()).count() as f64);
    recommendations.insert("catalogue coverage".into(), distinct.len() as f64 / catalogue.products.len().max(1) as f64);
    recommendations.insert(
        "long-tail share of slots".into(),
        recs.iter().filter(|p| tail.contains(p.as_str())).count() as f64 / recs.len().max(1) as f64,
    );
    let mut reasons_suppressed = BTreeMap::new();
    let mut reasons_deferred = BTreeMap::new();
    for d in traces.values().flatten() {
        let into = match d.outcome {
            Outcome::Suppressed => &mut reasons_suppressed,
            Outcome::Deferred { .. } => &mut reasons_deferred,
            _ => continue,
        };
        // The first reason is the cause; the policy's are those after it. A channel's consent
        // and provenance are why it could go, not why it did not.
        for r in d.reasons.iter().skip(1) {
            for part in
                r.split("; ").filter(|p| !p.contains(": consented to") && !p.contains("inside quiet hours rules"))
            {
                *into.entry(kind_of(part)).or_insert(0) += 1;
            }
        }
    }
    let fairness = fairness(customers, &in_window, facts, &orders_of, start);
    let mut events = BTreeMap::new();
    events.insert("produced".into(), log.events);
    events.insert("applied".into(), log.applied);
    events.insert("duplicates".into(), log.duplicates);
    events.insert("rejected".into(), log.rejected);
    events.insert("failed".into(), log.failed);
    events.insert("orders".into(), log.orders.len() as u64);
    events.insert("orders attributed to a message".into(), log.attributed_orders);
    events.insert("unsubscribes".into(), log.unsubscribes);
    events.insert("sms stops".into(), log.sms_stops);
    let mut rules = BTreeMap::new();
    rules.insert("frequency caps".into(), format!("{:?}", settings.caps));
    rules.insert(
        "quiet hours".into(),
        "marketing SMS: US 08:00-21:00 (TCPA), Florida and Oklahoma 08:00-20:00, other US states 09:00-20:00 and Sundays from 12:00; France 08:00-22:00, no Sundays or public holidays; plus each campaign's own window; the strictest wins, in the customer's zone (every zone their country spans when unknown)".into(),
    );
    rules.insert(
        "consent".into(),
        "marketing needs consent to the campaign's topic on the channel; transactional needs an address".into(),
    );
    let mut checks = BTreeMap::new();
    checks.insert(
        "loyalty ledgers that add up to their balances".into(),
        format!("{} of {}", facts.ledgers_balanced, facts.ledgers_balanced + facts.ledgers_off.len()),
    );
    Summary {
        customers: customers.len(),
        days: config.days,
        seed: config.seed,
        window: (start, end),
        events,
        rules,
        decisions: log.counts.clone(),
        messages,
        messages_by_campaign: by_campaign,
        messages_by_day: by_day,
        engagement,
        heatmap_sent: heat,
        heatmap_true: truth,
        send_time_lift,
        send_time_sends: optimised.len(),
        lifts,
        churn_risk,
        win_back,
        loyalty,
        tiers,
        tier_flows: facts.tier_flows.clone(),
        recommendations,
        reasons_suppressed,
        reasons_deferred,
        fairness,
        checks,
    }
}

/// Exposure by group, and the groups left out or over-messaged: messages (and offers) per
/// customer under half or over twice everyone's, in groups of at least 20 customers.
fn fairness(
    customers: &[Customer],
    sent: &[&Sent],
    facts: &Facts,
    orders: &[Vec<DateTime<Utc>>],
    start: DateTime<Utc>,
) -> Vec<Group> {
    let mut per = vec![(0usize, 0usize, 0usize); customers.len()];
    for s in sent {
        per[s.customer].0 += 1;
        per[s.customer].1 += usize::from(s.offer);
        per[s.customer].2 += usize::from(s.opened);
    }
    let n = customers.len().max(1) as f64;
    let overall_messages = per.iter().map(|p| p.0).sum::<usize>() as f64 / n;
    let overall_offers = per.iter().map(|p| p.1).sum::<usize>() as f64 / n;
    let dims: Vec<(&str, Box<dyn Fn(usize) -> String>)> = vec![
        ("customer", Box::new(|i| if customers[i].segment_new(start) { "new".into() } else { "returning".into() })),
        ("country", Box::new(|i| customers[i].country.to_string())),
        ("value band", Box::new(|i| value_band(&customers[i], orders[i].len()).to_string())),
        ("loyalty tier", Box::new(|i| facts.tier.get(i).cloned().flatten().unwrap_or_else(|| "not a member".into()))),
    ];
    let mut out = Vec::new();
    for (dimension, of) in dims {
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for i in 0..customers.len() {
            groups.entry(of(i)).or_default().push(i);
        }
        for (group, members) in groups {
            let m = members.len() as f64;
            let messages = members.iter().map(|&i| per[i].0).sum::<usize>() as f64 / m;
            let offers = members.iter().map(|&i| per[i].1).sum::<usize>() as f64 / m;
            let sent_to = members.iter().map(|&i| per[i].0).sum::<usize>();
            let opened = members.iter().map(|&i| per[i].2).sum::<usize>();
            let recs = members.iter().filter(|&&i| facts.recs.get(i).is_some_and(|r| !r.is_empty())).count() as f64 / m;
            let flag = if members.len() < 20 {
                None
            } else if messages < 0.5 * overall_messages {
                Some(format!("left out: {messages:.1} messages a customer against {overall_messages:.1}"))
            } else if messages > 2.0 * overall_messages {
                Some(format!("over-messaged: {messages:.1} messages a customer against {overall_messages:.1}"))
            } else if overall_offers >= 0.2 && offers < 0.5 * overall_offers {
                Some(format!("few offers: {offers:.2} a customer against {overall_offers:.2}"))
            } else {
                None
            };
            out.push(Group {
                dimension: dimension.into(),
                group,
                customers: members.len(),
                messages_per_customer: messages,
                offers_per_customer: offers,
                with_recommendations: recs,
                open_rate: if sent_to > 0 { opened as f64 / sent_to as f64 } else { 0.0 },
                flag,
            });
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const COLOURS: [&str; 6] = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#718096"];

/// Bars (stacked by series) over labelled columns.
fn bars(title: &str, columns: &[String], series: &[(String, Vec<f64>)]) -> String {
    let (w, h, left, bottom) = (720.0, 240.0, 40.0, 40.0);
    let totals: Vec<f64> =
        (0..columns.len()).map(|i| series.iter().map(|s| s.1.get(i).copied().unwrap_or(0.0)).sum()).collect();
    let max = totals.iter().copied().fold(1e-9, f64::max);
    let step = (w - left) / columns.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {}\" width=\"100%\">",
        esc(title),
        h + bottom
    );
    let _ = write!(svg, "<text x=\"{left}\" y=\"12\" font-size=\"12\" fill=\"#444\">max {max:.0}</text>");
    for (i, col) in columns.iter().enumerate() {
        let mut y = h;
        for (k, (_, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            let bh = v / max * (h - 20.0);
            y -= bh;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {v:.0}</title></rect>",
                left + i as f64 * step,
                (step * 0.8).max(1.0),
                COLOURS[k % COLOURS.len()],
                esc(col)
            );
        }
        if columns.len() <= 40 || i % (columns.len() / 20).max(1) == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"9\" transform=\"rotate(45 {:.1} {})\">{}</text>",
                left + i as f64 * step,
                h + 12.0,
                left + i as f64 * step,
                h + 12.0,
                esc(col)
            );
        }
    }
    svg.push_str("</svg>");
    let legend: String = series
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            format!("<span class=\"key\" style=\"background:{}\"></span>{} ", COLOURS[k % COLOURS.len()], esc(name))
        })
        .collect();
    format!("<figure><figcaption>{}</figcaption>{svg}<div>{legend}</div></figure>", esc(title))
}

/// A weekday × hour grid, darker where more.
fn heatmap(title: &str, grid: &[Vec<f64>]) -> String {
    let max = grid.iter().flatten().copied().fold(1e-12, f64::max);
    let (cell, left, top) = (24.0, 40.0, 16.0);
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {}\" width=\"100%\">",
        esc(title),
        left + 24.0 * cell,
        top + 7.0 * cell + 10.0
    );
    for h in (0..24).step_by(3) {
        let _ = write!(svg, "<text x=\"{:.0}\" y=\"12\" font-size=\"10\">{h}h</text>", left + h as f64 * cell);
    }
    for (d, row) in grid.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.0}\" font-size=\"10\">{}</text>",
            top + d as f64 * cell + 16.0,
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d % 7]
        );
        for (h, v) in row.iter().enumerate() {
            let shade = (v / max).clamp(0.0, 1.0);
            let _ = write!(
                svg,
                "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({},{},{})\"><title>{:.3}</title></rect>",
                left + h as f64 * cell,
                top + d as f64 * cell,
                (255.0 - 212.0 * shade) as u8,
                (255.0 - 147.0 * shade) as u8,
                (255.0 - 79.0 * shade) as u8,
                v
            );
        }
    }
    svg.push_str("</svg>");
    format!("<figure><figcaption>{}</figcaption>{svg}</figure>", esc(title))
}

/// Differences with their intervals, around zero.
fn forest(title: &str, rows: &[(String, f64, f64, f64)]) -> String {
    let (w, row, left) = (720.0, 22.0, 200.0);
    let span = rows.iter().flat_map(|r| [r.2.abs(), r.3.abs()]).fold(0.01, f64::max);
    let x = |v: f64| left + (v / span + 1.0) / 2.0 * (w - left - 20.0);
    let h = row * rows.len().max(1) as f64 + 20.0;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {h}\" width=\"100%\">",
        esc(title)
    );
    let _ = write!(svg, "<line x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"{h}\" stroke=\"#999\"/>", x(0.0));
    for (i, (label, v, lo, hi)) in rows.iter().enumerate() {
        let y = 12.0 + i as f64 * row;
        let _ = write!(svg, "<text x=\"0\" y=\"{:.0}\" font-size=\"11\">{}</text>", y + 4.0, esc(label));
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{y:.0}\" x2=\"{:.1}\" y2=\"{y:.0}\" stroke=\"#2b6cb0\" stroke-width=\"2\"/>",
            x(*lo),
            x(*hi)
        );
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{y:.0}\" r=\"4\" fill=\"#2b6cb0\"><title>{v:+.3} ({lo:+.3} to {hi:+.3})</title></circle>",
            x(*v)
        );
    }
    svg.push_str("</svg>");
    format!("<figure><figcaption>{}</figcaption>{svg}</figure>", esc(title))
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            let _ = write!(t, "<td>{}</td>", esc(c));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

fn pct(r: f64) -> String {
    format!("{:.1}%", 100.0 * r)
}

/// The report: one HTML file with everything inline.
pub fn html(s: &Summary, traces: &BTreeMap<String, Vec<Decision>>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Kairos simulation</h1><p>{} customers, {} days from {} (seed {}). {} events, {} messages, {} decisions stored.</p>",
        s.customers,
        s.days,
        s.window.0.format("%Y-%m-%d"),
        s.seed,
        s.events.get("produced").copied().unwrap_or(0),
        s.messages.values().sum::<usize>(),
        traces.values().map(Vec::len).sum::<usize>()
    );
    body.push_str("<h2>Messages</h2>");
    let days: Vec<String> = s.messages_by_day.keys().cloned().collect();
    let channels = ["email", "sms", "push"];
    let series: Vec<(String, Vec<f64>)> = channels
        .iter()
        .map(|c| {
            (c.to_string(), days.iter().map(|d| s.messages_by_day[d].get(*c).copied().unwrap_or(0) as f64).collect())
        })
        .collect();
    body.push_str(&bars("Messages per day, by channel", &days, &series));
    let campaigns: Vec<String> = s.messages_by_campaign.keys().cloned().collect();
    body.push_str(&bars(
        "Messages per campaign",
        &campaigns,
        &[("messages".into(), campaigns.iter().map(|c| s.messages_by_campaign[c] as f64).collect())],
    ));
    let engagement: Vec<Vec<String>> = s
        .engagement
        .iter()
        .map(|(k, r)| vec![k.clone(), r.n.to_string(), pct(r.rate), format!("{} to {}", pct(r.low), pct(r.high))])
        .collect();
    body.push_str(&table(&["", "messages", "rate", "95% interval"], &engagement));
    body.push_str("<h2>Send time</h2>");
    let sent: Vec<Vec<f64>> = s.heatmap_sent.iter().map(|r| r.iter().map(|v| *v as f64).collect()).collect();
    body.push_str("<div class=\"pair\">");
    body.push_str(&heatmap("When messages arrived (customer's local weekday and hour)", &sent));
    body.push_str(&heatmap("When customers truly pay attention (the simulation's truth)", &s.heatmap_true));
    body.push_str("</div>");
    match s.send_time_lift {
        Some((lift, lo, hi)) => {
            let _ = write!(
                body,
                "<p>Over {} optimised sends, the send-time model made a message {:+.1}% more likely to be seen than at the moment it was first due (95% interval {:+.1}% to {:+.1}%).</p>",
                s.send_time_sends,
                100.0 * lift,
                100.0 * lo,
                100.0 * hi
            );
            body.push_str(&forest("Send-time lift (relative)", &[("optimised vs first due".into(), lift, lo, hi)]));
        }
        None => body.push_str("<p>No optimised sends in this run.</p>"),
    }
    body.push_str("<h2>Campaigns against their holdouts</h2>");
    let rows: Vec<(String, f64, f64, f64)> =
        s.lifts.iter().map(|l| (l.campaign.clone(), l.difference, l.low, l.high)).collect();
    if rows.is_empty() {
        body.push_str("<p>No campaign had both sends and held-out customers in this run.</p>");
    } else {
        body.push_str(&forest("Orders within 7 days: treated minus holdout (95% intervals)", &rows));
    }
    let lift_rows: Vec<Vec<String>> = s
        .lifts
        .iter()
        .map(|l| {
            vec![
                l.campaign.clone(),
                format!("{} of {} ({} customers)", pct(l.treated.rate), l.treated.n, l.treated_customers),
                format!("{} of {} ({} customers)", pct(l.holdout.rate), l.holdout.n, l.holdout_customers),
                format!("{:+.1} points ({:+.1} to {:+.1})", 100.0 * l.difference, 100.0 * l.low, 100.0 * l.high),
            ]
        })
        .collect();
    body.push_str(&table(
        &["campaign", "treated causes converted", "held-out causes converted", "difference"],
        &lift_rows,
    ));
    body.push_str("<h2>Churn and win-back</h2>");
    let bands: Vec<String> = s.churn_risk.keys().cloned().collect();
    body.push_str(&bars(
        "Customers by churn risk (the nightly model)",
        &bands,
        &[("customers".into(), bands.iter().map(|b| s.churn_risk[b] as f64).collect())],
    ));
    body.push_str(&table(
        &["win-back", "count"],
        &s.win_back.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect::<Vec<_>>(),
    ));
    body.push_str("<h2>Loyalty</h2>");
    let tiers: Vec<String> = s.tiers.keys().cloned().collect();
    body.push_str(&bars(
        "Members by tier",
        &tiers,
        &[("customers".into(), tiers.iter().map(|t| s.tiers[t] as f64).collect())],
    ));
    let flows: Vec<String> = s.loyalty.keys().cloned().collect();
    body.push_str(&bars(
        "Points and flows",
        &flows,
        &[("points".into(), flows.iter().map(|f| s.loyalty[f].max(0) as f64).collect())],
    ));
    body.push_str(&table(
        &["", "total"],
        &s.loyalty.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect::<Vec<_>>(),
    ));
    body.push_str(&table(
        &["tier change", "members"],
        &s.tier_flows.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect::<Vec<_>>(),
    ));
    body.push_str("<h2>Recommendations</h2>");
    body.push_str(&table(
        &["", "value"],
        &s.recommendations
            .iter()
            .map(|(k, v)| {
                vec![
                    k.clone(),
                    if *v <= 1.0 && k != "customers with recommendations" { pct(*v) } else { format!("{v:.0}") },
                ]
            })
            .collect::<Vec<_>>(),
    ));
    body.push_str("<h2>Why messages did not go (yet)</h2>");
    let reasons = |m: &BTreeMap<String, usize>| {
        let mut v: Vec<(&String, &usize)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.into_iter().take(25).map(|(k, n)| vec![k.clone(), n.to_string()]).collect::<Vec<_>>()
    };
    let _ = write!(body, "<h3>Suppressed</h3>{}", table(&["reason", "count"], &reasons(&s.reasons_suppressed)));
    let _ = write!(body, "<h3>Deferred</h3>{}", table(&["reason", "count"], &reasons(&s.reasons_deferred)));
    body.push_str(&table(
        &["rule in force", ""],
        &s.rules.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect::<Vec<_>>(),
    ));
    body.push_str("<h2>Fairness audit</h2><p>Exposure to messages, offers and recommendations by group. A group of 20 or more customers is flagged when it gets under half or over twice everyone's messages per customer, or under half the offers.</p>");
    let fair: Vec<Vec<String>> = s
        .fairness
        .iter()
        .map(|g| {
            vec![
                g.dimension.clone(),
                g.group.clone(),
                g.customers.to_string(),
                format!("{:.2}", g.messages_per_customer),
                format!("{:.2}", g.offers_per_customer),
                pct(g.with_recommendations),
                pct(g.open_rate),
                g.flag.clone().unwrap_or_default(),
            ]
        })
        .collect();
    body.push_str(&table(
        &["dimension", "group", "customers", "messages each", "offers each", "with recommendations", "opened", "flag"],
        &fair,
    ));
    body.push_str("<h2>Decision trace, per customer</h2><p>The customers with the most decisions; each answers \"why did or didn't they get that message?\" as <code>kairos why</code> does.</p>");
    let mut busiest: Vec<(&String, &Vec<Decision>)> = traces.iter().filter(|(_, d)| !d.is_empty()).collect();
    busiest.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for (customer, decisions) in busiest.into_iter().take(40) {
        let Ok(id) = CustomerId::new(customer.clone()) else { continue };
        let _ = write!(
            body,
            "<details><summary>{} ({} decisions)</summary><pre>{}</pre></details>",
            esc(customer),
            decisions.len(),
            esc(&crate::delivery::trace::answer(&id, None, decisions))
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Kairos simulation</title><style>{}</style></head><body>{body}</body></html>",
        "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:4px}.key{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}pre{white-space:pre-wrap;font-size:12px;background:#f7f7f7;padding:8px}details{margin:4px 0}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Causes from `customers` customers, each with `each` causes all converted or none.
    fn causes(first: usize, customers: usize, each: usize, converted: impl Fn(usize) -> bool) -> Vec<(usize, bool)> {
        (first..first + customers).flat_map(|c| std::iter::repeat_n((c, converted(c)), each)).collect()
    }

    #[test]
    fn a_customer_with_many_causes_is_one_draw_not_many() {
        // 40 customers a group, half converting; as 40 causes, or as 400 causes in lumps of 10.
        let single = lift("c", &causes(0, 40, 1, |c| c % 2 == 0), &causes(100, 40, 1, |c| c % 2 == 0)).unwrap();
        let lumped = lift("c", &causes(0, 40, 10, |c| c % 2 == 0), &causes(100, 40, 10, |c| c % 2 == 0)).unwrap();
        assert_eq!((single.difference, lumped.difference), (0.0, 0.0));
        assert_eq!((lumped.treated.n, lumped.treated_customers, lumped.holdout_customers), (400, 40, 40));
        // Ten times the causes from the same customers tell nothing more: the same interval.
        assert!((single.high - lumped.high).abs() < 1e-12, "{} vs {}", single.high, lumped.high);
        // And it is the two-sample interval of 40 against 40 (p = 0.5, with m/(m-1)).
        let se = (2.0 * 0.25 / 40.0 * 40.0 / 39.0_f64).sqrt();
        assert!((lumped.high - 1.96 * se).abs() < 1e-12);
    }

    #[test]
    fn independent_causes_get_the_binomial_interval() {
        let t = causes(0, 200, 1, |c| c % 4 == 0);
        let h = causes(1000, 200, 1, |c| c % 10 == 0);
        let l = lift("c", &t, &h).unwrap();
        assert!((l.difference - 0.15).abs() < 1e-12);
        let se = (0.25 * 0.75 / 200.0 * 200.0 / 199.0 + 0.1 * 0.9 / 200.0 * 200.0 / 199.0_f64).sqrt();
        assert!((l.low - (0.15 - 1.96 * se)).abs() < 1e-12);
    }

    #[test]
    fn an_empty_group_gives_no_lift_and_a_single_customer_an_unknown_interval() {
        assert!(lift("c", &[], &[(1, true)]).is_none());
        assert!(lift("c", &[(1, true)], &[]).is_none());
        let l = lift("c", &[(1, true), (1, false)], &[(2, false)]).unwrap();
        assert_eq!((l.difference, l.low, l.high), (0.5, -1.0, 1.0));
    }
}
