//! The inbound vocabulary: first-party shop events, schema version 1.
//!
//! Every event carries an id (redeliveries repeat it), the customer it is about, when it
//! happened (RFC 3339 with offset), where it came from, the schema version, a `type` and the
//! type's `data`. The published JSON Schema (`schema/shop-event.v1.json`) is generated from
//! these types ([`json_schema`]), so the document and the parser cannot drift apart.
//!
//! Parsing and validation live in [`parse`]; every error names its field.

pub mod parse;
pub mod product;

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::contact::{Birthday, Channel, Country, Email, FirstName, Locale, Phone, PushToken, TimeZone};
use crate::ids::{
    CampaignId, Category, CustomerId, EventId, MessageId, OrderId, ProductId, RefundId, SessionId, Source, Topic,
};
use crate::money::{Amount, Currency};

pub use parse::{EventError, parse_event, parse_inbound};
pub use product::{ProductEvent, ProductUpdated};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One first-party shop event.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "Kairos shop event, schema version 1")]
pub struct ShopEvent {
    /// Always 1 for this schema.
    #[schemars(range(min = 1, max = 1))]
    pub schema_version: u32,
    pub id: EventId,
    pub customer_id: CustomerId,
    /// When it happened, RFC 3339 with a UTC offset, e.g. "2026-11-24T09:30:00+01:00".
    #[serde(with = "rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: DateTime<FixedOffset>,
    pub source: Source,
    #[serde(flatten)]
    pub payload: Payload,
}

/// Any inbound event: about a customer, or about a product (the catalogue).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Inbound {
    Customer(ShopEvent),
    Product(ProductEvent),
}

/// The event's type and its data.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Payload {
    /// A product detail page or app screen was viewed.
    ProductViewed(ProductViewed),
    /// A product was added to the cart.
    CartItemAdded(CartItemAdded),
    /// A product was removed from the cart, wholly or partly.
    CartItemRemoved(CartItemRemoved),
    /// Checkout began.
    CheckoutStarted(CheckoutStarted),
    /// An order was placed.
    OrderPlaced(OrderPlaced),
    /// An order was refunded, wholly or some of its lines.
    OrderRefunded(OrderRefunded),
    /// A site or app session began.
    SessionStarted(SessionStarted),
    /// A message was delivered, opened or clicked.
    MessageEngaged(MessageEngaged),
    /// Consent to a channel and topic was granted or revoked.
    ConsentChanged(ConsentChanged),
    /// The customer identified themselves or changed their details.
    CustomerUpdated(CustomerUpdated),
    /// An address was put on (or taken off) the suppression list: a hard bounce, a complaint,
    /// an SMS STOP, a push token the platform reports invalid.
    SuppressionChanged(SuppressionChanged),
    /// The customer did something the loyalty program may reward: wrote a review, referred a
    /// friend, or any action the shop names.
    ActionPerformed(ActionPerformed),
}

impl Payload {
    pub fn kind(&self) -> EventType {
        match self {
            Payload::ProductViewed(_) => EventType::ProductViewed,
            Payload::CartItemAdded(_) => EventType::CartItemAdded,
            Payload::CartItemRemoved(_) => EventType::CartItemRemoved,
            Payload::CheckoutStarted(_) => EventType::CheckoutStarted,
            Payload::OrderPlaced(_) => EventType::OrderPlaced,
            Payload::OrderRefunded(_) => EventType::OrderRefunded,
            Payload::SessionStarted(_) => EventType::SessionStarted,
            Payload::MessageEngaged(_) => EventType::MessageEngaged,
            Payload::ConsentChanged(_) => EventType::ConsentChanged,
            Payload::CustomerUpdated(_) => EventType::CustomerUpdated,
            Payload::SuppressionChanged(_) => EventType::SuppressionChanged,
            Payload::ActionPerformed(_) => EventType::ActionPerformed,
        }
    }
}

