//! From due send to delivered message. Every send passes the policy first ([`policy`]: consent,
//! suppression, quiet hours, caps — each rule a small pure function saying allow, defer until a
//! moment, or suppress, with its reason), then [`dispatch`] claims it exactly once and hands it
//! to a channel ([`channel`]: SES, SNS, or the local outbox), and every decision lands in the
//! customer's trace ([`trace`]), which `kairos why` reads.

pub mod caps;
pub mod channel;
pub mod dispatch;
pub mod feedback;
pub mod holidays;
pub mod oracle;
pub mod policy;
#[cfg(test)]
mod properties;
pub mod provider;
pub mod quiet;
#[cfg(any(test, feature = "contract"))]
pub mod scenarios;
pub mod ses;
pub mod sns;
pub mod token;
pub mod trace;
pub mod unsubscribe;
