//! Scores from fitted models: P(alive), expected purchases and spend, CLV, a risk band, and a
//! sentence a marketer understands.

use serde::{Deserialize, Serialize};

use super::bgnbd::BgNbd;
use super::data::{Summary, Unit};
use super::gamma_gamma::GammaGamma;
use super::pareto::ParetoNbd;

/// The purchase-timing model in use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum Timing {
    Bgnbd(BgNbd),
    ParetoNbd(ParetoNbd),
}

impl Timing {
    pub fn p_alive(&self, x: u32, t_x: f64, t: f64) -> f64 {
        match self {
            Timing::Bgnbd(m) => m.p_alive(x, t_x, t),
            Timing::ParetoNbd(m) => m.p_alive(x, t_x, t),
        }
    }

    pub fn expected_purchases(&self, x: u32, t_x: f64, t: f64, horizon: f64) -> f64 {
        self.expected_purchases_if_alive(x, t, horizon) * self.p_alive(x, t_x, t)
    }

    pub fn expected_purchases_if_alive(&self, x: u32, t: f64, horizon: f64) -> f64 {
        match self {
            Timing::Bgnbd(m) => m.expected_purchases_if_alive(x, t, horizon),
            Timing::ParetoNbd(m) => m.expected_purchases_if_alive(x, t, horizon),
        }
    }
}

/// How scores are computed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    pub timing: Timing,
    /// Spend per transaction; without it, expected spend and CLV are not computed.
    pub spend: Option<GammaGamma>,
    /// Horizon for expected purchases and CLV, in the summaries' time unit.
    pub horizon: f64,
    /// Discount rate per time unit (e.g. 0.0018 per week is about 10% a year).
    pub discount_rate: f64,
    /// Steps over the horizon in the CLV sum.
    pub clv_steps: u32,
    pub unit: Unit,
}

/// Where a customer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    Active,
    Watch,
    AtRisk,
    Lost,
}

