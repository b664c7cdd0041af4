//! Work split over the machine's cores.

use std::sync::OnceLock;

/// The cores this process may use, read once: the standard library reads the cgroup quota files
/// on every call, which cost the churn fit a tenth of its time when asked per likelihood.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).max(1))
}

/// `f` over every element, split over the machine's cores, results in input order.
pub fn par_map<T: Sync, R: Send>(input: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = input.len().div_ceil(cores()).max(1);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> =
            input.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}
