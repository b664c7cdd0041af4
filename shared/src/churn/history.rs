//! A customer's purchase history as the churn models read it, currencies kept apart.
//!
//! The rules:
//! - **Timing** (how often someone buys, and whether they still do) counts every purchase day,
//!   whatever its currency: an order in another currency is still an order.
//! - **Spend** is never added across currencies. Without a rate table, each customer is valued
//!   in their *home currency* (the one most of their purchase days are in; on a tie, the one of
//!   their latest purchase), from the repeat days with spend in it; days in other currencies
//!   count for timing only. With a rate table (`KAIROS_BASE_CURRENCY` and
//!   `KAIROS_CURRENCY_RATES`), every day's spend is converted to the base currency, which is
//!   then everyone's home currency; a day in a currency the table lacks counts for timing only.
//! - Spend models are fitted per currency, so CLV is in the customer's home currency, and the
//!   win-back minimum is set per currency.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::data::Summary;
use crate::money::Currency;
use crate::profile::Profile;

/// Exchange rates into one base currency: `rates[c]` is what one unit of `c` is worth in it.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrencyRates {
    pub base: Currency,
    pub rates: BTreeMap<Currency, f64>,
}

/// A setting that could not be read: which, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct SettingError {
    pub setting: &'static str,
    pub problem: String,
}

/// Reads `EUR=50,USD=55` into numbers per currency, naming the setting and the entry at fault.
pub fn per_currency(setting: &'static str, text: &str) -> Result<BTreeMap<Currency, f64>, SettingError> {
    let error = |problem: String| SettingError { setting, problem };
    let mut out = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((code, value)) = entry.split_once('=') else {
            return Err(error(format!(
                "{entry:?} names no currency: write each amount with its currency, e.g. EUR=50,USD=55"
            )));
        };
        let currency = Currency::new(code.trim()).map_err(|e| error(format!("{:?} in {entry:?}: {e}", code.trim())))?;
        let value = value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| error(format!("{entry:?}: {:?} is not a number of at least 0", value.trim())))?;
        if out.insert(currency, value).is_some() {
            return Err(error(format!("{} is given twice", currency.code())));
        }
    }
    Ok(out)
}

impl CurrencyRates {
    /// From `KAIROS_BASE_CURRENCY` and `KAIROS_CURRENCY_RATES` through `lookup`: none when both
    /// are unset; an error when only one is set, or an entry is wrong.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingError> {
        let base = lookup("KAIROS_BASE_CURRENCY").filter(|v| !v.trim().is_empty());
        let rates = lookup("KAIROS_CURRENCY_RATES").filter(|v| !v.trim().is_empty());
        match (base, rates) {
            (None, None) => Ok(None),
            (Some(base), rates) => {
                let base = Currency::new(base.trim())
                    .map_err(|e| SettingError { setting: "KAIROS_BASE_CURRENCY", problem: format!("{base:?}: {e}") })?;
                let mut rates = per_currency("KAIROS_CURRENCY_RATES", rates.as_deref().unwrap_or(""))?;
                if rates.values().any(|r| *r == 0.0) {
                    return Err(SettingError {
                        setting: "KAIROS_CURRENCY_RATES",
                        problem: "a rate of 0 would make that currency's spend worthless".into(),
                    });
                }
                rates.insert(base, 1.0);
                Ok(Some(CurrencyRates { base, rates }))
            }
            (None, Some(_)) => Err(SettingError {
                setting: "KAIROS_BASE_CURRENCY",
                problem: "KAIROS_CURRENCY_RATES is set, so say which currency the rates convert into".into(),
            }),
        }
    }
}

/// What the churn models know of one customer.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Timing over every purchase day; `monetary_value` is the mean spend of the repeat days
    /// with spend in `currency`.
    pub summary: Summary,
    /// Repeat days whose spend is in `monetary_value` (fewer than the frequency when some were
    /// in other currencies).
    pub spend_days: u32,
    /// The currency the customer is valued in, if any day had spend that can be valued.
    pub currency: Option<Currency>,
    pub last_purchase: NaiveDate,
}

impl History {
    /// The summary the spend model reads: as many transactions as have a spend in the currency.
    pub fn spend_summary(&self) -> Summary {
        Summary { frequency: self.spend_days, ..self.summary.clone() }
    }
}

