//! The law on quiet hours as an oracle reads it, written apart from the policy's rules: the
//! delivery property test and the simulation's checks hold every message that went against it.

use chrono::{Datelike, NaiveTime, Weekday};

const FLORIDA_AND_OKLAHOMA: [&str; 25] = [
    "239", "305", "321", "352", "386", "407", "448", "561", "656", "689", "727", "754", "772", "786", "813", "850",
    "863", "904", "941", "954", "405", "539", "572", "580", "918",
];

/// The law as the oracle reads it: whether a marketing SMS may go at `local` to `number`.
pub fn law_allows(country: &str, phone: &str, local: chrono::NaiveDateTime) -> bool {
    let h = local.time();
    let t = |hh: u32| NaiveTime::from_hms_opt(hh, 0, 0).unwrap_or(NaiveTime::MIN);
    let us = country == "US" || phone.starts_with("+1");
    let fr = country == "FR" || phone.starts_with("+33");
    if us {
        // Florida's and Oklahoma's laws end marketing texts at 20:00 (their area codes); any
        // other state: the strictest hours any state sets.
        let area = phone.strip_prefix("+1").and_then(|n| n.get(..3)).unwrap_or("");
        let florida = FLORIDA_AND_OKLAHOMA.contains(&area);
        let (from, until) = if florida { (t(8), t(20)) } else { (t(9), t(20)) };
        let from = if !florida && local.weekday() == Weekday::Sun { t(12) } else { from };
        if !(from <= h && h < until && t(8) <= h && h < t(21)) {
            return false;
        }
    }
    if fr
        && (local.weekday() == Weekday::Sun
            || super::holidays::is_holiday("FR", local.date())
            || !(t(8) <= h && h < t(22)))
    {
        return false;
    }
    true
}
