//! Loyalty accounts in the table. Every change is one atomic write of the account (conditioned on
//! the version read) and of its new entries (each conditioned on not existing): the balances and
//! the ledger can never disagree, and a cause (an order, a refund, a redemption key, a release
//! day) is applied once however often it is delivered, retried or raced.
//!
//! Reads are eventually consistent first (half the price); a stale read fails its condition and
//! the next attempt reads strongly. Racing writers back off with jitter.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

pub use super::catalogue::ProductFacts;
use super::earn::{self, Boost, Line, OrderBasis};
use super::ledger::{Account, Entry, EntryKind, Month, Points, expiry_day, release_day};
use super::program::{self, Program};
use super::redeem::{self, Answer, Request};
use super::stored::DeployedProgram;
use super::tier;
use crate::customers::decode_part;
use crate::event::{ActionPerformed, OrderPlaced, OrderRefunded, Payload, ShopEvent};
use crate::ids::CustomerId;
use crate::jobs::runner::StoredOutput;
use crate::keys;
use crate::keys::PartKind;
use crate::profile::{ContactPart, OrderBook, event_instant};
use crate::store::{Condition, Consistency, Item, Key, Store, StoreError, Write, decode, encode};

/// How long a change may keep losing races before it is given up (and retried by its caller).
const BUDGET: Duration = Duration::from_secs(20);

/// The account as held in the table, with the run of the nightly job that last wrote it.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub account: Option<Account>,
    run: String,
    /// The item's version (0: no account yet).
    version: u64,
}

fn held(item: Option<Item>) -> Result<Held, StoreError> {
    match item {
        None => Ok(Held::default()),
        Some(item) => {
            let version = item.version;
            let stored: StoredOutput<Account> = decode(item)?;
            Ok(Held { account: Some(stored.value), run: stored.run, version })
        }
    }
}

/// The writes of a change: the account, then each entry (only if new).
pub fn writes(
    customer: &CustomerId,
    held: &Held,
    account: &Account,
    entries: &[(Key, Entry)],
) -> Result<Vec<Write>, StoreError> {
    let key = keys::loyalty_account(customer);
    let stored = StoredOutput { run: held.run.clone(), value: account.clone() };
    let condition = if held.version == 0 { Condition::NotExists } else { Condition::VersionIs(held.version) };
    let mut out =
        vec![Write::Put { item: Item::new(key.clone(), held.version + 1, encode(&key, &stored)?), condition }];
    out.extend(entry_writes(entries)?);
    Ok(out)
}

/// New ledger entries, each written only if absent.
pub fn entry_writes(entries: &[(Key, Entry)]) -> Result<Vec<Write>, StoreError> {
    entries
        .iter()
        .map(|(key, entry)| {
            Ok(Write::Put { item: Item::new(key.clone(), 1, encode(key, entry)?), condition: Condition::NotExists })
        })
        .collect()
}

/// What one attempt decided.
enum Step<T> {
    /// Write the account and these entries, then answer.
    Write(Account, Vec<(Key, Entry)>, T),
    /// Nothing to write.
    Done(T),
}

/// What the decision of one attempt sees: the account, the entries at the watched keys, the
/// entries under the watched prefix, and the other items asked for (read with the first
/// attempt's batch: profile parts, which a lost race does not change in any way that matters).
struct Seen<'a> {
    held: &'a Held,
    watched: Vec<Option<Entry>>,
    listed: Vec<Entry>,
    also: &'a [Option<Item>],
}

/// What one change reads besides the account.
#[derive(Default)]
struct Reads<'a> {
    /// Entries whose existence (or content) decides.
    watch: &'a [Key],
    /// Entries listed under this prefix each attempt, when the account read says they may exist.
    list: Option<(&'a str, &'a (dyn Fn(&Held) -> bool + Sync))>,
    /// Other items, read once after the first attempt's account (only if it says they are
    /// needed: profile parts a settled account need not read again).
    also: &'a [Key],
    also_when: Option<&'a (dyn Fn(&Held) -> bool + Sync)>,
}

