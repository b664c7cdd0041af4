//! The recommendations API: what a shop's pages ask and what they get back, over plain bytes
//! (the Lambda maps its function-URL event to [`Recommender::respond`] and back).
//!
//! A request names a customer, the products viewed in the current session, or both:
//! - a known customer: their whole profile (what they have is never offered, their latest
//!   activity leads), with the session's views as the very latest, so the page shows what the
//!   messages do, updated by this visit;
//! - no customer, or one Kairos does not know: the session's views alone (no identity needed),
//!   then popularity; the answer says which it used and why.
//!
//! Products come with their catalogue data and a reason each; out-of-stock products are left
//! out. The model is the nightly `recommend` job's, loaded once per instance and swapped when a
//! newer run publishes one (checked every [`REFRESH_SECONDS`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::data::{Event, Signal};
use super::job::{RecommendJob, RecommendModel, StoredPick};
use super::reason::{Reason, explain};
use crate::catalogue::{self, Product};
use crate::ids::{CustomerId, ProductId};
use crate::jobs::runner::{Published, published, run_model};
use crate::money::{Amount, Currency};
use crate::store::{Store, StoreError};
use crate::validate::FieldError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most session product ids a request may carry.
pub const MAX_SESSION: usize = 50;
/// Most recommendations a request may ask for.
pub const MAX_K: usize = 50;
pub const DEFAULT_K: usize = 10;
/// How often a warm instance looks for a newer model.
pub const REFRESH_SECONDS: i64 = 300;
/// How long a product read from the catalogue is shown without reading it again: a product that
/// goes out of stock leaves every page within this.
pub const SHELF_SECONDS: i64 = 60;
/// Products an instance keeps at most.
const SHELF_PRODUCTS: usize = 20_000;
/// Most candidates ranked for one request, however many are out of stock.
const MAX_CANDIDATES: usize = 1_000;

/// A request as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    session: Vec<String>,
    #[serde(default)]
    k: Option<u64>,
}

/// A checked request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub customer: Option<CustomerId>,
    /// Products viewed in this session, oldest first.
    pub session: Vec<ProductId>,
    pub k: usize,
}

/// Checks a request body: JSON `{"customer_id"?, "session"?: [product ids], "k"?}`.
pub fn parse(body: &[u8]) -> Result<Request, FieldError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(FieldError::new(".", format!("is {} bytes (at most {MAX_BODY_BYTES})", body.len())));
    }
    let text = std::str::from_utf8(body).map_err(|_| FieldError::new(".", "is not UTF-8 text"))?;
    // serde would also read a struct from an array; a request is an object.
    if !text.trim_start().starts_with('{') {
        return Err(FieldError::new(".", "is not a JSON object: expected customer_id and/or session"));
    }
    let wire: Wire = crate::event::parse::from_str_at(text, "")?;
    let customer = wire
        .customer_id
        .map(|c| CustomerId::new(c).map_err(|e| FieldError::new("customer_id", e.to_string())))
        .transpose()?;
    if wire.session.len() > MAX_SESSION {
        return Err(FieldError::new(
            "session",
            format!("has {} product ids (at most {MAX_SESSION}: the latest views of the visit)", wire.session.len()),
        ));
    }
    let session = wire
        .session
        .into_iter()
        .enumerate()
        .map(|(i, p)| ProductId::new(p).map_err(|e| FieldError::new(format!("session[{i}]"), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if customer.is_none() && session.is_empty() {
        return Err(FieldError::new(
            "customer_id",
            "is required when session is empty (give a customer, the session's product ids, or both)",
        ));
    }
    let k = match wire.k {
        None => DEFAULT_K,
        Some(k) if (1..=MAX_K as u64).contains(&k) => k as usize,
        Some(k) => return Err(FieldError::new("k", format!("is {k} (expected 1 to {MAX_K})"))),
    };
    Ok(Request { customer, session, k })
}

/// What the recommendations were built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The customer's profile (and the session, if given).
    Customer,
    /// The session's views alone.
    Session,
    /// Nothing personal: popularity.
    Popular,
    /// No model yet: nothing to recommend.
    None,
}

/// One recommended product, with what the catalogue knows of it (nothing yet for a product it
/// has not heard of).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommended {
    pub product_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    pub reason: Reason,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    pub source: Source,
    /// What the caller should know: an unknown customer, products the model has not seen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// The nightly run the model comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Published>,
    pub products: Vec<Recommended>,
}

