//! Sharing attention between neighbouring hours and similar days.
//!
//! Routines repeat: a customer seen at 19:00 on a Tuesday is likely around at 18:00 or 20:00, and
//! at 19:00 on the other weekdays. Spreading each signal this way lets a handful of signals say
//! something about the whole week, which is what makes the model useful from the first sends.

use crate::week::HOURS_PER_WEEK;

/// Weight given to the hour itself and to 1 and 2 hours either side.
const HOUR_KERNEL: [f64; 5] = [0.1, 0.2, 0.4, 0.2, 0.1];
/// Of a signal's weight: kept on its own day, spread over days of the same kind (weekdays with
/// weekdays, weekend with weekend), spread over days of the other kind.
const SAME_DAY: f64 = 0.5;
const SAME_KIND: f64 = 0.35;
const OTHER_KIND: f64 = 0.15;

fn is_weekend(day: usize) -> bool {
    day >= 5
}

/// How much of day `from`'s mass goes to day `to`.
fn day_share(from: usize, to: usize) -> f64 {
    if from == to {
        SAME_DAY
    } else if is_weekend(from) == is_weekend(to) {
        SAME_KIND / if is_weekend(from) { 1.0 } else { 4.0 }
    } else {
        OTHER_KIND / if is_weekend(from) { 5.0 } else { 2.0 }
    }
}

/// Spreads `masses` over neighbouring hours and similar days; the total is preserved.
pub fn smooth(masses: &[f64; HOURS_PER_WEEK]) -> [f64; HOURS_PER_WEEK] {
    let mut out = [0.0; HOURS_PER_WEEK];
    for (index, &mass) in masses.iter().enumerate() {
        if mass == 0.0 {
            continue;
        }
        for (k, &hour_weight) in HOUR_KERNEL.iter().enumerate() {
            let shifted = (index + HOURS_PER_WEEK + k - 2) % HOURS_PER_WEEK;
            let (day, hour) = (shifted / 24, shifted % 24);
            for to in 0..7 {
                out[to * 24 + hour] += mass * hour_weight * day_share(day, to);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_keeps_the_total_and_the_peak() {
        let mut m = [0.0; HOURS_PER_WEEK];
        m[24 + 19] = 10.0; // Tuesday 19:00
        let s = smooth(&m);
        assert!((s.iter().sum::<f64>() - 10.0).abs() < 1e-9);
        let peak = (0..HOURS_PER_WEEK).max_by(|a, b| s[*a].total_cmp(&s[*b])).unwrap();
        assert_eq!(peak, 24 + 19);
        assert!(s[2 * 24 + 19] > s[5 * 24 + 19], "another weekday gets more than a weekend day");
        assert!(s[24 + 19] > s[2 * 24 + 19]);
    }

    #[test]
    fn day_shares_sum_to_one() {
        for from in 0..7 {
            let total: f64 = (0..7).map(|to| day_share(from, to)).sum();
            assert!((total - 1.0).abs() < 1e-12, "day {from}: {total}");
        }
    }

    #[test]
    fn the_week_wraps_around() {
        let mut m = [0.0; HOURS_PER_WEEK];
        m[HOURS_PER_WEEK - 1] = 1.0; // Sunday 23:00
        let s = smooth(&m);
        assert!(s[0] > 0.0, "Monday 00:00 gets some of Sunday 23:00");
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
