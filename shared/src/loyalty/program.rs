//! The loyalty program as marketers write it (one YAML file), and the checks it passes before
//! it is deployed.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::{Finding, Findings};
use crate::ids::{Category, Ident, ProductId};
use crate::money::{Amount, Currency};
use crate::risk::RiskBand;

/// Reserved actions Kairos awards by itself; every other action name matches the
/// `action_performed` events that carry it.
pub const FIRST_ORDER: &str = "first_order";
pub const BIRTHDAY: &str = "birthday";

/// A loyalty program, as written in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub id: Ident,
    pub name: String,
    /// The currency points are earned in: `points_per_unit` points per whole unit of it.
    pub currency: Currency,
    /// Points per whole unit of `currency` paid for goods (after discounts), before rules
    /// multiply it, e.g. 1.
    pub points_per_unit: Amount,
    /// What one unit of another currency is worth in `currency` (`USD: 0.92`). An order in a
    /// currency neither `currency` nor listed here earns nothing, and its ledger entry says so.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub currencies: BTreeMap<Currency, Amount>,
    /// Earn rules, evaluated in order (see [`EarnRule`]).
    pub earn: Vec<EarnRule>,
    /// Days points stay pending (not yet spendable) after the purchase: the return window.
    #[serde(default)]
    pub pending_days: u32,
    /// When points expire (never, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Tiers>,
    /// What points can be spent on.
    #[serde(default)]
    pub rewards: Vec<Reward>,
    /// Personal offers the nightly job chooses per customer, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<OfferRule>,
}

/// One earn rule. A **purchase rule** (with `multiplier`) earns `points_per_unit × multiplier`
/// per unit paid for each order line it matches (every line, or those of its `category`,
/// `product` or `brand`); an **action rule** (with `action` and `points`) earns a fixed bonus for
/// an action: `first_order` and `birthday` (awarded by Kairos), or any name an
/// `action_performed` event carries (`review`, `referral`, …). Rules are evaluated in order;
/// every matching rule earns, until one with `stop: true` matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnRule {
    pub id: Ident,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Ident>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// No later rule applies to what this one matched.
    #[serde(default)]
    pub stop: bool,
}