impl RiskBand {
    pub fn of(p_alive: f64) -> Self {
        match p_alive {
            p if p >= 0.6 => RiskBand::Active,
            p if p >= 0.3 => RiskBand::Watch,
            p if p >= 0.1 => RiskBand::AtRisk,
            _ => RiskBand::Lost,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RiskBand::Active => "active",
            RiskBand::Watch => "watch",
            RiskBand::AtRisk => "at risk",
            RiskBand::Lost => "probably lost",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The inputs, so every score can be traced.
    pub frequency: u32,
    pub recency: f64,
    #[serde(rename = "T")]
    pub age: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monetary_value: Option<f64>,
    pub p_alive: f64,
    pub expected_purchases: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_spend: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clv: Option<f64>,
    /// CLV if the customer is still active: what keeping them is worth. Unlike the CLV, it does
    /// not collapse as they slip away, which is what win-back needs to rank them by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_if_active: Option<f64>,
    pub band: RiskBand,
    pub explanation: String,
}

impl Scoring {
    /// Scores one customer.
    pub fn score(&self, s: &Summary) -> Score {
        let numbers = self.numbers(s);
        Score {
            frequency: s.frequency,
            recency: s.recency,
            age: s.age,
            monetary_value: s.monetary_value,
            p_alive: numbers.p_alive,
            expected_purchases: numbers.expected_purchases,
            expected_spend: numbers.expected_spend,
            clv: numbers.clv,
            value_if_active: numbers.value_if_active,
            band: RiskBand::of(numbers.p_alive),
            explanation: self.explain(s, &numbers),
        }
    }

    /// The numbers alone, without allocation: what bulk scoring needs.
    pub fn numbers(&self, s: &Summary) -> Numbers {
        let (x, t_x, t) = (s.frequency, s.recency, s.age);
        let p_alive = self.timing.p_alive(x, t_x, t);
        let spend = self.spend.map(|g| g.expected_spend(x, s.monetary_value.unwrap_or(0.0))).filter(|v| v.is_finite());
        let steps = self.clv_steps.max(1);
        let step = self.horizon / f64::from(steps);
        // CLV: expected purchases in each step, valued at expected spend, discounted to today.
        let mut previous = 0.0;
        let mut discounted = 0.0;
        let step_discount = (1.0 + self.discount_rate).powf(-step);
        let mut discount = 1.0;
        for k in 1..=steps {
            let cumulative = self.timing.expected_purchases_if_alive(x, t, step * f64::from(k));
            discount *= step_discount;
            discounted += (cumulative - previous) * discount;
            previous = cumulative;
        }
        Numbers {
            p_alive,
            expected_purchases: previous * p_alive,
            expected_spend: spend,
            clv: spend.map(|m| m * discounted * p_alive),
            value_if_active: spend.map(|m| m * discounted),
        }
    }

    fn explain(&self, s: &Summary, n: &Numbers) -> String {
        let days = |v: f64| (v * self.unit.days()).round() as i64;
        let since = days(s.age - s.recency);
        let chance = format!("{:.0}% likely still a customer ({})", n.p_alive * 100.0, RiskBand::of(n.p_alive).label());
        if s.frequency == 0 {
            // BG/NBD lets customers lapse only after a repeat purchase, so its P(alive) of a
            // one-time buyer is 1 and says nothing: say what it expects instead.
            let outlook = match self.timing {
                Timing::Bgnbd(_) => {
                    format!("expected {:.2} orders in the next {} days", n.expected_purchases, days(self.horizon))
                }
                Timing::ParetoNbd(_) => chance,
            };
            format!("one order, {since} days ago, and none since; {outlook}")
        } else {
            let every = days(s.recency / f64::from(s.frequency)).max(1);
            format!(
                "last order {since} days ago; usually orders every {every} days ({} orders); {chance}",
                s.frequency + 1
            )
        }
    }
}

/// Scores without the explanation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Numbers {
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub expected_spend: Option<f64>,
    pub clv: Option<f64>,
    /// CLV should the customer still be active (computed directly, not as CLV / P(alive), which
    /// is 0 / 0 for a regular long gone).
    pub value_if_active: Option<f64>,
}

/// Magnitudes below this are stored as 0: DynamoDB cannot store numbers below 1e-130, and a
/// probability or a value this small means nothing but "none".
const NEGLIGIBLE: f64 = 1e-30;

/// A score with a number no store can hold (not finite): which field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the score's {0} is not a finite number")]
pub struct Unstorable(pub &'static str);

impl Score {
    /// The score with every number storable and meaning the same: negligible magnitudes (a
    /// P(alive) of 1e-140) become 0, and a number that is not finite is an error naming it.
    pub fn storable(mut self) -> Result<Score, Unstorable> {
        fn fix(name: &'static str, x: &mut f64) -> Result<(), Unstorable> {
            if !x.is_finite() {
                return Err(Unstorable(name));
            }
            if x.abs() < NEGLIGIBLE {
                *x = 0.0;
            }
            Ok(())
        }
        fix("recency", &mut self.recency)?;
        fix("T", &mut self.age)?;
        fix("p_alive", &mut self.p_alive)?;
        fix("expected_purchases", &mut self.expected_purchases)?;
        for (name, v) in [
            ("monetary_value", &mut self.monetary_value),
            ("expected_spend", &mut self.expected_spend),
            ("clv", &mut self.clv),
            ("value_if_active", &mut self.value_if_active),
        ] {
            if let Some(x) = v {
                fix(name, x)?;
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoring() -> Scoring {
        Scoring {
            timing: Timing::Bgnbd(BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }),
            spend: Some(GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 }),
            horizon: 52.0,
            discount_rate: 0.0018,
            clv_steps: 12,
            unit: Unit::Week,
        }
    }

    fn summary(x: u32, t_x: f64, t: f64, m: f64) -> Summary {
        Summary { customer_id: "c".into(), frequency: x, recency: t_x, age: t, monetary_value: Some(m) }
    }

    #[test]
    fn a_lapsed_regular_is_at_risk_and_the_reason_says_why() {
        // Bought about every 2 weeks for 18 weeks, then nothing for 21 weeks.
        let s = scoring().score(&summary(8, 18.0, 39.0, 30.0));
        assert!(s.p_alive < 0.3, "{}", s.p_alive);
        assert!(matches!(s.band, RiskBand::AtRisk | RiskBand::Lost));
        assert_eq!(s.explanation.split(';').next().unwrap(), "last order 147 days ago");
        assert!(s.explanation.contains("usually orders every 16 days"), "{}", s.explanation);
        let fresh = scoring().score(&summary(8, 38.0, 39.0, 30.0));
        assert_eq!(fresh.band, RiskBand::Active);
        assert!(fresh.clv.unwrap() > s.clv.unwrap());
    }

    #[test]
    fn a_lapsed_heavy_buyer_scores_storably_and_stays_valuable() {
        // 150 repeat purchases over 30 weeks, then nothing for 270 weeks: P(alive) near 1e-140.
        let raw = scoring().score(&summary(150, 30.0, 300.0, 40.0));
        assert!(raw.p_alive < 1e-100, "{}", raw.p_alive);
        let s = raw.storable().unwrap();
        assert_eq!(s.p_alive, 0.0);
        assert_eq!(s.band, RiskBand::Lost);
        assert!(s.value_if_active.unwrap() > 500.0, "still worth winning back: {:?}", s.value_if_active);
        let doc = serde_json::to_value(&s).unwrap();
        let item = crate::store::Item::new(crate::store::Key::new("C#x", "CHURN"), 1, doc.as_object().unwrap().clone());
        assert!(
            crate::store::check_writes(&[crate::store::Write::Put {
                item,
                condition: crate::store::Condition::Always
            }])
            .is_ok()
        );
        let mut broken = s.clone();
        broken.clv = Some(f64::NAN);
        assert_eq!(broken.storable(), Err(Unstorable("clv")));
    }

    #[test]
    fn clv_is_discounted_expected_purchases_at_expected_spend() {
        let mut sc = scoring();
        let s = summary(3, 20.0, 30.0, 25.0);
        sc.discount_rate = 0.0;
        let undiscounted = sc.score(&s);
        let spend = undiscounted.expected_spend.unwrap();
        assert!((undiscounted.clv.unwrap() - spend * undiscounted.expected_purchases).abs() < 1e-9);
        sc.discount_rate = 0.01;
        assert!(sc.score(&s).clv.unwrap() < undiscounted.clv.unwrap());
        let one = scoring().score(&summary(0, 0.0, 30.0, 0.0));
        assert!(one.explanation.starts_with("one order, 210 days ago"), "{}", one.explanation);
        assert!(one.explanation.contains("expected 0."), "{}", one.explanation);
    }
}
