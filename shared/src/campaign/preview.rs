//! What a campaign would send one real customer now: whether they are held out, the variant the
//! bandit draws, each channel rendered from their profile, the nightly recommendations and the
//! catalogue, when it would go (the send-time policy) and whether it would still go (audience
//! and exit conditions).

use chrono::{DateTime, Utc};

use super::Campaign;
use super::audience::Facts;
use super::bandit::{choose, held_out};
use super::compose::{Composed, compose};
use super::exit::{Exited, check};
use super::render::{Message, RenderError, Templates};
use super::send_time::{Moment, moment};
use super::stats;
use crate::churn::job::CustomerScore;
use crate::contact::Channel;
use crate::content::ShopView;
use crate::content::build::{Links, style_of};
use crate::ids::{CustomerId, ProductId, VariantId};
use crate::keys;
use crate::store::{Store, StoreError};

/// The preview of one campaign for one customer.
#[derive(Debug)]
pub struct Preview {
    /// In the campaign's holdout: the customer gets nothing from it (shown all the same).
    pub held_out: bool,
    pub variant: VariantId,
    /// When a send due now would go, and why.
    pub send_at: Moment,
    /// Each channel in fallback order, rendered (or why it cannot be).
    pub messages: Vec<(Channel, Result<Message, RenderError>)>,
    /// Whether the send would still go now (the audience, the exit conditions as of the cart's
    /// last change).
    pub would_send: Result<(), Exited>,
    /// The recommendations shown, with their reasons.
    pub recommendations: Vec<(ProductId, String)>,
}

