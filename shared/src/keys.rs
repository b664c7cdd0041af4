//! The single table's key layout: every item Kairos stores, in one place.
//!
//! | item                                         | pk                         | sk                              |
//! |----------------------------------------------|----------------------------|---------------------------------|
//! | profile part: browsing and cart              | `C#<customer>`             | `P#B`                           |
//! | profile part: engagement and attention       | `C#<customer>`             | `P#E`                           |
//! | profile part: orders (the recent ones)       | `C#<customer>`             | `P#O`                           |
//! | profile part: archived orders                | `C#<customer>`             | `P#O#<chunk>`                   |
//! | profile part: contact, consents, attributes  | `C#<customer>`             | `P#C`                           |
//! | applied-event marker of a busy part (TTL)    | `C#<customer>`             | `D#<part>#<event hash>`         |
//! | send-time model (nightly)                    | `C#<customer>`             | `STO`                           |
//! | churn score and win-back episode (nightly)   | `C#<customer>`             | `CHURN`                         |
//! | recommendations (nightly)                    | `C#<customer>`             | `RECS`                          |
//! | a once-only send already queued (TTL)        | `C#<customer>`             | `Q#<campaign>#<occurrence>`     |
//! | loyalty account: balances, lots, tier        | `C#<customer>`             | `LOY`                           |
//! | loyalty ledger entry (one per cause)         | `C#<customer>`             | `LOY#E#<kind>#<cause>`          |
//! | a message's outcome already counted (TTL)    | `MSG#<message>`            | `O#<campaign>#<kind>`           |
//! | a campaign's sends and rewards per variant   | `STATS#<campaign>#<shard>` | `<variant>`                     |
//! | current send-time priors / churn model       | `STO#PRIORS` / `CHURN#MODEL` | `CURRENT`                     |
//! | current recommendation model (summary)       | `REC#MODEL`                | `CURRENT`                       |
//! | a job run's state, results, model (TTL)      | `JOB#<job>#<run>`          | `STATE`, `GATHER#<seg>`, `MODEL`, `APPLIED#<seg>` |
//! | a run's segment being worked (TTL)           | `JOB#<job>#<run>`          | `LEASE#<phase>#<seg>`           |
//! | state handed to a segment's continuation     | `JOB#<job>#<run>`          | `CARRY#<seg>#<resume hash>`     |
//! | a segment's task sent, not yet taken (TTL)   | `JOB#<job>#<run>`          | `QUEUED#<phase>#<seg>`          |
//! | a chunk of a large run item (TTL)            | `JOB#<job>#<run>`          | `BLOB#<item sk>#<tag>#<n>`      |
//! | the loyalty program: current, each version   | `LOYALTY`                  | `CURRENT`, `V#<version>`        |
//! | product (catalogue)                          | `CAT#<shard>`              | `<product>`                     |
//! | a product back in stock or cheaper (TTL)     | `CHG#<day>#<shard>`        | `<product>#<kind>`              |
//! | due send (for dispatch)                      | `DUE#<minute>#<shard>`     | `<customer>#<campaign>#<occurrence>` |
//! | rejected inbound record (TTL)                | `REJ#<day>#<shard>`        | `<record id>`                   |
//!
//! Everything about a customer sits under their partition, so export and erasure are one query,
//! and a profile is one query of the `P#` prefix.

use chrono::{DateTime, Timelike, Utc};

use crate::dedupe::IdHash;
use crate::ids::{CampaignId, CustomerId};
use crate::store::Key;

