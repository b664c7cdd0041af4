//! Recommendations: which products to show a customer, a visitor or a cart.
//!
//! Pure code over plain data (dense indices, no ids, no AWS types): [`data`] holds interactions,
//! [`neighbours`], [`content`], [`bundle`], [`replenish`] and [`popularity`] build the parts,
//! [`blend`] answers requests from them, and [`eval`] measures them offline against plain
//! item-kNN and popularity. [`synth`] is a shop with known tastes to measure on.

pub mod api;
pub mod blend;
pub mod bundle;
pub mod content;
pub mod data;
pub mod eval;
pub mod files;
pub mod job;
pub mod neighbours;
pub mod popularity;
pub mod reason;
pub mod replenish;
pub mod synth;

/// `f` over every element, split over the machine's cores, results in input order.
pub fn par_map<T: Sync, R: Send>(input: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let chunk = input.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> =
            input.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}
