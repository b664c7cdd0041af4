//! Event triggers: a change of one part of a customer's profile (as the table's stream reports
//! it, before and after) and the sends it starts.
//!
//! Each send is named by what caused it (the cart's last change, the order, the consent), so the
//! same change seen twice — a redelivered stream record, a retried batch — names the same send,
//! and the due-send queue creates it once. Whether it still should go (the order arrived, the
//! cart changed again) is decided when it is due, by [`super::exit`].

use chrono::{DateTime, Duration, Utc};

use super::{Campaign, Status, Trigger};
use crate::contact::Channel;
use crate::event::ConsentStatus;
use crate::ids::ProductId;
use crate::loyalty::ledger::{Account, LoyaltyEvent};
use crate::profile::browse::View;
use crate::profile::{Browse, ContactPart, OrderBook, consent_key};

/// One part of a profile (or the loyalty account), before (absent for a new customer) and after
/// a write.
pub enum Change<'a> {
    Browse { old: Option<&'a Browse>, new: &'a Browse },
    Orders { old: Option<&'a OrderBook>, new: &'a OrderBook },
    Contact { old: Option<&'a ContactPart>, new: &'a ContactPart },
    Loyalty { old: Option<&'a Account>, new: &'a Account },
}

/// A send a change starts: the campaign's, for this cause, due then.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    /// Unique per campaign and customer for this cause, e.g. `cart-1764590400`.
    pub occurrence: String,
    /// When the cause happened (exit conditions look for what came after it).
    pub cause_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// The product the message is about, if any.
    pub product: Option<ProductId>,
    pub reason: String,
}

/// Causes older than this start nothing: a backfill of last year's orders is not a reason to
/// write to anyone today.
const STALE_DAYS: i64 = 7;
/// An intent offer waits this long after the view that earned it.
const INTENT_QUIET_MINUTES: i64 = 60;

/// The products whose view count reached `views` with this change, not in the cart.
fn reached<'a>(old: Option<&'a Browse>, new: &'a Browse, views: u32) -> impl Iterator<Item = &'a View> + 'a {
    new.views.iter().filter(move |view| {
        let before = old.and_then(|o| o.views.iter().find(|v| v.product_id == view.product_id)).map_or(0, |v| v.count);
        before < views && view.count >= views && !new.cart.lines.contains_key(&view.product_id)
    })
}

