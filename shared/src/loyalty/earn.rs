//! What an order or an action earns under a program's rules: pure arithmetic, exact to the
//! millionth of a point and rounded down once per rule.

use serde::{Deserialize, Serialize};

use super::ledger::{Award, MAX_POINTS, Month, Points};
use super::program::{EarnRule, Program};
use crate::ids::ProductId;
use crate::money::{Amount, Currency};

const MICRO: i128 = 1_000_000;

/// One order line as the rules see it.
#[derive(Clone, Debug)]
pub struct Line<'a> {
    pub product: &'a ProductId,
    /// The line's own category and the catalogue's category path (any level matches a rule).
    pub categories: Vec<&'a str>,
    pub brand: Option<&'a str>,
    pub quantity: u32,
    /// What was paid for the line: its share of the order's total, in the order's currency.
    pub paid: Amount,
}

/// An order's points by line, kept with its earn entry so that a later refund is valued
/// against what the order earned (whatever the rules are by then).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderBasis {
    pub order_id: String,
    pub currency: Currency,
    /// Paid for goods, in the order's currency.
    pub value: Amount,
    /// Points the purchase earned (what refunds can reverse; bonuses for actions are not).
    pub points: Points,
    /// Of them, taken back at once for refunds that arrived before the order.
    #[serde(default)]
    pub netted: Points,
    /// By product (lines of one product together): the product's hash, the quantity, the
    /// points and what was paid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<(String, u32, Points, Amount)>,
    /// The pending lot the points went to: release day and month earned.
    pub release_on: chrono::NaiveDate,
    pub earned: Month,
    /// The month (member's zone) the order counted toward tiers, and its spend there.
    pub tally: Month,
    pub spend_micros: i64,
}

/// The hash an order line's product is kept by in an [`OrderBasis`].
pub fn product_key(p: &ProductId) -> String {
    format!("{:012x}", crate::hash::mixed64(p.as_str().as_bytes()) & 0xffff_ffff_ffff)
}

/// What a purchase earns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Purchase {
    pub awards: Vec<Award>,
    /// By product: product key, quantity, points, paid (lines of one product together).
    pub lines: Vec<(String, u32, Points, Amount)>,
    /// Paid, in the program's currency (millionths).
    pub spend_micros: i128,
}

impl Purchase {
    pub fn points(&self) -> Points {
        self.awards.iter().fold(0, |sum: Points, a| sum.saturating_add(a.points)).min(MAX_POINTS)
    }
}

/// Multiplies millionths, saturating: every factor is at most 1,000 and every amount far below
/// the i128 range, so saturation only guards against a bug.
fn times(a: i128, factor_micros: i128) -> i128 {
    a.saturating_mul(factor_micros) / MICRO
}

fn whole(micros: i128) -> Points {
    (micros.max(0) / MICRO).min(MAX_POINTS as i128) as Points
}

fn matches(rule: &EarnRule, line: &Line) -> bool {
    rule.is_purchase()
        && rule.category.as_ref().is_none_or(|c| line.categories.contains(&c.as_str()))
        && rule.product.as_ref().is_none_or(|p| p == line.product)
        && rule.brand.as_deref().is_none_or(|b| line.brand.is_some_and(|lb| lb.eq_ignore_ascii_case(b)))
}

/// A multiplier that applies to some lines: a held offer, or the tier's (every line).
pub struct Boost<'a> {
    pub rule: String,
    pub multiplier_micros: i128,
    pub category: Option<&'a str>,
}

