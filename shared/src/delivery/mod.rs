//! From due send to delivered message: the policy every send passes first. Each rule is a small
//! pure function saying allow, defer until a moment, or suppress, with its reason. (Consent and
//! an address on the channel are `profile::reach`: campaigns check it before queueing too.)

pub mod holidays;
pub mod quiet;
