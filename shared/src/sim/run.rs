//! The virtual clock: hour by hour, the shop acts, ingest folds its events, the triggers read the
//! stream, the schedules start their runs, dispatch delivers what is due, and the customers answer.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Timelike, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::Streamed;
use super::report::{Log, Sent};
use super::shop::{self, Catalogue, Customer, Events};
use crate::campaign::{Campaign, SendTime, Trigger, stored};
use crate::clock::ManualClock;
use crate::contact::Channel;
use crate::delivery::channel::{Address, Deliver, DeliveryError, Envelope, Outbox};
use crate::delivery::dispatch::{Dispatcher, Settings, Ticker, message_id};
use crate::ingest::{IngestConfig, Record, ingest_batch};
use crate::jobs::SegmentedJob;
use crate::jobs::local::LocalQueue;
use crate::jobs::runner::{Runner, drain_parallel};
use crate::loyalty::Program;
use crate::store::StoreError;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    pub customers: usize,
    pub days: u32,
    pub seed: u64,
    /// The window's first instant (the history runs before it).
    pub start: DateTime<Utc>,
    /// Days of shop history before the window (no campaigns yet: what the models learn from).
    pub history_days: u32,
    pub products: usize,
    pub campaigns: Vec<Campaign>,
    pub program: Option<Program>,
    pub out: PathBuf,
    /// Threads for the nightly runs and dispatch.
    pub workers: usize,
    /// A shop's own history to replay instead of the synthetic one (its customers answer the
    /// messages as simulated customers would).
    pub imported: Option<Vec<Value>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            customers: 2_000,
            days: 30,
            seed: 2026,
            // A Monday; the window spans the European and American autumn clock changes.
            start: DateTime::parse_from_rfc3339("2026-10-19T00:00:00Z")
                .map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc)),
            history_days: 180,
            products: 600,
            campaigns: Vec::new(),
            program: None,
            out: PathBuf::from("kairos-sim"),
            workers: 2,
            imported: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}: {1}")]
    File(String, std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// What a run produced.
pub struct Outcome {
    pub summary: super::report::Summary,
    pub files: Vec<PathBuf>,
}

/// How far a run is, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub hour: u32,
    pub hours: u32,
    pub events: u64,
    pub messages: u64,
}

/// Something that happens at a moment: an event to ingest, or an action through a function.
#[derive(Clone, Debug)]
enum Action {
    Event(Value),
    /// An SES event notification (the feedback function's input).
    Ses(String),
    /// A one-click unsubscribe POST to this path of the unsubscribe endpoint.
    Unsubscribe(String),
    /// An inbound SMS of `word` from `phone`.
    Sms {
        phone: String,
        word: String,
    },
    /// The customer redeems a reward.
    Redeem {
        customer: usize,
    },
    /// The customer comes back to the shop from a message (a session about what it showed).
    Visit {
        customer: usize,
        products: Vec<usize>,
        boost: f64,
        attribution: Option<(String, String, String)>,
    },
}

/// The channel dispatch delivers through: what it is handed is written to the outbox file in a
/// fixed order once the dispatch run is over (dispatch works sends side by side, and the same
/// seed must write the same file), and the shop answers it.
pub struct SimChannel {
    outbox: Outbox,
    sent: Mutex<Vec<Envelope>>,
}

impl Deliver for SimChannel {
    async fn deliver(&self, e: &Envelope) -> Result<String, DeliveryError> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone());
        Ok(Outbox::provider_id(e))
    }
}

/// Local settings for dispatch: a loopback unsubscribe endpoint and keys drawn from the seed.
fn settings(seed: u64) -> Result<Settings, SimError> {
    let key = format!("sim:{:032x}{:032x}", crate::hash::mixed64(&seed.to_le_bytes()), seed);
    Settings::from_lookup(|name| {
        Some(
            match name {
                "KAIROS_UNSUBSCRIBE_URL" => "http://localhost:8787",
                "KAIROS_UNSUBSCRIBE_KEYS" | "KAIROS_OFFER_SECRET" => key.as_str(),
                "KAIROS_SHOP_NAME" => "Kairos Demo Shop",
                "KAIROS_SHOP_ADDRESS" => "1 Quay Street, 69002 Lyon, France",
                "KAIROS_SHOP_URL" => "https://shop.example",
                "KAIROS_LIST_DOMAIN" => "lists.shop.example",
                _ => return None,
            }
            .to_string(),
        )
    })
    .map_err(|e| SimError::Setup(e.to_string()))
}

