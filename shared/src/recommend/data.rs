//! Interactions as the recommenders read them: dense indices for users and items, each user's
//! history in time order, with the strength of each signal.
//!
//! The recommenders never see ids: they work on `u32` indices into a [`Vocabulary`], so a
//! history is a few bytes per event and a score table is an array.

use std::collections::HashMap;

/// How strongly an interaction says "I want this".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    View,
    Cart,
    Order,
}

impl Signal {
    /// The weight of one interaction of this kind. An order says more than a cart add, a cart
    /// add more than a view (the same ordering as the profile's category affinity).
    pub fn weight(self) -> f32 {
        match self {
            Signal::View => 1.0,
            Signal::Cart => 2.0,
            Signal::Order => 4.0,
        }
    }

    /// Parses an interaction kind from an export: `view`, `cart` or `order` (and the event type
    /// names `product_viewed`, `cart_item_added`, `order_placed`).
    pub fn parse(text: &str) -> Option<Signal> {
        match text.trim().to_ascii_lowercase().as_str() {
            "view" | "product_viewed" | "" => Some(Signal::View),
            "cart" | "cart_item_added" | "add_to_cart" => Some(Signal::Cart),
            "order" | "purchase" | "order_placed" => Some(Signal::Order),
            _ => None,
        }
    }
}

/// Ids interned as dense indices, in order of first appearance (so indices, and every tie
/// broken by index, are the same on every run over the same input).
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    index: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Vocabulary {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.into());
        self.index.insert(name.into(), i);
        i
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    pub fn name(&self, index: u32) -> &str {
        &self.names[index as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// One interaction of a user's history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub item: u32,
    /// Seconds since the Unix epoch.
    pub at: i64,
    pub signal: Signal,
}

/// One input row before grouping.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub user: u32,
    pub event: Event,
}

/// Every user's history, in time order (ties keep the input's order), stored as one array with
/// offsets: the layout that makes a pass over all users cheap.
#[derive(Clone, Debug, Default)]
pub struct Interactions {
    pub users: Vocabulary,
    pub items: Vocabulary,
    offsets: Vec<usize>,
    events: Vec<Event>,
}

impl Interactions {
    /// Groups rows by user. `users` and `items` are the vocabularies the rows' indices refer to.
    pub fn new(users: Vocabulary, items: Vocabulary, mut rows: Vec<Row>) -> Self {
        // Stable: interactions in the same second keep the order they were given in.
        rows.sort_by_key(|r| (r.user, r.event.at));
        let mut offsets = Vec::with_capacity(users.len() + 1);
        let mut events = Vec::with_capacity(rows.len());
        offsets.push(0);
        let mut user = 0;
        for row in rows {
            while user < row.user {
                offsets.push(events.len());
                user += 1;
            }
            events.push(row.event);
        }
        while offsets.len() <= users.len() {
            offsets.push(events.len());
        }
        Self { users, items, offsets, events }
    }

    /// Builds from `(user, item, at, signal)` tuples with string ids (tests, the simulation).
    pub fn from_tuples<'a>(tuples: impl IntoIterator<Item = (&'a str, &'a str, i64, Signal)>) -> Self {
        let (mut users, mut items) = (Vocabulary::default(), Vocabulary::default());
        let rows = tuples
            .into_iter()
            .map(|(u, i, at, signal)| Row { user: users.intern(u), event: Event { item: items.intern(i), at, signal } })
            .collect();
        Self::new(users, items, rows)
    }

    pub fn user_count(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// One user's history, oldest first.
    pub fn history(&self, user: u32) -> &[Event] {
        &self.events[self.offsets[user as usize]..self.offsets[user as usize + 1]]
    }

    /// Every user with their history.
    pub fn by_user(&self) -> impl Iterator<Item = (u32, &[Event])> {
        (0..self.user_count() as u32).map(|u| (u, self.history(u)))
    }

    /// The same users and items with each history replaced by `keep` of it (the training side
    /// of a split).
    pub fn map_histories(&self, mut keep: impl FnMut(u32, &[Event]) -> Vec<Event>) -> Self {
        let mut offsets = Vec::with_capacity(self.offsets.len());
        let mut events = Vec::with_capacity(self.events.len());
        offsets.push(0);
        for (u, history) in self.by_user() {
            events.extend(keep(u, history));
            offsets.push(events.len());
        }
        Self { users: self.users.clone(), items: self.items.clone(), offsets, events }
    }

    /// The latest time in the data (the "now" of an offline run).
    pub fn latest(&self) -> i64 {
        self.events.iter().map(|e| e.at).max().unwrap_or(0)
    }
}

/// A user's distinct items, each with its latest position in the history: what "already has"
/// and "most recent" mean for recommending.
pub fn distinct_latest(history: &[Event]) -> Vec<(u32, usize)> {
    let mut latest: Vec<(u32, usize)> = history.iter().enumerate().map(|(p, e)| (e.item, p)).collect();
    latest.sort_unstable_by_key(|&(item, p)| (item, std::cmp::Reverse(p)));
    latest.dedup_by_key(|(item, _)| *item);
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_are_grouped_in_time_order_and_keep_ties_in_input_order() {
        let data = Interactions::from_tuples([
            ("u1", "b", 20, Signal::View),
            ("u2", "a", 5, Signal::Order),
            ("u1", "a", 10, Signal::View),
            ("u1", "c", 20, Signal::Cart),
        ]);
        let u1 = data.users.get("u1").unwrap();
        let items: Vec<&str> = data.history(u1).iter().map(|e| data.items.name(e.item)).collect();
        assert_eq!(items, ["a", "b", "c"]);
        assert_eq!(data.history(data.users.get("u2").unwrap()).len(), 1);
        assert_eq!((data.user_count(), data.item_count(), data.len()), (2, 3, 4));
        assert_eq!(data.latest(), 20);
    }

    #[test]
    fn distinct_items_keep_their_latest_position() {
        let data = Interactions::from_tuples([
            ("u", "a", 1, Signal::View),
            ("u", "b", 2, Signal::View),
            ("u", "a", 3, Signal::View),
        ]);
        let d = distinct_latest(data.history(0));
        assert_eq!(d, vec![(0, 2), (1, 1)]);
    }

    #[test]
    fn signals_parse_from_exports_and_order_by_strength() {
        assert_eq!(Signal::parse(" Order "), Some(Signal::Order));
        assert_eq!(Signal::parse("cart_item_added"), Some(Signal::Cart));
        assert_eq!(Signal::parse("wishlist"), None);
        assert!(Signal::Order.weight() > Signal::Cart.weight() && Signal::Cart.weight() > Signal::View.weight());
    }
}
