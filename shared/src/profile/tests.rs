use chrono::{FixedOffset, TimeZone as _};
use proptest::prelude::*;

use super::*;
use crate::contact::{Email, PushPlatform, PushToken, TimeZone};
use crate::event::{
    ConsentChanged, CustomerUpdated, Engagement as EngagementAction, MessageEngaged, OrderLine, OrderPlaced,
    OrderRefunded, ProductViewed, Quantity, RefundScope, SCHEMA_VERSION, SessionStarted,
};
use crate::ids::{EventId, MessageId, OrderId, RefundId, SessionId, Source};
use crate::money::{Amount, Currency};
use crate::week::{HOURS_PER_WEEK, HourOfWeek};

fn at(secs: i64) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600).unwrap().timestamp_opt(1_767_000_000 + secs, 0).unwrap()
}

fn ev(id: &str, secs: i64, payload: Payload) -> ShopEvent {
    ShopEvent {
        schema_version: SCHEMA_VERSION,
        id: EventId::new(id).unwrap(),
        customer_id: CustomerId::new("c-1").unwrap(),
        occurred_at: at(secs),
        source: Source::new("test").unwrap(),
        payload,
    }
}

fn order(id: &str, price: &str, category: &str) -> Payload {
    Payload::OrderPlaced(OrderPlaced {
        order_id: OrderId::new(id).unwrap(),
        currency: Currency::new("EUR").unwrap(),
        lines: vec![OrderLine {
            product_id: ProductId::new(format!("p-{id}")).unwrap(),
            category: Some(Category::new(category).unwrap()),
            unit_price: Amount::parse(price).unwrap(),
            quantity: Quantity::ONE,
        }],
        total: None,
        attribution: None,
    })
}

fn fold(events: &[ShopEvent]) -> Profile {
    let mut p = Profile::new(CustomerId::new("c-1").unwrap());
    for e in events {
        p.apply(e).unwrap();
    }
    p
}

/// The same fold, but every part written to the store's form and read back between events, as
/// ingest does between batches.
fn fold_through_storage(events: &[ShopEvent]) -> Profile {
    let mut p = Profile::new(CustomerId::new("c-1").unwrap());
    for e in events {
        p.apply(e).unwrap();
        p = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
    }
    p
}

#[test]
fn a_late_older_order_does_not_move_last_purchase_backwards() {
    let p = fold(&[ev("e2", 10 * 86_400, order("o2", "30", "Shoes")), ev("e1", 86_400, order("o1", "10", "Shoes"))]);
    let s = p.purchases();
    assert_eq!(s.last_purchase_at, Some(at(10 * 86_400).with_timezone(&Utc)));
    assert_eq!(s.first_purchase_at, Some(at(86_400).with_timezone(&Utc)));
    assert_eq!((s.orders, s.repeat_purchases), (2, 1));
    assert_eq!(s.total_spend.unwrap().amount, Amount::parse("40").unwrap());
    assert_eq!(s.mean_order_value.unwrap().amount, Amount::parse("20").unwrap());
    assert_eq!(p.category_affinity()[&Category::new("Shoes").unwrap()], 2 * AFFINITY_PURCHASE);
    assert_eq!(p.first_seen_at(), Some(at(86_400).with_timezone(&Utc)));
    assert_eq!(p.events_applied(), 2);
}

#[test]
fn consent_keeps_the_newest_decision_and_its_provenance() {
    let consent = |status| {
        Payload::ConsentChanged(ConsentChanged {
            channel: Channel::Sms,
            topic: Topic::new("marketing").unwrap(),
            status,
            source: Source::new("sms_keyword").unwrap(),
        })
    };
    let p = fold(&[ev("e2", 20, consent(ConsentStatus::Revoked)), ev("e1", 10, consent(ConsentStatus::Granted))]);
    let c = p.consent(Channel::Sms, &Topic::new("marketing").unwrap()).unwrap();
    assert_eq!(c.value, Some(ConsentStatus::Revoked));
    assert_eq!(c.source.as_str(), "sms_keyword");
    assert_eq!(c.event.as_str(), "e2");
    assert!(p.consent(Channel::Email, &Topic::new("marketing").unwrap()).is_none());
}

#[test]
fn contact_updates_set_clear_and_ignore_stale_values() {
    let update = |email: Option<Option<&str>>, tz: Option<&str>| {
        Payload::CustomerUpdated(CustomerUpdated {
            email: email.map(|e| e.map(|e| Email::parse(e).unwrap())),
            time_zone: tz.map(|t| Some(TimeZone::parse(t).unwrap())),
            push_token: Some(PushToken {
                platform: PushPlatform::Fcm,
                token: crate::contact::DeviceToken::parse("tok-1").unwrap(),
            }),
            ..CustomerUpdated::default()
        })
    };
    let p = fold(&[
        ev("e1", 10, update(Some(Some("a@example.com")), Some("Europe/Berlin"))),
        ev("e3", 30, update(Some(None), None)),
        ev("e2", 20, update(Some(Some("b@example.com")), Some("America/New_York"))),
    ]);
    assert_eq!(p.email(), None, "cleared by the newest update");
    assert_eq!(p.time_zone(), chrono_tz::America::New_York);
    assert_eq!(p.contact.details.push_tokens.len(), 1);
    assert_eq!(p.contact.details.push_tokens[0].event.as_str(), "e3");
}