impl EarnRule {
    pub fn is_purchase(&self) -> bool {
        self.action.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// Points earned in a month expire at the end of the month this many months later, oldest
    /// first.
    pub months: u32,
    /// How many days before points expire customers are told (the `points_expiring` event).
    #[serde(default = "thirty")]
    pub notice_days: u32,
}

fn thirty() -> u32 {
    30
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// What qualifies: points earned, or spend in the program currency.
    pub qualify_by: QualifyBy,
    /// The rolling window: this calendar month and the months before it, in the customer's zone.
    pub window_months: u32,
    /// Lowest first; the first must start at 0.
    pub levels: Vec<Tier>,
    #[serde(default)]
    pub downgrade: Downgrade,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QualifyBy {
    Points,
    Spend,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub id: Ident,
    pub name: String,
    /// Points (or whole units of spend) in the window needed to reach it.
    pub min: u64,
    /// Multiplies the points purchases earn (1.25 for a quarter more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earn_multiplier: Option<Amount>,
    /// Audiences can select members with early access (`loyalty_early_access`).
    #[serde(default)]
    pub early_access: bool,
}

/// How a member falls back when the window no longer qualifies them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Downgrade {
    /// Days below the tier's minimum before the member moves down (0: at the next evaluation).
    #[serde(default)]
    pub grace_days: u32,
    /// Move down one level at a time, not straight to the level the window qualifies for.
    #[serde(default)]
    pub one_level_at_a_time: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    pub id: Ident,
    pub name: String,
    /// Points it costs.
    pub cost: u64,
    pub gives: Gives,
    /// The start of each generated code, e.g. `REWARD` → `REWARD-7QX2M9K4`.
    #[serde(default = "reward_prefix")]
    pub code_prefix: String,
}

fn reward_prefix() -> String {
    "REWARD".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Gives {
    AmountOff { amount: Amount, currency: Currency },
    PercentOff(u32),
    FreeShipping,
    Product { product_id: ProductId },
}

/// A personal offer: who gets it, and what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferRule {
    pub id: Ident,
    /// What customers are told, e.g. "Double points on your favourite category".
    pub name: String,
    #[serde(default)]
    pub when: OfferWhen,
    pub give: OfferGive,
    /// Days before the same customer can get this offer again.
    #[serde(default = "ninety")]
    pub cooldown_days: u32,
}

fn ninety() -> u32 {
    90
}

/// Conditions, all of which must hold (none: everyone).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferWhen {
    /// The nightly churn model's risk band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn_risk: Option<Vec<RiskBand>>,
    /// At least this value if still active (the churn model's), per currency: `{EUR: 200}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_value: Option<BTreeMap<Currency, Amount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<Ident>>,
    /// The birthday is within this many days (0: today), in the customer's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_within_days: Option<u32>,
    /// The customer has a favourite category (what they browse and buy most).
    #[serde(default)]
    pub has_favourite_category: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OfferGive {
    /// Purchases earn `multiplier` times the points for `days`, on `on`.
    Multiplier { multiplier: Amount, on: OfferScope, days: u32 },
    /// Points at once (active, not pending).
    Bonus { points: u32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OfferScope {
    Everything,
    /// The customer's favourite category at the time the offer is made.
    FavouriteCategory,
    Category(Category),
}

/// Highest multiplier or rate a rule may use: far beyond any real program, small enough that
/// every product of them stays exact.
pub const MAX_FACTOR: i128 = 1000 * 1_000_000;

impl Program {
    pub fn tier(&self, id: &str) -> Option<&Tier> {
        self.tiers.as_ref()?.levels.iter().find(|t| t.id.as_str() == id)
    }

    pub fn reward(&self, id: &str) -> Option<&Reward> {
        self.rewards.iter().find(|r| r.id.as_str() == id)
    }

    /// What one unit of `currency` is worth in the program's currency, in millionths; `None`
    /// if orders in it earn nothing.
    pub fn rate(&self, currency: Currency) -> Option<i128> {
        if currency == self.currency {
            return Some(1_000_000);
        }
        self.currencies.get(&currency).map(Amount::micros)
    }

    /// Everything wrong with the program.
    pub fn check(&self) -> Vec<Finding> {
        let mut out = Findings::default();
        if self.name.trim().is_empty() {
            out.error("name", "is empty (give the program the name customers know it by)");
        }
        factor(&mut out, "points_per_unit", self.points_per_unit, true);
        for (currency, rate) in &self.currencies {
            if *currency == self.currency {
                out.error(&format!("currencies.{currency}"), "is the program's own currency (it earns at 1)");
            }
            factor(&mut out, &format!("currencies.{currency}"), *rate, true);
        }
        if self.pending_days > 365 {
            out.error("pending_days", &format!("is {} (at most 365: a return window of a year)", self.pending_days));
        }
        if let Some(e) = &self.expiry {
            if !(1..=120).contains(&e.months) {
                out.error("expiry.months", &format!("is {} (expected 1 to 120 months)", e.months));
            }
            if e.notice_days > 90 {
                out.error("expiry.notice_days", &format!("is {} (at most 90 days)", e.notice_days));
            }
            if u64::from(self.pending_days) + 1 >= u64::from(e.months) * 28 {
                out.error(
                    "pending_days",
                    &format!(
                        "is {} days, but points expire {} month(s) after they are earned: they would expire before they can be spent",
                        self.pending_days, e.months
                    ),
                );
            }
        }
        self.check_earn(&mut out);
        self.check_tiers(&mut out);
        self.check_rewards(&mut out);
        self.check_offers(&mut out);
        out.0.sort_by_key(|f| f.severity);
        out.0
    }

    fn check_earn(&self, out: &mut Findings) {
        if self.earn.is_empty() {
            out.error("earn", "is empty (at least one rule, e.g. `- {id: base, multiplier: 1}`)");
        }
        if self.earn.len() > 200 {
            out.error("earn", &format!("has {} rules (at most 200)", self.earn.len()));
        }
        let mut ids = HashSet::new();
        for (i, rule) in self.earn.iter().enumerate() {
            let at = |f: &str| format!("earn[{i}].{f}");
            if !ids.insert(rule.id.as_str()) {
                out.error(&at("id"), &format!("{} is the id of an earlier rule", rule.id));
            }
            match (&rule.action, rule.multiplier, rule.points) {
                (None, Some(m), None) => factor(out, &at("multiplier"), m, false),
                (None, None, _) => out.error(
                    &at("multiplier"),
                    "is missing: a purchase rule earns `points_per_unit × multiplier` per unit paid (or give `action` and `points` for a bonus)",
                ),
                (None, Some(_), Some(_)) => {
                    out.error(&at("points"), "is for action rules: a purchase rule earns by its multiplier")
                }
                (Some(_), _, None) => out.error(&at("points"), "is missing: an action rule gives a fixed number of points"),
                (Some(_), Some(_), _) => {
                    out.error(&at("multiplier"), "is for purchase rules: an action rule gives fixed `points`")
                }
                (Some(_), None, Some(0)) => out.error(&at("points"), "is 0: the rule would never give anything"),
                (Some(_), None, Some(_)) => {}
            }
            if rule.action.is_some() && (rule.category.is_some() || rule.product.is_some() || rule.brand.is_some()) {
                out.error(
                    &at("action"),
                    "cannot be combined with category, product or brand (those match order lines)",
                );
            }
            if rule.brand.as_deref().is_some_and(|b| b.trim().is_empty() || b.len() > 128) {
                out.error(&at("brand"), "must be 1 to 128 characters");
            }
        }
        if !self.earn.iter().any(EarnRule::is_purchase) {
            out.warning("earn", "has no purchase rule: orders earn nothing");
        }
    }

    fn check_tiers(&self, out: &mut Findings) {
        let Some(tiers) = &self.tiers else { return };
        if !(1..=36).contains(&tiers.window_months) {
            out.error("tiers.window_months", &format!("is {} (expected 1 to 36 months)", tiers.window_months));
        }
        if tiers.levels.is_empty() || tiers.levels.len() > 20 {
            out.error("tiers.levels", "must list 1 to 20 tiers, lowest first");
        }
        if tiers.levels.first().is_some_and(|t| t.min != 0) {
            out.error("tiers.levels[0].min", "must be 0: the first tier is where every member starts");
        }
        if tiers.downgrade.grace_days > 365 {
            out.error("tiers.downgrade.grace_days", "must be at most 365");
        }
        let mut ids = HashSet::new();
        for (i, t) in tiers.levels.iter().enumerate() {
            if !ids.insert(t.id.as_str()) {
                out.error(&format!("tiers.levels[{i}].id"), &format!("{} is the id of an earlier tier", t.id));
            }
            if i > 0 && t.min <= tiers.levels[i - 1].min {
                out.error(
                    &format!("tiers.levels[{i}].min"),
                    &format!("is {} but must be above the tier before it ({})", t.min, tiers.levels[i - 1].min),
                );
            }
            if t.min > 1_000_000_000_000 {
                out.error(&format!("tiers.levels[{i}].min"), "is above 10^12");
            }
            if let Some(m) = t.earn_multiplier {
                factor(out, &format!("tiers.levels[{i}].earn_multiplier"), m, true);
                if m.micros() < 1_000_000 {
                    out.error(
                        &format!("tiers.levels[{i}].earn_multiplier"),
                        &format!("is {m}: a tier's multiplier adds to what purchases earn (at least 1)"),
                    );
                }
            }
            if t.name.trim().is_empty() {
                out.error(&format!("tiers.levels[{i}].name"), "is empty");
            }
        }
    }

    fn check_rewards(&self, out: &mut Findings) {
        let mut ids = HashSet::new();
        for (i, r) in self.rewards.iter().enumerate() {
            let at = |f: &str| format!("rewards[{i}].{f}");
            if !ids.insert(r.id.as_str()) {
                out.error(&at("id"), &format!("{} is the id of an earlier reward", r.id));
            }
            if r.cost == 0 || r.cost > 1_000_000_000_000 {
                out.error(&at("cost"), &format!("is {} (expected 1 to 10^12 points)", r.cost));
            }
            if r.name.trim().is_empty() {
                out.error(&at("name"), "is empty");
            }
            let prefix_ok = !r.code_prefix.is_empty()
                && r.code_prefix.len() <= 20
                && r.code_prefix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !prefix_ok {
                out.error(
                    &at("code_prefix"),
                    "must be 1 to 20 capital letters or digits (codes are typed at checkout)",
                );
            }
            match &r.gives {
                Gives::PercentOff(p) if !(1..=100).contains(p) => {
                    out.error(&at("gives.percent_off"), &format!("is {p} (expected 1 to 100)"))
                }
                Gives::AmountOff { amount, currency } if !amount.fits(*currency) || *amount == Amount::ZERO => out
                    .error(
                        &at("gives.amount_off.amount"),
                        &format!("must be above 0 with at most {} decimals for {currency}", currency.exponent()),
                    ),
                _ => {}
            }
        }
    }

    fn check_offers(&self, out: &mut Findings) {
        let mut ids = HashSet::new();
        for (i, o) in self.offers.iter().enumerate() {
            let at = |f: &str| format!("offers[{i}].{f}");
            if !ids.insert(o.id.as_str()) {
                out.error(&at("id"), &format!("{} is the id of an earlier offer", o.id));
            }
            if o.name.trim().is_empty() {
                out.error(&at("name"), "is empty (customers are told it)");
            }
            match &o.give {
                OfferGive::Multiplier { multiplier, days, .. } => {
                    factor(out, &at("give.multiplier.multiplier"), *multiplier, true);
                    if multiplier.micros() < 1_000_000 {
                        out.error(
                            &at("give.multiplier.multiplier"),
                            &format!("is {multiplier}: an offer's multiplier adds to what purchases earn (at least 1)"),
                        );
                    }
                    if !(1..=90).contains(days) {
                        out.error(&at("give.multiplier.days"), &format!("is {days} (expected 1 to 90)"));
                    }
                }
                OfferGive::Bonus { points: 0 } => out.error(&at("give.bonus.points"), "is 0"),
                OfferGive::Bonus { .. } => {}
            }
            if !(1..=3650).contains(&o.cooldown_days) {
                out.error(&at("cooldown_days"), "must be 1 to 3650");
            }
            if let Some(tiers) = &o.when.tiers {
                for (j, t) in tiers.iter().enumerate() {
                    if self.tier(t.as_str()).is_none() {
                        out.error(
                            &format!("offers[{i}].when.tiers[{j}]"),
                            &format!("{t} is not a tier of the program"),
                        );
                    }
                }
            }
            if o.when.birthday_within_days.is_some_and(|d| d > 31) {
                out.error(&at("when.birthday_within_days"), "must be at most 31");
            }
            if matches!(o.give, OfferGive::Multiplier { on: OfferScope::FavouriteCategory, .. })
                && !o.when.has_favourite_category
            {
                out.warning(
                    &at("give.multiplier.on"),
                    "is the favourite category, but `when` does not ask for one: customers without one get it on nothing",
                );
            }
        }
    }
}

/// A rate or multiplier: above 0 (or, for a rule's multiplier, 0 to earn nothing), at most 1,000.
fn factor(out: &mut Findings, field: &str, value: Amount, positive: bool) {
    if value.micros() > MAX_FACTOR {
        out.error(field, &format!("is {value} (at most 1000)"));
    } else if positive && value == Amount::ZERO {
        out.error(field, "is 0 (expected a number above 0)");
    }
}

/// The JSON Schema loyalty program files are checked against (`schema/loyalty.v1.json`).
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Program>()
        .to_value();
    if let Some(o) = schema.as_object_mut() {
        o.insert("$id".into(), "https://kairos.dev/schema/loyalty.v1.json".into());
        o.insert("title".into(), "Kairos loyalty program (v1)".into());
    }
    schema
}

/// Program files are small.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The program in `text` (named `file` in problems) and everything wrong with it.
pub fn read(file: &str, text: &str) -> (Option<Program>, Vec<crate::findings::Problem>) {
    match crate::findings::read_yaml::<Program>(
        file,
        text,
        MAX_FILE_BYTES,
        "program fields (id, name, currency, earn, …)",
    ) {
        Ok((program, doc)) => {
            let problems = crate::findings::located(file, &doc, program.check());
            (Some(program), problems)
        }
        Err(problem) => (None, vec![problem]),
    }
}
