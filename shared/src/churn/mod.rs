//! Who is slipping away: buy-till-you-die models, fitted and scored in Rust.
//!
//! - [`bgnbd`] and [`pareto`]: purchase timing, P(alive) and expected purchases;
//! - [`gamma_gamma`]: spend per transaction;
//! - [`fit`]: maximum likelihood with standard errors; [`data`]: summaries and pooling;
//! - [`special`]: ₂F₁ and log-space arithmetic.
pub mod bgnbd;
pub mod data;
pub mod fit;
pub mod gamma_gamma;
pub mod pareto;
pub mod sim;
pub mod special;
