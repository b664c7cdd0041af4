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
    /// How much of the send-time model's view of the customer rests on their own signals rather
    /// than on the shop's (0–1).
    SendTimeConfidence {
        min: f64,
    },
    /// Loyalty tiers (the tier ids of the program).
    LoyaltyTier(Vec<String>),
    /// Members whose tier gives early access (`true`), or not.
    LoyaltyEarlyAccess(bool),
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
    /// Whether any filter in it satisfies `leaf`.
    fn any_leaf(&self, leaf: &impl Fn(&Filter) -> bool) -> bool {
        match self {
            Filter::All(fs) | Filter::Any(fs) => fs.iter().any(|f| f.any_leaf(leaf)),
            Filter::Not(f) => f.any_leaf(leaf),
            other => leaf(other),
        }
    }

    /// Whether any filter in it reads the loyalty account.
    pub fn uses_loyalty(&self) -> bool {
        self.any_leaf(&|f| matches!(f, Filter::LoyaltyTier(_) | Filter::LoyaltyEarlyAccess(_)))
    }

    /// Whether any filter in it reads the send-time model.
    pub fn uses_send_time(&self) -> bool {
        self.any_leaf(&|f| matches!(f, Filter::SendTimeConfidence { .. }))
    }

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
            Filter::ChurnRisk(_) | Filter::LoyaltyTier(_) | Filter::LoyaltyEarlyAccess(_) => {}
        }
    }
}

/// The nightly outputs a scheduled run reads with each customer: the churn score and the
/// loyalty account.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    pub churn: Option<crate::churn::job::CustomerScore>,
    pub loyalty: Option<crate::loyalty::Account>,
}

impl Scores {
    /// The sort keys a job joins for them.
    pub const SKS: &'static [&'static str] = &[crate::keys::CHURN_SCORE, crate::keys::LOYALTY_ACCOUNT];
}

impl<'de> Deserialize<'de> for Scores {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut document = serde_json::Map::deserialize(d)?;
        let churn = crate::jobs::joined(&mut document, crate::keys::CHURN_SCORE)?;
        let loyalty = crate::jobs::joined::<crate::jobs::runner::StoredOutput<crate::loyalty::Account>, D::Error>(
            &mut document,
            crate::keys::LOYALTY_ACCOUNT,
        )?
        .map(|s| s.value);
        Ok(Scores { churn, loyalty })
    }
}

/// What an audience is decided on: the profile, and the nightly models' view of the customer
/// where they have one (`None`: not scored yet; a filter on it then does not match).
pub struct Facts<'a> {
    pub profile: &'a crate::profile::Profile,
    pub churn_risk: Option<RiskBand>,
    /// Predicted value over the next year, and its currency.
    pub clv: Option<(f64, Currency)>,
    pub send_time_confidence: Option<f64>,
    pub loyalty_tier: Option<&'a str>,
    pub loyalty_early_access: bool,
}

