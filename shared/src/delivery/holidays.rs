//! Public holidays the quiet-hours rules close on, as data: fixed dates and those that move with
//! Easter (computed, so every year is covered).

use chrono::{Datelike, Duration, NaiveDate};

/// Easter Sunday of `year` (Gregorian calendar; the anonymous Gregorian algorithm).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

/// France's public holidays: 1 January, Easter Monday, 1 and 8 May, Ascension, Whit Monday,
/// 14 July, 15 August, 1 and 11 November, 25 December.
const FRANCE_FIXED: [(u32, u32); 8] = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)];
const FRANCE_FROM_EASTER: [i64; 3] = [1, 39, 50];

/// Whether `day` is a public holiday in `country` (ISO code; only the countries whose rules
/// close on holidays are known).
pub fn is_holiday(country: &str, day: NaiveDate) -> bool {
    match country {
        "FR" => {
            FRANCE_FIXED.contains(&(day.month(), day.day()))
                || easter(day.year()).is_some_and(|e| FRANCE_FROM_EASTER.iter().any(|d| e + Duration::days(*d) == day))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_matches_the_published_dates() {
        for (y, m, d) in [(2024, 3, 31), (2025, 4, 20), (2026, 4, 5), (2027, 3, 28), (2038, 4, 25), (2000, 4, 23)] {
            assert_eq!(easter(y), NaiveDate::from_ymd_opt(y, m, d), "{y}");
        }
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        // Ascension 2026 is 14 May, Whit Monday 25 May.
        for (m, d) in [(1, 1), (4, 6), (5, 14), (5, 25), (7, 14), (12, 25)] {
            assert!(is_holiday("FR", day(m, d)), "{m}-{d}");
        }
        assert!(!is_holiday("FR", day(4, 7)));
        assert!(!is_holiday("DE", day(12, 25)), "only the countries whose rules close on holidays");
    }
}
