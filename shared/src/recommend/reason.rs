//! Why a product was recommended, in words: one wording for the command line, the API and the
//! templates that show it, so a shopper and a marketer read the same reason.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::job::StoredWhy;

/// What kind of reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// People who had the customer's `product` went on to this one.
    Followed,
    /// Like the customer's `product` (category, brand, attributes).
    Similar,
    /// Bought before and due to run out.
    Replenish,
    /// Popular lately: nothing personal to go on.
    Popular,
}

/// A reason as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub text: String,
    /// The customer's product it follows from (followed, similar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The day (UTC) the customer had that product (followed, similar), or a replenishment is
    /// due: a day, not the moment, since a page or message needs no more of someone's activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
}

/// "today", "yesterday", "3 days ago", as of `now`.
pub fn days_ago(at: i64, now: DateTime<Utc>) -> String {
    match (now.timestamp() - at).div_euclid(86_400) {
        ..=0 => "today".to_string(),
        1 => "yesterday".to_string(),
        d => format!("{d} days ago"),
    }
}

/// The reason for `why`, naming products by `title` (their catalogue title, or their id).
pub fn explain(why: &StoredWhy, title: impl Fn(&str) -> String, now: DateTime<Utc>) -> Reason {
    let day = |at: i64| DateTime::from_timestamp(at, 0).map(|t| t.date_naive());
    match why {
        StoredWhy::Followed { product, at } => Reason {
            kind: ReasonKind::Followed,
            text: format!("because of {} ({}): often chosen next", title(product), days_ago(*at, now)),
            product_id: Some(product.clone()),
            day: day(*at),
        },
        StoredWhy::Resembles { product, at } => Reason {
            kind: ReasonKind::Similar,
            text: format!("like {} ({})", title(product), days_ago(*at, now)),
            product_id: Some(product.clone()),
            day: day(*at),
        },
        StoredWhy::Replenish { due } => Reason {
            kind: ReasonKind::Replenish,
            text: format!(
                "bought before, due to run out about {}",
                day(*due).map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
            ),
            product_id: None,
            day: day(*due),
        },
        StoredWhy::Popular => {
            Reason { kind: ReasonKind::Popular, text: "popular lately".into(), product_id: None, day: None }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn reasons_name_the_product_and_say_when() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let yesterday = now.timestamp() - 86_400;
        let title = |p: &str| if p == "p1" { "Trail runner".to_string() } else { p.to_string() };
        let r = explain(&StoredWhy::Followed { product: "p1".into(), at: yesterday }, title, now);
        assert_eq!(r.text, "because of Trail runner (yesterday): often chosen next");
        assert_eq!((r.kind, r.product_id.as_deref()), (ReasonKind::Followed, Some("p1")));
        // The day only, never the moment of the customer's activity.
        assert_eq!(r.day, NaiveDate::from_ymd_opt(2026, 11, 19));
        assert_eq!(serde_json::to_value(&r).unwrap()["day"], "2026-11-19");
        let r = explain(&StoredWhy::Resembles { product: "p9".into(), at: now.timestamp() - 5 * 86_400 }, title, now);
        assert_eq!(r.text, "like p9 (5 days ago)");
        let r = explain(&StoredWhy::Replenish { due: now.timestamp() + 3 * 86_400 }, title, now);
        assert_eq!(r.text, "bought before, due to run out about 2026-11-23");
        assert_eq!(explain(&StoredWhy::Popular, title, now).kind, ReasonKind::Popular);
        assert_eq!(days_ago(now.timestamp() + 60, now), "today");
    }
}
