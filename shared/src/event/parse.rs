//! Reading one event from JSON text: syntax, shape, then rules that span fields.
//!
//! Accepts a bare Kairos event or an EventBridge envelope whose `detail` is one (the shape an
//! EventBridge rule delivers to SQS). Every problem comes back as a [`FieldError`] naming the
//! field by its JSON path.

use std::fmt;

use chrono::{DateTime, Duration, FixedOffset, TimeZone as _, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::product::{MAX_CATEGORY_LEVELS, ProductEvent, ProductEventType, ProductUpdated};
use super::{EventType, Inbound, Payload, SCHEMA_VERSION, ShopEvent};
use crate::ids::{CustomerId, EventId, Source};
use crate::money::{Amount, Currency};
use crate::redact::scrub;
use crate::validate::{FieldError, join_path};

/// How far ahead of our clock an event may claim to have happened (producer clock skew).
pub const MAX_FUTURE_SKEW: Duration = Duration::hours(24);

/// Why an event was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not a JSON document: {0}")]
    NotJson(String),
    #[error("invalid {kind} event{}: {}", .event_id.as_ref().map(|id| format!(" {id}")).unwrap_or_default(), join(.errors))]
    Invalid {
        /// The event's type, when it could be read.
        kind: &'static str,
        /// The event's id, when it could be read (for tracing; not personal data).
        event_id: Option<EventId>,
        errors: Vec<FieldError>,
    },
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl EventError {
    pub fn errors(&self) -> &[FieldError] {
        match self {
            EventError::NotJson(_) => &[],
            EventError::Invalid { errors, .. } => errors,
        }
    }
}

/// The outer shape an EventBridge rule forwards to SQS.
#[derive(Deserialize)]
struct BusEnvelope<'a> {
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    schema_version: u32,
    id: EventId,
    /// Required for every type but `product_updated`, which must not have one.
    #[serde(default)]
    customer_id: Option<CustomerId>,
    #[serde(with = "super::rfc3339")]
    occurred_at: DateTime<FixedOffset>,
    source: Source,
    #[serde(rename = "type")]
    kind: EventType,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Parses and validates one customer event; a catalogue event is refused (see [`parse_inbound`]).
pub fn parse_event(text: &str, now: DateTime<Utc>) -> Result<ShopEvent, EventError> {
    match parse_inbound(text, now)? {
        Inbound::Customer(event) => Ok(event),
        Inbound::Product(event) => Err(EventError::Invalid {
            kind: "product_updated",
            event_id: Some(event.id),
            errors: vec![FieldError::new("type", "is a catalogue event, not a customer event")],
        }),
    }
}

/// Parses and validates one event of any type. `now` bounds how far in the future it may claim
/// to be.
pub fn parse_inbound(text: &str, now: DateTime<Utc>) -> Result<Inbound, EventError> {
    let bus: BusEnvelope = serde_json::from_str(text).map_err(|e| EventError::NotJson(scrub(&e.to_string())))?;
    let (body, prefix) = match bus.detail {
        Some(detail) => (detail.get(), "detail"),
        None => (text, ""),
    };
    let invalid = |event_id, errors| EventError::Invalid { kind: "unknown", event_id, errors };

    // The common case in one pass; anything else is parsed again to say exactly what is wrong.
    let envelope: Envelope = match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) if envelope.schema_version == SCHEMA_VERSION => envelope,
        _ => {
            let probe: VersionProbe =
                serde_json::from_str(body).map_err(|e| invalid(None, vec![serde_error(prefix, &e.to_string())]))?;
            match probe.schema_version.as_ref().and_then(serde_json::Value::as_u64) {
                Some(v) if v == u64::from(SCHEMA_VERSION) => {}
                Some(v) => {
                    let problem = format!("version {v} is not supported (this Kairos reads version {SCHEMA_VERSION})");
                    return Err(invalid(None, vec![FieldError::new(join_path(prefix, "schema_version"), problem)]));
                }
                None if probe.schema_version.is_some() => {
                    let problem = format!("must be the integer {SCHEMA_VERSION}");
                    return Err(invalid(None, vec![FieldError::new(join_path(prefix, "schema_version"), problem)]));
                }
                None => {}
            }
            from_str_at(body, prefix).map_err(|e| invalid(None, vec![e]))?
        }
    };
    let kind = envelope.kind.as_str();
    let event_id = Some(envelope.id.clone());
    let data_path = join_path(prefix, "data");
    let data = envelope.data.get();
    let customer_field = join_path(prefix, "customer_id");
    let customer_id = match (envelope.kind, envelope.customer_id) {
        (EventType::ProductUpdated, None) => {
            let product = from_str_at(data, &data_path).map_err(|e| EventError::Invalid {
                kind,
                event_id: event_id.clone(),
                errors: vec![e],
            })?;
            let mut errors = Vec::new();
            check_time(envelope.occurred_at, now, &join_path(prefix, "occurred_at"), &mut errors);
            check_product(&product, &data_path, &mut errors);
            if !errors.is_empty() {
                return Err(EventError::Invalid { kind, event_id, errors });
            }
            return Ok(Inbound::Product(ProductEvent {
                schema_version: SCHEMA_VERSION,
                id: envelope.id,
                occurred_at: envelope.occurred_at,
                source: envelope.source,
                kind: ProductEventType::ProductUpdated,
                data: product,
            }));
        }
        (EventType::ProductUpdated, Some(_)) => {
            let problem = "must be absent: product_updated is about a product, not a customer";
            return Err(EventError::Invalid { kind, event_id, errors: vec![FieldError::new(customer_field, problem)] });
        }
        (_, None) => {
            let errors = vec![FieldError::new(customer_field, "is required")];
            return Err(EventError::Invalid { kind, event_id, errors });
        }
        (_, Some(customer)) => customer,
    };
    let payload = match envelope.kind {
        // Handled above; kept as an error rather than a panic.
        EventType::ProductUpdated => Err(FieldError::new("type", "is a catalogue event")),
        EventType::ProductViewed => from_str_at(data, &data_path).map(Payload::ProductViewed),
        EventType::CartItemAdded => from_str_at(data, &data_path).map(Payload::CartItemAdded),
        EventType::CartItemRemoved => from_str_at(data, &data_path).map(Payload::CartItemRemoved),
        EventType::CheckoutStarted => from_str_at(data, &data_path).map(Payload::CheckoutStarted),
        EventType::OrderPlaced => from_str_at(data, &data_path).map(Payload::OrderPlaced),
        EventType::OrderRefunded => from_str_at(data, &data_path).map(Payload::OrderRefunded),
        EventType::SessionStarted => from_str_at(data, &data_path).map(Payload::SessionStarted),
        EventType::MessageEngaged => from_str_at(data, &data_path).map(Payload::MessageEngaged),
        EventType::ConsentChanged => from_str_at(data, &data_path).map(Payload::ConsentChanged),
        EventType::CustomerUpdated => from_str_at(data, &data_path).map(Payload::CustomerUpdated),
        EventType::SuppressionChanged => from_str_at(data, &data_path).map(Payload::SuppressionChanged),
        EventType::ActionPerformed => from_str_at(data, &data_path).map(Payload::ActionPerformed),
    }
    .map_err(|e| EventError::Invalid { kind, event_id: event_id.clone(), errors: vec![e] })?;

    let mut errors = Vec::new();
    check_time(envelope.occurred_at, now, &join_path(prefix, "occurred_at"), &mut errors);
    check_payload(&payload, &data_path, &mut errors);
    if !errors.is_empty() {
        return Err(EventError::Invalid { kind, event_id, errors });
    }
    Ok(Inbound::Customer(ShopEvent {
        schema_version: SCHEMA_VERSION,
        id: envelope.id,
        customer_id,
        occurred_at: envelope.occurred_at,
        source: envelope.source,
        payload,
    }))
}