/// Prefix of a customer's partition key.
pub const CUSTOMER_PREFIX: &str = "C#";
/// Sort-key prefix shared by every part of a profile.
pub const PROFILE_PREFIX: &str = "P#";
/// Sort-key prefix of archived-order chunks.
pub const ARCHIVE_PREFIX: &str = "P#O#";
/// The send-time model's sort key.
pub const SEND_TIME_MODEL: &str = "STO";
/// The churn score's sort key.
pub const CHURN_SCORE: &str = "CHURN";
/// Where the current send-time priors are published.
pub const SEND_TIME_PRIORS: (&str, &str) = ("STO#PRIORS", "CURRENT");
/// Each customer's recommendations (nightly).
pub const RECOMMENDATIONS: &str = "RECS";
/// Where the current recommendation model's summary is published.
pub const RECOMMEND_MODEL: (&str, &str) = ("REC#MODEL", "CURRENT");
/// The scheduled-campaign job's output sort key: reserved, never written (the job keeps no
/// output; its sends' once-markers make it idempotent).
pub const SCHEDULED_SENDS: &str = "SCHED";
/// Where a scheduled-campaign run would publish a model (it has none: runs start with theirs).
pub const SCHEDULED_MODEL: (&str, &str) = ("SCHED#MODEL", "CURRENT");
/// Where the current churn model is published.
pub const CHURN_MODEL: (&str, &str) = ("CHURN#MODEL", "CURRENT");
/// Partitions the catalogue is spread over: a feed import writes many products at once, and
/// one partition takes 1,000 writes a second.
pub const CATALOGUE_SHARDS: u32 = 16;
/// Partitions per due minute and per day of rejected records.
pub const DUE_SHARDS: u32 = 8;
pub const REJECTED_SHARDS: u32 = 8;

/// The parts a profile is stored in. Each event changes one of them (its home) and is counted
/// and deduplicated there, so the items every event rewrites stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartKind {
    Browse,
    Engagement,
    Orders,
    Contact,
}

impl PartKind {
    pub const ALL: [PartKind; 4] = [PartKind::Browse, PartKind::Engagement, PartKind::Orders, PartKind::Contact];

    pub fn sk(self) -> &'static str {
        match self {
            PartKind::Browse => "P#B",
            PartKind::Engagement => "P#E",
            PartKind::Orders => "P#O",
            PartKind::Contact => "P#C",
        }
    }

    pub fn letter(self) -> char {
        match self {
            PartKind::Browse => 'B',
            PartKind::Engagement => 'E',
            PartKind::Orders => 'O',
            PartKind::Contact => 'C',
        }
    }

    /// The part a sort key names, if it is one.
    pub fn of_sk(sk: &str) -> Option<PartKind> {
        PartKind::ALL.into_iter().find(|p| p.sk() == sk)
    }
}

pub fn customer_pk(customer: &CustomerId) -> String {
    format!("{CUSTOMER_PREFIX}{customer}")
}

/// The customer a partition key belongs to, if it is a customer's.
pub fn customer_of(pk: &str) -> Option<CustomerId> {
    pk.strip_prefix(CUSTOMER_PREFIX).and_then(|id| CustomerId::new(id).ok())
}

pub fn part(customer: &CustomerId, kind: PartKind) -> Key {
    Key::new(customer_pk(customer), kind.sk())
}

pub fn archive(customer: &CustomerId, chunk: &str) -> Key {
    Key::new(customer_pk(customer), format!("{ARCHIVE_PREFIX}{chunk}"))
}

/// The chunk id an archive sort key names.
pub fn archive_chunk(sk: &str) -> Option<&str> {
    sk.strip_prefix(ARCHIVE_PREFIX)
}

pub fn applied_marker(customer: &CustomerId, kind: PartKind, id: IdHash) -> Key {
    Key::new(customer_pk(customer), format!("D#{}#{}", kind.letter(), id.text()))
}

pub fn send_time_model(customer: &CustomerId) -> Key {
    Key::new(customer_pk(customer), SEND_TIME_MODEL)
}

pub fn churn_score(customer: &CustomerId) -> Key {
    Key::new(customer_pk(customer), CHURN_SCORE)
}

/// One catalogue partition: `CAT#07`.
pub fn catalogue_pk(shard: u32) -> String {
    format!("CAT#{shard:02}")
}