/// Reads, decides, writes; again on a lost race, until the budget runs out.
async fn commit<S: Store, T>(
    store: &S,
    customer: &CustomerId,
    first_read: Consistency,
    reads: Reads<'_>,
    mut decide: impl FnMut(Seen<'_>) -> Result<Step<T>, StoreError>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let mut consistency = first_read;
    let mut keys = vec![keys::loyalty_account(customer)];
    keys.extend(reads.watch.iter().cloned());
    let mut also: Vec<Option<Item>> = vec![None; reads.also.len()];
    for attempt in 0_u32.. {
        let mut fetched = store.get_many(&keys, consistency).await?.into_iter();
        let held = held(fetched.next().transpose()?.flatten())?;
        let watched = fetched.map(|f| f?.map(decode::<Entry>).transpose()).collect::<Result<Vec<_>, _>>()?;
        if attempt == 0 && !reads.also.is_empty() && reads.also_when.is_none_or(|wanted| wanted(&held)) {
            also = store.get_many(reads.also, consistency).await?.into_iter().collect::<Result<Vec<_>, _>>()?;
        }
        let listed = match reads.list {
            // Strong: the account's version does not cover them.
            Some((prefix, wanted)) if wanted(&held) => {
                entries_under(store, customer, prefix, Consistency::Strong).await?
            }
            _ => Vec::new(),
        };
        match decide(Seen { held: &held, watched, listed, also: &also })? {
            Step::Done(t) => return Ok(t),
            Step::Write(account, entries, t) => {
                if !account.consistent() {
                    return Err(StoreError::Invalid(format!("the loyalty account of {customer} would not add up")));
                }
                match store.write(writes(customer, &held, &account, &entries)?).await {
                    Ok(()) => return Ok(t),
                    Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        consistency = Consistency::Strong;
        let pause = crate::clock::backoff(attempt);
        if started.elapsed() + pause > BUDGET {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    Err(StoreError::Unavailable(format!("the loyalty account of {customer} kept changing; try again")))
}

async fn entries_under<S: Store>(
    store: &S,
    customer: &CustomerId,
    prefix: &str,
    consistency: Consistency,
) -> Result<Vec<Entry>, StoreError> {
    crate::customers::query_all_with(store, customer, prefix, consistency).await?.into_iter().map(decode).collect()
}

/// What accrual did with one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accrual {
    /// Points moved (earned, or taken back by a refund).
    Applied { points: Points },
    /// This cause was applied before (a redelivery): nothing changed.
    Duplicate,
    /// A refund of an order that has earned nothing yet: kept, and netted when the order earns.
    Waiting,
    /// The event earns nothing under the program.
    NotApplicable,
}

/// Whether loyalty cares about `event` at all (orders, refunds, actions).
pub fn concerns(event: &ShopEvent) -> bool {
    matches!(event.payload, Payload::OrderPlaced(_) | Payload::OrderRefunded(_) | Payload::ActionPerformed(_))
}

/// Applies one event to its customer's account, once.
pub async fn accrue<S: Store>(
    store: &S,
    deployed: &DeployedProgram,
    products: &ProductFacts,
    event: &ShopEvent,
    now: DateTime<Utc>,
) -> Result<Accrual, StoreError> {
    match &event.payload {
        Payload::OrderPlaced(o) => earn_order(store, deployed, products, event, o, now).await,
        Payload::OrderRefunded(r) => reverse_refund(store, &deployed.program, event, r, now).await,
        Payload::ActionPerformed(a) => earn_action(store, &deployed.program, event, a, now).await,
        _ => Ok(Accrual::NotApplicable),
    }
}

/// The entries settling `account` owes at `now` (releases, expiries), keyed.
pub fn settle(
    account: &mut Account,
    program: &Program,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Vec<(Key, Entry)> {
    account
        .settle(program.id.as_str(), program.expiry.as_ref().map(|e| e.months), now)
        .into_iter()
        .map(|(cause, entry)| (keys::loyalty_entry(customer, entry.kind.name(), &cause), entry))
        .collect()
}

pub(crate) fn open(held: &Held, program: &Program) -> Account {
    held.account.clone().unwrap_or_else(|| Account::new(program.id.as_str()))
}

/// The window of months tiers need kept (none without tiers).
fn window(program: &Program) -> u32 {
    program.tiers.as_ref().map_or(1, |t| t.window_months)
}

/// Counts `points` and spend toward tiers in the member's month of `at`, and moves them up if
/// the window now qualifies (down only ever by the nightly job).
fn qualify(
    account: &mut Account,
    program: &Program,
    tz: Tz,
    at: DateTime<Utc>,
    points: Points,
    spend: i64,
    now: DateTime<Utc>,
) {
    let month_day = at.with_timezone(&tz).date_naive();
    let today = now.with_timezone(&tz).date_naive();
    tier::tally(account, Month::of(month_day), points, spend, window(program), today);
    if let Some(tiers) = &program.tiers {
        tier::evaluate(account, tiers, today, now, false);
    }
}

/// When the customer's first order other than `order` was placed, if one was placed before it
/// (`None`: `order` is their first; a customer with archived orders has older ones).
fn first_order(orders: &OrderBook, order: &str, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !orders.archives.is_empty() {
        return Some(DateTime::<Utc>::MIN_UTC);
    }
    orders
        .orders
        .iter()
        .filter(|(id, _)| id.as_str() != order)
        .filter_map(|(id, r)| r.placed.as_ref().filter(|p| (p.at, id.as_str()) < (at, order)).map(|p| p.at))
        .min()
}

/// How an order with a refund waiting for it is remembered in the account.
fn awaiting_digest(order: &str) -> String {
    format!("{:012x}", crate::hash::mixed64(order.as_bytes()) & 0xffff_ffff_ffff)
}

/// Boosts in force for a purchase on the member's `day`: the tier's multiplier, a held offer.
fn boosts<'a>(program: &'a Program, account: &'a Account, day: chrono::NaiveDate) -> Vec<Boost<'a>> {
    let mut out = Vec::new();
    if let Some(offer) = account.offer.as_ref().filter(|o| o.from <= day && day <= o.until) {
        out.push(Boost {
            rule: format!("offer:{}", offer.id),
            multiplier_micros: i128::from(offer.multiplier),
            category: offer.category.as_deref(),
        });
    }
    if let Some(t) = account.tier.as_ref().and_then(|t| program.tier(&t.id)) {
        if let Some(m) = t.earn_multiplier {
            out.push(Boost { rule: format!("tier:{}", t.id), multiplier_micros: m.micros(), category: None });
        }
    }
    out
}

async fn earn_order<S: Store>(
    store: &S,
    deployed: &DeployedProgram,
    products: &ProductFacts,
    event: &ShopEvent,
    order: &OrderPlaced,
    now: DateTime<Utc>,
) -> Result<Accrual, StoreError> {
    let program = &deployed.program;
    let customer = &event.customer_id;
    let at = event_instant(event);
    let primary = keys::loyalty_entry(customer, "earn", &format!("order:{}", order.order_id));
    // Brands and category paths come from the catalogue, read only if a rule needs them (and
    // held a while per instance: a catalogue changes far more slowly than orders arrive).
    let needs_catalogue = program.earn.iter().any(|r| r.brand.is_some() || r.category.is_some());
    let facts = if needs_catalogue {
        products.get(store, &order.lines.iter().map(|l| &l.product_id).collect::<Vec<_>>(), now).await?
    } else {
        Vec::new()
    };
    let shares = earn::paid_shares(
        &order.lines.iter().map(|l| (l.unit_price, l.quantity.get())).collect::<Vec<_>>(),
        order.value(),
    );
    let lines: Vec<Line> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let product = facts.get(i).and_then(Option::as_ref);
            let mut categories: Vec<&str> = l.category.iter().map(|c| c.as_str()).collect();
            categories.extend(product.iter().flat_map(|p| p.categories.iter().map(String::as_str)));
            Line {
                product: &l.product_id,
                categories,
                brand: product.and_then(|p| p.brand.as_deref()),
                quantity: l.quantity.get(),
                paid: shares.get(i).copied().unwrap_or_default(),
            }
        })
        .collect();
    // The member's zone (contact) and whether this is their first order (orders): read for a
    // new account, or one whose first order is not settled yet; the account keeps both after.
    let parts = [keys::part(customer, PartKind::Orders), keys::part(customer, PartKind::Contact)];
    let unsettled = |held: &Held| held.account.as_ref().is_none_or(|a| !a.first_order_settled);
    let order_digest = awaiting_digest(order.order_id.as_str());
    let reversals = keys::loyalty_reversals_prefix(order.order_id.as_str());
    // Refunds that came before their order are listed only when the account says one waits.
    let waits =
        |held: &Held| held.account.as_ref().is_some_and(|a| a.awaiting_overflow || a.awaiting.contains(&order_digest));
    let watch = [primary.clone()];
    let reads = Reads { watch: &watch, list: Some((&reversals, &waits)), also: &parts, also_when: Some(&unsettled) };
    commit(store, customer, Consistency::Eventual, reads, |seen| {
        if seen.watched[0].is_some() {
            return Ok(Step::Done(Accrual::Duplicate));
        }
        let mut account = open(seen.held, program);
        let mut first = false;
        if !account.first_order_settled {
            let orders = seen.also[0].clone().map(decode_part::<OrderBook>).transpose()?.map(|v| v.value);
            let contact = seen.also[1].clone().map(decode_part::<ContactPart>).transpose()?.map(|v| v.value);
            account.zone = contact
                .as_ref()
                .and_then(|c| crate::profile::tracked::current(&c.details.time_zone))
                .map(|z| z.0.name().to_string());
            // Settled when this order is the customer's first (the bonus goes with it), or their
            // first came before the program did (no bonus, ever). An earlier order still on its
            // way settles it when it comes.
            match orders.as_ref().map(|o| first_order(o, order.order_id.as_str(), at)) {
                None | Some(None) => first = true,
                Some(Some(earliest)) if earliest < deployed.deployed_at => account.first_order_settled = true,
                Some(Some(_)) => {}
            }
            account.first_order_settled |= first;
        }
        let mut entries = settle(&mut account, program, customer, now);
        let waiting: Vec<&OrderRefunded> = seen.listed.iter().filter_map(|e| e.refund.as_ref()).collect();
        let (mut entry, earned) = order_earns(program, &mut account, order, &lines, at, &waiting, first, now);
        account.awaiting.retain(|d| *d != order_digest);
        if account.awaiting.is_empty() {
            account.awaiting_overflow = false;
        }
        account.number(&mut entry);
        entries.push((primary.clone(), entry));
        Ok(Step::Write(account, entries, Accrual::Applied { points: earned }))
    })
    .await
}

/// What an order earns the member (the pure part of accrual): the points by rule (and the
/// first-order bonus when `first`: part of the order's points, pending and reversible with
/// them), pending through the return window (or active at once without one), net of refunds
/// that came before the order; counted toward tiers in the member's month. The entry (not yet
/// numbered) and the points it added.
#[allow(clippy::too_many_arguments)]
pub fn order_earns(
    program: &Program,
    account: &mut Account,
    order: &OrderPlaced,
    lines: &[Line],
    at: DateTime<Utc>,
    waiting: &[&OrderRefunded],
    first: bool,
    now: DateTime<Utc>,
) -> (Entry, Points) {
    let tz = account.time_zone();
    let day = at.with_timezone(&tz).date_naive();
    let mut entry = Entry::new(EntryKind::Earn, program.id.as_str(), format!("order {}", order.order_id), at);
    let Some(mut purchase) = earn::purchase(program, order.currency, lines, &boosts(program, account, day)) else {
        entry.note = Some(format!(
            "orders in {} earn nothing under {} (it has no rate for the currency)",
            order.currency, program.id
        ));
        return (entry, 0);
    };
    if first {
        purchase.awards.extend(earn::action(program, program::FIRST_ORDER));
    }
    let points = purchase.points();
    let (release_on, month) = (release_day(at, program.pending_days), Month::of(at.date_naive()));
    let spend = purchase.spend_micros.clamp(0, i128::from(i64::MAX)) as i64;
    let mut basis = OrderBasis {
        order_id: order.order_id.to_string(),
        currency: order.currency,
        value: order.value(),
        points,
        netted: 0,
        lines: purchase.lines,
        release_on,
        earned: month,
        tally: Month::of(day),
        spend_micros: spend,
    };
    // Refunds that arrived before the order are taken from it at once.
    let (mut reversed, mut spend_back) = (0, 0_i64);
    for w in waiting {
        let share = earn::refund_share(&basis, w, |c| program.rate(c));
        reversed += earn::refund_points(&basis, share, reversed);
        spend_back = spend_back.saturating_add((i128::from(spend) * share.0 / share.1.max(1)) as i64);
    }
    let net = points - reversed;
    if program.pending_days == 0 {
        account.add_active(month, expiry_day(month, program.expiry.as_ref().map(|e| e.months)), net, &mut entry);
    } else {
        account.add_pending(release_on, month, net, &mut entry);
    }
    account.totals.earned += points;
    account.totals.reversed += reversed;
    if reversed > 0 {
        entry.note = Some(format!("{reversed} of {points} points taken back for refunds that came before the order"));
    }
    entry.awards = purchase.awards;
    basis.netted = reversed;
    entry.basis = Some(basis);
    qualify(account, program, tz, at, net, (spend - spend_back).max(0), now);
    (entry, net)
}

/// Adds a bonus's awards to the account as active points (nothing to return, so no pending
/// period), earned in the month of `at`; the points granted.
pub(crate) fn grant(
    account: &mut Account,
    program: &Program,
    awards: Vec<super::ledger::Award>,
    at: DateTime<Utc>,
    entry: &mut Entry,
) -> Points {
    let points: Points = awards.iter().map(|a| a.points).sum();
    let month = Month::of(at.date_naive());
    account.add_active(month, expiry_day(month, program.expiry.as_ref().map(|e| e.months)), points, entry);
    account.totals.earned += points;
    entry.awards = awards;
    points
}

async fn reverse_refund<S: Store>(
    store: &S,
    program: &Program,
    event: &ShopEvent,
    refund: &OrderRefunded,
    now: DateTime<Utc>,
) -> Result<Accrual, StoreError> {
    let customer = &event.customer_id;
    let at = event_instant(event);
    let order = refund.order_id.as_str();
    let primary = keys::loyalty_reversal(customer, order, refund.refund_id.as_str());
    let earn_key = keys::loyalty_entry(customer, "earn", &format!("order:{order}"));
    let reversals = keys::loyalty_reversals_prefix(order);
    let always = |_: &Held| true;
    let watch = [primary.clone(), earn_key];
    let reads = Reads { watch: &watch, list: Some((&reversals, &always)), ..Reads::default() };
    // Strong from the start: what a refund takes depends on entries the account's version does
    // not cover (the order's earn, the reversals before it), and refunds are rare.
    commit(store, customer, Consistency::Strong, reads, |seen| {
        if seen.watched[0].is_some() {
            return Ok(Step::Done(Accrual::Duplicate));
        }
        let mut account = open(seen.held, program);
        let mut entries = settle(&mut account, program, customer, now);
        let mut entry = Entry::new(
            EntryKind::Reverse,
            program.id.as_str(),
            format!("refund {} of order {order}", refund.refund_id),
            at,
        );
        let outcome = match &seen.watched[1] {
            None => {
                entry.refund = Some(refund.clone());
                entry.note = Some("the order has not earned yet: this refund is taken from it when it does".into());
                let digest = awaiting_digest(order);
                if !account.awaiting.contains(&digest) {
                    if account.awaiting.len() < super::ledger::MAX_AWAITING {
                        account.awaiting.push(digest);
                    } else {
                        account.awaiting_overflow = true;
                    }
                }
                Accrual::Waiting
            }
            Some(earned) => match &earned.basis {
                None => {
                    entry.note = Some("the order earned nothing: nothing to take back".into());
                    Accrual::Applied { points: 0 }
                }
                Some(basis) => {
                    // Reversed before: at the earn (refunds that came first), and by each reversal
                    // since (what it took and what it could not).
                    let before: Points = basis.netted
                        + seen.listed.iter().map(|e| -(e.pending + e.active) + e.shortfall).sum::<Points>();
                    let share = earn::refund_share(basis, refund, |c| program.rate(c));
                    let points = earn::refund_points(basis, share, before);
                    account.reverse(points, (basis.release_on, basis.earned), &mut entry);
                    if entry.shortfall > 0 {
                        entry.note = Some(format!(
                            "{} of {points} points had already been spent: recorded as a shortfall",
                            entry.shortfall
                        ));
                    }
                    // Spend toward tiers goes back with what was refunded of the order's value.
                    let spend = (i128::from(basis.spend_micros) * share.0 / share.1.max(1)) as i64;
                    let today = now.with_timezone(&account.time_zone()).date_naive();
                    tier::tally(&mut account, basis.tally, -points, -spend, window(program), today);
                    Accrual::Applied { points: -points }
                }
            },
        };
        account.number(&mut entry);
        entries.push((primary.clone(), entry));
        Ok(Step::Write(account, entries, outcome))
    })
    .await
}

async fn earn_action<S: Store>(
    store: &S,
    program: &Program,
    event: &ShopEvent,
    action: &ActionPerformed,
    now: DateTime<Utc>,
) -> Result<Accrual, StoreError> {
    let name = action.action.as_str();
    // Kairos awards these itself, from the orders and the birthday it knows.
    if name == program::FIRST_ORDER || name == program::BIRTHDAY {
        return Ok(Accrual::NotApplicable);
    }
    let awards = earn::action(program, name);
    if awards.is_empty() {
        return Ok(Accrual::NotApplicable);
    }
    let customer = &event.customer_id;
    let at = event_instant(event);
    let reference = action.reference.as_ref().map_or(event.id.as_str(), |r| r.as_str());
    let primary = keys::loyalty_entry(customer, "earn", &format!("action:{name}:{reference}"));
    let watch = [primary.clone()];
    commit(store, customer, Consistency::Eventual, Reads { watch: &watch, ..Reads::default() }, |seen| {
        if seen.watched[0].is_some() {
            return Ok(Step::Done(Accrual::Duplicate));
        }
        let mut account = open(seen.held, program);
        let mut entries = settle(&mut account, program, customer, now);
        let mut entry = Entry::new(EntryKind::Earn, program.id.as_str(), format!("{name} {reference}"), at);
        let points = grant(&mut account, program, awards.clone(), at, &mut entry);
        let tz = account.time_zone();
        qualify(&mut account, program, tz, at, points, 0, now);
        account.number(&mut entry);
        entries.push((primary.clone(), entry));
        Ok(Step::Write(account, entries, Accrual::Applied { points }))
    })
    .await
}

/// The balances a member sees.
pub fn balances(account: &Account) -> serde_json::Value {
    json!({
        "active": account.active_points(),
        "pending": account.pending_points(),
        "lifetime": account.totals.earned + account.totals.adjusted.max(0),
        "tier": account.tier.as_ref().map(|t| t.id.clone()),
    })
}

/// Redeems a reward, once per idempotency key: the API's whole answer.
pub async fn redeem<S: Store>(
    store: &S,
    deployed: Option<&DeployedProgram>,
    request: &Request,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<Answer, StoreError> {
    let customer = &request.customer_id;
    let primary = keys::loyalty_entry(customer, "redeem", request.idempotency_key.as_str());
    let fingerprint = redeem::fingerprint(request);
    let reward = deployed.and_then(|d| d.program.reward(request.reward_id.as_str()));
    /// Why a redemption did not happen before it reached the balance.
    enum Before {
        Answered(Answer),
        NoAccount(Points),
    }
    // Strong from the start: a refusal (not enough points) must not come from a stale read.
    let watch = [primary.clone()];
    let answer = commit(store, customer, Consistency::Strong, Reads { watch: &watch, ..Reads::default() }, |seen| {
        // A repeated key first: its answer stands, whatever became of the reward since.
        if let Some(earlier) = &seen.watched[0] {
            return Ok(Step::Done(Before::Answered(match &earlier.redemption {
                Some(r) if r.request == fingerprint => Answer { status: 200, body: r.answer.clone() },
                _ => Answer::error(400, "idempotency_key", "was already used for another redemption"),
            })));
        }
        let (Some(deployed), Some(reward)) = (deployed, reward) else {
            let why = match deployed {
                None => "no loyalty program is deployed".to_string(),
                Some(d) => format!("is not a reward of the program {}", d.program.id),
            };
            return Ok(Step::Done(Before::Answered(Answer::error(404, "reward_id", &why))));
        };
        let program = &deployed.program;
        let cost = Points::try_from(reward.cost).unwrap_or(Points::MAX);
        let Some(mut account) = seen.held.account.clone() else { return Ok(Step::Done(Before::NoAccount(cost))) };
        let mut entries = settle(&mut account, program, customer, now);
        let mut entry = Entry::new(EntryKind::Redeem, program.id.as_str(), format!("reward {}", reward.id), now);
        if let Err(short) = account.redeem(cost, &mut entry) {
            return Ok(Step::Done(Before::Answered(Answer::insufficient(short.active, short.cost))));
        }
        account.number(&mut entry);
        let code = redeem::code(reward, secret, customer, &request.idempotency_key);
        let body = json!({
            "customer_id": customer.as_str(),
            "reward": {"id": reward.id.as_str(), "name": reward.name, "code": code, "gives": reward.gives},
            "balances": balances(&account),
            "entry": entry.seq,
            "redeemed_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        entry.redemption = Some(redeem::Redemption {
            reward_id: reward.id.to_string(),
            code,
            request: fingerprint.clone(),
            answer: body.clone(),
        });
        entries.push((primary.clone(), entry));
        Ok(Step::Write(account, entries, Before::Answered(Answer { status: 200, body })))
    })
    .await?;
    match answer {
        Before::Answered(a) => Ok(a),
        // No account: a customer Kairos knows has no points yet; one it does not know is not found.
        Before::NoAccount(cost) => match crate::customers::load_eventually(store, customer).await? {
            Some(_) => Ok(Answer::insufficient(0, cost)),
            None => Ok(Answer::error(404, "customer_id", "is not a customer Kairos knows")),
        },
    }
}

/// Staff add (positive) or take (negative) points, once per `key`, with the reason and who.
pub async fn adjust<S: Store>(
    store: &S,
    program: &Program,
    customer: &CustomerId,
    points: Points,
    reason: &str,
    actor: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Accrual, StoreError> {
    let primary = keys::loyalty_entry(customer, "adjust", key);
    let points = points.clamp(-super::ledger::MAX_POINTS, super::ledger::MAX_POINTS);
    let watch = [primary.clone()];
    commit(store, customer, Consistency::Strong, Reads { watch: &watch, ..Reads::default() }, |seen| {
        if seen.watched[0].is_some() {
            return Ok(Step::Done(Accrual::Duplicate));
        }
        let mut account = open(seen.held, program);
        let mut entries = settle(&mut account, program, customer, now);
        let mut entry = Entry::new(EntryKind::Adjust, program.id.as_str(), crate::redact::scrub(reason), now);
        let month = Month::of(now.date_naive());
        account.adjust(points, month, expiry_day(month, program.expiry.as_ref().map(|e| e.months)), &mut entry);
        entry.actor = Some(crate::redact::scrub(actor));
        account.number(&mut entry);
        entries.push((primary.clone(), entry));
        Ok(Step::Write(account, entries, Accrual::Applied { points }))
    })
    .await
}

/// A member's account and every ledger entry, in order.
#[derive(Clone, Debug, Default)]
pub struct Statement {
    pub account: Option<Account>,
    pub entries: Vec<Entry>,
}

pub async fn statement<S: Store>(store: &S, customer: &CustomerId) -> Result<Statement, StoreError> {
    let account = held(store.get(&keys::loyalty_account(customer)).await?)?.account;
    let mut entries = entries_under(store, customer, keys::LOYALTY_ENTRY_PREFIX, Consistency::Strong).await?;
    entries.sort_by_key(|e| e.seq);
    Ok(Statement { account, entries })
}

/// A member's account, if they have one (one read).
pub async fn account<S: Store>(store: &S, customer: &CustomerId) -> Result<Option<Account>, StoreError> {
    Ok(held(store.get(&keys::loyalty_account(customer)).await?)?.account)
}
