//! Which variant a customer gets: a Thompson-sampling bandit over the campaign's variants, and
//! the holdout that gets nothing.
//!
//! Each variant's response rate has a Beta posterior: one success per rewarded send (a click or
//! a conversion; a send counts once however often it is clicked), one failure per send without.
//! A send draws a rate from each posterior and takes the best draw, so a variant that does
//! better gets more of the sends, and one the data cannot yet tell apart still gets tried.
//!
//! Both choices are deterministic in the send's key (customer, campaign, occurrence): a retried
//! or redelivered send picks the same variant, and a customer is in or out of a campaign's
//! holdout for good (it does not depend on the occurrence, so a held-out customer is measured
//! against every send they did not get).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};

use super::Campaign;
use crate::ids::{CustomerId, VariantId};

/// What is known about one variant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arm {
    pub sends: u64,
    /// Sends clicked or converted (each counted once).
    pub rewards: u64,
}

impl Arm {
    /// The posterior's parameters, from a flat prior. Rewards can outnumber the sends counted
    /// when they arrive first; such a variant is taken at its rewards.
    fn posterior(&self) -> (f64, f64) {
        let sends = self.sends.max(self.rewards);
        (1.0 + self.rewards as f64, 1.0 + (sends - self.rewards) as f64)
    }

    /// The posterior mean response rate.
    pub fn mean(&self) -> f64 {
        let (a, b) = self.posterior();
        a / (a + b)
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        let (a, b) = self.posterior();
        Beta::new(a, b).map_or_else(|_| self.mean(), |d| d.sample(rng))
    }
}

/// A stable 64-bit seed from a key, the same on every platform and run.
fn seed(key: &str) -> u64 {
    crate::hash::fnv1a64(key.as_bytes())
}

/// Whether `customer` is in `campaign`'s holdout (its `holdout_percent` of customers, drawn by
/// hashing the two ids; none for a transactional campaign).
pub fn held_out(campaign: &Campaign, customer: &CustomerId) -> bool {
    // A notice the customer needs is never held back.
    if campaign.kind == super::Kind::Transactional {
        return false;
    }
    let bucket = crate::hash::bucket(&format!("holdout/{}/{customer}", campaign.id), 10_000);
    f64::from(bucket) < campaign.holdout_percent * 100.0
}

/// The variant for the send named `key`, given what is known about each (in the campaign's
/// order; a variant missing from `arms` counts as untried). `None` when the campaign has none.
pub fn choose<'a>(campaign: &'a Campaign, arms: &[Arm], key: &str) -> Option<&'a VariantId> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed(key));
    let untried = Arm::default();
    let mut best: Option<(usize, f64)> = None;
    for i in 0..campaign.variants.len() {
        let d = arms.get(i).unwrap_or(&untried).draw(&mut rng);
        if best.is_none_or(|(_, b)| d > b) {
            best = Some((i, d));
        }
    }
    best.map(|(i, _)| &campaign.variants[i].id)
}

/// The share of sends each variant gets now: the probability its draw is the best, estimated
/// from `draws` draws (seeded, so the same figures every time for the same counts).
pub fn allocation(arms: &[Arm], draws: u32) -> Vec<f64> {
    if arms.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed("allocation"));
    let mut wins = vec![0u32; arms.len()];
    for _ in 0..draws.max(1) {
        let (i, _) = arms
            .iter()
            .map(|a| a.draw(&mut rng))
            .enumerate()
            .fold((0, f64::MIN), |best, (i, d)| if d > best.1 { (i, d) } else { best });
        wins[i] += 1;
    }
    wins.iter().map(|w| f64::from(*w) / f64::from(draws.max(1))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn campaign(variants: usize, holdout_percent: f64) -> Campaign {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/cart-abandoned.yaml");
        let (c, problems) = super::super::load::read("c", &std::fs::read_to_string(path).unwrap());
        let mut c = c.unwrap_or_else(|| panic!("{problems:?}"));
        let first = c.variants[0].clone();
        c.variants = (0..variants)
            .map(|i| super::super::Variant { id: VariantId::new(format!("v{i}")).unwrap(), ..first.clone() })
            .collect();
        c.holdout_percent = holdout_percent;
        c
    }

    #[test]
    fn the_holdout_is_its_share_of_customers_and_fixed_per_customer() {
        let c = campaign(2, 10.0);
        let ids: Vec<CustomerId> = (0..20_000).map(|i| CustomerId::new(format!("c-{i}")).unwrap()).collect();
        let held = ids.iter().filter(|id| held_out(&c, id)).count();
        assert!((1_800..=2_200).contains(&held), "{held} of 20,000 held out at 10%");
        assert!(ids.iter().all(|id| held_out(&c, id) == held_out(&c, id)));
        let none = campaign(2, 0.0);
        assert_eq!(ids.iter().filter(|id| held_out(&none, id)).count(), 0);
    }

    /// Simulated sends to three variants whose true click rates are 2%, 3% and 5%: the bandit,
    /// learning from each outcome, sends most to the best one and collects more clicks than a
    /// uniform split of the same sends.
    #[test]
    fn thompson_sampling_finds_the_best_variant_and_beats_a_uniform_split() {
        let c = campaign(3, 0.0);
        let truth = [0.02, 0.03, 0.05];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut arms = vec![Arm::default(); 3];
        let mut clicks = 0u64;
        let sends = 20_000;
        for n in 0..sends {
            let v = choose(&c, &arms, &format!("c-{n}#cart#1")).unwrap();
            let i = c.variants.iter().position(|x| &x.id == v).unwrap();
            arms[i].sends += 1;
            if rng.random::<f64>() < truth[i] {
                arms[i].rewards += 1;
                clicks += 1;
            }
        }
        let uniform: f64 = truth.iter().sum::<f64>() / 3.0 * f64::from(sends);
        assert!(arms[2].sends > 12_000, "the best variant gets most sends: {arms:?}");
        assert!(clicks as f64 > uniform * 1.25, "{clicks} clicks against {uniform:.0} for a uniform split");
        let share = allocation(&arms, 5_000);
        assert!(share[2] > 0.9 && (share.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{share:?}");
        // The same send always gets the same variant.
        assert_eq!(choose(&c, &arms, "c-1#cart#1"), choose(&c, &arms, "c-1#cart#1"));
    }

    #[test]
    fn without_data_every_variant_gets_its_share_and_none_without_variants() {
        let c = campaign(2, 0.0);
        let first = (0..4_000).filter(|n| choose(&c, &[], &format!("c-{n}")) == Some(&c.variants[0].id)).count();
        assert!((1_800..=2_200).contains(&first), "{first} of 4,000");
        let share = allocation(&[Arm::default(), Arm::default()], 10_000);
        assert!((share[0] - 0.5).abs() < 0.03, "{share:?}");
        // More rewards than counted sends (a click recorded first) is read, not a panic.
        assert!(Arm { sends: 1, rewards: 3 }.mean() > 0.5);
        assert_eq!(choose(&campaign(0, 0.0), &[], "k"), None);
    }
}
