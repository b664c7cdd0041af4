//! From due send to delivered message: the policy every send passes first. Each rule is a small
//! pure function saying allow, defer until a moment, or suppress, with its reason.

pub mod holidays;
pub mod quiet;
