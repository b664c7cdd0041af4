//! Kairos core.
//!
//! Pure domain modules ([`event`], [`profile`], [`ingest`]) know nothing of AWS; they talk to the
//! outside world through ports ([`store::Store`], [`clock::Clock`]). Adapters implement the ports:
//! [`store::dynamo`] for production, [`store::embedded`] for the local default. The binaries in
//! `functions/` and `cli/` only wire adapters to the domain.

pub mod attention;
pub mod campaign;
pub mod catalogue;
pub mod churn;
pub mod clock;
pub mod codes;
pub mod compact;
pub mod config;
pub mod contact;
pub mod content;
pub mod customers;
pub mod dedupe;
pub mod delivery;
pub mod deploy;
pub mod due;
pub mod event;
pub mod findings;
pub mod hash;
pub mod ids;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod loyalty;
pub mod money;
pub mod parallel;
pub mod profile;
pub mod recommend;
pub mod redact;
pub mod risk;
pub mod sim;
pub mod sto;
pub mod store;
pub mod synth;
pub mod tabular;
pub mod telemetry;
pub mod validate;
pub mod week;
pub mod yaml;
