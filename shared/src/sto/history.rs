//! Send-time recommendations from an engagement history file, for teams trying Kairos on an
//! export from the email tool they use today.
//!
//! Input CSV, header `customer_id,timestamp,kind,timezone`: `timestamp` RFC 3339 with offset,
//! `kind` one of `open|click|session|purchase`, `timezone` an IANA name. Output: one
//! recommendation per customer, inside the window. Customers are grouped by time zone for
//! segment priors (people on one clock share habits), and by everyone for the population prior.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::contact::TimeZone;
pub use crate::tabular::RowError;
use crate::tabular::read_rows;
use crate::validate::FieldError;

use super::decide::{Decision, Policy, decide};
use super::posterior::{History, Posterior};
use super::prior::PriorStats;
use super::window::{QuietHours, Window};
use crate::attention::{Attention, Signal};

#[derive(Debug, Deserialize)]
struct RawRow {
    customer_id: String,
    timestamp: String,
    kind: String,
    timezone: String,
}

/// One valid row.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    pub customer_id: String,
    pub at: DateTime<Utc>,
    pub signal: Signal,
    pub tz: Tz,
}

/// Reads the history; bad rows are reported and skipped, the rest kept.
pub fn read_history<R: Read>(input: R) -> Result<(Vec<HistoryRow>, Vec<RowError>), String> {
    read_rows(
        input,
        &["customer_id", "timestamp", "kind", "timezone"],
        "customer_id,timestamp,kind,timezone",
        parse_row,
    )
}

fn parse_row(raw: RawRow) -> Result<HistoryRow, FieldError> {
    if raw.customer_id.is_empty() {
        return Err(FieldError::new("customer_id", "must not be empty"));
    }
    let at = DateTime::parse_from_rfc3339(&raw.timestamp)
        .map_err(|_| FieldError::new("timestamp", "must be RFC 3339 with an offset, e.g. 2026-11-24T09:30:00+01:00"))?
        .with_timezone(&Utc);
    let signal = match raw.kind.as_str() {
        "open" => Signal::Open,
        "click" => Signal::Click,
        "session" => Signal::Session,
        "purchase" => Signal::Purchase,
        _ => return Err(FieldError::new("kind", "must be one of open, click, session, purchase")),
    };
    let tz = TimeZone::parse(&raw.timezone).map_err(|e| FieldError::new("timezone", e.to_string()))?.tz();
    Ok(HistoryRow { customer_id: raw.customer_id, at, signal, tz })
}

/// One line of the output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    pub customer_id: String,
    pub send_at: String,
    pub expected_engagement: String,
    pub reason: String,
}

/// Recommends a send time for every customer in `rows`.
pub fn recommend(
    rows: &[HistoryRow],
    window: &Window,
    quiet: &[QuietHours],
    policy: &Policy,
) -> Vec<(String, Result<Decision, String>)> {
    struct Customer {
        tz: Tz,
        attention: Attention,
        last_seen: DateTime<Utc>,
    }
    let mut customers: BTreeMap<&str, Customer> = BTreeMap::new();
    for row in rows {
        let c = customers.entry(&row.customer_id).or_insert_with(|| Customer {
            tz: row.tz,
            attention: Attention::default(),
            last_seen: row.at,
        });
        // The customer's zone is their latest row's (people move).
        if row.at >= c.last_seen {
            c.tz = row.tz;
            c.last_seen = row.at;
        }
        c.attention.add(row.at.timestamp(), row.tz, row.signal);
    }
    let now = window.start;
    let mut stats = PriorStats::default();
    for c in customers.values() {
        stats.add(&c.attention.masses_at(now), Some(c.tz.name()), 0, 0);
    }
    let priors = stats.fit();
    customers
        .iter()
        .map(|(id, c)| {
            let posterior = Posterior::new(&c.attention, History::default(), Some(c.tz.name()), &priors, now);
            let key = format!("{id}|recommend|{}", window.start.timestamp());
            let decision =
                decide(&posterior, c.tz, window, quiet, window.start, policy, &key).map_err(|e| e.to_string());
            (id.to_string(), decision)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone as _, Timelike};

    const CSV: &str = "customer_id,timestamp,kind,timezone
a,2026-11-02T19:10:00+01:00,click,Europe/Berlin
a,2026-11-03T19:40:00+01:00,open,Europe/Berlin
a,2026-11-04T20:05:00+01:00,session,Europe/Berlin
a,2026-11-05T19:15:00+01:00,purchase,Europe/Berlin
b,2026-11-03T07:05:00-05:00,open,America/New_York
b,2026-11-04T07:20:00-05:00,click,America/New_York
c,not a time,open,Europe/Berlin
d,2026-11-03T07:05:00-05:00,view,America/New_York
e,2026-11-03T07:05:00-05:00,open,Mars/Olympus
";

    #[test]
    fn rows_parse_and_bad_ones_are_named() {
        let (rows, errors) = read_history(CSV.as_bytes()).unwrap();
        assert_eq!(rows.len(), 6);
        let fields: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.error.field.as_str())).collect();
        assert_eq!(fields, [(8, "timestamp"), (9, "kind"), (10, "timezone")]);
        assert!(read_history("id,when\n1,2".as_bytes()).unwrap_err().contains("customer_id"));
    }

    #[test]
    fn each_customer_gets_a_time_in_the_window_near_their_habit() {
        let (rows, _) = read_history(CSV.as_bytes()).unwrap();
        let window = Window::hours_from(Utc.with_ymd_and_hms(2026, 11, 10, 0, 0, 0).unwrap(), 48).unwrap();
        let out = recommend(&rows, &window, &[], &Policy::new(0.0, 0.0).unwrap());
        assert_eq!(out.len(), 2);
        let a = out[0].1.as_ref().unwrap();
        let b = out[1].1.as_ref().unwrap();
        assert!(window.contains(a.send_at) && window.contains(b.send_at));
        assert!((18..=20).contains(&a.send_at.with_timezone(&chrono_tz::Europe::Berlin).hour()), "{}", a.reason);
        assert!((6..=7).contains(&b.send_at.with_timezone(&chrono_tz::America::New_York).hour()), "{}", b.reason);
    }
}