#[test]
fn engagement_lands_in_the_local_hour_once_the_zone_is_known() {
    // 2026-01-05 14:00 UTC, a Monday: 09:00 in New York.
    let monday_14_utc = 1_767_621_600 - 1_767_000_000;
    let opened = Payload::MessageEngaged(MessageEngaged {
        message_id: MessageId::new("m-1").unwrap(),
        channel: Channel::Email,
        action: EngagementAction::Opened,
        campaign_id: None,
        variant: None,
    });
    let tz = Payload::CustomerUpdated(CustomerUpdated {
        time_zone: Some(Some(TimeZone::parse("America/New_York").unwrap())),
        ..CustomerUpdated::default()
    });
    // The open arrives before the zone, and after it: both land at 09:00 local.
    let now = Utc.timestamp_opt(1_767_621_600 + 3600, 0).unwrap();
    for events in [
        [ev("e1", monday_14_utc, opened.clone()), ev("e2", monday_14_utc + 60, tz.clone())],
        [ev("e2", monday_14_utc + 60, tz.clone()), ev("e1", monday_14_utc, opened.clone())],
    ] {
        let masses = fold(&events).attention(now).masses_at(now);
        let hours: Vec<usize> = (0..HOURS_PER_WEEK).filter(|h| masses[*h] > 0.0).collect();
        assert_eq!(hours, vec![HourOfWeek::new(9).unwrap().index()]);
    }
}

#[test]
fn limits_refuse_the_event_and_change_nothing() {
    let mut p = Profile::new(CustomerId::new("c-1").unwrap());
    for i in 0..contact::MAX_ATTRIBUTES {
        let mut attributes = serde_json::Map::new();
        attributes.insert(format!("a{i}"), serde_json::json!(i));
        let u = Payload::CustomerUpdated(CustomerUpdated { attributes, ..CustomerUpdated::default() });
        p.apply(&ev(&format!("e{i}"), i as i64, u)).unwrap();
    }
    let mut attributes = serde_json::Map::new();
    attributes.insert("one_more".into(), serde_json::json!(true));
    let one_more =
        ev("x", 10_000, Payload::CustomerUpdated(CustomerUpdated { attributes, ..CustomerUpdated::default() }));
    let before = p.clone();
    let refused = p.apply(&one_more).unwrap_err();
    assert_eq!(refused.field, "data.attributes");
    assert_eq!(p, before);
    // Changing an existing attribute still works.
    let mut attributes = serde_json::Map::new();
    attributes.insert("a0".into(), serde_json::json!("changed"));
    p.apply(&ev("y", 10_001, Payload::CustomerUpdated(CustomerUpdated { attributes, ..CustomerUpdated::default() })))
        .unwrap();
    assert_eq!(p.attribute("a0"), Some(&serde_json::json!("changed")));
}

#[test]
fn profiles_round_trip_through_json() {
    let p = fold(&[
        ev("e1", 10, order("o1", "10", "Shoes")),
        ev(
            "e2",
            20,
            Payload::SessionStarted(SessionStarted {
                session_id: SessionId::new("s").unwrap(),
                platform: Default::default(),
            }),
        ),
    ]);
    let json = serde_json::to_value(&p).unwrap();
    let mut back: Profile = serde_json::from_value(json).unwrap();
    let now = Utc.timestamp_opt(1_767_000_100, 0).unwrap();
    let (a, b) = (p.attention(now).total_at(now), back.attention(now).total_at(now));
    assert!((a - b).abs() < 1e-3 * a, "attention reads back within its quantization: {a} vs {b}");
    let mut p = p;
    p.engagement.attention = Default::default();
    back.engagement.attention = Default::default();
    assert_eq!(back, p);
    // No part uses a name the store keeps for itself.
    for part in [
        serde_json::to_value(&p.browse),
        serde_json::to_value(&p.engagement),
        serde_json::to_value(&p.orders),
        serde_json::to_value(&p.contact),
    ] {
        let part = part.unwrap();
        for reserved in crate::store::RESERVED_ATTRIBUTES {
            assert!(part.get(reserved).is_none(), "{reserved} in {part}");
        }
    }
}

