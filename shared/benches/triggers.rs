//! Trigger evaluation in process, on one core: stream records of browse parts (before and after
//! a cart or view change, as stored items) decoded and evaluated against every sample campaign.
//!
//! `cargo bench -p kairos --bench triggers` reports profile changes per second. Without
//! `--bench` (as `cargo test` runs it), a few hundred changes.

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use kairos::campaign::Status;
use kairos::campaign::fire::{Change, fire};
use kairos::campaign::load::read_dir;
use kairos::customers::{decode_part, part_item};
use kairos::ids::CustomerId;
use kairos::profile::{Browse, Profile};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let changes = if full { 500_000 } else { 500 };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
    let (mut campaigns, _) = read_dir(&root).expect("the samples");
    // Every sample active, so each change is evaluated against all of them.
    for c in &mut campaigns {
        c.status = Status::Active;
    }
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    // Before/after pairs from the synthetic shop's event streams, as stored items.
    let (events, _) = kairos::synth::shop_events(11, 500, 20_000, now);
    let mut profiles: std::collections::HashMap<String, Profile> = Default::default();
    let mut pairs = Vec::new();
    for e in &events {
        let p = profiles.entry(e.customer_id.to_string()).or_insert_with(|| Profile::new(e.customer_id.clone()));
        let before = p.browse.clone();
        if p.apply(e).is_ok() && p.browse != before {
            let customer = CustomerId::new(e.customer_id.as_str()).unwrap();
            pairs.push((part_item(&customer, &before, 1).unwrap(), part_item(&customer, &p.browse, 2).unwrap()));
        }
    }
    assert!(!pairs.is_empty());
    let started = Instant::now();
    let mut fired = 0usize;
    for i in 0..changes {
        let (old, new) = &pairs[i % pairs.len()];
        let old = decode_part::<Browse>(old.clone()).unwrap().value;
        let new = decode_part::<Browse>(new.clone()).unwrap().value;
        let change = Change::Browse { old: Some(&old), new: &new };
        let at = new.cart.updated_at.unwrap_or(now) + Duration::minutes(1);
        for c in &campaigns {
            fired += black_box(fire(c, &change, at)).len();
        }
    }
    let rate = changes as f64 / started.elapsed().as_secs_f64();
    println!("triggers: {changes} browse-part changes against {} campaigns, one core", campaigns.len());
    println!("  changes/s (decode both images and evaluate): {rate:>10.0}");
    println!("  sends started:                                {fired:>10}");
}