/// Deserializes `text`, reporting the first problem as a field error under `prefix`.
pub fn from_str_at<'a, T: Deserialize<'a>>(text: &'a str, prefix: &str) -> Result<T, FieldError> {
    // The plain path first: tracking the field path is only needed to explain a failure.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        serde_error(&join_path(prefix, &path), &e.inner().to_string())
    })?;
    // Trailing text belongs to the whole document: "." at the top, the prefix below it.
    de.end().map_err(|e| serde_error(if prefix.is_empty() { "." } else { prefix }, &e.to_string()))?;
    Ok(value)
}

/// Same as [`from_str_at`] for owned values (used by other inbound payloads).
pub fn from_value_at<T: DeserializeOwned>(value: serde_json::Value, prefix: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        serde_error(&join_path(prefix, &path), &e.inner().to_string())
    })
}

/// Turns serde's message into a field error: missing and unknown fields are attributed to the
/// field itself rather than to the object holding it; values are scrubbed.
fn serde_error(path: &str, message: &str) -> FieldError {
    // serde_json appends the position; the field path says more.
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => &message[..i],
        _ => message,
    };
    let quoted = |rest: &str| rest.split('`').nth(1).map(str::to_string);
    if let Some(field) = message.strip_prefix("missing field ").and_then(quoted) {
        return FieldError::new(join_path(path, &field), "is required");
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // The path already ends at the unknown field.
        let expected = rest.split_once(", expected ").map(|(_, e)| e).unwrap_or("no other fields");
        return FieldError::new(scrub(path), format!("is not a field of this schema (expected {})", scrub(expected)));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let expected = rest.split_once(", expected ").map(|(_, e)| e).unwrap_or("");
        return FieldError::new(path, format!("is not one of the allowed values (expected {})", scrub(expected)));
    }
    FieldError::new(path, plain_types(&scrub(message)))
}