struct World<S: Streamed + 'static> {
    store: Arc<S>,
    rt: tokio::runtime::Runtime,
    config: Config,
    catalogue: Catalogue,
    customers: Vec<Customer>,
    index: HashMap<String, usize>,
    ev: Events,
    rng: ChaCha8Rng,
    pending: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    actions: HashMap<u64, Action>,
    next_action: u64,
    events_out: std::io::BufWriter<std::fs::File>,
    ingest: IngestConfig,
    campaigns: stored::Cache,
    dispatcher: Arc<Dispatcher<Arc<S>, SimChannel>>,
    /// What each due send was first due at, by message id (the send-time baseline).
    first_due: HashMap<String, DateTime<Utc>>,
    /// Held-out causes seen: (campaign, customer, occurrence), counted once as a queued send is.
    held_out_seen: HashSet<(String, usize, String)>,
    log: Log,
    progress: Progress,
}

fn file(path: &Path) -> Result<std::fs::File, SimError> {
    std::fs::File::create(path).map_err(|e| SimError::File(path.display().to_string(), e))
}

/// Runs the simulation; its files land in `config.out`.
pub fn simulate<S: Streamed + 'static>(
    store: Arc<S>,
    config: Config,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, SimError> {
    std::fs::create_dir_all(&config.out).map_err(|e| SimError::File(config.out.display().to_string(), e))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers.max(1))
        .enable_all()
        .build()
        .map_err(|e| SimError::Setup(e.to_string()))?;
    let outbox_path = config.out.join("outbox.jsonl");
    let _ = std::fs::remove_file(&outbox_path);
    let outbox = Outbox::open(&outbox_path).map_err(|e| SimError::File(outbox_path.display().to_string(), e))?;
    let settings = settings(config.seed)?;
    let dispatcher =
        Arc::new(Dispatcher::new(store.clone(), SimChannel { outbox, sent: Mutex::new(Vec::new()) }, settings));
    let mut rng = shop::rng(config.seed, 1);
    let catalogue = Catalogue::new(config.products, &mut shop::rng(config.seed, 2));
    let end = config.start + Duration::days(i64::from(config.days));
    let (customers, imported) = match &config.imported {
        Some(events) => super::import::customers(events, &catalogue, &mut rng),
        None => (
            shop::customers(config.customers, (config.start, end), i64::from(config.history_days), &mut rng),
            Vec::new(),
        ),
    };
    let index = customers.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
    let events_path = config.out.join("events.jsonl");
    let events_out = std::io::BufWriter::new(file(&events_path)?);
    let hours = config.days * 24;
    let mut world = World {
        store,
        rt,
        catalogue,
        customers,
        index,
        ev: Events { next: 0 },
        rng,
        pending: BinaryHeap::new(),
        actions: HashMap::new(),
        next_action: 0,
        events_out,
        ingest: IngestConfig::default(),
        campaigns: stored::Cache::default(),
        dispatcher,
        first_due: HashMap::new(),
        held_out_seen: HashSet::new(),
        log: Log::default(),
        progress: Progress { hour: 0, hours, events: 0, messages: 0 },
        config,
    };
    world.setup(imported)?;
    let start = world.config.start;
    for h in 0..hours {
        let at = start + Duration::hours(i64::from(h));
        world.hour(at)?;
        world.progress.hour = h + 1;
        progress(world.progress);
    }
    world.finish(end)
}

