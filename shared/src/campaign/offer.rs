//! A campaign's offer as one customer gets it: their own code and its last day.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::{Offer, OfferValue};
use crate::content::OfferView;
use crate::content::locale::Style;
use crate::money::Amount;

/// The customer's code: the same for the same message (a redelivered send shows the same code),
/// unguessable without the shop's `secret`.
pub fn code(offer: &Offer, secret: &[u8], message_key: &str) -> String {
    crate::codes::code(&offer.code_prefix, secret, message_key)
}

/// What the template shows: the code, its value in the customer's language, and the last day
/// it works in the customer's zone.
pub fn view(offer: &Offer, code: String, sent_at: DateTime<Utc>, zone: Tz, style: &Style) -> OfferView {
    let value = match &offer.value {
        OfferValue::PercentOff(p) => format!("{p}%"),
        OfferValue::AmountOff { amount, currency } => {
            // Checked when the campaign was validated; an unreadable amount shows as written.
            Amount::parse(amount).map_or_else(|_| format!("{amount} {currency}"), |a| style.money(a, *currency))
        }
        OfferValue::FreeShipping => "free shipping".into(),
    };
    let until = sent_at + Duration::hours(i64::from(offer.valid_hours));
    OfferView { code, value, expires_on: style.date(until.with_timezone(&zone).date_naive()) }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::money::Currency;

    fn offer(value: OfferValue) -> Offer {
        Offer { value, valid_hours: 48, code_prefix: "COMEBACK".into() }
    }

    #[test]
    fn codes_are_stable_per_message_and_differ_between_messages_and_shops() {
        let o = offer(OfferValue::PercentOff(10));
        let a = code(&o, b"s1", "win-back/c1/2026-12-01");
        assert_eq!(a, code(&o, b"s1", "win-back/c1/2026-12-01"));
        assert_ne!(a, code(&o, b"s1", "win-back/c2/2026-12-01"));
        assert_ne!(a, code(&o, b"s2", "win-back/c1/2026-12-01"));
        assert!(a.starts_with("COMEBACK-") && a.len() == "COMEBACK-".len() + crate::codes::CODE_LETTERS, "{a}");
    }

    #[test]
    fn values_and_expiry_read_in_the_customers_language_and_zone() {
        let sent = Utc.with_ymd_and_hms(2026, 12, 1, 23, 30, 0).unwrap();
        let eur = OfferValue::AmountOff { amount: "5".into(), currency: Currency::new("EUR").unwrap() };
        let v = view(&offer(eur), "X".into(), sent, chrono_tz::Europe::Berlin, &Style::of("de"));
        assert_eq!(v.value, "5,00\u{a0}€");
        // 48 hours after 00:30 on the 2nd in Berlin.
        assert_eq!(v.expires_on, "4. Dezember 2026");
        let v =
            view(&offer(OfferValue::PercentOff(15)), "X".into(), sent, chrono_tz::America::New_York, &Style::of("en"));
        assert_eq!((v.value.as_str(), v.expires_on.as_str()), ("15%", "3 December 2026"));
    }
}