/// What the lines of an order paid in `currency` earn: each purchase rule's points (rules in
/// order, a `stop` ending a line's evaluation), then each boost's extra. `None` when orders in
/// `currency` earn nothing under the program.
pub fn purchase(program: &Program, currency: Currency, lines: &[Line], boosts: &[Boost]) -> Option<Purchase> {
    let rate = program.rate(currency)?;
    let per_unit = program.points_per_unit.micros();
    let rules: Vec<&EarnRule> = program.earn.iter().filter(|r| r.is_purchase()).collect();
    let mut by_rule = vec![0_i128; rules.len()];
    let mut by_boost = vec![0_i128; boosts.len()];
    let mut out = Purchase::default();
    for line in lines {
        let paid = times(line.paid.micros(), rate);
        out.spend_micros = out.spend_micros.saturating_add(paid);
        let base = times(paid, per_unit);
        let mut line_micros = 0_i128;
        for (i, rule) in rules.iter().enumerate() {
            if matches(rule, line) {
                let p = times(base, rule.multiplier.map_or(MICRO, |m| m.micros()));
                by_rule[i] += p;
                line_micros += p;
                if rule.stop {
                    break;
                }
            }
        }
        let earned = line_micros;
        for (i, boost) in boosts.iter().enumerate() {
            if boost.category.is_none_or(|c| line.categories.contains(&c)) {
                let extra = times(earned, boost.multiplier_micros - MICRO);
                by_boost[i] += extra;
                line_micros += extra;
            }
        }
        let key = product_key(line.product);
        match out.lines.iter_mut().find(|l| l.0 == key) {
            Some(l) => {
                l.1 = l.1.saturating_add(line.quantity);
                l.2 = l.2.saturating_add(whole(line_micros));
                l.3 = l.3.saturating_add(line.paid);
            }
            None => out.lines.push((key, line.quantity, whole(line_micros), line.paid)),
        }
    }
    for (rule, micros) in rules.iter().zip(by_rule) {
        if whole(micros) > 0 {
            out.awards.push(Award { rule: rule.id.to_string(), points: whole(micros) });
        }
    }
    for (boost, micros) in boosts.iter().zip(by_boost) {
        if whole(micros) > 0 {
            out.awards.push(Award { rule: boost.rule.clone(), points: whole(micros) });
        }
    }
    Some(out)
}

/// The bonus an action earns: every action rule for it in order, until one with `stop`.
pub fn action(program: &Program, name: &str) -> Vec<Award> {
    let mut out = Vec::new();
    for rule in program.earn.iter().filter(|r| r.action.as_ref().is_some_and(|a| a.as_str() == name)) {
        out.push(Award { rule: rule.id.to_string(), points: Points::from(rule.points.unwrap_or(0)) });
        if rule.stop {
            break;
        }
    }
    out
}

/// The lines of an order as paid: each line's share of `total` (what the customer paid for the
/// goods after discounts), in proportion to its list value.
pub fn paid_shares(lines: &[(Amount, u32)], total: Amount) -> Vec<Amount> {
    let values: Vec<i128> = lines.iter().map(|(p, q)| p.micros().saturating_mul(i128::from(*q))).collect();
    let sum: i128 = values.iter().fold(0_i128, |s, v| s.saturating_add(*v));
    if sum <= 0 {
        return values.iter().map(|_| Amount::ZERO).collect();
    }
    values
        .iter()
        .map(|v| {
            // v / sum ≤ 1, so v × total stays far inside i128 for any order an event can hold.
            Amount::from_micros(v.saturating_mul(total.micros()) / sum)
        })
        .collect()
}

/// The share of an order a refund takes back, as a fraction `(taken, of)` of what was paid:
/// whole; by its amount (converted at the program's rates when it is in another currency than
/// the order); else by its lines (what was paid for each unit refunded).
pub fn refund_share(
    basis: &OrderBasis,
    refund: &crate::event::OrderRefunded,
    rate: impl Fn(Currency) -> Option<i128>,
) -> (i128, i128) {
    use crate::event::RefundScope;
    let value = basis.value.micros().max(0);
    if refund.scope == RefundScope::Whole || value == 0 {
        return (1, 1);
    }
    if let Some(amount) = refund.amount {
        let same = refund.currency.is_none_or(|c| c == basis.currency);
        let converted = if same {
            Some((amount.micros(), value))
        } else {
            refund.currency.and_then(|c| Some((times(amount.micros(), rate(c)?), times(value, rate(basis.currency)?))))
        };
        if let Some((taken, of)) = converted.filter(|(_, of)| *of > 0) {
            return (taken.clamp(0, of), of);
        }
    }
    let taken = refund
        .lines
        .iter()
        .map(|r| {
            let key = product_key(&r.product_id);
            basis.lines.iter().find(|l| l.0 == key).map_or(0, |(_, q, _, paid)| {
                paid.micros().saturating_mul(i128::from(r.quantity.get().min(*q))) / i128::from((*q).max(1))
            })
        })
        .fold(0_i128, i128::saturating_add);
    (taken.clamp(0, value), value)
}