/// A product's item: in the shard its id hashes to, keyed by the id.
pub fn product(product: &crate::ids::ProductId) -> Key {
    Key::new(catalogue_pk(crate::hash::bucket(product.as_str(), CATALOGUE_SHARDS)), product.as_str())
}

/// One day's catalogue changes in one shard (the product's): `CHG#2026-12-02#07`.
pub fn catalogue_changes_pk(day: chrono::NaiveDate, shard: u32) -> String {
    format!("CHG#{day}#{shard:02}")
}

/// A change of `product` on `day`, of `kind` (`restock`, `price`): the latest of the day.
pub fn catalogue_change(day: chrono::NaiveDate, product: &crate::ids::ProductId, kind: &str) -> Key {
    let shard = crate::hash::bucket(product.as_str(), CATALOGUE_SHARDS);
    Key::new(catalogue_changes_pk(day, shard), format!("{}#{kind}", product.as_str()))
}

pub fn job_run_pk(job: &str, run: &str) -> String {
    format!("JOB#{job}#{run}")
}

pub const JOB_STATE: &str = "STATE";
pub const JOB_MODEL: &str = "MODEL";
pub const JOB_GATHERED: &str = "GATHER#";
pub const JOB_APPLIED: &str = "APPLIED#";
pub const JOB_LEASE: &str = "LEASE#";
pub const JOB_CARRY: &str = "CARRY#";

/// Where the leases of one phase are listed: `LEASE#apply#`, each followed by its segment.
pub fn job_lease_prefix(phase: &str) -> String {
    format!("{JOB_LEASE}{phase}#")
}

/// The lease of one phase of one segment: `LEASE#apply#00042`.
pub fn job_lease_sk(phase: &str, segment: u32) -> String {
    job_segment_sk(&job_lease_prefix(phase), segment)
}

pub const JOB_QUEUED: &str = "QUEUED#";

/// What a continuation of a segment resuming after `after` carries: `CARRY#00042#<hash>`. The
/// statistics of a segment up to a point are the same whichever worker gathered them, so two
/// chains working one segment (a redelivered task) never overwrite each other's.
pub fn job_carry_sk(segment: u32, after: &Key) -> String {
    let h = crate::hash::mixed64(format!("{}|{}", after.pk, after.sk).as_bytes());
    format!("{JOB_CARRY}{segment:05}#{h:016x}")
}

/// Where the waiting tasks of one phase are listed: `QUEUED#apply#`, each followed by its segment.
pub fn job_queued_prefix(phase: &str) -> String {
    format!("{JOB_QUEUED}{phase}#")
}

/// That a segment's task of a phase was sent and waits in the queue: `QUEUED#apply#00042`.
pub fn job_queued_sk(phase: &str, segment: u32) -> String {
    job_segment_sk(&job_queued_prefix(phase), segment)
}

/// Chunk `n` of a large item of a run (see [`crate::jobs::blob`]). Its own prefix, so listing
/// a run's `GATHER#` items never lists chunks.
pub fn blob_chunk(head: &Key, tag: &str, n: u32) -> Key {
    Key::new(head.pk.clone(), format!("BLOB#{}#{tag}#{n:04}", head.sk))
}

/// The marker that a once-only send (one per cause: a churn episode, say) was queued, in the
/// customer's partition: it outlives the due send, whatever minute that was filed under.
pub fn once_marker(customer: &CustomerId, campaign: &CampaignId, occurrence: &str) -> Key {
    Key::new(customer_pk(customer), format!("Q#{campaign}#{occurrence}"))
}

/// The marker that one outcome (`sent`, `rewarded`) of a message was counted: under the
/// message, whoever the event reporting it names (a forwarded email, a guest checkout).
pub fn outcome_marker(message: &str, campaign: &CampaignId, kind: &str) -> Key {
    Key::new(format!("MSG#{message}"), format!("O#{campaign}#{kind}"))
}

/// Shards of a campaign's per-variant counters, each its own partition: each takes a share of
/// the updates (one partition takes 1,000 writes a second).
pub const STATS_SHARDS: u32 = 8;

