//! The single-table key layout. Every item about a customer lives under the customer's
//! partition, so export and erasure are one query.
//!
//! | item                          | pk            | sk                |
//! |-------------------------------|---------------|-------------------|
//! | customer profile              | `C#<id>`      | `PROFILE`         |
//! | processed-event marker (TTL)  | `C#<id>`      | `EVT#<event id>`  |
//!
//! Items other modules own keep their keys beside their code: send-time models
//! ([`crate::sto::job`]), churn scores ([`crate::churn::job`]), job runs ([`crate::jobs::runner`])
//! and due sends ([`crate::due`]). The README has the whole table.

use crate::ids::{CustomerId, EventId};
use crate::store::Key;

pub const PROFILE: &str = "PROFILE";
pub const EVENT_MARKER_PREFIX: &str = "EVT#";

pub fn customer_pk(customer: &CustomerId) -> String {
    format!("C#{customer}")
}

pub fn profile(customer: &CustomerId) -> Key {
    Key::new(customer_pk(customer), PROFILE)
}

pub fn event_marker(customer: &CustomerId, event: &EventId) -> Key {
    Key::new(customer_pk(customer), format!("{EVENT_MARKER_PREFIX}{event}"))
}