/// serde names Rust types ("expected u32"); people read "a whole number".
fn plain_types(message: &str) -> String {
    if message.ends_with("expected map with a single key") {
        return "has more than one entry: give exactly one (one trigger, one filter, one choice)".into();
    }
    let mut out = message.to_string();
    for (rust, plain) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u32", "expected a whole number of at least 0"),
        ("expected u64", "expected a whole number of at least 0"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping of fields"),
    ] {
        if out.ends_with(rust) {
            out.truncate(out.len() - rust.len());
            out.push_str(plain);
        }
    }
    out
}

fn check_time(at: DateTime<FixedOffset>, now: DateTime<Utc>, field: &str, errors: &mut Vec<FieldError>) {
    let earliest = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    if earliest.is_some_and(|e| at < e) {
        errors.push(FieldError::new(field, "is before 2000-01-01"));
    }
    if at > now + MAX_FUTURE_SKEW {
        errors.push(FieldError::new(field, "is more than 24 hours in the future (a wrong offset or producer clock?)"));
    }
}

fn check_priced(
    price: Option<Amount>,
    currency: Option<Currency>,
    base: &str,
    price_field: &str,
    errors: &mut Vec<FieldError>,
) {
    match (price, currency) {
        (Some(_), None) => {
            errors.push(FieldError::new(join_path(base, "currency"), format!("is required with {price_field}")))
        }
        (None, Some(_)) => errors.push(FieldError::new(join_path(base, price_field), "is required with currency")),
        (Some(p), Some(c)) => check_fits(p, c, &join_path(base, price_field), errors),
        (None, None) => {}
    }
}

fn check_fits(amount: Amount, currency: Currency, field: &str, errors: &mut Vec<FieldError>) {
    if amount > crate::money::MAX_INPUT {
        errors.push(FieldError::new(field, "is too large (at most 1000000000000)"));
    }
    if !amount.fits(currency) {
        errors.push(FieldError::new(
            field,
            format!("has {} decimals but {currency} allows {}", amount.decimals(), currency.exponent()),
        ));
    }
}

const MAX_ATTRIBUTES: usize = 50;
const MAX_ATTRIBUTE_TEXT: usize = 256;

