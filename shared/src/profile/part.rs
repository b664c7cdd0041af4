//! What every stored part of a profile shares: which events it counted, when, and which it has
//! seen recently (its deduplication set).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::dedupe::Seen;
use crate::event::ShopEvent;
use crate::keys::PartKind;
use crate::validate::FieldError;

/// Bookkeeping of one part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartMeta {
    /// Events whose home is this part, each counted once.
    #[serde(rename = "n", default)]
    pub applied: u64,
    /// Earliest and latest occurrence among them.
    #[serde(rename = "f", default, with = "crate::compact::unix_secs_opt", skip_serializing_if = "Option::is_none")]
    pub first: Option<DateTime<Utc>>,
    #[serde(rename = "l", default, with = "crate::compact::unix_secs_opt", skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<Utc>>,
    /// Ids of the events applied recently.
    #[serde(rename = "s", default, skip_serializing_if = "Seen::is_empty")]
    pub seen: Seen,
}

impl PartMeta {
    /// Counts one event that occurred at `at`.
    pub fn count(&mut self, at: DateTime<Utc>) {
        self.applied += 1;
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }
}

/// The bookkeeping accessors of a part whose [`PartMeta`] is its field `meta`.
macro_rules! part_meta {
    () => {
        fn meta(&self) -> &$crate::profile::part::PartMeta {
            &self.meta
        }

        fn meta_mut(&mut self) -> &mut $crate::profile::part::PartMeta {
            &mut self.meta
        }
    };
}
pub(crate) use part_meta;

/// One part of a profile, stored as its own item (so its top-level field names must not be the
/// store's own: `pk`, `sk`, `v`, `ttl`; a test checks every part).
pub trait ProfilePart: Clone + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: PartKind;

    fn meta(&self) -> &PartMeta;
    fn meta_mut(&mut self) -> &mut PartMeta;

    /// Folds in an event whose home is this part. An event whose effect the part cannot hold
    /// (a limit it would exceed) is refused with the field to blame, and changes nothing.
    fn apply(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError>;

    /// The effect on this part of an event whose home is another part (an order empties the
    /// cart). It must be idempotent: it is applied again whenever that event is redelivered.
    /// Returns whether it changed anything.
    fn touch(&mut self, _event: &ShopEvent, _at: DateTime<Utc>) -> bool {
        false
    }

    /// Folds in and counts an event whose home is this part.
    fn fold(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError> {
        self.apply(event, at)?;
        self.meta_mut().count(at);
        Ok(())
    }
}
