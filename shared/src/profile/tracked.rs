//! Last-writer-wins values with provenance.
//!
//! Events arrive out of order and more than once; a field changes only when the event that
//! would change it is newer than the one that last did. "Newer" is the pair (occurred at, event
//! id), a total order, so every arrival order ends in the same state.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, Source};

/// Where a value came from: when, through which system, by which event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub at: DateTime<Utc>,
    pub source: Source,
    pub event: EventId,
}

/// A value (or its absence, after a clear) and the provenance of its last change. Stored with
/// one-letter names: contact details and consents are rewritten with every change to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracked<T> {
    #[serde(rename = "v", default = "none", skip_serializing_if = "Option::is_none")]
    pub value: Option<T>,
    #[serde(rename = "t", with = "crate::compact::unix_secs")]
    pub at: DateTime<Utc>,
    #[serde(rename = "s")]
    pub source: Source,
    #[serde(rename = "e")]
    pub event: EventId,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Tracked<T> {
    pub fn new(value: Option<T>, p: &Provenance) -> Self {
        Tracked { value, at: p.at, source: p.source.clone(), event: p.event.clone() }
    }

    pub fn is_older_than(&self, p: &Provenance) -> bool {
        (self.at, &self.event) < (p.at, &p.event)
    }
}

/// Sets `slot` to `value` if `provenance` is newer than what set it last. Returns whether it did.
pub fn set_if_newer<T>(slot: &mut Option<Tracked<T>>, value: Option<T>, provenance: &Provenance) -> bool {
    let newer = slot.as_ref().is_none_or(|cur| cur.is_older_than(provenance));
    if newer {
        *slot = Some(Tracked::new(value, provenance));
    }
    newer
}

/// [`set_if_newer`] for an entry of a map of tracked values.
pub fn set_entry_if_newer<K: Ord, T>(
    map: &mut BTreeMap<K, Tracked<T>>,
    key: K,
    value: Option<T>,
    provenance: &Provenance,
) -> bool {
    match map.entry(key) {
        Entry::Vacant(v) => {
            v.insert(Tracked::new(value, provenance));
            true
        }
        Entry::Occupied(mut o) if o.get().is_older_than(provenance) => {
            o.insert(Tracked::new(value, provenance));
            true
        }
        Entry::Occupied(_) => false,
    }
}

/// The current value of a tracked field, if set and not cleared.
pub fn current<T>(slot: &Option<Tracked<T>>) -> Option<&T> {
    slot.as_ref().and_then(|t| t.value.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn prov(secs: i64, id: &str) -> Provenance {
        Provenance {
            at: Utc.timestamp_opt(secs, 0).unwrap(),
            source: Source::new("test").unwrap(),
            event: EventId::new(id).unwrap(),
        }
    }

    #[test]
    fn any_arrival_order_ends_in_the_same_value() {
        let writes =
            [(Some(1), prov(10, "a")), (None, prov(20, "b")), (Some(3), prov(20, "c")), (Some(4), prov(5, "d"))];
        let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
        for order in orders {
            let mut slot = None;
            for i in order {
                set_if_newer(&mut slot, writes[i].0, &writes[i].1);
            }
            assert_eq!(current(&slot), Some(&3), "order {order:?}");
        }
    }
}