/// Points a refund reverses: its share of what the order earned, at most what is left of it
/// after `reversed_before`.
pub fn refund_points(basis: &OrderBasis, share: (i128, i128), reversed_before: Points) -> Points {
    let left = (basis.points - reversed_before).max(0);
    let wanted = i128::from(basis.points).saturating_mul(share.0) / share.1.max(1);
    wanted.clamp(0, i128::from(left)) as Points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::program;

    fn program(yaml: &str) -> Program {
        let (p, problems) = program::read("p.yaml", yaml);
        assert!(problems.is_empty(), "{problems:?}");
        p.unwrap()
    }

    const SHOP: &str = "
id: club
name: Club
currency: EUR
points_per_unit: 1
currencies: {USD: 0.9, JPY: 0.006}
earn:
  - {id: fleet, brand: Fleet, multiplier: 3, stop: true}
  - {id: shoes, category: Shoes, multiplier: 2, stop: true}
  - {id: base, multiplier: 1}
  - {id: first, action: first_order, points: 200}
  - {id: review, action: review, points: 50, stop: true}
  - {id: review-again, action: review, points: 999}
";

    fn line<'a>(p: &'a ProductId, cat: &'a str, brand: Option<&'a str>, paid: &str) -> Line<'a> {
        Line { product: p, categories: vec![cat], brand, quantity: 1, paid: Amount::parse(paid).unwrap() }
    }

    #[test]
    fn rules_apply_in_order_until_one_stops() {
        let p = program(SHOP);
        let (a, b, c) = (ProductId::new("a").unwrap(), ProductId::new("b").unwrap(), ProductId::new("c").unwrap());
        let lines =
            [line(&a, "Shoes", Some("fleet"), "10.50"), line(&b, "Shoes", None, "20"), line(&c, "Bags", None, "5.99")];
        let out = purchase(&p, Currency::new("EUR").unwrap(), &lines, &[]).unwrap();
        let awards: Vec<(&str, Points)> = out.awards.iter().map(|a| (a.rule.as_str(), a.points)).collect();
        assert_eq!(awards, [("fleet", 31), ("shoes", 40), ("base", 5)]);
        assert_eq!(out.lines.iter().map(|l| l.2).collect::<Vec<_>>(), [31, 40, 5]);
        assert_eq!(out.lines[0].3, Amount::parse("10.50").unwrap());
        assert_eq!(action(&p, "review").iter().map(|a| a.points).sum::<Points>(), 50, "the first review rule stops");
    }

    #[test]
    fn other_currencies_earn_at_their_rate_or_not_at_all() {
        let p = program(SHOP);
        let a = ProductId::new("a").unwrap();
        let yen = purchase(&p, Currency::new("JPY").unwrap(), &[line(&a, "Bags", None, "150000")], &[]).unwrap();
        assert_eq!(yen.points(), 900);
        assert!(purchase(&p, Currency::new("CHF").unwrap(), &[line(&a, "Bags", None, "100")], &[]).is_none());
        // A trillion-dong order in a program that takes dong earns without overflow.
        let mut vnd = program(SHOP);
        vnd.currencies.insert(Currency::new("VND").unwrap(), Amount::parse("0.000036").unwrap());
        let huge =
            purchase(&vnd, Currency::new("VND").unwrap(), &[line(&a, "Bags", None, "1200000000000")], &[]).unwrap();
        assert_eq!(huge.points(), 43_200_000);
    }

    #[test]
    fn boosts_add_to_the_lines_they_cover() {
        let p = program(SHOP);
        let (a, b) = (ProductId::new("a").unwrap(), ProductId::new("b").unwrap());
        let lines = [line(&a, "Shoes", None, "10"), line(&b, "Bags", None, "10")];
        let boosts = [
            Boost { rule: "offer:double-shoes".into(), multiplier_micros: 2_000_000, category: Some("Shoes") },
            Boost { rule: "tier:gold".into(), multiplier_micros: 1_500_000, category: None },
        ];
        let out = purchase(&p, Currency::new("EUR").unwrap(), &lines, &boosts).unwrap();
        let awards: Vec<(&str, Points)> = out.awards.iter().map(|a| (a.rule.as_str(), a.points)).collect();
        assert_eq!(awards, [("shoes", 20), ("base", 10), ("offer:double-shoes", 20), ("tier:gold", 15)]);
    }

    #[test]
    fn refunds_take_their_share_by_amount_in_any_currency_or_by_line() {
        let p = program(SHOP);
        let (a, b) = (ProductId::new("a").unwrap(), ProductId::new("b").unwrap());
        // Two lines of one product and one of another, 100 EUR in all.
        let lines = [line(&a, "Bags", None, "30"), line(&a, "Bags", None, "30"), line(&b, "Bags", None, "40")];
        let out = purchase(&p, Currency::new("EUR").unwrap(), &lines, &[]).unwrap();
        assert_eq!(out.lines.len(), 2, "lines of one product together");
        let basis = OrderBasis {
            order_id: "o".into(),
            currency: Currency::new("EUR").unwrap(),
            value: Amount::parse("100").unwrap(),
            points: out.points(),
            netted: 0,
            lines: out.lines,
            release_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            earned: Month { year: 2026, month: 1 },
            tally: Month { year: 2026, month: 1 },
            spend_micros: 100_000_000,
        };
        let refund = |json: serde_json::Value| -> crate::event::OrderRefunded { serde_json::from_value(json).unwrap() };
        let rate = |c: Currency| p.rate(c);
        // Both units of product a: 60 of 100.
        let by_lines = refund(
            serde_json::json!({"order_id": "o", "refund_id": "r", "scope": "lines", "lines": [{"product_id": "a", "quantity": 2}]}),
        );
        assert_eq!(refund_points(&basis, refund_share(&basis, &by_lines, rate), 0), 60);
        // 5,000 JPY at 0.006 is 30 EUR: 30 points, not everything.
        let yen = refund(
            serde_json::json!({"order_id": "o", "refund_id": "r", "scope": "lines", "amount": "5000", "currency": "JPY",
            "lines": [{"product_id": "b", "quantity": 1}]}),
        );
        assert_eq!(refund_points(&basis, refund_share(&basis, &yen, rate), 0), 30);
        // A currency the program has no rate for: valued by its lines (product b, 40).
        let chf = refund(
            serde_json::json!({"order_id": "o", "refund_id": "r", "scope": "lines", "amount": "10", "currency": "CHF",
            "lines": [{"product_id": "b", "quantity": 1}]}),
        );
        assert_eq!(refund_points(&basis, refund_share(&basis, &chf, rate), 0), 40);
        // Never more than is left.
        assert_eq!(refund_points(&basis, (1, 1), 90), 10);
    }

    #[test]
    fn discounts_spread_over_the_lines() {
        let shares = paid_shares(
            &[(Amount::parse("30").unwrap(), 1), (Amount::parse("10").unwrap(), 1)],
            Amount::parse("20").unwrap(),
        );
        assert_eq!(shares, [Amount::parse("15").unwrap(), Amount::parse("5").unwrap()]);
    }
}