pub fn campaign_stats_pk(campaign: &CampaignId, shard: u32) -> String {
    format!("STATS#{campaign}#{shard}")
}

/// One shard of a variant's counters.
pub fn campaign_stats(campaign: &CampaignId, variant: &str, shard: u32) -> Key {
    Key::new(campaign_stats_pk(campaign, shard), variant)
}

/// The partition holding the current version of every deployed campaign, one item each.
pub const CAMPAIGNS_PK: &str = "CAMPAIGNS";

/// A campaign's current version: `CAMPAIGNS` / `<id>`.
pub fn campaign_current(campaign: &CampaignId) -> Key {
    Key::new(CAMPAIGNS_PK, campaign.as_str())
}

/// One deployed version of a campaign, kept for the sends that started with it:
/// `CAMPAIGN#<id>` / `V#000042`.
pub fn campaign_version(campaign: &CampaignId, version: u32) -> Key {
    Key::new(format!("CAMPAIGN#{campaign}"), format!("V#{version:06}"))
}

/// A member's loyalty account (balances, lots, tier): the nightly loyalty job's output item.
pub const LOYALTY_ACCOUNT: &str = "LOY";
/// Sort-key prefix of a member's ledger entries.
pub const LOYALTY_ENTRY_PREFIX: &str = "LOY#E#";

pub fn loyalty_account(customer: &CustomerId) -> Key {
    Key::new(customer_pk(customer), LOYALTY_ACCOUNT)
}

/// A cause as it appears in a key: a short digest, whatever the ids in it (they may hold `#`).
fn cause_digest(cause: &str) -> String {
    format!("{:016x}", crate::hash::mixed64(cause.as_bytes()))
}

/// The ledger entry of one cause: `LOY#E#earn#<digest of "order:ord-1">`. One per cause, ever:
/// an entry written only if absent is what makes every award, release or redemption happen once.
pub fn loyalty_entry(customer: &CustomerId, kind: &str, cause: &str) -> Key {
    Key::new(customer_pk(customer), format!("{LOYALTY_ENTRY_PREFIX}{kind}#{}", cause_digest(cause)))
}

/// Where the reversals of one order's points are listed: `LOY#E#reverse#<order digest>#`.
pub fn loyalty_reversals_prefix(order: &str) -> String {
    format!("{LOYALTY_ENTRY_PREFIX}reverse#{}#", cause_digest(order))
}

/// The reversal a refund makes of an order's points.
pub fn loyalty_reversal(customer: &CustomerId, order: &str, refund: &str) -> Key {
    Key::new(customer_pk(customer), format!("{}{}", loyalty_reversals_prefix(order), cause_digest(refund)))
}

/// The partition of the deployed loyalty program.
pub const LOYALTY_PK: &str = "LOYALTY";

/// The program in force: `LOYALTY` / `CURRENT`.
pub fn loyalty_program() -> Key {
    Key::new(LOYALTY_PK, "CURRENT")
}

/// One deployed version of the program: `LOYALTY` / `V#000003`.
pub fn loyalty_program_version(version: u32) -> Key {
    Key::new(LOYALTY_PK, format!("V#{version:06}"))
}

/// A per-segment item of a job run: `GATHER#00042`.
pub fn job_segment_sk(prefix: &str, segment: u32) -> String {
    format!("{prefix}{segment:05}")
}

/// The minute a due send is filed under: its due instant, truncated to the minute.
pub fn due_minute(at: DateTime<Utc>) -> String {
    at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at).format("%Y-%m-%dT%H:%M").to_string()
}

pub fn due_send(due_at: DateTime<Utc>, customer: &CustomerId, campaign: &CampaignId, occurrence: &str) -> Key {
    let shard = crate::hash::bucket(customer.as_str(), DUE_SHARDS);
    Key::new(format!("DUE#{}#{shard}", due_minute(due_at)), format!("{customer}#{campaign}#{occurrence}"))
}