fn check_payload(payload: &Payload, base: &str, errors: &mut Vec<FieldError>) {
    match payload {
        Payload::ProductViewed(p) => check_priced(p.price, p.currency, base, "price", errors),
        Payload::CartItemAdded(p) => check_priced(p.unit_price, p.currency, base, "unit_price", errors),
        Payload::CheckoutStarted(p) => check_priced(p.value, p.currency, base, "value", errors),
        Payload::OrderPlaced(o) => {
            if o.lines.is_empty() || o.lines.len() > 500 {
                errors.push(FieldError::new(
                    join_path(base, "lines"),
                    format!("has {} lines (expected 1 to 500)", o.lines.len()),
                ));
            }
            for (i, line) in o.lines.iter().enumerate() {
                check_fits(line.unit_price, o.currency, &join_path(base, &format!("lines[{i}].unit_price")), errors);
            }
            if let Some(total) = o.total {
                check_fits(total, o.currency, &join_path(base, "total"), errors);
            }
        }
        Payload::OrderRefunded(r) => {
            use super::RefundScope;
            match (r.scope, r.lines.is_empty()) {
                (RefundScope::Lines, true) => errors.push(FieldError::new(
                    join_path(base, "lines"),
                    "is required and non-empty when scope is \"lines\"",
                )),
                (RefundScope::Whole, false) => {
                    errors.push(FieldError::new(join_path(base, "lines"), "must be absent when scope is \"whole\""))
                }
                _ => {}
            }
            if r.lines.len() > 500 {
                errors.push(FieldError::new(join_path(base, "lines"), "has more than 500 lines"));
            }
            check_priced(r.amount, r.currency, base, "amount", errors);
        }
        Payload::CustomerUpdated(c) => {
            let empty = c.email.is_none()
                && c.phone.is_none()
                && c.push_token.is_none()
                && c.time_zone.is_none()
                && c.locale.is_none()
                && c.country.is_none()
                && c.birthday.is_none()
                && c.first_name.is_none()
                && c.attributes.is_empty();
            if empty {
                errors.push(FieldError::new(base, "changes nothing (expected at least one field)"));
            }
            check_attributes(&c.attributes, base, errors);
        }
        Payload::CartItemRemoved(_)
        | Payload::ActionPerformed(_)
        | Payload::SessionStarted(_)
        | Payload::MessageEngaged(_)
        | Payload::ConsentChanged(_) => {}
        Payload::SuppressionChanged(c) => {
            if c.address.as_deref().is_some_and(|a| a.trim().is_empty() || a.len() > 4096) {
                errors.push(FieldError::new(
                    join_path(base, "address"),
                    "must be a non-empty address of at most 4096 characters",
                ));
            }
        }
    }
}

/// Free attributes (of a customer or a product): few, named like identifiers, scalar values.
fn check_attributes(attributes: &serde_json::Map<String, serde_json::Value>, base: &str, errors: &mut Vec<FieldError>) {
    if attributes.len() > MAX_ATTRIBUTES {
        errors.push(FieldError::new(
            join_path(base, "attributes"),
            format!("has {} entries (expected at most {MAX_ATTRIBUTES})", attributes.len()),
        ));
    }
    for (name, value) in attributes {
        let field = join_path(base, &format!("attributes.{}", scrub(name)));
        let name_rule = crate::validate::TextRule { min: 1, max: 64, inner_space: false };
        if let Err(problem) = name_rule.check(name) {
            errors.push(FieldError::new(field.clone(), format!("name {problem}")));
        }
        match value {
            serde_json::Value::String(s) if s.chars().count() > MAX_ATTRIBUTE_TEXT => {
                errors.push(FieldError::new(field, format!("is longer than {MAX_ATTRIBUTE_TEXT} characters")))
            }
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                errors.push(FieldError::new(field, "must be a string, number, boolean or null (not a list or object)"))
            }
            serde_json::Value::Number(n) => {
                if let Err(problem) = crate::store::storable_number(n) {
                    errors.push(FieldError::new(field, format!("is {problem}")));
                }
            }
            _ => {}
        }
    }
}

/// What a product update must satisfy beyond its types.
fn check_product(p: &ProductUpdated, base: &str, errors: &mut Vec<FieldError>) {
    check_priced(p.price, p.currency, base, "price", errors);
    if p.category_path.len() > MAX_CATEGORY_LEVELS {
        errors.push(FieldError::new(
            join_path(base, "category_path"),
            format!("has {} levels (expected at most {MAX_CATEGORY_LEVELS})", p.category_path.len()),
        ));
    }
    check_attributes(&p.attributes, base, errors);
}