/// The preview for `customer`, or `None` if Kairos has no profile of them.
pub async fn preview<S: Store>(
    store: &S,
    campaign: &Campaign,
    customer: &CustomerId,
    shop: &ShopView,
    now: DateTime<Utc>,
) -> Result<Option<Preview>, StoreError> {
    let Some(profile) = crate::customers::load(store, customer).await? else { return Ok(None) };
    let templates = Templates::compile(campaign).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let churn: Option<CustomerScore> = crate::customers::output(store, customer, keys::CHURN_SCORE).await?;
    // The product a product trigger is about: the customer's latest viewed.
    let product = campaign.trigger.has_product().then(|| profile.browse.views.iter().max_by_key(|v| v.at)).flatten();
    let offer = campaign.offer.as_ref().map(|o| {
        let code = super::offer::code(o, b"preview", &format!("preview/{}/{customer}", campaign.id));
        super::offer::view(o, code, now, chrono_tz::UTC, &style_of(&profile))
    });
    let links = Links {
        unsubscribe_url: "https://unsubscribe.invalid/preview".into(),
        preferences_url: "https://preferences.invalid/preview".into(),
    };
    let program = crate::loyalty::stored::current(store).await?;
    let program = program.as_ref().map(|p| &p.program);
    let (account, loyalty) = super::compose::loyalty(store, program, &profile, now).await?;
    let loyalty_offer = crate::loyalty::view::offer(account.as_ref(), &style_of(&profile), profile.time_zone(), now);
    let offer = offer.or(if campaign.kind == super::Kind::Marketing { loyalty_offer } else { None });
    let Composed { context: ctx, recommendations } =
        compose(store, &profile, product.map(|v| &v.product_id), offer, loyalty, shop, links, now).await?;
    // A draw of the bandit for a send now, from the variants' results so far.
    let (arms, problems) = stats::read(store, &campaign.id).await?;
    for e in &problems {
        tracing::error!(error = %e, "a variant's counters cannot be read; left out");
    }
    let key = format!("{customer}#{}#preview", campaign.id);
    let Some(variant) = choose(campaign, &stats::in_order(campaign, &arms), &key) else { return Ok(None) };
    let asks_send_time = campaign.audience.as_ref().is_some_and(super::Filter::uses_send_time);
    let posterior = match campaign.send_time {
        super::SendTime::Optimised { .. } => Some(super::compose::posterior(store, &profile, now).await?),
        _ if asks_send_time => Some(super::compose::posterior(store, &profile, now).await?),
        _ => None,
    };
    let confidence = posterior.as_ref().filter(|_| asks_send_time).map(|p| p.own_weight());
    // Only the optimised policy asks (the others never call it).
    let posterior = || posterior.unwrap_or_else(|| crate::sto::job::posterior_of(&profile, &Default::default(), now));
    let due = match &campaign.trigger {
        super::Trigger::Broadcast { at } => at.with_timezone(&Utc).max(now),
        _ => now,
    };
    let send_at = moment(&campaign.send_time, campaign.first_channel(), due, profile.time_zone(), posterior, &key);
    let messages = campaign.channels.iter().map(|c| (*c, templates.render(variant, *c, &ctx))).collect();
    let cause_at = profile.browse.cart.updated_at.unwrap_or(now);
    let facts = Facts::of(&profile, churn.as_ref()).with_loyalty(program, account.as_ref()).with_send_time(confidence);
    let would_send = check(campaign, &facts, cause_at, product.map(|v| &v.product_id), None, now);
    let held_out = held_out(campaign, customer);
    Ok(Some(Preview { held_out, variant: variant.clone(), send_at, messages, would_send, recommendations }))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::store::embedded::EmbeddedStore;

    async fn ingest(store: &EmbeddedStore, now: DateTime<Utc>, events: &[serde_json::Value]) {
        let clock = crate::clock::ManualClock::new(now);
        let bodies: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        let records: Vec<crate::ingest::Record> =
            bodies.iter().map(|b| crate::ingest::Record { id: "r", body: b }).collect();
        let report =
            crate::ingest::ingest_batch(store, &clock, &crate::ingest::IngestConfig::default(), &records).await;
        assert!(report.failures.is_empty() && report.rejected.is_empty());
    }

    fn event(id: &str, at: DateTime<Utc>, kind: &str, data: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"schema_version": 1, "id": id, "customer_id": "c-1", "occurred_at": at.to_rfc3339(), "source": "web", "type": kind, "data": data})
    }

    #[tokio::test]
    async fn a_real_customer_sees_their_cart_in_their_language_and_an_order_stops_the_send() {
        let store = EmbeddedStore::new();
        let now = Utc::now();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/cart-abandoned.yaml");
        let campaign = super::super::load::read("c", &std::fs::read_to_string(path).unwrap()).0.unwrap();
        ingest(&store, now, &[
            event("u1", now, "customer_updated", serde_json::json!({"first_name": "Jürgen", "locale": "de-DE"})),
            event("a1", now, "cart_item_added", serde_json::json!({"product_id": "sku-1", "quantity": 2, "unit_price": "1234.5", "currency": "EUR"})),
        ]).await;
        let shop = ShopView {
            name: "Fleet".into(),
            postal_address: "Torstraße 1, Berlin".into(),
            url: "https://shop.example".into(),
        };
        let customer = CustomerId::new("c-1").unwrap();
        let p = preview(&store, &campaign, &customer, &shop, now).await.unwrap().unwrap();
        assert_eq!(p.would_send, Ok(()));
        let (_, email) = &p.messages[0];
        let Ok(Message::Email { text, .. }) = email else { panic!("{email:?}") };
        assert!(text.contains("2.469,00\u{a0}€"), "the cart total in German: {text}");
        assert!(p.variant == campaign.variants[0].id || p.variant == campaign.variants[1].id);
        let again = preview(&store, &campaign, &customer, &shop, now).await.unwrap().unwrap();
        assert_eq!(again.variant, p.variant, "the same draw every time");
        assert_eq!(p.send_at.at, now, "the cart reminder goes as soon as it is due");
        let later = now + Duration::minutes(10);
        ingest(
            &store,
            later,
            &[event(
                "o1",
                later,
                "order_placed",
                serde_json::json!({"order_id": "o1", "currency": "EUR",
            "lines": [{"product_id": "sku-1", "unit_price": "1234.5", "quantity": 2}]}),
            )],
        )
        .await;
        let p = preview(&store, &campaign, &customer, &shop, later).await.unwrap().unwrap();
        assert!(p.would_send.is_err(), "{:?}", p.would_send);
        assert!(preview(&store, &campaign, &CustomerId::new("nobody").unwrap(), &shop, now).await.unwrap().is_none());
    }
}