impl<'a> Facts<'a> {
    /// The facts of a profile and its nightly churn score, if it has one (add the loyalty
    /// account and the send-time confidence with `with_loyalty` and `with_send_time`).
    pub fn of(profile: &'a crate::profile::Profile, churn: Option<&crate::churn::job::CustomerScore>) -> Facts<'a> {
        Facts {
            profile,
            churn_risk: churn.map(|c| RiskBand::of(c.score.p_alive)),
            clv: churn.and_then(|c| Some((c.score.clv?, c.currency?))),
            send_time_confidence: None,
            loyalty_tier: None,
            loyalty_early_access: false,
        }
    }

    /// With the send-time model's confidence for the customer (`Posterior::own_weight` of the
    /// posterior the send-time policy uses for them); `None`: a filter on it does not match.
    pub fn with_send_time(mut self, confidence: Option<f64>) -> Self {
        self.send_time_confidence = confidence;
        self
    }

    /// With the member's loyalty tier (and whether it gives early access) under `program`.
    pub fn with_loyalty(
        mut self,
        program: Option<&crate::loyalty::Program>,
        account: Option<&'a crate::loyalty::Account>,
    ) -> Self {
        self.loyalty_tier = account.and_then(|a| a.tier.as_ref()).map(|t| t.id.as_str());
        self.loyalty_early_access =
            self.loyalty_tier.and_then(|t| program.and_then(|p| p.tier(t))).is_some_and(|t| t.early_access);
        self
    }
}

impl Filter {
    /// Whether the customer `facts` describes is in the audience, as of `now`.
    pub fn matches(&self, facts: &Facts, now: chrono::DateTime<chrono::Utc>) -> bool {
        let profile = facts.profile;
        let details = &profile.contact.details;
        let within = |b: &Bounds, v: u32| b.min.is_none_or(|m| v >= m) && b.max.is_none_or(|m| v <= m);
        let between =
            |min: Option<f64>, max: Option<f64>, v: f64| min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m);
        match self {
            Filter::All(fs) => fs.iter().all(|f| f.matches(facts, now)),
            Filter::Any(fs) => fs.iter().any(|f| f.matches(facts, now)),
            Filter::Not(f) => !f.matches(facts, now),
            Filter::Country(codes) => details
                .country
                .as_ref()
                .and_then(|c| c.value.clone())
                .is_some_and(|c| codes.iter().any(|code| *code == String::from(c.clone()))),
            Filter::Language(codes) => details.locale.as_ref().and_then(|l| l.value.clone()).is_some_and(|l| {
                let tag = String::from(l);
                let language = tag.split('-').next().unwrap_or("").to_string();
                codes.contains(&language)
            }),
            Filter::Attribute { name, values } => {
                profile.contact.attributes.get(name).and_then(|t| t.value.as_ref()).is_some_and(|v| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    values.contains(&text)
                })
            }
            Filter::CategoryAffinity { category, min_share } => {
                let interest = &profile.browse.interest;
                let total: u64 = interest.values().map(|&v| u64::from(v)).sum();
                total > 0 && interest.get(category).is_some_and(|&v| v as f64 / total as f64 >= *min_share)
            }
            Filter::Orders(b) => within(b, profile.purchases().orders),
            Filter::DaysSinceOrder(b) => profile
                .purchases()
                .last_purchase_at
                .is_some_and(|at| within(b, (now - at).num_days().clamp(0, i64::from(u32::MAX)) as u32)),
            Filter::Spend { currency, min, max } => {
                let summary = profile.purchases();
                summary.total_spend.is_some_and(|m| m.currency == *currency && between(*min, *max, m.amount.to_f64()))
            }
            Filter::ChurnRisk(bands) => facts.churn_risk.is_some_and(|r| bands.contains(&r)),
            Filter::Clv { currency, min, max } => {
                facts.clv.is_some_and(|(v, c)| c == *currency && between(*min, *max, v))
            }
            Filter::SendTimeConfidence { min } => facts.send_time_confidence.is_some_and(|c| c >= *min),
            Filter::LoyaltyTier(tiers) => facts.loyalty_tier.is_some_and(|t| tiers.iter().any(|x| x == t)),
            Filter::LoyaltyEarlyAccess(wanted) => facts.loyalty_early_access == *wanted,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::campaign::fire::tests::event;
    use crate::ids::CustomerId;
    use crate::profile::Profile;

    fn filter(yaml: &str) -> Filter {
        crate::event::parse::from_value_at(crate::yaml::read(yaml).unwrap().value, "").unwrap()
    }

    #[test]
    fn filters_read_the_profile_and_models_and_combine() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let mut profile = Profile::new(CustomerId::new("c-1").unwrap());
        profile
            .apply(&event(
                "u1",
                now - Duration::days(40),
                "customer_updated",
                serde_json::json!({"country": "DE", "locale": "de-AT",
                "attributes": {"segment": "vip", "size": 42}}),
            ))
            .unwrap();
        for (i, cat) in ["Shoes", "Shoes", "Shoes", "Socks"].iter().enumerate() {
            profile
                .apply(&event(
                    &format!("v{i}"),
                    now - Duration::days(1),
                    "product_viewed",
                    serde_json::json!({"product_id": format!("p{i}"), "category": cat}),
                ))
                .unwrap();
        }
        profile
            .apply(&event(
                "o1",
                now - Duration::days(30),
                "order_placed",
                serde_json::json!({"order_id": "o1", "currency": "EUR",
                "lines": [{"product_id": "p1", "unit_price": "120", "quantity": 1}]}),
            ))
            .unwrap();
        let facts = Facts {
            profile: &profile,
            churn_risk: Some(RiskBand::Medium),
            clv: None,
            send_time_confidence: Some(0.4),
            loyalty_tier: None,
            loyalty_early_access: false,
        };
        let yes = [
            "country: [AT, DE]",
            "language: [de]",
            "attribute: {name: segment, values: [vip]}",
            "attribute: {name: size, values: ['42']}",
            "category_affinity: {category: Shoes, min_share: 0.7}",
            "orders: {min: 1, max: 1}",
            "days_since_order: {min: 29, max: 31}",
            "spend: {currency: EUR, min: 100}",
            "churn_risk: [medium, high]",
            "send_time_confidence: {min: 0.3}",
            "all: [{country: [DE]}, {not: {churn_risk: [low]}}]",
            "any: [{country: [FR]}, {orders: {min: 1}}]",
        ];
        let no = [
            "country: [FR]",
            "category_affinity: {category: Socks, min_share: 0.5}",
            "orders: {min: 2}",
            "spend: {currency: USD, min: 1}",
            "clv: {currency: EUR, min: 10}",
            "loyalty_tier: [gold]",
            "not: {country: [DE]}",
            "all: [{country: [DE]}, {churn_risk: [low]}]",
        ];
        for f in yes {
            assert!(filter(f).matches(&facts, now), "{f} should match");
        }
        for f in no {
            assert!(!filter(f).matches(&facts, now), "{f} should not match");
        }
    }
}
