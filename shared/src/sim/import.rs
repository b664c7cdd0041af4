//! A shop's own history as the simulation's input: events in the schema (JSON lines), or
//! transactions (`customer_id,date,amount`). The history is replayed through every function; only
//! the customers' answers to the messages it leads to are simulated, from what their history
//! says of them (when they are active, what they look at).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::shop::{Catalogue, Customer};

/// Events from JSON lines, each checked by the event parser (a line that is not an event is
/// reported with its number).
pub fn events_jsonl(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        crate::event::parse_inbound(line, Utc::now()).map_err(|e| format!("line {}: {e}", n + 1))?;
        out.push(serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(out)
}

/// Orders from a transactions CSV (`customer_id,date,amount`, the amount in EUR): one order
/// of one line per row, at noon UTC of its day.
pub fn transactions_csv(text: &str) -> Result<Vec<Value>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).ok_or(format!("the header has no {name} column"));
    let (c, d, a) = (col("customer_id")?, col("date")?, col("amount")?);
    let mut out = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let line = n + 2;
        let row = row.map_err(|e| format!("line {line}: {e}"))?;
        let customer = row.get(c).unwrap_or("");
        let day = NaiveDate::parse_from_str(row.get(d).unwrap_or(""), "%Y-%m-%d")
            .map_err(|_| format!("line {line}: date: must be YYYY-MM-DD"))?;
        let amount =
            crate::money::Amount::parse(row.get(a).unwrap_or("")).map_err(|e| format!("line {line}: amount: {e}"))?;
        let at = day.and_hms_opt(12, 0, 0).map_or_else(Utc::now, |t| t.and_utc());
        let event = json!({"schema_version": 1, "id": format!("tx-{line}"), "customer_id": customer,
            "occurred_at": at.to_rfc3339(), "source": "import", "type": "order_placed",
            "data": {"order_id": format!("tx-{line}"), "currency": "EUR",
                "lines": [{"product_id": "imported", "unit_price": amount.to_string(), "quantity": 1}]}});
        crate::event::parse_inbound(&event.to_string(), Utc::now()).map_err(|e| format!("line {line}: {e}"))?;
        out.push(event);
    }
    Ok(out)
}

/// The customers an imported history names, each with what it says of them: their zone and
/// addresses, the hours they are active in (smoothed), what they look at. Returns them with the
/// history itself (in time order).
pub fn customers(events: &[Value], catalogue: &Catalogue, rng: &mut ChaCha8Rng) -> (Vec<Customer>, Vec<Value>) {
    let mut by: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in events {
        if let Some(c) = e.get("customer_id").and_then(Value::as_str) {
            by.entry(c.to_string()).or_default().push(e);
        }
    }
    let template = super::shop::customers(1, (Utc::now(), Utc::now()), 1, rng).pop();
    let mut out = Vec::new();
    for (id, list) in by {
        let Some(mut c) = template.clone() else { break };
        c.id = id;
        let mut hours = vec![0.2; 168];
        let mut taste = vec![0.1; catalogue.categories()];
        let mut first: Option<DateTime<Utc>> = None;
        for e in &list {
            let data = &e["data"];
            if e["type"] == "customer_updated" {
                if let Some(z) = data.get("time_zone").and_then(Value::as_str).and_then(|z| z.parse().ok()) {
                    c.zone = z;
                }
                c.phone = data.get("phone").and_then(Value::as_str).map(str::to_string).or(c.phone.clone());
            }
            if e["type"] == "consent_changed" {
                let i = match data["channel"].as_str() {
                    Some("email") => 0,
                    Some("sms") => 1,
                    _ => 2,
                };
                c.consents[i] = data["status"] == "granted";
            }
            for cat in [data.get("category"), data.pointer("/lines/0/category")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Some(k) = (0..catalogue.categories()).find(|k| catalogue.category_name(*k) == cat) {
                    taste[k] += 1.0;
                }
            }
            if let Some(at) =
                e.get("occurred_at").and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            {
                let local = at.with_timezone(&c.zone);
                hours[local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize] += 1.0;
                let at = at.with_timezone(&Utc);
                first = Some(first.map_or(at, |f| f.min(at)));
            }
        }
        let h: f64 = hours.iter().sum();
        c.attention = hours.iter().map(|v| v / h).collect();
        let t: f64 = taste.iter().sum();
        c.taste = taste.iter().map(|v| v / t).collect();
        c.joined = first.unwrap_or_else(Utc::now);
        c.sessions_per_week = 0.0;
        out.push(c);
    }
    let mut history: Vec<Value> = events.to_vec();
    history.sort_by_key(|e| {
        e.get("occurred_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    });
    (out, history)
}