/// The customer's history as of `today`, from orders not wholly refunded (net of refunds), on
/// the shop's calendar; `None` without a purchase.
pub fn history_at(profile: &Profile, today: NaiveDate, rates: Option<&CurrencyRates>) -> Option<History> {
    let mut days: BTreeMap<NaiveDate, BTreeMap<Currency, f64>> = BTreeMap::new();
    for record in profile.order_records().filter(|o| o.counts_as_purchase()) {
        let Some(placed) = &record.placed else { continue };
        if placed.day > today {
            continue;
        }
        *days.entry(placed.day).or_default().entry(placed.currency).or_default() += record.net().to_f64();
    }
    let (&first, _) = days.iter().next()?;
    let (&last, _) = days.iter().next_back()?;
    let currency = match rates {
        Some(r) => Some(r.base),
        None => home_currency(&days),
    };
    // Each repeat day's spend in the home currency, if it has one.
    let spend_of = |day: &BTreeMap<Currency, f64>| -> Option<f64> {
        match rates {
            Some(r) => {
                let known: Vec<f64> = day.iter().filter_map(|(c, v)| r.rates.get(c).map(|rate| v * rate)).collect();
                (!known.is_empty()).then(|| known.iter().sum())
            }
            None => currency.and_then(|c| day.get(&c).copied()),
        }
    };
    let repeat: Vec<f64> = days.values().skip(1).filter_map(spend_of).collect();
    let weeks = |from: NaiveDate, to: NaiveDate| (to - from).num_days() as f64 / 7.0;
    let summary = Summary {
        customer_id: profile.customer_id.to_string(),
        frequency: (days.len() - 1) as u32,
        recency: weeks(first, last),
        age: weeks(first, today),
        monetary_value: (!repeat.is_empty()).then(|| repeat.iter().sum::<f64>() / repeat.len() as f64),
    };
    Some(History { summary, spend_days: repeat.len() as u32, currency, last_purchase: last })
}

/// The currency most purchase days are in; on a tie, the latest purchase's.
fn home_currency(days: &BTreeMap<NaiveDate, BTreeMap<Currency, f64>>) -> Option<Currency> {
    let mut count: BTreeMap<Currency, (usize, NaiveDate)> = BTreeMap::new();
    for (day, spend) in days {
        for currency in spend.keys() {
            let entry = count.entry(*currency).or_insert((0, *day));
            entry.0 += 1;
            entry.1 = entry.1.max(*day);
        }
    }
    count.into_iter().max_by_key(|(_, (n, latest))| (*n, *latest)).map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_per_currency_are_read_with_field_level_errors() {
        let m = per_currency("KAIROS_WINBACK_MIN_CLV", "EUR=50, USD=55").unwrap();
        assert_eq!(m[&Currency::new("USD").unwrap()], 55.0);
        let plain = per_currency("KAIROS_WINBACK_MIN_CLV", "50").unwrap_err();
        assert!(plain.to_string().starts_with("KAIROS_WINBACK_MIN_CLV: \"50\" names no currency"), "{plain}");
        assert!(per_currency("X", "eur=5").is_err());
        assert!(per_currency("X", "EUR=five").is_err());
        assert!(per_currency("X", "EUR=5,EUR=6").is_err());
        assert!(per_currency("X", "").unwrap().is_empty());
    }

    #[test]
    fn rates_need_their_base() {
        let none = |_: &str| None;
        assert_eq!(CurrencyRates::from_lookup(&none).unwrap(), None);
        let only_rates = |n: &str| (n == "KAIROS_CURRENCY_RATES").then(|| "USD=0.9".to_string());
        assert!(CurrencyRates::from_lookup(&only_rates).is_err());
        let both = |n: &str| match n {
            "KAIROS_CURRENCY_RATES" => Some("USD=0.9".to_string()),
            "KAIROS_BASE_CURRENCY" => Some("EUR".to_string()),
            _ => None,
        };
        let r = CurrencyRates::from_lookup(&both).unwrap().unwrap();
        assert_eq!(r.rates[&Currency::new("EUR").unwrap()], 1.0);
    }
}