/// The `type` discriminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    ProductViewed,
    CartItemAdded,
    CartItemRemoved,
    CheckoutStarted,
    OrderPlaced,
    OrderRefunded,
    SessionStarted,
    MessageEngaged,
    ConsentChanged,
    CustomerUpdated,
    SuppressionChanged,
    ActionPerformed,
    /// A catalogue event ([`ProductEvent`]), not a customer's.
    ProductUpdated,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::ProductViewed => "product_viewed",
            EventType::CartItemAdded => "cart_item_added",
            EventType::CartItemRemoved => "cart_item_removed",
            EventType::CheckoutStarted => "checkout_started",
            EventType::OrderPlaced => "order_placed",
            EventType::OrderRefunded => "order_refunded",
            EventType::SessionStarted => "session_started",
            EventType::MessageEngaged => "message_engaged",
            EventType::ConsentChanged => "consent_changed",
            EventType::CustomerUpdated => "customer_updated",
            EventType::SuppressionChanged => "suppression_changed",
            EventType::ActionPerformed => "action_performed",
            EventType::ProductUpdated => "product_updated",
        }
    }
}

/// A count of items: 1 to 10,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

/// A count outside 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and {max} (got {got})", max = Quantity::MAX)]
pub struct QuantityError {
    pub got: u32,
}

impl Quantity {
    pub const MAX: u32 = 10_000;
    pub const ONE: Quantity = Quantity(1);

    pub fn new(n: u32) -> Result<Self, QuantityError> {
        if (1..=Self::MAX).contains(&n) { Ok(Quantity(n)) } else { Err(QuantityError { got: n }) }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = QuantityError;
    fn try_from(n: u32) -> Result<Self, QuantityError> {
        Quantity::new(n)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 1, "maximum": Quantity::MAX})
    }
}

