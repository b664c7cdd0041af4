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

pub use crate::parallel::par_map;
