//! What DynamoDB bills for each request, by its published rules for on-demand tables, computed
//! from item sizes (see [`super::item_size`]):
//!
//! - a write costs one write unit per started kilobyte of the larger of the item before and
//!   after (at least one; a delete, the item deleted); a write whose condition fails still costs
//!   its units; inside a transaction every item costs twice;
//! - a read costs one read unit per started 4 KB, strongly consistent, half that eventually
//!   consistent, twice that in a transaction; a missing item still costs the minimum; a query or
//!   scan rounds the *sum* of the items it read up per request.
//!
//! Prices (us-east-1, on demand): $0.625 per million write units, $0.125 per million read units.

use std::sync::atomic::{AtomicU64, Ordering};

/// Dollars per million write request units.
pub const WRITE_UNIT_PRICE_PER_MILLION: f64 = 0.625;
/// Dollars per million read request units.
pub const READ_UNIT_PRICE_PER_MILLION: f64 = 0.125;

/// How a read is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Sees every write acknowledged before it; full price.
    Strong,
    /// May miss writes of the last moments; half price. A conditional write on what it read
    /// fails if it was stale, and the writer then reads strongly.
    Eventual,
}

/// Capacity units. Reads are counted in halves so eventually consistent reads stay exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Units {
    pub read_halves: u64,
    pub writes: u64,
}

impl Units {
    pub fn reads(&self) -> f64 {
        self.read_halves as f64 / 2.0
    }

    /// What these units cost, in dollars.
    pub fn dollars(&self) -> f64 {
        (self.writes as f64 * WRITE_UNIT_PRICE_PER_MILLION + self.reads() * READ_UNIT_PRICE_PER_MILLION) / 1e6
    }
}

impl std::ops::Add for Units {
    type Output = Units;
    fn add(self, o: Units) -> Units {
        Units { read_halves: self.read_halves + o.read_halves, writes: self.writes + o.writes }
    }
}

/// Write units for one item: the larger of its size before and after, per started KB.
pub fn write_units(before: usize, after: usize, transactional: bool) -> u64 {
    let units = (before.max(after).div_ceil(1024)).max(1) as u64;
    if transactional { 2 * units } else { units }
}

fn read_halves_for(bytes: usize, consistency: Consistency, transactional: bool) -> u64 {
    let units = (bytes.div_ceil(4096)).max(1) as u64;
    let halves = match consistency {
        Consistency::Strong => 2 * units,
        Consistency::Eventual => units,
    };
    if transactional { 2 * halves } else { halves }
}

/// Read units (in halves) for items read one by one (GetItem, or each item of BatchGetItem):
/// `sizes` of the items found, `missing` the keys that were not.
pub fn item_reads(sizes: impl Iterator<Item = usize>, missing: usize, consistency: Consistency) -> Units {
    let found: u64 = sizes.map(|s| read_halves_for(s, consistency, false)).sum();
    Units { read_halves: found + missing as u64 * read_halves_for(0, consistency, false), writes: 0 }
}

/// Read units (in halves) for one query or scan page that read items of these sizes.
pub fn page_reads(sizes: impl Iterator<Item = usize>, consistency: Consistency) -> Units {
    Units { read_halves: read_halves_for(sizes.sum(), consistency, false), writes: 0 }
}

/// Requests and units a store has used: the meter benchmarks and metrics read.
#[derive(Debug, Default)]
pub struct Meter {
    read_requests: AtomicU64,
    write_requests: AtomicU64,
    read_halves: AtomicU64,
    write_units: AtomicU64,
    /// As DynamoDB itself reported them (`ReturnConsumedCapacity`), in thousandths; zero where
    /// the backend does not report (the embedded store) and not billing-accurate on emulators.
    reported_read_milli: AtomicU64,
    reported_write_milli: AtomicU64,
}

/// A copy of a [`Meter`]'s counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    pub read_requests: u64,
    pub write_requests: u64,
    pub units: Units,
    pub reported_reads: f64,
    pub reported_writes: f64,
}

impl Reading {
    /// What happened between `earlier` and this reading.
    pub fn since(&self, earlier: &Reading) -> Reading {
        Reading {
            read_requests: self.read_requests - earlier.read_requests,
            write_requests: self.write_requests - earlier.write_requests,
            units: Units {
                read_halves: self.units.read_halves - earlier.units.read_halves,
                writes: self.units.writes - earlier.units.writes,
            },
            reported_reads: self.reported_reads - earlier.reported_reads,
            reported_writes: self.reported_writes - earlier.reported_writes,
        }
    }
}

impl Meter {
    pub fn read(&self, units: Units) {
        self.read_requests.fetch_add(1, Ordering::Relaxed);
        self.read_halves.fetch_add(units.read_halves, Ordering::Relaxed);
    }

    pub fn wrote(&self, units: Units) {
        self.write_requests.fetch_add(1, Ordering::Relaxed);
        self.write_units.fetch_add(units.writes, Ordering::Relaxed);
        self.read_halves.fetch_add(units.read_halves, Ordering::Relaxed);
    }

    pub fn reported(&self, reads: f64, writes: f64) {
        self.reported_read_milli.fetch_add((reads * 1000.0).round() as u64, Ordering::Relaxed);
        self.reported_write_milli.fetch_add((writes * 1000.0).round() as u64, Ordering::Relaxed);
    }

    pub fn reading(&self) -> Reading {
        Reading {
            read_requests: self.read_requests.load(Ordering::Relaxed),
            write_requests: self.write_requests.load(Ordering::Relaxed),
            units: Units {
                read_halves: self.read_halves.load(Ordering::Relaxed),
                writes: self.write_units.load(Ordering::Relaxed),
            },
            reported_reads: self.reported_read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            reported_writes: self.reported_write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_dynamodb_rules() {
        assert_eq!(write_units(0, 1, false), 1);
        assert_eq!(write_units(0, 1024, false), 1);
        assert_eq!(write_units(0, 1025, false), 2);
        assert_eq!(write_units(3000, 500, false), 3, "the larger of before and after");
        assert_eq!(write_units(500, 0, true), 2, "doubled in a transaction");
        let strong = item_reads([100, 4096, 4097].into_iter(), 1, Consistency::Strong);
        assert_eq!(strong.reads(), 1.0 + 1.0 + 2.0 + 1.0, "per item, a missing one at the minimum");
        let eventual = item_reads([100].into_iter(), 0, Consistency::Eventual);
        assert_eq!(eventual.reads(), 0.5);
        let page = page_reads([1000, 1000, 1000, 1000, 1000].into_iter(), Consistency::Strong);
        assert_eq!(page.reads(), 2.0, "a page rounds up its sum, not each item");
        let dollars = Units { read_halves: 2_000_000, writes: 1_000_000 }.dollars();
        assert!((dollars - (0.625 + 0.125)).abs() < 1e-12);
    }
}
