//! Send-time optimization: when each customer pays attention, and when to message them.
//!
//! - [`crate::attention`] (below both the profile and this module): recency-weighted engagement
//!   per hour of the week, kept in the profile and updated by ingest;
//! - [`prior`]: the population's (and segments') attention, fitted by empirical Bayes, that a
//!   customer's own data is smoothed toward, so a customer with no history gets the
//!   population's best hour and their own data takes over as it accumulates.
pub mod decide;
pub mod history;
pub mod job;
pub mod posterior;
pub mod prior;
pub mod sim;
pub mod smooth;
pub mod window;
