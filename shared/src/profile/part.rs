//! What every stored part of a profile shares: which events it counted, when, and which it has
//! seen recently (its deduplication set).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::compact::PackError;
use crate::dedupe::Seen;
use crate::event::ShopEvent;
use crate::keys::PartKind;
use crate::validate::FieldError;

/// Bookkeeping of one part. Stored as one packed string (it is rewritten with every event):
/// `<applied>;<first>;<last>;<seen ids>`, instants in unix seconds, empty when unknown.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartMeta {
    /// Events whose home is this part, each counted once.
    pub applied: u64,
    /// Earliest and latest occurrence among them.
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Ids of the events applied recently.
    pub seen: Seen,
}

impl PartMeta {
    fn packed(&self) -> String {
        let secs = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp().to_string()).unwrap_or_default();
        format!("{};{};{};{}", self.applied, secs(self.first), secs(self.last), self.seen.packed())
    }
}

impl TryFrom<String> for PartMeta {
    type Error = PackError;
    fn try_from(text: String) -> Result<Self, PackError> {
        let bad = |problem: &str| PackError { what: "part bookkeeping", problem: problem.into() };
        let mut fields = text.splitn(4, ';');
        let mut next = || fields.next().ok_or_else(|| bad("has too few fields"));
        let applied = next()?.parse().map_err(|_| bad("has a count that is not a number"))?;
        let instant = |t: &str| -> Result<Option<DateTime<Utc>>, PackError> {
            if t.is_empty() {
                return Ok(None);
            }
            let secs: i64 = t.parse().map_err(|_| bad("has an instant that is not a number"))?;
            chrono::TimeZone::timestamp_opt(&Utc, secs, 0)
                .single()
                .map(Some)
                .ok_or_else(|| bad("has an instant out of range"))
        };
        let first = instant(next()?)?;
        let last = instant(next()?)?;
        let seen = Seen::try_from(next()?.to_string())?;
        Ok(PartMeta { applied, first, last, seen })
    }
}

crate::compact::serde_as_packed_text!(PartMeta);

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