/// An HTTP answer: status and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
    /// Seconds to wait before trying again (503).
    pub retry_after: Option<u32>,
}

impl HttpAnswer {
    fn json(status: u16, value: &impl Serialize) -> HttpAnswer {
        let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
        HttpAnswer { status, body, retry_after: None }
    }

    /// An error answer: `{"error": {"field"?, "message"}}`.
    pub fn error(status: u16, field: Option<&str>, message: &str) -> HttpAnswer {
        let mut error = serde_json::json!({ "message": message });
        if let Some(field) = field {
            error["field"] = field.into();
        }
        HttpAnswer::json(status, &serde_json::json!({ "error": error }))
    }
}

/// The model an instance serves, and when it last looked for a newer one.
struct Loaded {
    published: Published,
    model: Arc<RecommendModel>,
    checked_at: DateTime<Utc>,
}

/// Products read in the last [`SHELF_SECONDS`], by id (`None`: the catalogue does not know it).
type Shelf = HashMap<String, (Option<Product>, DateTime<Utc>)>;

/// Answers recommendation requests from the table, keeping the model between requests, and the
/// products it read for a minute: popular products appear on most pages, and each read costs.
pub struct Recommender<S> {
    store: S,
    /// An async lock held across a model load on purpose: concurrent first requests wait for
    /// one load rather than each reading the model (a Lambda instance serves one request at a
    /// time, so it is only ever contended in local runs).
    loaded: tokio::sync::Mutex<Held>,
    shelf: Mutex<Shelf>,
}

/// What an instance holds: the model it serves, and a published run it found it cannot read
/// (not read again: a damaged model would otherwise be re-read on every request).
#[derive(Default)]
struct Held {
    model: Option<Loaded>,
    unreadable: Option<String>,
}

