//! Loyalty: a points ledger kept exactly once, in the same table and event stream as the
//! messaging, so "your points expire soon", "you reached Gold" and "double points because we
//! miss you" are campaigns like any other.
//!
//! - [`program`]: the program file marketers edit (earn rules, pending period, expiry, tiers,
//!   rewards, personal offers) and its checks;
//! - [`ledger`]: the account (balances, lots, tier) and the entries that add up to it, pure;
//! - [`earn`], [`tier`], [`offers`]: what an order or action earns, where a member stands,
//!   which offer they get, pure;
//! - [`accounts`]: accrual, redemption and adjustments against the table, each cause once;
//! - [`job`]: the nightly run (release, expire, tiers, notices, birthday bonus, offers);
//! - [`redeem`]: the redemption API's requests and answers; [`stored`]: the deployed program;
//! - [`view`]: what templates see of an account (`loyalty.*`).

pub mod accounts;
pub mod catalogue;
pub mod earn;
pub mod job;
pub mod ledger;
pub mod offers;
pub mod program;
pub mod redeem;
pub mod stored;
pub mod tier;
pub mod view;

pub use accounts::{Accrual, accrue};
pub use catalogue::ProductFacts;
pub use ledger::{Account, Entry};
pub use program::Program;
pub use stored::{DeployedProgram, ProgramCache};

/// What accrual keeps between events in one process: the program in force and the catalogue
/// facts its rules read.
#[derive(Debug, Default)]
pub struct Accruer {
    pub program: ProgramCache,
    pub products: ProductFacts,
}
