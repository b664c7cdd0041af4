//! Whether a due send should still go, re-checked when it is due: the customer may have ordered,
//! emptied the cart, changed it again (a later reminder replaces this one), bought the product,
//! or left the audience.

use chrono::{DateTime, Utc};

use super::audience::Facts;
use super::{Campaign, Exit, Trigger};
use crate::ids::ProductId;

/// Why a send no longer goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exited(pub String);

/// The send `campaign` queued for a cause at `cause_at` (about `product`, if any), checked
/// against the customer as `facts` describe them now: still in the audience, and none of the
/// exit conditions met. `in_stock` is the product's stock if the catalogue knows.
pub fn check(
    campaign: &Campaign,
    facts: &Facts,
    cause_at: DateTime<Utc>,
    product: Option<&ProductId>,
    in_stock: Option<bool>,
    now: DateTime<Utc>,
) -> Result<(), Exited> {
    let profile = facts.profile;
    if let Some(audience) = &campaign.audience
        && !audience.matches(facts, now)
    {
        return Err(Exited("the customer is not (or no longer) in the campaign's audience".into()));
    }
    let cart = &profile.browse.cart;
    // A cart reminder is about the cart as it was: a later change has its own reminder.
    if matches!(campaign.trigger, Trigger::CartAbandoned { .. }) && cart.updated_at.is_some_and(|at| at > cause_at) {
        return Err(Exited("the cart changed again: the reminder for its latest state replaces this one".into()));
    }
    if matches!(campaign.trigger, Trigger::CheckoutAbandoned { .. })
        && cart.checkout_started_at.is_some_and(|at| at > cause_at)
    {
        return Err(Exited("a later checkout started: its reminder replaces this one".into()));
    }
    let orders_since =
        || profile.orders.orders.values().filter_map(|r| r.placed.as_ref()).filter(move |p| p.at >= cause_at);
    for exit in &campaign.exit_when {
        match exit {
            Exit::OrderPlaced => {
                if let Some(order) = orders_since().next() {
                    return Err(Exited(format!("an order was placed at {}", crate::clock::Minute(order.at))));
                }
            }
            Exit::CartEmptied if cart.lines.is_empty() => return Err(Exited("the cart is empty".into())),
            Exit::CartEmptied => {}
            Exit::ProductBought => {
                if let Some(product) = product
                    && orders_since().any(|o| o.lines.iter().any(|l| &l.product_id == product))
                {
                    return Err(Exited(format!("{product} was bought")));
                }
            }
            Exit::OutOfStock if in_stock == Some(false) => {
                return Err(Exited(format!("{} is out of stock", product.map_or("the product", |p| p.as_str()))));
            }
            Exit::OutOfStock => {}
        }
    }
    Ok(())
}
