//! Money and dates as a customer reads them: "€1,234.50" in English, "1.234,50 €" in German,
//! "¥1,500" with no minor units, "3 December 2026" / "3. Dezember 2026".

use chrono::{Datelike, NaiveDate};

use crate::money::{Amount, Currency};

/// How one language writes numbers and dates. Unknown languages read as English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    group: char,
    decimal: char,
    /// The currency sign after the number ("12,50 €") rather than before ("€12.50").
    sign_after: bool,
    months: [&'static str; 12],
    /// "3. Dezember 2026" (German) rather than "3 December 2026".
    day_dot: bool,
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DE_MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const ES_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];
const IT_MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];
const NL_MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

impl Style {
    /// The style of a locale tag such as `de-AT`, `fr`, `en_GB` (its language decides).
    pub fn of(locale: &str) -> Style {
        let language = locale.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        let european = |months| Style { group: '.', decimal: ',', sign_after: true, months, day_dot: false };
        match language.as_str() {
            "de" => Style { day_dot: true, ..european(DE_MONTHS) },
            "fr" => Style { group: '\u{202f}', ..european(FR_MONTHS) },
            "es" => european(ES_MONTHS),
            "it" => european(IT_MONTHS),
            "nl" => Style { sign_after: false, ..european(NL_MONTHS) },
            _ => Style { group: ',', decimal: '.', sign_after: false, months: EN_MONTHS, day_dot: false },
        }
    }

    /// `amount` of `currency` with the currency's minor units, rounded half up.
    pub fn money(&self, amount: Amount, currency: Currency) -> String {
        let exponent = currency.exponent();
        let unit = 10i128.pow(6 - exponent.min(6));
        let minor = amount.micros().abs().saturating_add(unit / 2) / unit;
        let scale = 10i128.pow(exponent.min(6));
        let (whole, fraction) = (minor / scale, minor % scale);
        let mut digits = String::new();
        for (i, c) in whole.to_string().chars().enumerate() {
            if i > 0 && (whole.to_string().len() - i) % 3 == 0 {
                digits.push(self.group);
            }
            digits.push(c);
        }
        if exponent > 0 {
            digits.push(self.decimal);
            digits.push_str(&format!("{fraction:0width$}", width = exponent as usize));
        }
        let minus = if amount.micros() < 0 { "-" } else { "" };
        let sign = symbol(currency);
        match (self.sign_after, sign) {
            (true, s) => format!("{minus}{digits}\u{a0}{}", s.unwrap_or(currency.code())),
            (false, Some(s)) => format!("{minus}{s}{digits}"),
            (false, None) => format!("{minus}{}\u{a0}{digits}", currency.code()),
        }
    }

    /// A date in words: "3 December 2026".
    pub fn date(&self, date: NaiveDate) -> String {
        let month = self.months[date.month0() as usize];
        if self.day_dot {
            format!("{}. {month} {}", date.day(), date.year())
        } else {
            format!("{} {month} {}", date.day(), date.year())
        }
    }
}

/// The sign a currency is usually written with, where there is one everyone reads the same.
fn symbol(currency: Currency) -> Option<&'static str> {
    Some(match currency.code() {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "KRW" => "₩",
        "CHF" => "CHF",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(locale: &str, amount: &str, currency: &str) -> String {
        Style::of(locale).money(Amount::parse(amount).unwrap(), Currency::new(currency).unwrap())
    }

    #[test]
    fn money_reads_as_each_language_writes_it() {
        assert_eq!(money("en-US", "1234.5", "USD"), "$1,234.50");
        assert_eq!(money("de-DE", "1234.5", "EUR"), "1.234,50\u{a0}€");
        assert_eq!(money("fr", "1234567.899", "EUR"), "1\u{202f}234\u{202f}567,90\u{a0}€");
        assert_eq!(money("en", "1500", "JPY"), "¥1,500", "no minor units");
        assert_eq!(money("en", "12.3456", "KWD"), "KWD\u{a0}12.346", "three minor units, no shared sign");
        assert_eq!(money("xx", "0.004", "EUR"), "€0.00");
        assert_eq!(money("en", "999999999999", "USD"), "$999,999,999,999.00");
    }

    #[test]
    fn dates_in_words() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(Style::of("en").date(d), "3 December 2026");
        assert_eq!(Style::of("de-AT").date(d), "3. Dezember 2026");
        assert_eq!(Style::of("fr_FR").date(d), "3 décembre 2026");
    }
}