fn one() -> Quantity {
    Quantity::ONE
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductViewed {
    pub product_id: ProductId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Price shown, with `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CartItemAdded {
    pub product_id: ProductId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// How many were added; 1 when absent.
    #[serde(default = "one")]
    pub quantity: Quantity,
    /// Unit price, with `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CartItemRemoved {
    pub product_id: ProductId,
    /// How many were removed; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutStarted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<SessionId>,
    /// Cart value at checkout, with `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub currency: Currency,
    /// At least one line, at most 500.
    #[schemars(length(min = 1, max = 500))]
    pub lines: Vec<OrderLine>,
    /// What the customer paid for the goods after discounts, before shipping and tax. When
    /// absent, the sum of the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Amount>,
    /// The message the order came from, when the shop knows (Kairos's links carry it): the
    /// order counts as that message's conversion for its variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
}

/// The campaign message an order is attributed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attribution {
    pub message_id: MessageId,
    pub campaign_id: CampaignId,
    pub variant: crate::ids::VariantId,
}

impl OrderPlaced {
    /// The sum of the lines: exact for every valid order (at most 500 lines of at most 10,000
    /// units of at most a trillion each).
    pub fn lines_total(&self) -> Amount {
        self.lines
            .iter()
            .map(|l| l.unit_price.checked_mul(l.quantity.get()).unwrap_or(Amount::from_micros(i128::MAX)))
            .fold(Amount::ZERO, Amount::saturating_add)
    }

    /// The order's value for spend statistics.
    pub fn value(&self) -> Amount {
        self.total.unwrap_or_else(|| self.lines_total())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub product_id: ProductId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub unit_price: Amount,
    pub quantity: Quantity,
}

/// Whole order or some lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundScope {
    Whole,
    Lines,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRefunded {
    pub order_id: OrderId,
    pub refund_id: RefundId,
    pub scope: RefundScope,
    /// Required, non-empty, when `scope` is "lines"; absent or empty when "whole".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub lines: Vec<RefundLine>,
    /// The amount refunded, with `currency`, when it differs from the lines' value (a partial
    /// refund of a line, a goodwill amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// Where a session happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    #[default]
    Web,
    App,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStarted {
    pub session_id: SessionId,
    #[serde(default)]
    pub platform: Platform,
}

/// What happened to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Engagement {
    Delivered,
    Opened,
    Clicked,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageEngaged {
    pub message_id: MessageId,
    pub channel: Channel,
    pub action: Engagement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<CampaignId>,
    /// The campaign variant the message was (with `campaign_id`, a click counts for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<crate::ids::VariantId>,
}

/// Granted or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Granted,
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChanged {
    pub channel: Channel,
    /// The topic consented to; "marketing" when absent.
    #[serde(default = "marketing")]
    pub topic: Topic,
    pub status: ConsentStatus,
    /// How the consent was collected or withdrawn, e.g. "checkout_checkbox", "preference_center",
    /// "sms_keyword": the provenance regulators ask for.
    pub source: Source,
}

/// Why an address is suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// The mailbox does not exist (or soft bounces passed the threshold).
    HardBounce,
    /// The recipient marked a message as spam.
    Complaint,
    /// The recipient texted STOP (or another opt-out word).
    SmsStop,
    /// The push platform reports the device token invalid.
    InvalidPushToken,
    /// The shop's staff put it there.
    Manual,
}

impl SuppressionReason {
    pub fn describe(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "it bounced hard",
            SuppressionReason::Complaint => "the recipient complained (marked a message as spam)",
            SuppressionReason::SmsStop => "the recipient texted an opt-out word",
            SuppressionReason::InvalidPushToken => "the push platform reported the token invalid",
            SuppressionReason::Manual => "it was suppressed by hand",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionStatus {
    Suppressed,
    /// Taken off the list (an SMS START, a corrected mailbox).
    Lifted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionChanged {
    pub channel: Channel,
    pub status: SuppressionStatus,
    pub reason: SuppressionReason,
    /// The address the report is about (an email address, an E.164 number or a push token);
    /// the customer's current one when absent. Only its digest is kept: a later new address is
    /// not suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// An action a loyalty program may reward.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPerformed {
    /// What was done, e.g. "review" or "referral" (the program's action rules name it).
    pub action: crate::ids::Ident,
    /// The shop's id of what was done (the review, the referred friend's order): the same
    /// reference is rewarded once, whatever event carries it. The event id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<crate::ids::Ident>,
    /// The product it is about, if any (a review).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
}

fn marketing() -> Topic {
    Topic::new("marketing").expect("\"marketing\" is a valid topic")
}

/// Absent: unchanged. `null`: cleared. A value: set.
pub type Patch<T> = Option<Option<T>>;

fn patch<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Patch<T>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdated {
    /// Each field: absent leaves it unchanged, null clears it, a value sets it.
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub email: Patch<Email>,
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub phone: Patch<Phone>,
    /// A device to reach by push; adds to the customer's devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token: Option<PushToken>,
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub time_zone: Patch<TimeZone>,
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub locale: Patch<Locale>,
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub country: Patch<Country>,
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub birthday: Patch<Birthday>,
    #[serde(default, deserialize_with = "patch", skip_serializing_if = "Option::is_none")]
    pub first_name: Patch<FirstName>,
    /// Shop-specific attributes for audience filters: at most 50, names are identifiers of at
    /// most 64 characters, values are strings (at most 256 characters), numbers, booleans or
    /// null (null removes the attribute).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// RFC 3339 with a mandatory offset, with an error that says so.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, FixedOffset, SecondsFormat};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text).map_err(|_| {
            serde::de::Error::custom(
                "must be an RFC 3339 timestamp with a UTC offset, e.g. \"2026-11-24T09:30:00+01:00\"",
            )
        })
    }
}

/// The published JSON Schema of inbound events: a [`ShopEvent`] or a [`ProductEvent`].
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<Inbound>();
    let mut value = schema.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$id".into(), "https://kairos.dev/schema/shop-event.v1.json".into());
        // The parser refuses unknown fields at the top level too; flattening the payload hides
        // that from the derived schema, so say it here (evaluated across the oneOf branches).
        obj.insert("unevaluatedProperties".into(), false.into());
    }
    value
}