/// The sends `change` starts for `campaign` (active campaigns only), as of `now`.
pub fn fire(campaign: &Campaign, change: &Change, now: DateTime<Utc>) -> Vec<Fired> {
    if campaign.status != Status::Active {
        return Vec::new();
    }
    let minutes = |m: u32| Duration::minutes(i64::from(m));
    let fresh = |at: DateTime<Utc>| now - at < Duration::days(STALE_DAYS);
    let mut out = Vec::new();
    match (&campaign.trigger, change) {
        (Trigger::CartAbandoned { after_minutes }, Change::Browse { old, new }) => {
            let cart = &new.cart;
            let before = old.and_then(|o| o.cart.updated_at);
            if let Some(at) = cart.updated_at.filter(|at| Some(*at) > before && fresh(*at) && !cart.lines.is_empty()) {
                out.push(Fired {
                    occurrence: format!("cart-{}", at.timestamp()),
                    cause_at: at,
                    due_at: at + minutes(*after_minutes),
                    product: None,
                    reason: format!("the cart changed at {} and no order followed", crate::clock::Minute(at)),
                });
            }
        }
        (Trigger::CheckoutAbandoned { after_minutes }, Change::Browse { old, new }) => {
            let before = old.and_then(|o| o.cart.checkout_started_at);
            if let Some(at) = new.cart.checkout_started_at.filter(|at| Some(*at) > before && fresh(*at)) {
                out.push(Fired {
                    occurrence: format!("checkout-{}", at.timestamp()),
                    cause_at: at,
                    due_at: at + minutes(*after_minutes),
                    product: None,
                    reason: format!("a checkout started at {} and no order followed", crate::clock::Minute(at)),
                });
            }
        }
        (
            Trigger::BrowseAbandoned { views, within_hours, after_minutes, category: None },
            Change::Browse { old, new },
        ) => {
            for view in reached(*old, new, *views) {
                if now - view.at <= Duration::hours(i64::from(*within_hours)) {
                    out.push(Fired {
                        occurrence: format!("browse-{}-{}", view.product_id, view.at.date_naive()),
                        cause_at: view.at,
                        due_at: view.at + minutes(*after_minutes),
                        product: Some(view.product_id.clone()),
                        reason: format!("viewed {} times without adding it to the cart", view.count),
                    });
                }
            }
        }
        (
            Trigger::BrowseAbandoned { views, after_minutes, category: Some(category), .. },
            Change::Browse { old, new },
        ) => {
            let count = |b: &Browse| b.interest.get(category).copied().unwrap_or(0);
            let (before, after) = (old.map_or(0, count), count(new));
            // Each further `views` views of the category is a new occasion.
            if *views > 0 && after / views > before / views {
                let at = new.views.iter().map(|v| v.at).max().unwrap_or(now);
                out.push(Fired {
                    occurrence: format!("browse-{category}-{}", after / views),
                    cause_at: at,
                    due_at: at + minutes(*after_minutes),
                    product: None,
                    reason: format!("{after} views in {category}"),
                });
            }
        }
        (Trigger::IntentOffer { views, within_days }, Change::Browse { old, new }) => {
            // Views are counted while the product stays among the recent ones; the offer goes
            // when the count reaches `views` and the latest view is within `within_days`, after
            // an hour of quiet (not while they are still looking). Bought since: the campaign's
            // `product_bought` exit stops it when due.
            for view in reached(*old, new, *views) {
                if now - view.at <= Duration::days(i64::from(*within_days)) && fresh(view.at) {
                    out.push(Fired {
                        occurrence: format!("intent-{}-{}", view.product_id, view.at.date_naive()),
                        cause_at: view.at,
                        due_at: view.at + Duration::minutes(INTENT_QUIET_MINUTES),
                        product: Some(view.product_id.clone()),
                        reason: format!("viewed {} times and never bought", view.count),
                    });
                }
            }
        }
        (Trigger::PostPurchase { after_days }, Change::Orders { old, new }) => {
            for (id, record) in &new.orders {
                let Some(placed) = &record.placed else { continue };
                let known = old.and_then(|o| o.orders.get(id)).is_some_and(|r| r.placed.is_some());
                if !known && fresh(placed.at) {
                    out.push(Fired {
                        occurrence: format!("order-{id}"),
                        cause_at: placed.at,
                        due_at: placed.at + Duration::days(i64::from(*after_days)),
                        product: None,
                        reason: format!("order {id} was placed"),
                    });
                }
            }
        }
        (Trigger::Welcome { after_hours }, Change::Contact { old, new }) => {
            let Some(topic) = &campaign.topic else { return out };
            // The first consent to the campaign's topic on any of its channels.
            let granted = |part: &ContactPart, channel: Channel| {
                part.consents
                    .get(&consent_key(channel, topic))
                    .filter(|t| t.value == Some(ConsentStatus::Granted))
                    .map(|t| t.at)
            };
            let before = old.is_some_and(|o| campaign.channels.iter().any(|c| granted(o, *c).is_some()));
            let at = campaign.channels.iter().filter_map(|c| granted(new, *c)).min();
            if let Some(at) = at.filter(|at| !before && fresh(*at)) {
                out.push(Fired {
                    // Once per customer, ever: a welcome is not repeated when consent is given again.
                    occurrence: "welcome".into(),
                    cause_at: at,
                    due_at: at + Duration::hours(i64::from(*after_hours)),
                    product: None,
                    reason: format!("consented to {topic} at {}", crate::clock::Minute(at)),
                });
            }
        }
        (Trigger::TierChanged { to }, Change::Loyalty { old, new }) => {
            // Each tier change the write recorded (the account keeps its latest events).
            for event in new.events.iter().filter(|e| old.is_none_or(|o| !o.events.contains(e))) {
                let LoyaltyEvent::TierChanged { from, to: reached, at } = event else { continue };
                if to.as_ref().is_some_and(|t| t != reached) || !fresh(*at) {
                    continue;
                }
                out.push(Fired {
                    occurrence: format!("tier-{reached}-{}", at.timestamp()),
                    cause_at: *at,
                    due_at: *at,
                    product: None,
                    reason: match from {
                        Some(from) => format!("the loyalty tier changed from {from} to {reached}"),
                        None => format!("the member reached the loyalty tier {reached}"),
                    },
                });
            }
        }
        (Trigger::PointsExpiring { days_before }, Change::Loyalty { old, new }) => {
            // Told once per expiry day, `days_before` it (at once when the notice came later).
            if let Some(expiring) = new.expiring.as_ref().filter(|e| old.and_then(|o| o.expiring.as_ref()) != Some(*e))
            {
                let due = expiring.on.and_hms_opt(9, 0, 0).map_or(now, |t| t.and_utc())
                    - Duration::days(i64::from(*days_before));
                out.push(Fired {
                    occurrence: format!("expiring-{}", expiring.on),
                    cause_at: now,
                    due_at: due.max(now),
                    product: None,
                    reason: format!("{} points expire on {}", expiring.points, expiring.on),
                });
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::campaign::exit;
    use crate::event::ShopEvent;
    use crate::ids::CustomerId;
    use crate::profile::Profile;

    pub(crate) fn event(id: &str, at: DateTime<Utc>, kind: &str, data: serde_json::Value) -> ShopEvent {
        let text = serde_json::json!({"schema_version": 1, "id": id, "customer_id": "c-1", "occurred_at": at.to_rfc3339(),
            "source": "web", "type": kind, "data": data});
        match crate::event::parse_inbound(&text.to_string(), at).unwrap() {
            crate::event::Inbound::Customer(e) => e,
            other => panic!("a customer event: {other:?}"),
        }
    }

    pub(crate) fn campaign(name: &str) -> Campaign {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../campaigns/{name}.yaml"));
        crate::campaign::load::read(name, &std::fs::read_to_string(path).unwrap()).0.unwrap()
    }

    fn facts(profile: &Profile) -> crate::campaign::audience::Facts<'_> {
        crate::campaign::audience::Facts {
            profile,
            churn_risk: None,
            clv: None,
            send_time_confidence: None,
            loyalty_tier: None,
            loyalty_early_access: false,
        }
    }

    pub(crate) fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 18, 0, 0).unwrap()
    }

    pub(crate) fn add(id: &str, at: DateTime<Utc>, product: &str) -> ShopEvent {
        event(
            id,
            at,
            "cart_item_added",
            serde_json::json!({"product_id": product, "quantity": 1, "unit_price": "20", "currency": "EUR"}),
        )
    }

    #[test]
    fn a_cart_change_starts_one_reminder_named_by_the_change_and_a_repeat_starts_none() {
        let cart = campaign("cart-abandoned");
        let mut profile = Profile::new(CustomerId::new("c-1").unwrap());
        let before = profile.browse.clone();
        profile.apply(&add("e1", t0(), "sku-1")).unwrap();
        let fired = fire(&cart, &Change::Browse { old: Some(&before), new: &profile.browse }, t0());
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].occurrence, format!("cart-{}", t0().timestamp()));
        assert_eq!(fired[0].due_at, t0() + Duration::minutes(60));
        // The same change seen again (a redelivered stream record) starts nothing new.
        let again = fire(&cart, &Change::Browse { old: Some(&profile.browse), new: &profile.browse }, t0());
        assert!(again.is_empty());
        // A later change names another send; the first then exits when due.
        let first = fired[0].clone();
        let before = profile.browse.clone();
        profile.apply(&add("e2", t0() + Duration::minutes(20), "sku-2")).unwrap();
        let later = fire(&cart, &Change::Browse { old: Some(&before), new: &profile.browse }, t0());
        assert_ne!(later[0].occurrence, first.occurrence);
        assert!(exit::check(&cart, &facts(&profile), first.cause_at, None, None, t0()).is_err());
        assert_eq!(exit::check(&cart, &facts(&profile), later[0].cause_at, None, None, t0()), Ok(()));
        // An order before the reminder is due ends it.
        let order = event(
            "e3",
            t0() + Duration::minutes(30),
            "order_placed",
            serde_json::json!({"order_id": "o-1", "currency": "EUR",
            "lines": [{"product_id": "sku-1", "unit_price": "20", "quantity": 1}]}),
        );
        profile.apply(&order).unwrap();
        let why = exit::check(&cart, &facts(&profile), later[0].cause_at, None, None, t0()).unwrap_err();
        assert!(why.0.contains("order") || why.0.contains("cart"), "{why:?}");
        // A customer outside the audience: the send exits when due, saying so.
        let mut french = cart.clone();
        french.audience = Some(crate::campaign::Filter::Country(vec!["FR".into()]));
        let why = exit::check(&french, &facts(&profile), later[0].cause_at, None, None, t0()).unwrap_err();
        assert!(why.0.contains("audience"), "{why:?}");
        // Drafts and paused campaigns start nothing.
        let mut paused = cart.clone();
        paused.status = Status::Paused;
        assert!(fire(&paused, &Change::Browse { old: None, new: &profile.browse }, t0()).is_empty());
    }

    #[test]
    fn repeated_views_without_a_cart_add_start_a_browse_reminder_once() {
        let browse = campaign("browse-abandoned");
        let mut profile = Profile::new(CustomerId::new("c-1").unwrap());
        let mut fired = Vec::new();
        for i in 0..5 {
            let before = profile.browse.clone();
            let at = t0() + Duration::minutes(i);
            profile
                .apply(&event(&format!("v{i}"), at, "product_viewed", serde_json::json!({"product_id": "sku-9"})))
                .unwrap();
            fired.extend(fire(&browse, &Change::Browse { old: Some(&before), new: &profile.browse }, at));
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].product.as_ref().map(|p| p.as_str()), Some("sku-9"));
        assert_eq!(fired[0].cause_at, t0() + Duration::minutes(2), "the third view");
    }

    #[test]
    fn a_product_viewed_often_earns_one_offer_an_hour_after_the_view_that_earned_it() {
        let intent = campaign("intent-offer");
        let mut profile = Profile::new(CustomerId::new("c-1").unwrap());
        let mut fired = Vec::new();
        // Eight views over four days: the fifth earns the offer, the others nothing.
        for i in 0..8 {
            let before = profile.browse.clone();
            let at = t0() + Duration::hours(12 * i);
            profile
                .apply(&event(&format!("v{i}"), at, "product_viewed", serde_json::json!({"product_id": "sku-7"})))
                .unwrap();
            fired.extend(fire(&intent, &Change::Browse { old: Some(&before), new: &profile.browse }, at));
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].cause_at, t0() + Duration::hours(48), "the fifth view");
        assert_eq!(fired[0].due_at, fired[0].cause_at + Duration::hours(1));
        assert_eq!(fired[0].product.as_ref().map(|p| p.as_str()), Some("sku-7"));
        // The record that earned it, delivered again later, names the same cause (its once-marker).
        let mut earned = profile.clone();
        earned.browse.views[0].count = 4;
        let mut after = profile.clone();
        after.browse.views[0].count = 5;
        after.browse.views[0].at = fired[0].cause_at;
        let again =
            fire(&intent, &Change::Browse { old: Some(&earned.browse), new: &after.browse }, t0() + Duration::days(3));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].occurrence, fired[0].occurrence);
    }

    #[test]
    fn orders_start_one_follow_up_each_and_old_orders_none() {
        let follow = campaign("post-purchase");
        let mut profile = Profile::new(CustomerId::new("c-1").unwrap());
        let order = |id: &str, at| {
            event(
                id,
                at,
                "order_placed",
                serde_json::json!({"order_id": id, "currency": "JPY",
            "lines": [{"product_id": "sku-1", "unit_price": "1500", "quantity": 400}]}),
            )
        };
        let before = profile.orders.clone();
        profile.apply(&order("o-old", t0() - Duration::days(400))).unwrap();
        profile.apply(&order("o-new", t0())).unwrap();
        let fired = fire(&follow, &Change::Orders { old: Some(&before), new: &profile.orders }, t0());
        assert_eq!(fired.iter().map(|f| f.occurrence.as_str()).collect::<Vec<_>>(), ["order-o-new"]);
        assert_eq!(fired[0].due_at, t0() + Duration::days(7));
    }

    #[test]
    fn the_first_consent_to_the_topic_starts_the_welcome_once_ever() {
        let welcome = campaign("welcome-1");
        let mut profile = Profile::new(CustomerId::new("c-1").unwrap());
        let consent = |id: &str, at, status: &str| {
            event(
                id,
                at,
                "consent_changed",
                serde_json::json!({"channel": "email", "topic": "marketing", "status": status, "source": "signup_form"}),
            )
        };
        let before = profile.contact.clone();
        profile.apply(&consent("k1", t0(), "granted")).unwrap();
        let fired = fire(&welcome, &Change::Contact { old: Some(&before), new: &profile.contact }, t0());
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].occurrence, "welcome");
        // Revoked and granted again: the same occurrence, which the queue has already seen.
        profile.apply(&consent("k2", t0() + Duration::days(1), "revoked")).unwrap();
        let before = profile.contact.clone();
        profile.apply(&consent("k3", t0() + Duration::days(2), "granted")).unwrap();
        let again =
            fire(&welcome, &Change::Contact { old: Some(&before), new: &profile.contact }, t0() + Duration::days(2));
        assert!(again.iter().all(|f| f.occurrence == "welcome"));
    }
}