impl fmt::Display for ShopEvent {
    /// Identity only, never data: safe for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} for {}", self.payload.kind().as_str(), self.id, self.customer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    fn event(kind: &str, data: serde_json::Value) -> serde_json::Value {
        json!({
            "schema_version": 1,
            "id": "evt-1",
            "customer_id": "c-1",
            "occurred_at": "2026-11-24T09:30:00+01:00",
            "source": "web",
            "type": kind,
            "data": data,
        })
    }

    fn parse(v: &serde_json::Value) -> Result<ShopEvent, EventError> {
        parse_event(&v.to_string(), now())
    }

    fn fields(err: EventError) -> Vec<(String, String)> {
        err.errors().iter().map(|e| (e.field.clone(), e.problem.clone())).collect()
    }

    #[test]
    fn a_valid_order_parses_with_exact_prices() {
        let e = parse(&event(
            "order_placed",
            json!({
                "order_id": "o-1", "currency": "EUR",
                "lines": [{"product_id": "p-1", "category": "Shoes", "unit_price": "59.90", "quantity": 2},
                          {"product_id": "p-2", "unit_price": 5, "quantity": 1}]
            }),
        ))
        .unwrap();
        let Payload::OrderPlaced(o) = &e.payload else { panic!("wrong payload") };
        assert_eq!(o.value().micros(), 124_800_000);
        assert_eq!(e.occurred_at.offset().local_minus_utc(), 3600);
    }

    #[test]
    fn eventbridge_envelopes_are_unwrapped() {
        let inner = event("session_started", json!({"session_id": "s-1"}));
        let bus =
            json!({"version": "0", "id": "x", "detail-type": "session_started", "source": "shop", "detail": inner});
        assert!(parse(&bus).is_ok());
        let mut bad = inner.clone();
        bad["customer_id"] = json!("");
        let bus = json!({"detail-type": "session_started", "detail": bad});
        assert_eq!(fields(parse(&bus).unwrap_err())[0].0, "detail.customer_id");
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let cases = [
            (
                event(
                    "order_placed",
                    json!({"order_id": "o", "currency": "EUR", "lines": [{"product_id": "p", "unit_price": "1", "quantity": 0}]}),
                ),
                "data.lines[0].quantity",
                "between 1 and 10000",
            ),
            (
                event("order_placed", json!({"order_id": "o", "currency": "EUR", "lines": []})),
                "data.lines",
                "expected 1 to 500",
            ),
            (
                event(
                    "order_placed",
                    json!({"order_id": "o", "currency": "JPY", "lines": [{"product_id": "p", "unit_price": "1.5", "quantity": 1}]}),
                ),
                "data.lines[0].unit_price",
                "JPY allows 0",
            ),
            (event("order_placed", json!({"order_id": "o", "lines": []})), "data.currency", "is required"),
            (
                event("cart_item_added", json!({"product_id": "p", "unit_price": "3"})),
                "data.currency",
                "required with unit_price",
            ),
            (
                event("consent_changed", json!({"channel": "fax", "status": "granted", "source": "form"})),
                "data.channel",
                "expected one of",
            ),
            (
                event("product_viewed", json!({"product_id": "p", "colour": "red"})),
                "data.colour",
                "not a field of this schema",
            ),
            (event("customer_updated", json!({})), "data", "changes nothing"),
            (event("customer_updated", json!({"email": "not-an-email"})), "data.email", "email address"),
            (event("customer_updated", json!({"time_zone": "Europe/Atlantis"})), "data.time_zone", "IANA"),
            (event("customer_updated", json!({"attributes": {"vip": [1]}})), "data.attributes.vip", "not a list"),
            (
                event("order_refunded", json!({"order_id": "o", "refund_id": "r", "scope": "lines"})),
                "data.lines",
                "non-empty",
            ),
        ];
        for (doc, field, problem) in cases {
            let errs = fields(parse(&doc).unwrap_err());
            assert!(
                errs.iter().any(|(f, p)| f == field && p.contains(problem)),
                "expected {field}: {problem}, got {errs:?}"
            );
        }
    }

    #[test]
    fn envelope_errors_name_the_field() {
        let mut e = event("session_started", json!({"session_id": "s"}));
        e.as_object_mut().unwrap().remove("customer_id");
        assert_eq!(fields(parse(&e).unwrap_err()), vec![("customer_id".into(), "is required".into())]);

        let mut e = event("session_started", json!({"session_id": "s"}));
        e["occurred_at"] = json!("2026-11-24T09:30:00");
        let errs = fields(parse(&e).unwrap_err());
        assert_eq!(errs[0].0, "occurred_at");
        assert!(errs[0].1.contains("UTC offset"));

        let mut e = event("session_started", json!({"session_id": "s"}));
        e["occurred_at"] = json!("2026-11-27T09:30:00Z");
        assert!(fields(parse(&e).unwrap_err())[0].1.contains("future"));

        let mut e = event("session_started", json!({"session_id": "s"}));
        e["schema_version"] = json!(2);
        assert!(fields(parse(&e).unwrap_err())[0].1.contains("version 2 is not supported"));

        let mut e = event("session_started", json!({"session_id": "s"}));
        e["type"] = json!("session_begun");
        assert_eq!(fields(parse(&e).unwrap_err())[0].0, "type");

        assert!(matches!(parse_event("{not json", now()), Err(EventError::NotJson(_))));
        assert!(matches!(parse_event("", now()), Err(EventError::NotJson(_))));
    }

    #[test]
    fn rejected_personal_data_is_not_echoed() {
        let e = event("consent_changed", json!({"channel": "ana@example.com", "status": "granted", "source": "x"}));
        let msg = parse(&e).unwrap_err().to_string();
        assert!(!msg.contains("ana@example.com"), "{msg}");
        let e = event("session_started", json!({"session_id": 4155550123_u64}));
        let msg = parse(&e).unwrap_err().to_string();
        assert!(!msg.contains("4155550123"), "{msg}");
        let e = event("customer_updated", json!({"first_name": 7, "email": "ana@example"}));
        let msg = parse(&e).unwrap_err().to_string();
        assert!(!msg.contains("ana@example"), "{msg}");
    }

    #[test]
    fn patch_fields_distinguish_absent_null_and_value() {
        let e = parse(&event("customer_updated", json!({"email": null, "locale": "de-DE"}))).unwrap();
        let Payload::CustomerUpdated(c) = e.payload else { panic!() };
        assert_eq!(c.email, Some(None));
        assert!(c.phone.is_none());
        assert_eq!(c.locale.unwrap().unwrap().as_str(), "de-DE");
    }

    /// Any text, and any value in any field of a valid event: an answer, never a panic, and every
    /// rejection names a field.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
                "\\PC{0,40}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                    prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn arbitrary_text(text in "\\PC{0,300}") {
                let _ = parse_event(&text, now());
            }

            #[test]
            fn arbitrary_values_in_real_fields(
                kind in prop::sample::select(vec!["order_placed", "order_refunded", "customer_updated", "consent_changed", "cart_item_added", "message_engaged"]),
                field in prop::sample::select(vec!["id", "customer_id", "occurred_at", "source", "schema_version", "type", "data"]),
                inner in "[a-z_]{1,12}",
                value in json_value(),
            ) {
                let mut doc = event(kind, json!({"order_id": "o", "currency": "EUR", "lines": [{"product_id": "p", "unit_price": "1", "quantity": 1}]}));
                if field == "data" {
                    doc["data"][inner.as_str()] = value;
                } else {
                    doc[field] = value;
                }
                if let Err(EventError::Invalid { errors, .. }) = parse(&doc) {
                    prop_assert!(!errors.is_empty());
                    prop_assert!(errors.iter().all(|e| !e.field.is_empty() && !e.problem.is_empty()));
                }
            }
        }
    }

    #[test]
    fn events_round_trip_through_their_serialization() {
        let doc = event(
            "order_refunded",
            json!({"order_id": "o", "refund_id": "r", "scope": "lines",
            "lines": [{"product_id": "p", "quantity": 1}], "amount": "4.50", "currency": "EUR"}),
        );
        let e = parse(&doc).unwrap();
        let again = parse_event(&serde_json::to_string(&e).unwrap(), now()).unwrap();
        assert_eq!(e, again);
    }
}