impl<S: Streamed + 'static> World<S> {
    fn schedule(&mut self, at: DateTime<Utc>, action: Action) {
        self.next_action += 1;
        self.actions.insert(self.next_action, action);
        self.pending.push(Reverse((at, self.next_action)));
    }

    /// The program, the catalogue, the customers' history (synthetic or imported), the nightly
    /// models fitted on it, then the campaigns.
    fn setup(&mut self, imported: Vec<Value>) -> Result<(), SimError> {
        let start = self.config.start;
        let history = start - Duration::days(i64::from(self.config.history_days));
        if let Some(program) = self.config.program.clone() {
            self.rt.block_on(crate::loyalty::stored::deploy(&*self.store, &program, history))?;
        }
        let catalogue_events = self.catalogue.events(history - Duration::hours(1));
        self.ingest_events(catalogue_events, history)?;
        if imported.is_empty() {
            // Sign-ups and the history before the window, day by day.
            let mut joins: Vec<(DateTime<Utc>, usize)> =
                self.customers.iter().enumerate().map(|(i, c)| (c.joined, i)).collect();
            joins.sort();
            for (at, i) in joins {
                for e in shop::sign_up(&self.customers[i], &mut self.ev) {
                    self.schedule(at, Action::Event(e));
                }
            }
            let mut at = history;
            while at < start {
                if at.hour() == 0 {
                    self.store.sweep_expired(at);
                }
                self.shop_hour(at);
                self.flush_until(at + Duration::hours(1))?;
                // No campaign runs before the window: the changes the triggers would read are
                // dropped as they come rather than held (old and new items of every profile
                // write, they were most of a run's peak memory).
                self.store.take_changes();
                at += Duration::hours(1);
            }
        } else {
            for e in imported {
                let at =
                    e.get("occurred_at").and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                if let Some(at) = at {
                    self.schedule(at.with_timezone(&Utc), Action::Event(e));
                }
            }
            // Day by day, sweeping expired items and dropping the changes as the synthetic
            // history does: years of imported events would otherwise keep every dedupe marker.
            let mut day = self.pending.peek().map_or(start, |Reverse((at, _))| *at);
            while day < start {
                self.store.sweep_expired(day);
                day = (day + Duration::days(1)).min(start);
                self.flush_until(day)?;
                self.store.take_changes();
            }
        }
        // The models the first day of the window starts with.
        self.nightly(start - Duration::hours(1))?;
        for c in self.config.campaigns.clone() {
            self.rt.block_on(stored::deploy(&*self.store, &c, start))?;
        }
        self.store.take_changes();
        Ok(())
    }

    /// One hour of the window.
    fn hour(&mut self, at: DateTime<Utc>) -> Result<(), SimError> {
        if self.config.imported.is_none() {
            self.shop_hour(at);
        }
        self.flush_until(at + Duration::minutes(1))?;
        self.triggers(at)?;
        if at.hour() == 1 {
            self.nightly(at)?;
        }
        self.scheduled(at)?;
        // Each quarter: what happened since (feedback on the last quarter's messages — a bounce,
        // a STOP — included) reaches Kairos before it decides the next sends.
        for quarter in 1..=4 {
            let step = at + Duration::minutes(15 * quarter);
            self.flush_until(step)?;
            self.triggers(step)?;
            self.dispatch(step)?;
        }
        Ok(())
    }

    /// What every customer does in the hour from `at`.
    fn shop_hour(&mut self, at: DateTime<Utc>) {
        for i in 0..self.customers.len() {
            let mut later = Vec::new();
            let events =
                shop::hour(&mut self.customers[i], &self.catalogue, at, &mut self.ev, &mut self.rng, &mut later);
            for e in events {
                let t = time_of(&e).unwrap_or(at);
                self.schedule(t, Action::Event(e));
            }
            for (t, e) in later {
                self.schedule(t, Action::Event(e));
            }
            // A member with points enough spends them now and then.
            if self.rng.random::<f64>() < 0.002 {
                self.schedule(at + Duration::minutes(30), Action::Redeem { customer: i });
            }
        }
    }

    /// Does everything due before `until`, in time order: events are ingested in batches (as a
    /// queue delivers them), actions go through their function.
    fn flush_until(&mut self, until: DateTime<Utc>) -> Result<(), SimError> {
        let mut batch: Vec<Value> = Vec::new();
        while let Some(Reverse((at, id))) = self.pending.peek().copied() {
            if at >= until {
                break;
            }
            self.pending.pop();
            let Some(action) = self.actions.remove(&id) else { continue };
            match action {
                Action::Event(e) => batch.push(e),
                other => {
                    self.ingest_events(std::mem::take(&mut batch), at)?;
                    self.act(other, at)?;
                }
            }
        }
        self.ingest_events(batch, until)
    }

    fn ingest_events(&mut self, events: Vec<Value>, now: DateTime<Utc>) -> Result<(), SimError> {
        if events.is_empty() {
            return Ok(());
        }
        let clock = ManualClock::new(now);
        for chunk in events.chunks(100) {
            // Orders, wherever they come from (the shop, a visit from a message, an import).
            for e in chunk.iter().filter(|e| e["type"] == "order_placed") {
                let customer = e["customer_id"].as_str().and_then(|c| self.index.get(c).copied());
                if let (Some(i), Some(t)) = (customer, time_of(e)) {
                    self.log.orders.push((i, t));
                    self.log.attributed_orders += u64::from(e["data"].get("attribution").is_some());
                }
            }
            let bodies: Vec<String> = chunk.iter().map(Value::to_string).collect();
            for b in &bodies {
                write_event(&mut self.events_out, b)?;
            }
            let ids: Vec<String> = (0..bodies.len()).map(|i| format!("sim-{}-{i}", self.progress.events)).collect();
            let records: Vec<Record> = bodies.iter().zip(&ids).map(|(body, id)| Record { id, body }).collect();
            let report = self.rt.block_on(ingest_batch(&*self.store, &clock, &self.ingest, &records));
            self.progress.events += bodies.len() as u64;
            self.log.events += bodies.len() as u64;
            self.log.applied += report.applied as u64;
            self.log.duplicates += report.duplicates as u64;
            self.log.rejected += report.rejected.len() as u64;
            self.log.failed += report.failures.len() as u64;
            for r in report.rejected.iter().chain(&report.failures) {
                tracing::warn!(record = r.record_id, error = %r.error, "a simulated event did not apply");
            }
        }
        Ok(())
    }

    fn act(&mut self, action: Action, at: DateTime<Utc>) -> Result<(), SimError> {
        match action {
            Action::Event(e) => self.ingest_events(vec![e], at)?,
            Action::Ses(text) => match crate::delivery::feedback::from_ses(&text) {
                Ok(crate::delivery::feedback::SesFeedback::Events(events)) => self.ingest_events(events, at)?,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a simulated SES event did not read"),
            },
            Action::Unsubscribe(path) => {
                let keys = &self.dispatcher.settings.keys;
                if let Ok(claims) = keys.verify(path.rsplit('/').next().unwrap_or(""), at) {
                    let token = path.rsplit('/').next().unwrap_or("");
                    let event = crate::delivery::unsubscribe::one_click_event(
                        &claims.customer,
                        claims.topic.as_str(),
                        token,
                        at,
                    );
                    write_event(&mut self.events_out, &event.to_string())?;
                }
                let reply =
                    self.rt.block_on(crate::delivery::unsubscribe::answer(&*self.store, keys, "POST", &path, at))?;
                if reply.status == 200 {
                    self.log.unsubscribes += 1;
                }
            }
            Action::Sms { phone, word } => {
                let owner = self.rt.block_on(crate::delivery::dispatch::phone_owner(&*self.store, &phone))?;
                if let Some(customer) = owner {
                    let keyword = crate::delivery::feedback::keyword(&word);
                    let id = format!("sms-{}-{}", customer, at.timestamp());
                    if let Some(e) = crate::delivery::feedback::sms_event(customer.as_str(), &phone, keyword, &id, at) {
                        self.log.sms_stops += 1;
                        self.ingest_events(vec![e], at)?;
                    }
                }
            }
            Action::Redeem { customer } => {
                let id = self.customers[customer].id.clone();
                let request = crate::loyalty::redeem::Request {
                    customer_id: crate::ids::CustomerId::new(id.clone()).map_err(|e| SimError::Setup(e.to_string()))?,
                    reward_id: crate::ids::Ident::new("free-shipping").map_err(|e| SimError::Setup(e.to_string()))?,
                    idempotency_key: crate::loyalty::redeem::IdempotencyKey::try_from(format!(
                        "sim-{id}-{}",
                        at.timestamp()
                    ))
                    .map_err(SimError::Setup)?,
                };
                let program = self.rt.block_on(crate::loyalty::stored::current(&*self.store))?;
                if program.as_ref().is_some_and(|p| p.program.reward("free-shipping").is_some()) {
                    let answer = self.rt.block_on(crate::loyalty::accounts::redeem(
                        &*self.store,
                        program.as_ref(),
                        &request,
                        b"sim",
                        at,
                    ))?;
                    if answer.status == 200 {
                        self.log.redemptions += 1;
                    }
                }
            }
            Action::Visit { customer, products, boost, attribution } => {
                let mut later = Vec::new();
                let about = attribution.as_ref().map(|(m, c, v)| (m.as_str(), c.as_str(), v.as_str()));
                let events = shop::session(
                    &mut self.customers[customer],
                    &self.catalogue,
                    at,
                    &mut self.ev,
                    &mut self.rng,
                    &mut later,
                    Some((&products, boost, about)),
                );
                for (t, e) in later {
                    self.schedule(t, Action::Event(e));
                }
                self.ingest_events(events, at)?;
            }
        }
        Ok(())
    }

    /// The table's stream through the triggers function.
    fn triggers(&mut self, now: DateTime<Utc>) -> Result<(), SimError> {
        let changes = self.store.take_changes();
        if changes.is_empty() {
            return Ok(());
        }
        let campaigns = self.rt.block_on(self.campaigns.get(&*self.store, now))?;
        for change in changes {
            let outcome =
                self.rt.block_on(crate::campaign::triggers::handle(&*self.store, &campaigns, &change, now))?;
            self.log.queued += outcome.queued as u64;
            if let Some(customer) =
                crate::keys::customer_of(&change.key.pk).and_then(|c| self.index.get(c.as_str()).copied())
            {
                for h in outcome.held_out_causes {
                    if self.held_out_seen.insert((h.campaign.to_string(), customer, h.occurrence)) {
                        self.log.held_out.push((h.campaign.to_string(), customer, h.cause_at));
                    }
                }
            }
        }
        Ok(())
    }

    fn run_job<J: SegmentedJob>(
        &mut self,
        job: J,
        run: &str,
        model: Option<J::Model>,
        now: DateTime<Utc>,
    ) -> Result<(), SimError> {
        let queue = LocalQueue::new();
        let runner = Runner { store: &*self.store, queue: &queue, job: &job };
        let started = match &model {
            Some(m) => self.rt.block_on(runner.start_with_model(run, 4, m, now)),
            None => self.rt.block_on(runner.start(run, 4, now)),
        };
        started.map_err(|e| SimError::Setup(format!("{} run {run}: {e}", J::NAME)))?;
        drain_parallel(&runner, now, self.config.workers)
            .map_err(|e| SimError::Setup(format!("{} run {run}: {e}", J::NAME)))?;
        Ok(())
    }

    /// The nightly runs, in the order their schedules start them.
    fn nightly(&mut self, at: DateTime<Utc>) -> Result<(), SimError> {
        self.store.sweep_expired(at);
        let run = at.format("%Y-%m-%dT%H").to_string();
        self.run_job(crate::sto::job::SendTimeJob, &run, None, at)?;
        let program = self.rt.block_on(crate::loyalty::stored::current(&*self.store))?;
        if program.is_some() {
            self.run_job(crate::loyalty::job::LoyaltyJob, &run, Some(crate::loyalty::job::RunModel { program }), at)?;
        }
        let config =
            crate::churn::job::ChurnConfig::from_lookup(|_| None).map_err(|e| SimError::Setup(e.to_string()))?;
        self.run_job(crate::churn::job::ChurnJob { config }, &run, None, at + Duration::hours(1))?;
        self.run_job(crate::recommend::job::RecommendJob, &run, None, at + Duration::hours(4))?;
        self.triggers(at + Duration::hours(4))
    }

    /// The scheduled-campaigns tick: the runs due start and are worked.
    fn scheduled(&mut self, at: DateTime<Utc>) -> Result<(), SimError> {
        let queue = LocalQueue::new();
        let started = self
            .rt
            .block_on(crate::campaign::scheduled::start_due(&*self.store, &queue, 4, at))
            .map_err(|e| SimError::Setup(format!("scheduled: {e}")))?;
        if started.is_empty() {
            return Ok(());
        }
        let job = crate::campaign::scheduled::ScheduledJob;
        let runner = Runner { store: &*self.store, queue: &queue, job: &job };
        drain_parallel(&runner, at, self.config.workers).map_err(|e| SimError::Setup(format!("scheduled: {e}")))?;
        Ok(())
    }

    /// Dispatch up to `now`: what each send was first due at is noted (the baseline the send
    /// time is judged against), then every due send goes through the dispatcher.
    fn dispatch(&mut self, now: DateTime<Utc>) -> Result<(), SimError> {
        let (minutes, _) = self.rt.block_on(Ticker::minutes(&*self.store, now))?;
        for minute in minutes {
            let (sends, _) = self.rt.block_on(Ticker::due_in(&*self.store, minute))?;
            for due in sends {
                if let std::collections::hash_map::Entry::Vacant(v) = self.first_due.entry(message_id(&due).to_string())
                {
                    v.insert(due.first_due());
                    if let Some(&i) = self.index.get(due.customer_id.as_str()) {
                        self.log.treated.push((due.campaign_id.to_string(), i, due.cause_at.unwrap_or(due.created_at)));
                    }
                }
            }
        }
        let counts = self.rt.block_on(self.dispatcher.run_due(now, 16))?;
        self.log.add_counts(&counts);
        let mut sent: Vec<Envelope> =
            std::mem::take(&mut *self.dispatcher.channel.sent.lock().unwrap_or_else(|p| p.into_inner()));
        // In a fixed order (dispatch works sends side by side): the answers draw from one
        // generator, so the same seed answers the same way.
        sent.sort_by(|a, b| (a.sent_at, a.message_id.as_str()).cmp(&(b.sent_at, b.message_id.as_str())));
        for e in sent {
            let outbox = &self.dispatcher.channel.outbox;
            self.rt.block_on(outbox.deliver(&e)).map_err(|err| SimError::Setup(format!("the outbox: {err}")))?;
            self.answer(e);
        }
        Ok(())
    }

    /// How the customer answers a message: delivery and its feedback, opens, clicks, a visit
    /// (perhaps an order), or an unsubscribe.
    fn answer(&mut self, e: Envelope) {
        let Some(&i) = self.index.get(e.customer_id.as_str()) else { return };
        let at = e.sent_at.with_timezone(&Utc);
        self.progress.messages += 1;
        let campaign = self.config.campaigns.iter().find(|c| c.id == e.campaign_id).cloned();
        let optimised = campaign.as_ref().is_some_and(|c| matches!(c.send_time, SendTime::Optimised { .. }));
        let first_due = self.first_due.get(e.message_id.as_str()).copied().unwrap_or(at);
        let email = e.channel == Channel::Email;
        let (reach, reach_due, night) = {
            let c = &self.customers[i];
            (c.reach(at, email), c.reach(first_due, email), c.night(at))
        };
        // What the message shows: the product it is about, or the customer's recommendations.
        let shown = self.shown(i, &e);
        let relevance = {
            let c = &self.customers[i];
            let k = self.catalogue.categories() as f64;
            if shown.is_empty() {
                0.3
            } else {
                (shown.iter().map(|p| c.taste[self.catalogue.products[*p].category] * k).sum::<f64>()
                    / shown.len() as f64
                    / 2.0)
                    .min(1.0)
            }
        };
        let offer = campaign.as_ref().is_some_and(|c| c.offer.is_some());
        let c = &mut self.customers[i];
        c.received.push(at);
        c.received.retain(|t| *t > at - Duration::days(7));
        let fatigue = c.received.len() as f64;
        let read_chance =
            if email { (0.22 * reach).min(0.85) } else { (0.45 * reach).min(0.95) } * if c.alive { 1.0 } else { 0.3 };
        let mut sent = Sent {
            customer: i,
            campaign: e.campaign_id.to_string(),
            channel: e.channel,
            at,
            local: e.sent_at,
            optimised,
            reach,
            reach_due,
            opened: false,
            clicked: false,
            unsubscribed: false,
            night,
            offer,
        };
        let (customer_id, message) = (e.customer_id.to_string(), e.message_id.to_string());
        let mut plan: Vec<(DateTime<Utc>, Action)> = Vec::new();
        if email {
            if !c.email_ok {
                plan.push((at + Duration::minutes(1), Action::Ses(ses(&e, "Bounce", at + Duration::minutes(1)))));
            } else {
                plan.push((at + Duration::minutes(1), Action::Ses(ses(&e, "Delivery", at + Duration::minutes(1)))));
                if c.proxy_opens {
                    plan.push((at + Duration::seconds(90), Action::Ses(ses(&e, "Open", at + Duration::seconds(70)))));
                }
            }
        }
        let reads = c.email_ok || !email;
        if reads && self.rng.random::<f64>() < read_chance {
            sent.opened = true;
            let delay = if email {
                Duration::minutes(self.rng.random_range(5..180))
            } else {
                Duration::minutes(self.rng.random_range(1..15))
            };
            let seen = at + delay;
            if email {
                plan.push((seen, Action::Ses(ses(&e, "Open", seen))));
            } else if e.channel == Channel::Push {
                plan.push((seen, Action::Event(self.ev.event(&customer_id, seen, "message_engaged",
                    json!({"message_id": message, "channel": "push", "action": "opened", "campaign_id": e.campaign_id, "variant": e.variant})))));
            }
            let click_chance = 0.08 + 0.5 * relevance + if offer { 0.1 } else { 0.0 };
            if self.rng.random::<f64>() < click_chance {
                sent.clicked = true;
                let click = seen + Duration::minutes(1);
                if email {
                    plan.push((click, Action::Ses(ses(&e, "Click", click))));
                } else {
                    plan.push((click, Action::Event(self.ev.event(&customer_id, click, "message_engaged",
                        json!({"message_id": message, "channel": e.channel, "action": "clicked", "campaign_id": e.campaign_id, "variant": e.variant})))));
                }
                // The visit: what they came for first, a purchase more likely the better it fits.
                let boost = 0.08 + 0.3 * relevance + if offer { 0.1 } else { 0.0 };
                if !c.alive && self.rng.random::<f64>() < 0.3 {
                    c.alive = true;
                    self.log.revived += 1;
                }
                plan.push((
                    click + Duration::minutes(2),
                    Action::Visit {
                        customer: i,
                        products: shown.clone(),
                        boost,
                        attribution: Some((message.clone(), e.campaign_id.to_string(), e.variant.to_string())),
                    },
                ));
            }
        }
        // Too many messages, or one in the night, and some leave.
        let annoyed = 0.0015 + 0.004 * (fatigue - 3.0).max(0.0).powi(2) + if night { 0.01 } else { 0.0 };
        if self.rng.random::<f64>() < annoyed {
            sent.unsubscribed = true;
            let when = at + Duration::minutes(self.rng.random_range(5..120));
            match (&e.channel, &e.to, &e.unsubscribe) {
                (Channel::Email, _, Some(u)) => {
                    let path = u.one_click.split("localhost:8787").nth(1).unwrap_or("").to_string();
                    plan.push((when, Action::Unsubscribe(path)));
                }
                (Channel::Sms, Address::Phone(p), _) => {
                    plan.push((when, Action::Sms { phone: p.as_str().to_string(), word: "STOP".into() }));
                }
                _ => {
                    plan.push((when, Action::Event(self.ev.event(&customer_id, when, "consent_changed",
                        json!({"channel": e.channel, "topic": e.topic.as_ref().map_or("marketing", |t| t.as_str()), "status": "revoked", "source": "app_settings"})))));
                }
            }
        }
        self.log.sent.push(sent);
        for (t, a) in plan {
            self.schedule(t, a);
        }
    }

    /// The products a message showed: the one it is about, else the recommendations stored for
    /// the customer (what the template lists).
    fn shown(&mut self, i: usize, e: &Envelope) -> Vec<usize> {
        let by_id = |id: &str, cat: &Catalogue| cat.products.iter().position(|p| p.id == id);
        let text = serde_json::to_string(&e.message).unwrap_or_default();
        let mut out: Vec<usize> = Vec::new();
        let customer = crate::ids::CustomerId::new(self.customers[i].id.clone());
        if let Ok(customer) = customer {
            let recs: Option<crate::recommend::job::CustomerRecs> = self
                .rt
                .block_on(crate::customers::output(&*self.store, &customer, crate::keys::RECOMMENDATIONS))
                .ok()
                .flatten();
            for pick in recs.map(|r| r.picks).unwrap_or_default().into_iter().take(5) {
                if text.contains(&pick.product) {
                    if let Some(p) = by_id(&pick.product, &self.catalogue) {
                        out.push(p);
                    }
                }
            }
        }
        if out.is_empty() {
            out.extend(
                self.customers[i].cart.iter().copied().filter(|p| text.contains(&self.catalogue.products[*p].id)),
            );
        }
        out
    }

    /// Writes the decisions, the summary and the report.
    fn finish(mut self, end: DateTime<Utc>) -> Result<Outcome, SimError> {
        self.flush_until(end + Duration::days(3))?;
        self.events_out.flush().map_err(|e| SimError::File("events.jsonl".into(), e))?;
        self.dispatcher.channel.outbox.flush().map_err(|e| SimError::File("outbox.jsonl".into(), e))?;
        let out = self.config.out.clone();
        let decisions_path = out.join("decisions.jsonl");
        let mut decisions = std::io::BufWriter::new(file(&decisions_path)?);
        let mut traces = BTreeMap::new();
        for c in &self.customers {
            let Ok(id) = crate::ids::CustomerId::new(c.id.clone()) else { continue };
            let (found, _) = self.rt.block_on(crate::delivery::trace::of(&*self.store, &id, None))?;
            for d in &found {
                let mut line = serde_json::to_value(d).unwrap_or_default();
                line["explained"] = d.explain().into();
                writeln!(decisions, "{line}").map_err(|e| SimError::File("decisions.jsonl".into(), e))?;
            }
            traces.insert(c.id.clone(), found);
        }
        decisions.flush().map_err(|e| SimError::File("decisions.jsonl".into(), e))?;
        let facts = self.rt.block_on(super::report::gather(&*self.store, &self.customers))?;
        let accounts_path = out.join("accounts.jsonl");
        let mut accounts = std::io::BufWriter::new(file(&accounts_path)?);
        for line in &facts.accounts {
            writeln!(accounts, "{line}").map_err(|e| SimError::File("accounts.jsonl".into(), e))?;
        }
        accounts.flush().map_err(|e| SimError::File("accounts.jsonl".into(), e))?;
        let summary = super::report::summarize(
            &self.config,
            &self.customers,
            &self.catalogue,
            &self.log,
            &traces,
            &facts,
            &self.dispatcher.settings,
        );
        let summary_path = out.join("summary.json");
        std::fs::write(&summary_path, serde_json::to_string_pretty(&summary).unwrap_or_default())
            .map_err(|e| SimError::File(summary_path.display().to_string(), e))?;
        let report_path = out.join("report.html");
        std::fs::write(&report_path, super::report::html(&summary, &traces))
            .map_err(|e| SimError::File(report_path.display().to_string(), e))?;
        Ok(Outcome {
            summary,
            files: vec![
                out.join("events.jsonl"),
                out.join("outbox.jsonl"),
                decisions_path,
                accounts_path,
                summary_path,
                report_path,
            ],
        })
    }
}