/// The partitions of one due minute, every shard.
pub fn due_partitions(minute: DateTime<Utc>) -> Vec<String> {
    (0..DUE_SHARDS).map(|shard| format!("DUE#{}#{shard}", due_minute(minute))).collect()
}

/// How far dispatch has got: the last minute whose due sends were all handed out.
pub const DISPATCH_CURSOR: (&str, &str) = ("DISPATCH", "CURSOR");

/// A customer's frequency-cap ledger: the capped messages of the last days.
pub const CAP_LEDGER: &str = "CAPS";

pub fn cap_ledger(customer: &CustomerId) -> Key {
    Key::new(customer_pk(customer), CAP_LEDGER)
}

/// The claim of one message (one per campaign, customer and occurrence), written before the
/// provider is called: `SEND#<campaign>#<occurrence>`.
pub fn send_claim(customer: &CustomerId, campaign: &CampaignId, occurrence: &str) -> Key {
    Key::new(customer_pk(customer), format!("SEND#{campaign}#{occurrence}"))
}

/// Which customer a phone number Kairos texted belongs to (by digest: replies such as STOP name
/// only the number): `PHONE#<digest>` / `C`.
pub fn phone_owner(digest: &str) -> Key {
    Key::new(format!("PHONE#{digest}"), "C")
}

/// Sort-key prefix of a customer's decision trace.
pub const TRACE_PREFIX: &str = "WHY#";

/// One delivery decision about a customer: `WHY#<instant>#<campaign>#<occurrence>`, in time order.
pub fn trace(customer: &CustomerId, at: DateTime<Utc>, campaign: &CampaignId, occurrence: &str) -> Key {
    Key::new(
        customer_pk(customer),
        format!("{TRACE_PREFIX}{}#{campaign}#{occurrence}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
    )
}

pub fn rejected(received: DateTime<Utc>, record_id: &str) -> Key {
    let shard = crate::hash::bucket(record_id, REJECTED_SHARDS);
    Key::new(format!("REJ#{}#{shard}", received.format("%Y-%m-%d")), record_id)
}

/// The partitions that hold one day's rejected records.
pub fn rejected_partitions(day: chrono::NaiveDate) -> Vec<String> {
    (0..REJECTED_SHARDS).map(|shard| format!("REJ#{}#{shard}", day.format("%Y-%m-%d"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_follow_the_table() {
        let c = CustomerId::new("c-1").unwrap();
        assert_eq!(part(&c, PartKind::Orders), Key::new("C#c-1", "P#O"));
        assert_eq!(archive(&c, "x1"), Key::new("C#c-1", "P#O#x1"));
        assert_eq!(archive_chunk("P#O#x1"), Some("x1"));
        assert_eq!(PartKind::of_sk("P#E"), Some(PartKind::Engagement));
        assert_eq!(PartKind::of_sk("P#O#x1"), None);
        assert_eq!(customer_of("C#c-1"), Some(c.clone()));
        assert_eq!(customer_of("JOB#sto#r"), None);
        let due = due_send(
            Utc.with_ymd_and_hms(2026, 11, 24, 3, 17, 42).unwrap(),
            &c,
            &CampaignId::new("winback").unwrap(),
            "churn-episode-1",
        );
        assert!(due.pk.starts_with("DUE#2026-11-24T03:17#"), "{}", due.pk);
        assert_eq!(due.sk, "c-1#winback#churn-episode-1");
        let rej = rejected(Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap(), "m-1");
        assert!(rejected_partitions(chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()).contains(&rej.pk));
        // Every profile part and archive shares the prefix a profile is read with.
        assert!(PartKind::ALL.iter().all(|p| p.sk().starts_with(PROFILE_PREFIX)));
        assert!(ARCHIVE_PREFIX.starts_with(PROFILE_PREFIX));
        assert!(
            !applied_marker(&c, PartKind::Browse, IdHash::of(&crate::ids::EventId::new("e").unwrap()))
                .sk
                .starts_with(PROFILE_PREFIX)
        );
    }
}