impl<S: Store> Recommender<S> {
    pub fn new(store: S) -> Self {
        Recommender { store, loaded: tokio::sync::Mutex::new(Held::default()), shelf: Mutex::new(HashMap::new()) }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The model to answer with: the one held, or the newest published when the held one was
    /// last checked [`REFRESH_SECONDS`] ago. A failed check keeps serving the model held and
    /// waits [`REFRESH_SECONDS`] before trying again; a published model that cannot be read is
    /// remembered and never read again.
    async fn model(&self, now: DateTime<Utc>) -> Result<Option<(Published, Arc<RecommendModel>)>, StoreError> {
        let mut held = self.loaded.lock().await;
        let serve = |held: &Held| held.model.as_ref().map(|l| (l.published.clone(), l.model.clone()));
        if held.model.as_ref().is_some_and(|l| now - l.checked_at < Duration::seconds(REFRESH_SECONDS)) {
            return Ok(serve(&held));
        }
        match self.newest(&held).await {
            Ok(Some((published, model))) => held.model = Some(Loaded { published, model, checked_at: now }),
            Ok(None) => {}
            Err((run, e @ StoreError::Corrupt { .. })) => {
                tracing::error!(run, error = %crate::redact::scrub(&e.to_string()), "the newest recommendation model cannot be read; serving the one held until a newer run publishes");
                held.unreadable = run;
            }
            Err((_, e)) if held.model.is_some() => {
                tracing::warn!(error = %crate::redact::scrub(&e.to_string()), "could not look for a newer recommendation model; keeping the one held");
            }
            Err((_, e)) => return Err(e),
        }
        if let Some(l) = held.model.as_mut() {
            l.checked_at = now;
        }
        Ok(serve(&held))
    }

    /// The newest published model if it is neither the one held nor one found unreadable
    /// (`None`: keep what is held). An error names the run it was reading, if it got that far.
    async fn newest(
        &self,
        held: &Held,
    ) -> Result<Option<(Published, Arc<RecommendModel>)>, (Option<String>, StoreError)> {
        let Some(newest) = published(&self.store, &RecommendJob).await.map_err(|e| (None, e))? else {
            return Ok(None);
        };
        if held.model.as_ref().is_some_and(|h| h.published.run == newest.run)
            || held.unreadable.as_deref() == Some(newest.run.as_str())
        {
            return Ok(None);
        }
        match run_model::<_, RecommendJob>(&self.store, &newest.run).await.map_err(|e| (Some(newest.run.clone()), e))? {
            Some(model) => {
                tracing::info!(run = newest.run, products = model.items.len(), "recommendation model loaded");
                Ok(Some((newest, Arc::new(model))))
            }
            // The run's items expired (the job has not run for weeks): keep what is held.
            None => Ok(None),
        }
    }

    /// The answer to `request` as of `now`.
    pub async fn answer(&self, request: &Request, now: DateTime<Utc>) -> Result<Answer, StoreError> {
        let mut notices = Vec::new();
        let Some((published, model)) = self.model(now).await? else {
            notices.push("no recommendations yet: the nightly recommend job has not published a model".into());
            return Ok(Answer { source: Source::None, notices, model: None, products: Vec::new() });
        };
        let mut history: Vec<Event> = Vec::new();
        let mut known_customer = false;
        if let Some(customer) = &request.customer {
            let fallback =
                if request.session.is_empty() { "popularity" } else { "this session's views and popularity" };
            match crate::customers::load_eventually(&self.store, customer).await {
                Ok(Some(profile)) => {
                    history = model.history(&profile);
                    known_customer = true;
                }
                Ok(None) => notices.push(format!("the customer is not known: recommendations from {fallback}")),
                // A damaged profile fails only this answer, never the service; and without it
                // Kairos cannot know what the customer already has, so it offers nothing rather
                // than popular products they may have bought.
                Err(e @ StoreError::Corrupt { .. }) => {
                    tracing::error!(error = %crate::redact::scrub(&e.to_string()), "a customer's profile could not be read");
                    notices.push(
                        "this customer's profile could not be read: no recommendations until it is repaired".into(),
                    );
                    return Ok(Answer { source: Source::None, notices, model: Some(published), products: Vec::new() });
                }
                Err(e) => return Err(e),
            }
        }
        // The session's views come last: the latest, so they lead.
        let seconds = request.session.len() as i64;
        let mut unknown = 0;
        for (i, product) in request.session.iter().enumerate() {
            match model.index(product.as_str()) {
                Some(item) => {
                    history.push(Event { item, at: now.timestamp() - (seconds - i as i64), signal: Signal::View })
                }
                None => unknown += 1,
            }
        }
        if unknown > 0 {
            notices.push(format!(
                "{unknown} of the session's {} products are not in the model yet (new or rarely seen)",
                request.session.len()
            ));
        }
        let source = match (known_customer, history.is_empty()) {
            (_, true) => Source::Popular,
            (true, false) => Source::Customer,
            (false, false) => Source::Session,
        };
        // More candidates than asked (some may be out of stock), read from the catalogue a few
        // more than still needed at a time: every product read costs half a read unit. When a
        // whole batch is out of stock (a sale emptied the shelves) a larger one is ranked.
        let mut asked = request.k * 3 + 10;
        let mut candidates = model.picks(&history, now, asked);
        let mut products = Vec::new();
        let mut next = 0;
        while products.len() < request.k {
            if next == candidates.len() {
                if candidates.len() < asked || asked >= MAX_CANDIDATES {
                    break;
                }
                asked = (asked * 4).min(MAX_CANDIDATES);
                candidates = model.picks(&history, now, asked);
                if next >= candidates.len() {
                    break;
                }
            }
            let wave = &candidates[next..(next + request.k - products.len() + 2).min(candidates.len())];
            next += wave.len();
            products.extend(self.shown(wave, now).await?);
        }
        products.truncate(request.k);
        Ok(Answer { source, notices, model: Some(published), products })
    }

    /// `picks` as shown: with their catalogue data, out-of-stock (and unreadable, whose stock is
    /// unknown) left out, reasons naming the customer's products by title.
    async fn shown(&self, picks: &[StoredPick], now: DateTime<Utc>) -> Result<Vec<Recommended>, StoreError> {
        let mut ids: Vec<&str> = picks.iter().map(|p| p.product.as_str()).collect();
        ids.extend(picks.iter().filter_map(|p| p.why.source()));
        ids.sort_unstable();
        ids.dedup();
        let mut known: HashMap<String, Option<Product>> = HashMap::new();
        let mut missing: Vec<ProductId> = Vec::new();
        {
            let shelf = self.shelf.lock().unwrap_or_else(PoisonError::into_inner);
            for id in ids {
                match shelf.get(id).filter(|(_, at)| now - *at < Duration::seconds(SHELF_SECONDS)) {
                    Some((product, _)) => {
                        known.insert(id.to_string(), product.clone());
                    }
                    None => missing.extend(ProductId::new(id).ok()),
                }
            }
        }
        if !missing.is_empty() {
            let refs: Vec<&ProductId> = missing.iter().collect();
            let fetched = catalogue::get_many(&self.store, &refs).await?;
            let mut shelf = self.shelf.lock().unwrap_or_else(PoisonError::into_inner);
            if shelf.len() + missing.len() > SHELF_PRODUCTS {
                shelf.retain(|_, (_, at)| now - *at < Duration::seconds(SHELF_SECONDS));
                if shelf.len() + missing.len() > SHELF_PRODUCTS {
                    shelf.clear();
                }
            }
            for (id, fetched) in missing.iter().zip(fetched) {
                match fetched {
                    Ok(product) => {
                        shelf.insert(id.to_string(), (product.clone(), now));
                        known.insert(id.to_string(), product);
                    }
                    // Not kept: the next request tries again.
                    Err(e) => {
                        tracing::error!(error = %crate::redact::scrub(&e.to_string()), "a product could not be read; it is left out");
                    }
                }
            }
        }
        let title =
            |id: &str| known.get(id).and_then(|p| p.as_ref()).map_or_else(|| id.to_string(), |p| p.title.clone());
        let mut shown = Vec::new();
        for pick in picks {
            let Some(product) = known.get(pick.product.as_str()) else { continue };
            if product.as_ref().is_some_and(|p| !p.in_stock) {
                continue;
            }
            let p = product.as_ref();
            shown.push(Recommended {
                product_id: pick.product.clone(),
                title: p.map(|p| p.title.clone()),
                url: p.and_then(|p| p.url.clone()),
                image_url: p.and_then(|p| p.image_url.clone()),
                price: p.and_then(|p| p.price),
                currency: p.and_then(|p| p.currency),
                brand: p.and_then(|p| p.brand.clone()),
                reason: explain(&pick.why, title, now),
            });
        }
        Ok(shown)
    }

    /// The HTTP answer to a request: `method` and the raw body.
    pub async fn respond(&self, method: &str, body: &[u8], now: DateTime<Utc>) -> HttpAnswer {
        if !method.eq_ignore_ascii_case("POST") {
            return HttpAnswer::error(405, None, &format!("method {method} is not allowed: POST a JSON request"));
        }
        if body.len() > MAX_BODY_BYTES {
            return HttpAnswer::error(413, Some("."), &format!("is {} bytes (at most {MAX_BODY_BYTES})", body.len()));
        }
        let request = match parse(body) {
            Ok(r) => r,
            Err(e) => return HttpAnswer::error(400, Some(&e.field), &e.problem),
        };
        match self.answer(&request, now).await {
            Ok(answer) => HttpAnswer::json(200, &answer),
            Err(e) => {
                tracing::error!(error = %crate::redact::scrub(&e.to_string()), retryable = e.is_retryable(), "recommendations failed");
                if e.is_retryable() {
                    HttpAnswer { retry_after: Some(1), ..HttpAnswer::error(503, None, "the table is busy: try again") }
                } else {
                    HttpAnswer::error(500, None, "recommendations failed; the error is logged")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::jobs::local::LocalQueue;
    use crate::jobs::runner::{Runner, drain};
    use crate::recommend::job::all_touches;
    use crate::recommend::reason::ReasonKind;
    use crate::store::embedded::EmbeddedStore;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap()
    }

    async fn nightly(store: &EmbeddedStore, run: &str, at: DateTime<Utc>) {
        let queue = LocalQueue::new();
        let runner = Runner { store, queue: &queue, job: &RecommendJob };
        runner.start(run, 2, at).await.unwrap();
        drain(&runner, at).await.unwrap().1.expect("the run finished");
    }

    async fn product(store: &EmbeddedStore, id: &str, in_stock: bool, at: &str) {
        let text = serde_json::json!({"schema_version": 1, "id": format!("{id}-{at}"), "occurred_at": at, "source": "feed",
            "type": "product_updated", "data": {"product_id": id, "title": format!("Title of {id}"),
            "url": format!("https://shop.example/p/{id}"), "price": "12.50", "currency": "EUR", "in_stock": in_stock}});
        let crate::event::Inbound::Product(event) = crate::event::parse_inbound(&text.to_string(), now()).unwrap()
        else {
            panic!("a product event")
        };
        catalogue::apply(store, &event).await.unwrap();
    }

    fn request(body: serde_json::Value) -> Request {
        parse(body.to_string().as_bytes()).unwrap()
    }

    fn field(body: &[u8]) -> String {
        parse(body).unwrap_err().field
    }

    #[test]
    fn malformed_and_oversized_requests_name_their_field() {
        assert_eq!(field(br#"{"session": ["a"]} and more"#), ".");
        assert_eq!(field(br#"{"session": ["a"], "k": 0}"#), "k");
        assert_eq!(field(br#"{"session": ["a"], "k": 51}"#), "k");
        assert_eq!(field(br#"{"session": ["a"], "k": -3}"#), "k");
        assert_eq!(field(br#"{"session": ["a"], "k": "ten"}"#), "k");
        assert_eq!(field(br#"{"session": ["ok", "not one word"]}"#), "session[1]");
        assert_eq!(field(br#"{"session": "p1"}"#), "session");
        assert_eq!(field(br#"{"customer_id": ""}"#), "customer_id");
        assert_eq!(field(br#"{}"#), "customer_id");
        assert_eq!(field(br#"{"customer": "c1"}"#), "customer");
        assert_eq!(field(br#"[1, 2]"#), ".");
        assert_eq!(field(b""), ".");
        assert_eq!(field(b"\xff\xfe"), ".");
        let many: Vec<String> = (0..=MAX_SESSION).map(|i| format!("p{i}")).collect();
        assert_eq!(field(serde_json::json!({ "session": many }).to_string().as_bytes()), "session");
        let huge = format!(r#"{{"customer_id": "c1", "pad": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(field(huge.as_bytes()), ".");
        let ok = request(serde_json::json!({"customer_id": "c1", "session": ["p1", "p1"], "k": 5}));
        assert_eq!((ok.customer.unwrap().as_str(), ok.session.len(), ok.k), ("c1", 2, 5));
        assert_eq!(request(serde_json::json!({"session": ["p1"]})).k, DEFAULT_K);
    }

    #[tokio::test]
    async fn before_any_nightly_run_the_answer_is_empty_and_says_why() {
        let recommender = Recommender::new(EmbeddedStore::new());
        let answer = recommender.answer(&request(serde_json::json!({"session": ["p1"]})), now()).await.unwrap();
        assert_eq!((answer.source, answer.products.len()), (Source::None, 0));
        assert!(answer.notices[0].contains("has not published"), "{:?}", answer.notices);
    }

    #[tokio::test]
    async fn a_known_customer_gets_fresh_picks_with_catalogue_data_never_what_they_have_nor_out_of_stock() {
        let store = crate::recommend::job::tests::shop(now()).await;
        nightly(&store, "r1", now()).await;
        let customers: Vec<_> = crate::store::scan_all(&store, None)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|i| crate::keys::customer_of(&i.key.pk))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let recommender = Recommender::new(store);
        let mut checked = 0;
        for customer in customers.iter().take(20) {
            let profile = crate::customers::load(recommender.store(), customer).await.unwrap().unwrap();
            let own: Vec<String> = all_touches(&profile).iter().map(|t| t.0.to_string()).collect();
            let body = serde_json::json!({"customer_id": customer.as_str(), "k": 5});
            let answer = recommender.answer(&request(body), now()).await.unwrap();
            assert_eq!(answer.model.as_ref().unwrap().run, "r1");
            assert_eq!(answer.products.len(), 5, "{answer:?}");
            if answer.source == Source::Customer {
                checked += 1;
            }
            for p in &answer.products {
                assert!(p.reason.kind == ReasonKind::Replenish || !own.contains(&p.product_id), "{customer}: {p:?}");
            }
        }
        assert!(checked >= 15, "most customers have products the model knows: {checked}");

        // The catalogue fills in what it knows; an out-of-stock product gives way to the next.
        let customer = customers[0].as_str();
        let body = serde_json::json!({"customer_id": customer, "k": 5});
        let before = recommender.answer(&request(body.clone()), now()).await.unwrap();
        let first = before.products[0].product_id.clone();
        let second = before.products[1].product_id.clone();
        assert!(before.products[0].title.is_none(), "the catalogue does not know it yet");
        product(recommender.store(), &first, false, "2026-11-23T10:00:00Z").await;
        product(recommender.store(), &second, true, "2026-11-23T10:00:00Z").await;
        // Products read are kept a minute; then the change shows.
        let cached = recommender.answer(&request(body.clone()), now()).await.unwrap();
        assert_eq!(cached.products, before.products);
        let later = now() + Duration::seconds(SHELF_SECONDS);
        let after = recommender.answer(&request(body), later).await.unwrap();
        assert_eq!(after.products.len(), 5);
        assert!(after.products.iter().all(|p| p.product_id != first), "out of stock is never shown");
        let shown = after.products.iter().find(|p| p.product_id == second).unwrap();
        assert_eq!(shown.title.as_deref(), Some(format!("Title of {second}").as_str()));
        assert_eq!(shown.url.as_deref(), Some(format!("https://shop.example/p/{second}").as_str()));
        assert_eq!(shown.price.map(|a| a.to_string()).as_deref(), Some("12.5"));
    }

    #[tokio::test]
    async fn sessions_need_no_customer_and_unknown_customers_fall_back_saying_so() {
        let store = crate::recommend::job::tests::shop(now()).await;
        nightly(&store, "r1", now()).await;
        let recommender = Recommender::new(store);
        let (_, model) = recommender.model(now()).await.unwrap().unwrap();
        let viewed: Vec<&str> = model.items.iter().take(3).map(String::as_str).collect();

        let session =
            recommender.answer(&request(serde_json::json!({"session": viewed, "k": 8})), now()).await.unwrap();
        assert_eq!((session.source, session.products.len()), (Source::Session, 8));
        assert!(session.notices.is_empty(), "{:?}", session.notices);
        assert!(
            session.products.iter().all(|p| !viewed.contains(&p.product_id.as_str())),
            "never what was just viewed"
        );
        assert!(session.products.iter().any(|p| p.reason.kind != ReasonKind::Popular));

        let body = serde_json::json!({"customer_id": "stranger", "session": viewed, "k": 8});
        let stranger = recommender.answer(&request(body), now()).await.unwrap();
        assert_eq!(stranger.source, Source::Session);
        assert_eq!(stranger.products, session.products, "the same as the session alone");
        assert!(stranger.notices[0].contains("not known"), "{:?}", stranger.notices);

        let body = serde_json::json!({"customer_id": "stranger", "session": ["never-seen"], "k": 4});
        let nothing = recommender.answer(&request(body), now()).await.unwrap();
        assert_eq!((nothing.source, nothing.products.len()), (Source::Popular, 4));
        assert!(nothing.products.iter().all(|p| p.reason.kind == ReasonKind::Popular));
        assert!(nothing.notices.iter().any(|n| n.contains("not in the model")), "{:?}", nothing.notices);
    }

    #[tokio::test]
    async fn a_damaged_profile_gets_nothing_rather_than_what_the_customer_may_have() {
        let store = crate::recommend::job::tests::shop(now()).await;
        nightly(&store, "r1", now()).await;
        let item = crate::store::scan_all(&store, None)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.key.sk.starts_with(crate::keys::PROFILE_PREFIX))
            .unwrap();
        let customer = crate::keys::customer_of(&item.key.pk).unwrap();
        let mut body = serde_json::Map::new();
        body.insert("m".into(), serde_json::json!(5));
        let damaged = crate::store::Item::new(item.key.clone(), item.version + 1, body);
        let write = crate::store::Write::Put { item: damaged, condition: crate::store::Condition::Always };
        store.write(vec![write]).await.unwrap();
        let recommender = Recommender::new(store);
        let answer =
            recommender.answer(&request(serde_json::json!({"customer_id": customer.as_str()})), now()).await.unwrap();
        assert_eq!((answer.source, answer.products.len()), (Source::None, 0), "{answer:?}");
        assert!(answer.notices[0].contains("could not be read"));
    }

    #[tokio::test]
    async fn an_instance_takes_a_newer_model_once_it_looks_again() {
        let store = crate::recommend::job::tests::shop(now()).await;
        nightly(&store, "r1", now()).await;
        let recommender = Recommender::new(store);
        let body = request(serde_json::json!({"session": ["anything"]}));
        assert_eq!(recommender.answer(&body, now()).await.unwrap().model.unwrap().run, "r1");
        let tomorrow = now() + Duration::days(1);
        nightly(recommender.store(), "r2", tomorrow).await;
        let soon = now() + Duration::seconds(REFRESH_SECONDS - 1);
        assert_eq!(
            recommender.answer(&body, soon).await.unwrap().model.unwrap().run,
            "r1",
            "held until it looks again"
        );
        let later = now() + Duration::seconds(REFRESH_SECONDS);
        assert_eq!(recommender.answer(&body, later).await.unwrap().model.unwrap().run, "r2");
    }

    #[tokio::test]
    async fn a_newer_model_that_cannot_be_read_is_not_read_again_and_the_held_one_serves() {
        let store = crate::recommend::job::tests::shop(now()).await;
        nightly(&store, "r1", now()).await;
        let recommender = Recommender::new(store);
        let body = request(serde_json::json!({"session": ["anything"]}));
        assert_eq!(recommender.answer(&body, now()).await.unwrap().model.unwrap().run, "r1");
        let tomorrow = now() + Duration::days(1);
        nightly(recommender.store(), "r2", tomorrow).await;
        // Tonight's model is damaged where it is stored.
        let head = crate::store::Key::new(
            crate::keys::job_run_pk(<RecommendJob as crate::jobs::SegmentedJob>::NAME, "r2"),
            crate::keys::JOB_MODEL,
        );
        let old = recommender.store().get(&head).await.unwrap().unwrap();
        let mut body_of = serde_json::Map::new();
        body_of.insert("m".into(), serde_json::json!("not a model"));
        let damaged = crate::store::Item::new(head, old.version + 1, body_of);
        let write = crate::store::Write::Put { item: damaged, condition: crate::store::Condition::Always };
        recommender.store().write(vec![write]).await.unwrap();
        let later = now() + Duration::seconds(REFRESH_SECONDS);
        let answer = recommender.answer(&body, later).await.unwrap();
        assert_eq!(answer.model.unwrap().run, "r1", "the held model serves on");
        assert!(!answer.products.is_empty());
        assert_eq!(recommender.loaded.lock().await.unreadable.as_deref(), Some("r2"), "remembered, not re-read");
        // A run after it is taken.
        let next = tomorrow + Duration::days(1);
        nightly(recommender.store(), "r3", next).await;
        let much_later = later + Duration::seconds(REFRESH_SECONDS);
        assert_eq!(recommender.answer(&body, much_later).await.unwrap().model.unwrap().run, "r3");
    }

    #[tokio::test]
    async fn when_every_first_candidate_is_out_of_stock_later_ones_fill_the_page() {
        let store = crate::recommend::job::tests::shop(now()).await;
        nightly(&store, "r1", now()).await;
        let model = run_model::<_, RecommendJob>(&store, "r1").await.unwrap().unwrap();
        let k = 1;
        let first = model.picks(&[], now(), k * 3 + 10);
        assert!(model.items.len() > first.len(), "the shop has more products than one batch");
        for pick in &first {
            product(&store, &pick.product, false, "2026-11-24T01:00:00Z").await;
        }
        let recommender = Recommender::new(store);
        let answer = recommender
            .answer(&request(serde_json::json!({"session": ["nothing-known"], "k": k})), now())
            .await
            .unwrap();
        assert_eq!(answer.products.len(), k, "{answer:?}");
        assert!(first.iter().all(|p| p.product != answer.products[0].product_id));
    }

    #[tokio::test]
    async fn http_answers_say_what_was_wrong() {
        let recommender = Recommender::new(EmbeddedStore::new());
        let get = recommender.respond("GET", b"", now()).await;
        assert_eq!(get.status, 405);
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(recommender.respond("POST", &big, now()).await.status, 413);
        let bad = recommender.respond("POST", br#"{"session": ["a"], "k": 0}"#, now()).await;
        assert_eq!(bad.status, 400);
        let v: serde_json::Value = serde_json::from_str(&bad.body).unwrap();
        assert_eq!(v["error"]["field"], "k");
        let ok = recommender.respond("post", br#"{"session": ["a"]}"#, now()).await;
        assert_eq!(ok.status, 200);
        let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(v["source"], "none");
    }
}
