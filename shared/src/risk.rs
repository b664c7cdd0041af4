//! Churn risk as audiences and offers speak of it: three bands of the churn model's probability
//! that a customer is still active. Vocabulary below campaigns and loyalty, which both use it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Churn risk bands, from the churn model's probability of being alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    Low,
    Medium,
    High,
}

impl RiskBand {
    pub fn name(self) -> &'static str {
        match self {
            RiskBand::Low => "low",
            RiskBand::Medium => "medium",
            RiskBand::High => "high",
        }
    }

    /// The band of a probability of being alive: high below 0.3, medium below 0.6.
    pub fn of(p_alive: f64) -> RiskBand {
        if p_alive < 0.3 {
            RiskBand::High
        } else if p_alive < 0.6 {
            RiskBand::Medium
        } else {
            RiskBand::Low
        }
    }
}
