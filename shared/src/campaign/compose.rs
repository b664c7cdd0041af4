//! What a message to one customer is made from, read from the table: their nightly
//! recommendations with reasons, the catalogue entries of everything it may show, and the
//! template context; and the send-time posterior the optimised policy asks for. Preview and
//! dispatch build messages the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::catalogue::{self, Product};
use crate::content::build::{Facts as Built, Links, context};
use crate::content::{Context, LoyaltyView, OfferView, ShopView};
use crate::ids::{CustomerId, ProductId};
use crate::keys;
use crate::profile::Profile;
use crate::recommend::job::CustomerRecs;
use crate::recommend::reason::explain;
use crate::sto::job::CustomerModel;
use crate::sto::posterior::Posterior;
use crate::store::{Store, StoreError};

/// Recommendations a message shows at most.
pub const SHOWN: usize = 5;

/// A message's context and the recommendations in it, with their reasons.
pub struct Composed {
    pub context: Context,
    pub recommendations: Vec<(ProductId, String)>,
}

/// The context of a message to `profile` about `product` (if any).
pub async fn compose<S: Store>(
    store: &S,
    profile: &Profile,
    product: Option<&ProductId>,
    offer: Option<OfferView>,
    loyalty: LoyaltyView,
    shop: &ShopView,
    links: Links,
    now: DateTime<Utc>,
) -> Result<Composed, StoreError> {
    let customer = &profile.customer_id;
    let recs: Option<CustomerRecs> = crate::customers::output(store, customer, keys::RECOMMENDATIONS).await?;
    let picks: Vec<_> = recs.map(|r| r.picks.into_iter().take(SHOWN).collect()).unwrap_or_default();
    // The catalogue data of what the message may show: the picks, their reasons' products,
    // the cart, the viewed products and the product the message is about.
    let mut ids: Vec<ProductId> = picks.iter().filter_map(|p| ProductId::new(&p.product).ok()).collect();
    ids.extend(picks.iter().filter_map(|p| p.why.source()).filter_map(|s| ProductId::new(s).ok()));
    ids.extend(profile.browse.cart.lines.keys().cloned());
    ids.extend(profile.browse.views.iter().map(|v| v.product_id.clone()));
    ids.extend(product.cloned());
    ids.sort();
    ids.dedup();
    let refs: Vec<&ProductId> = ids.iter().collect();
    let mut known: HashMap<ProductId, Product> = HashMap::new();
    for (id, p) in ids.iter().zip(catalogue::get_many(store, &refs).await?) {
        match p {
            Ok(Some(p)) => {
                known.insert(id.clone(), p);
            }
            Ok(None) => {}
            // One unreadable product renders without its catalogue data; the message still goes.
            Err(e) => tracing::error!(error = %e, "a product cannot be read; shown without its catalogue data"),
        }
    }
    let title = |id: &str| {
        ProductId::new(id).ok().and_then(|p| known.get(&p)).map_or_else(|| id.to_string(), |p| p.title.clone())
    };
    let recommendations: Vec<(ProductId, String)> = picks
        .iter()
        .filter_map(|p| Some((ProductId::new(&p.product).ok()?, explain(&p.why, title, now).text)))
        .collect();
    let shown: Vec<(ProductId, Option<String>)> =
        recommendations.iter().map(|(id, why)| (id.clone(), Some(why.clone()))).collect();
    let context =
        context(&Built { profile, catalogue: &known, product, recommendations: &shown, offer, loyalty, shop, links });
    Ok(Composed { context, recommendations })
}

/// The member's loyalty account and what templates see of it, if a program is in force (one
/// read of the account).
pub async fn loyalty<S: Store>(
    store: &S,
    program: Option<&crate::loyalty::Program>,
    profile: &Profile,
    now: DateTime<Utc>,
) -> Result<(Option<crate::loyalty::Account>, LoyaltyView), StoreError> {
    let Some(program) = program else { return Ok((None, LoyaltyView::default())) };
    let account = crate::loyalty::accounts::account(store, &profile.customer_id).await?;
    let style = crate::content::build::style_of(profile);
    let view = crate::loyalty::view::view(program, account.as_ref(), &style, profile.time_zone(), now);
    Ok((account, view))
}

/// The customer's send-time posterior: the nightly model's, or (for a customer it has not
/// seen yet) one built now from their profile and the published priors.
pub async fn posterior<S: Store>(store: &S, profile: &Profile, now: DateTime<Utc>) -> Result<Posterior, StoreError> {
    let customer: &CustomerId = &profile.customer_id;
    if let Some(m) = crate::customers::output::<_, CustomerModel>(store, customer, keys::SEND_TIME_MODEL).await? {
        return Ok(m.posterior);
    }
    let priors = crate::sto::job::current_priors(store).await?;
    Ok(crate::sto::job::posterior_of(profile, &priors, now))
}
