//! Human-readable views for the terminal.

use std::fmt::Write as _;

use kairos::contact::Channel;
use kairos::event::ConsentStatus;
use kairos::profile::Profile;
use kairos::profile::engagement::EngagementKind;

/// A profile in a few lines: who, how to reach them, what they bought, what they are doing.
pub fn profile_summary(p: &Profile) -> String {
    let s = p.purchases();
    let mut out = String::new();
    let day =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("-".to_string(), |t| t.format("%Y-%m-%d").to_string());
    let _ = writeln!(
        out,
        "{}  (events {}, seen {} – {})",
        p.customer_id,
        p.events_applied(),
        day(p.first_seen_at()),
        day(p.last_seen_at())
    );
    let mut reach = Vec::new();
    for channel in Channel::ALL {
        let address = match channel {
            Channel::Email => p.email().map(|e| e.as_str().to_string()),
            Channel::Sms => p.phone().map(|ph| ph.as_str().to_string()),
            Channel::Push => {
                let devices = p.contact.details.push_tokens.len();
                (devices > 0).then(|| format!("{devices} device(s)"))
            }
        };
        let consent = p
            .contact
            .consents
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{channel}/")))
            .map(|(k, t)| {
                let status = match t.value {
                    Some(ConsentStatus::Granted) => "granted",
                    Some(ConsentStatus::Revoked) => "revoked",
                    None => "unset",
                };
                format!("{} {status} via {} on {}", &k[channel.as_str().len() + 1..], t.source, t.at.format("%Y-%m-%d"))
            })
            .collect::<Vec<_>>()
            .join(", ");
        if address.is_some() || !consent.is_empty() {
            reach.push(format!(
                "{channel}: {} [{}]",
                address.unwrap_or_else(|| "no address".into()),
                if consent.is_empty() { "no consent on record".into() } else { consent }
            ));
        }
    }
    let _ = writeln!(
        out,
        "  time zone {}; {}",
        p.time_zone(),
        if reach.is_empty() { "no channels".to_string() } else { reach.join("; ") }
    );
    match (s.total_spend, s.last_purchase_at) {
        (Some(spend), Some(last)) => {
            let mean = s.mean_order_value.map(|m| m.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "  orders {} on {} day(s), {} repeat; spend {spend} (mean {mean}); last purchase {}",
                s.orders,
                s.purchase_days,
                s.repeat_purchases,
                last.format("%Y-%m-%d")
            );
        }
        _ => {
            let _ = writeln!(out, "  no purchases");
        }
    }
    let mut affinity: Vec<_> = p.category_affinity().into_iter().collect();
    affinity.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = affinity.iter().take(3).map(|(c, w)| format!("{c} ({w})")).collect();
    let _ = writeln!(
        out,
        "  cart {} line(s); {} product(s) viewed recently; top categories: {}",
        p.browse.cart.lines.len(),
        p.browse.views.len(),
        if top.is_empty() { "none".into() } else { top.join(", ") }
    );
    let e = &p.engagement;
    let _ = write!(
        out,
        "  engagement: {} delivered, {} opened, {} clicked, {} sessions",
        e.total(EngagementKind::Delivered),
        e.total(EngagementKind::Opened),
        e.total(EngagementKind::Clicked),
        e.total(EngagementKind::Session)
    );
    out
}

/// A profile as JSON for people and scripts: the figures first, then every part as stored.
pub fn profile_json(p: &Profile) -> serde_json::Value {
    let orders: serde_json::Map<String, serde_json::Value> = p
        .orders
        .orders
        .iter()
        .chain(p.archived_orders.iter().flat_map(|a| a.orders.iter()))
        .map(|(id, o)| (id.to_string(), serde_json::to_value(o).unwrap_or_default()))
        .collect();
    serde_json::json!({
        "customer_id": p.customer_id,
        "events_applied": p.events_applied(),
        "first_seen_at": p.first_seen_at(),
        "last_seen_at": p.last_seen_at(),
        "time_zone": p.time_zone().name(),
        "purchases": p.purchases(),
        "orders": orders,
        "parts": p,
    })
}

/// The customer's send-time model in a line: their best hours of the week, on their clock.
pub fn send_time_summary(m: &kairos::sto::job::CustomerModel, tz: chrono_tz::Tz) -> String {
    let hours: Vec<String> = m
        .best_hours
        .iter()
        .take(3)
        .map(|(h, share)| format!("{:?} {:02}:00 ({:.1}%)", h.weekday(), h.hour(), share * 100.0))
        .collect();
    format!(
        "  send time ({}): best {}; from {} signals, refreshed {}",
        tz.name(),
        hours.join(", "),
        m.posterior.signals,
        m.refreshed_at.format("%Y-%m-%d")
    )
}

/// The churn score in a line, with its explanation.
pub fn churn_summary(c: &kairos::churn::job::CustomerScore) -> String {
    let s = &c.score;
    let clv = s.clv.map(|v| format!("; CLV {v:.2}")).unwrap_or_default();
    let winback =
        if c.winback.flagged { format!("; in win-back episode {}", c.winback.episode) } else { String::new() };
    format!("  churn: {}{clv}{winback} (scored {})", s.explanation, c.scored_at.format("%Y-%m-%d"))
}