/// Events whose effect has a natural order (everything but cart edits), over a small vocabulary
/// so that collisions (same field, same product, same order) are frequent.
fn commutative_event(i: usize) -> impl Strategy<Value = ShopEvent> {
    let secs = 0_i64..(60 * 86_400);
    let payload = prop_oneof![
        // An order id always carries the same order; only its timing varies.
        (0..6_u8).prop_map(|o| order(
            &format!("o{o}"),
            &(u32::from(o) * 37 + 1).to_string(),
            ["A", "B", "C"][usize::from(o % 3)]
        )),
        // A refund id always carries the same refund (ids name refunds); only its timing varies.
        (0..6_u8, 0..3_u8).prop_map(|(o, r)| (o, r, r % 2 == 0)).prop_map(|(o, r, whole)| Payload::OrderRefunded(
            OrderRefunded {
                order_id: OrderId::new(format!("o{o}")).unwrap(),
                refund_id: RefundId::new(format!("r{o}-{r}")).unwrap(),
                scope: if whole { RefundScope::Whole } else { RefundScope::Lines },
                lines: if whole {
                    vec![]
                } else {
                    vec![crate::event::RefundLine {
                        product_id: ProductId::new(format!("p-o{o}")).unwrap(),
                        quantity: Quantity::ONE,
                    }]
                },
                amount: None,
                currency: None,
            }
        )),
        (0..3_u8, prop::bool::ANY).prop_map(|(ch, granted)| Payload::ConsentChanged(ConsentChanged {
            channel: Channel::ALL[ch as usize],
            topic: Topic::new("marketing").unwrap(),
            status: if granted { ConsentStatus::Granted } else { ConsentStatus::Revoked },
            source: Source::new("form").unwrap(),
        })),
        (0..3_u8).prop_map(|e| Payload::CustomerUpdated(CustomerUpdated {
            email: Some((e > 0).then(|| Email::parse(&format!("x{e}@example.com")).unwrap())),
            ..CustomerUpdated::default()
        })),
        (0..10_u8).prop_map(|p| Payload::ProductViewed(ProductViewed {
            product_id: ProductId::new(format!("v{p}")).unwrap(),
            category: Some(Category::new("A").unwrap()),
            price: None,
            currency: None,
            session_id: None,
        })),
        // Time zones learnt at any point: attention must land in the same local hours.
        (0..2_u8).prop_map(|z| Payload::CustomerUpdated(CustomerUpdated {
            time_zone: Some(Some(TimeZone::parse(["Europe/Berlin", "America/New_York"][usize::from(z)]).unwrap())),
            ..CustomerUpdated::default()
        })),
        (0..4_u8).prop_map(|s| Payload::SessionStarted(SessionStarted {
            session_id: SessionId::new(format!("s{s}")).unwrap(),
            platform: Default::default(),
        })),
        (0..3_u8).prop_map(|a| Payload::MessageEngaged(MessageEngaged {
            message_id: MessageId::new("m").unwrap(),
            channel: Channel::Email,
            action: [EngagementAction::Delivered, EngagementAction::Opened, EngagementAction::Clicked][a as usize],
            campaign_id: None,
            variant: None,
        })),
    ];
    (secs, payload).prop_map(move |(s, p)| ev(&format!("e{i:03}"), s, p))
}

fn events() -> impl Strategy<Value = Vec<ShopEvent>> {
    (1..40_usize).prop_flat_map(|n| (0..n).map(commutative_event).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Arrival order does not change the profile.
    #[test]
    fn any_arrival_order_gives_the_same_profile(events in events(), seed in any::<u64>()) {
        let mut shuffled = events.clone();
        // A seeded Fisher–Yates, so a failure replays.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (mut a, mut b) = (fold(&events), fold(&shuffled));
        // Attention masses are sums of floats: equal up to rounding in any order.
        let at = Utc.timestamp_opt(1_767_000_000 + 90 * 86_400, 0).unwrap();
        let (ma, mb) = (a.attention(at).masses_at(at), b.attention(at).masses_at(at));
        for h in 0..ma.len() {
            prop_assert!((ma[h] - mb[h]).abs() <= 1e-9 * ma[h].abs().max(1.0), "hour {}: {} vs {}", h, ma[h], mb[h]);
        }
        a.engagement.attention = Default::default();
        b.engagement.attention = Default::default();
        prop_assert_eq!(a, b);
    }

    /// Writing the profile to its stored form and reading it back between events changes
    /// nothing but attention's quantization: every value it holds reads back.
    #[test]
    fn storage_between_events_changes_nothing(events in events()) {
        let (mut a, mut b) = (fold(&events), fold_through_storage(&events));
        let at = Utc.timestamp_opt(1_767_000_000 + 90 * 86_400, 0).unwrap();
        let (ma, mb) = (a.attention(at).masses_at(at), b.attention(at).masses_at(at));
        for h in 0..ma.len() {
            prop_assert!((ma[h] - mb[h]).abs() <= 1e-3 * ma[h].abs().max(1e-6), "hour {}: {} vs {}", h, ma[h], mb[h]);
        }
        a.engagement.attention = Default::default();
        b.engagement.attention = Default::default();
        prop_assert_eq!(a, b);
    }

    /// Net spend never exceeds gross and never goes negative.
    #[test]
    fn spend_stays_within_bounds(events in events()) {
        let p = fold(&events);
        let s = p.purchases();
        let gross: i128 = p.order_records().filter_map(|o| o.placed.as_ref()).map(|o| o.value.micros()).sum();
        let net = s.total_spend.map_or(0, |m| m.amount.micros());
        prop_assert!(net >= 0 && net <= gross);
        prop_assert!(s.repeat_purchases < s.orders.max(1));
    }
}