/// One event as a line of `events.jsonl`.
fn write_event(out: &mut std::io::BufWriter<std::fs::File>, line: &str) -> Result<(), SimError> {
    out.write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| SimError::File("events.jsonl".into(), e))
}

fn time_of(e: &Value) -> Option<DateTime<Utc>> {
    e.get("occurred_at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// An SES event notification about message `e`, as the configuration set publishes it.
fn ses(e: &Envelope, kind: &str, at: DateTime<Utc>) -> String {
    let to = match &e.to {
        Address::Email(a) => a.as_str().to_string(),
        _ => String::new(),
    };
    let stamp = at.to_rfc3339();
    let mut v = json!({"eventType": kind, "mail": {"timestamp": e.sent_at.with_timezone(&Utc).to_rfc3339(), "destination": [to],
        "headers": [{"name": "X-Kairos-Customer", "value": e.customer_id}, {"name": "X-Kairos-Message-Id", "value": e.message_id},
            {"name": "X-Kairos-Campaign", "value": e.campaign_id}, {"name": "X-Kairos-Variant", "value": e.variant}]}});
    match kind {
        "Delivery" => v["delivery"] = json!({"timestamp": stamp}),
        "Open" => v["open"] = json!({"timestamp": stamp}),
        "Click" => v["click"] = json!({"timestamp": stamp, "link": "https://shop.example"}),
        "Bounce" => {
            v["bounce"] =
                json!({"timestamp": stamp, "bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": to}]})
        }
        _ => {}
    }
    v.to_string()
}

/// The sample campaigns as the simulation runs them: broadcasts moved into the window (their
/// dates are the shop's, not the simulation's) and sent even when drafts (a shop tries one
/// here before it sends it), other drafts and paused campaigns left out.
pub fn adapt(campaigns: Vec<Campaign>, start: DateTime<Utc>, days: u32) -> Vec<Campaign> {
    let mut broadcasts = 0;
    campaigns
        .into_iter()
        .filter_map(|mut c| {
            if let Trigger::Broadcast { at } = &mut c.trigger {
                broadcasts += 1;
                let moment = start + Duration::hours(i64::from(days) * 24 * (1 + broadcasts % 3) / 4);
                *at = moment.fixed_offset();
                c.status = crate::campaign::Status::Active;
            }
            (c.status == crate::campaign::Status::Active).then_some(c)
        })
        .collect()
}
