//! Who a campaign is for: filters over the profile and the nightly models, combined with
//! `all` / `any` / `not`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::trigger::RiskBand;
use crate::ids::Category;
use crate::money::Currency;
use crate::validate::{FieldError, join_path};

/// Most filters one audience may hold (nested included).
pub const MAX_FILTERS: usize = 200;

/// One filter, written as one key naming it, e.g. `country: [DE, AT]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Filter {
    /// Every filter holds.
    All(Vec<Filter>),
    /// At least one holds.
    Any(Vec<Filter>),
    Not(Box<Filter>),
    /// ISO 3166 country codes of the customer's address.
    Country(Vec<String>),
    /// Language subtags of the customer's locale (`de`, `fr`).
    Language(Vec<String>),
    /// A profile attribute equals one of `values`.
    Attribute {
        name: String,
        values: Vec<String>,
    },
    /// At least `min_share` (0–1) of the customer's interest is in `category`.
    CategoryAffinity {
        category: Category,
        min_share: f64,
    },
    Orders(Bounds),
    /// Days since the last order.
    DaysSinceOrder(Bounds),
    /// Lifetime net spend in `currency`.
    Spend {
        currency: Currency,
        min: Option<f64>,
        max: Option<f64>,
    },
    ChurnRisk(Vec<RiskBand>),
    /// Predicted value over the next year, in `currency`.
    Clv {
        currency: Currency,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// The send-time model's confidence in this customer's best hour (0–1).
    SendTimeConfidence {
        min: f64,
    },
    /// Loyalty tiers (once the loyalty program runs).
    LoyaltyTier(Vec<String>),
}

/// An inclusive range; either end may be open.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
}

impl Filter {
    /// Values that cannot match anyone or are not what they claim, with their field under `at`.
    pub fn problems(&self, at: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut count = 0;
        self.walk(at, &mut out, &mut count);
        if count > MAX_FILTERS {
            out.push(FieldError::new(
                at,
                format!("has {count} filters (at most {MAX_FILTERS}: split it, or use a segment attribute)"),
            ));
        }
        out
    }

    fn walk(&self, at: &str, out: &mut Vec<FieldError>, count: &mut usize) {
        *count += 1;
        let push = |out: &mut Vec<FieldError>, field: &str, problem: String| {
            out.push(FieldError::new(join_path(at, field), problem))
        };
        let share = |out: &mut Vec<FieldError>, field: &str, v: f64| {
            if !(0.0..=1.0).contains(&v) {
                push(out, field, format!("is {v} (expected a share from 0 to 1)"));
            }
        };
        let money = |out: &mut Vec<FieldError>, name: &str, min: Option<f64>, max: Option<f64>| {
            for (field, v) in [("min", min), ("max", max)] {
                if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
                    push(out, &format!("{name}.{field}"), format!("is {v} (expected an amount of at least 0)"));
                }
            }
            if let (Some(a), Some(b)) = (min, max)
                && a > b
            {
                push(out, &format!("{name}.min"), format!("is more than max ({a} > {b}): nobody matches"));
            }
        };
        match self {
            Filter::All(fs) | Filter::Any(fs) => {
                let name = if matches!(self, Filter::All(_)) { "all" } else { "any" };
                if fs.is_empty() {
                    push(out, name, "is empty (give at least one filter)".into());
                }
                for (i, f) in fs.iter().enumerate() {
                    f.walk(&format!("{}[{i}]", join_path(at, name)), out, count);
                }
            }
            Filter::Not(f) => f.walk(&join_path(at, "not"), out, count),
            Filter::Country(codes) => {
                if codes.is_empty() {
                    push(out, "country", "is empty: nobody matches".into());
                }
                for (i, c) in codes.iter().enumerate() {
                    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                        push(
                            out,
                            &format!("country[{i}]"),
                            format!("is {c:?} (expected a two-letter ISO 3166 code such as \"DE\")"),
                        );
                    }
                }
            }
            Filter::Language(codes) => {
                if codes.is_empty() {
                    push(out, "language", "is empty: nobody matches".into());
                }
                for (i, c) in codes.iter().enumerate() {
                    if !(2..=3).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_lowercase()) {
                        push(
                            out,
                            &format!("language[{i}]"),
                            format!("is {c:?} (expected a language subtag such as \"de\")"),
                        );
                    }
                }
            }
            Filter::Attribute { name, values } => {
                if name.trim().is_empty() {
                    push(out, "attribute.name", "is empty".into());
                }
                if values.is_empty() {
                    push(out, "attribute.values", "is empty: nobody matches".into());
                }
            }
            Filter::CategoryAffinity { min_share, .. } => share(out, "category_affinity.min_share", *min_share),
            Filter::Orders(b) | Filter::DaysSinceOrder(b) => {
                let name = if matches!(self, Filter::Orders(_)) { "orders" } else { "days_since_order" };
                if let (Some(a), Some(z)) = (b.min, b.max)
                    && a > z
                {
                    push(out, &format!("{name}.min"), format!("is more than max ({a} > {z}): nobody matches"));
                }
            }
            Filter::Spend { min, max, .. } => money(out, "spend", *min, *max),
            Filter::Clv { min, max, .. } => money(out, "clv", *min, *max),
            Filter::ChurnRisk(bands) if bands.is_empty() => push(out, "churn_risk", "is empty: nobody matches".into()),
            Filter::LoyaltyTier(tiers) if tiers.is_empty() => {
                push(out, "loyalty_tier", "is empty: nobody matches".into())
            }
            Filter::SendTimeConfidence { min } => share(out, "send_time_confidence.min", *min),
            Filter::ChurnRisk(_) | Filter::LoyaltyTier(_) => {}
        }
    }
}
