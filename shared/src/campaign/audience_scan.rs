//! Who a campaign's audience holds across the whole store, decided as a scheduled run decides
//! it: on the profile, the nightly churn score, the loyalty account under the program in force,
//! and the send-time confidence when the audience asks for it (`kairos campaigns audience`).

use chrono::{DateTime, Utc};

use super::Campaign;
use super::audience::Scores;
use crate::customers::{SegmentScan, assemble};
use crate::ids::CustomerId;
use crate::jobs::runner::decode_joined;
use crate::keys;
use crate::store::{Consistency, Segment, Store, StoreError, Wanted};

/// How many customers the audience holds, of how many: its filter only (holdout, reachability
/// and the campaign's status decide later who is actually sent to).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Count {
    pub customers: u64,
    pub matched: u64,
    /// Customers whose profile could not be read (left out, each logged).
    pub unreadable: u64,
    /// The first matching customers, in scan order.
    pub sample: Vec<CustomerId>,
}

/// Scans every customer once (eventually consistent, copying only their profile, churn score
/// and loyalty account) and counts those `campaign`'s audience holds as of `now`.
pub async fn count<S: Store>(
    store: &S,
    campaign: &Campaign,
    sample: usize,
    now: DateTime<Utc>,
) -> Result<Count, StoreError> {
    // Read only when the audience asks, as a scheduled run reads it.
    let program = match campaign.audience.as_ref().is_some_and(|a| a.uses_loyalty()) {
        true => crate::loyalty::stored::current(store).await?.map(|d| d.program),
        false => None,
    };
    let asks_send_time = campaign.audience.as_ref().is_some_and(|a| a.uses_send_time());
    let priors = match asks_send_time {
        true => crate::sto::job::current_priors(store).await?,
        false => Default::default(),
    };
    let wanted = Wanted::SortKeys { prefixes: &[keys::PROFILE_PREFIX], exact: Scores::SKS };
    let mut scan = SegmentScan::new(store, Segment::WHOLE, None, Consistency::Eventual, wanted);
    let mut out = Count::default();
    while let Some(page) = scan.next(500).await? {
        for (customer, items) in page {
            let (joined, parts): (Vec<_>, Vec<_>) =
                items.into_iter().partition(|i| Scores::SKS.contains(&i.key.sk.as_str()));
            let scores: Option<Scores> = decode_joined(&customer, Scores::SKS, joined);
            let profile = match assemble(&customer, parts) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "a profile cannot be read; left out of the count");
                    out.unreadable += 1;
                    continue;
                }
            };
            out.customers += 1;
            let confidence =
                asks_send_time.then_some(|| crate::sto::job::posterior_of(&profile, &priors, now).own_weight());
            let facts = super::scheduled::facts(&profile, scores.as_ref(), program.as_ref(), confidence);
            if campaign.audience.as_ref().is_none_or(|a| a.matches(&facts, now)) {
                out.matched += 1;
                if out.sample.len() < sample {
                    out.sample.push(customer);
                }
            }
        }
    }
    Ok(out)
}
