//! The DynamoDB adapter: the store port over one table with a string partition key `pk`, a
//! string sort key `sk`, a numeric version `v` and a TTL attribute `ttl`.
//!
//! Documents become native DynamoDB attributes through `serde_dynamo`, so items stay readable in
//! the console and usable in filters. `get`, queries and scans are strongly consistent;
//! `get_many` reads as asked (read-modify-write paths read eventually consistent at half the
//! price and rely on their version conditions to catch a stale read).
//!
//! Every request asks DynamoDB for the capacity it consumed (`ReturnConsumedCapacity`), which
//! the [`Meter`] keeps beside the units modelled from item sizes (the model needs the size an
//! item had before a write: the adapter remembers the sizes of items it recently read or wrote).
//! Transactions carry a `ClientRequestToken` derived from their content, so a retry of one
//! whose answer was lost within ten minutes is recognised by DynamoDB instead of failing its
//! conditions.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, ConsumedCapacity, Delete, KeySchemaElement,
    KeyType, KeysAndAttributes, Put, ReturnConsumedCapacity, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification, TransactWriteItem,
};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::cost::{self, Consistency, Meter, Units};
use super::{
    Condition, Document, Fetched, Item, Key, Page, Query, Segment, Store, StoreError, Wanted, Write, check_writes,
    item_size,
};

type Attributes = HashMap<String, AttributeValue>;

/// BatchGetItem's limit per request.
const BATCH_GET_MAX: usize = 100;
/// Item sizes remembered for the meter's model; forgotten all at once when full.
const SIZES_REMEMBERED: usize = 100_000;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    meter: Arc<Meter>,
    /// Size (and version) of items recently read or written, for modelling write units.
    sizes: Arc<Mutex<HashMap<Key, (u64, usize)>>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), meter: Default::default(), sizes: Default::default() }
    }

    fn remember_size(&self, item: &Item) {
        let mut sizes = self.sizes.lock().unwrap_or_else(PoisonError::into_inner);
        if sizes.len() >= SIZES_REMEMBERED {
            sizes.clear();
        }
        sizes.insert(item.key.clone(), (item.version, item_size(item)));
    }

    /// The size an item has before `write`, as far as the adapter knows: exact when the write
    /// names the version it replaces (read-modify-write) or requires the item to be absent.
    fn size_before(&self, write: &Write) -> usize {
        let sizes = self.sizes.lock().unwrap_or_else(PoisonError::into_inner);
        let known = sizes.get(write.key());
        match write.condition() {
            Condition::NotExists => 0,
            Condition::VersionIs(v) => known.filter(|(version, _)| *version == v).map_or(0, |(_, s)| *s),
            Condition::Always | Condition::Exists => known.map_or(0, |(_, s)| *s),
        }
    }

    fn modelled_write_units(&self, writes: &[Write], sizes: &[usize]) -> Units {
        let transactional = writes.len() > 1;
        let writes = writes
            .iter()
            .zip(sizes)
            .map(|(w, after)| cost::write_units(self.size_before(w), *after, transactional))
            .sum();
        Units { read_halves: 0, writes }
    }

    /// Records what DynamoDB said a request consumed (`reads`: whether it was a read).
    fn report<'a>(&self, reads: bool, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        let units: f64 = consumed
            .into_iter()
            .map(|c| {
                if reads { c.read_capacity_units() } else { c.write_capacity_units() }
                    .or(c.capacity_units())
                    .unwrap_or(0.0)
            })
            .sum();
        if reads { self.meter.reported(units, 0.0) } else { self.meter.reported(0.0, units) }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table as the SAM template defines it (on-demand, stream, TTL). For local
    /// endpoints and tests; production tables come from the template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(classify(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    fn key_attributes(key: &Key) -> Attributes {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(key.pk.clone())),
            ("sk".to_string(), AttributeValue::S(key.sk.clone())),
        ])
    }

    fn to_attributes(item: Item) -> Result<Attributes, StoreError> {
        let key = item.key.to_string();
        let mut attrs: Attributes = serde_dynamo::aws_sdk_dynamodb_1::to_item(&*item.body)
            .map_err(|e| StoreError::Invalid(format!("item {key} could not be encoded: {e}")))?;
        attrs.insert("pk".into(), AttributeValue::S(item.key.pk));
        attrs.insert("sk".into(), AttributeValue::S(item.key.sk));
        attrs.insert("v".into(), AttributeValue::N(item.version.to_string()));
        if let Some(t) = item.expires_at {
            attrs.insert("ttl".into(), AttributeValue::N(t.to_string()));
        }
        Ok(attrs)
    }

    fn key_of(attrs: &Attributes) -> Option<Key> {
        match (attrs.get("pk"), attrs.get("sk")) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(Key::new(pk, sk)),
            _ => None,
        }
    }

    /// An item as a DynamoDB stream record's image carries it (`None`: no image, as in the old
    /// image of an insert).
    pub fn stream_image(image: serde_dynamo::Item) -> Result<Option<Item>, StoreError> {
        let attrs: Attributes = image.into();
        if attrs.is_empty() { Ok(None) } else { Self::from_attributes(attrs).map(Some) }
    }

    fn from_attributes(mut attrs: Attributes) -> Result<Item, StoreError> {
        let text = |attrs: &mut Attributes, name: &str| match attrs.remove(name) {
            Some(AttributeValue::S(s)) => Ok(s),
            other => Err(format!("attribute {name} is {other:?}, expected a string")),
        };
        let corrupt = |key: &str, reason: String| StoreError::Corrupt { key: key.to_string(), reason };
        let pk = text(&mut attrs, "pk").map_err(|r| corrupt("?", r))?;
        let sk = text(&mut attrs, "sk").map_err(|r| corrupt(&pk, r))?;
        let key = Key::new(pk, sk);
        let number = |attrs: &mut Attributes, name: &str| -> Result<Option<i64>, StoreError> {
            match attrs.remove(name) {
                None => Ok(None),
                Some(AttributeValue::N(n)) => n
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| corrupt(&key.to_string(), format!("attribute {name} is not an integer"))),
                Some(other) => {
                    Err(corrupt(&key.to_string(), format!("attribute {name} is {other:?}, expected a number")))
                }
            }
        };
        let version = number(&mut attrs, "v")?.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let expires_at = number(&mut attrs, "ttl")?;
        let body: Document =
            serde_dynamo::aws_sdk_dynamodb_1::from_item(attrs).map_err(|e| corrupt(&key.to_string(), e.to_string()))?;
        Ok(Item { key, version, expires_at, body: body.into() })
    }

    fn condition_parts(condition: Condition) -> (Option<&'static str>, Option<AttributeValue>) {
        match condition {
            Condition::Always => (None, None),
            Condition::NotExists => (Some("attribute_not_exists(pk)"), None),
            Condition::Exists => (Some("attribute_exists(pk)"), None),
            Condition::VersionIs(v) => (Some("v = :v"), Some(AttributeValue::N(v.to_string()))),
        }
    }

    async fn write_one(&self, write: Write) -> Result<(), StoreError> {
        let (expression, value) = Self::condition_parts(write.condition());
        let values = value.map(|v| HashMap::from([(":v".to_string(), v)]));
        let result = match write {
            Write::Put { item, .. } => {
                let written = item.clone();
                let sent = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(Self::to_attributes(item)?))
                    .set_condition_expression(expression.map(String::from))
                    .set_expression_attribute_values(values)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                sent.map(|out| {
                    self.report(false, out.consumed_capacity());
                    self.remember_size(&written);
                })
                .map_err(classify)
            }
            Write::Delete { key, .. } => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key_attributes(&key)))
                .set_condition_expression(expression.map(String::from))
                .set_expression_attribute_values(values)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| self.report(false, out.consumed_capacity()))
                .map_err(classify),
            Write::Check { .. } => Err(StoreError::Invalid("a lone check must be sent as a transaction".into())),
        };
        result.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => StoreError::ConditionFailed { failed: vec![0] },
            other => other,
        })
    }

    fn transact_item(&self, write: Write) -> Result<TransactWriteItem, StoreError> {
        let build_error = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
        let (expression, value) = Self::condition_parts(write.condition());
        let values = value.map(|v| HashMap::from([(":v".to_string(), v)]));
        let item = match write {
            Write::Put { item, .. } => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::to_attributes(item)?))
                    .set_condition_expression(expression.map(String::from))
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?,
            ),
            Write::Delete { key, .. } => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(&key)))
                    .set_condition_expression(expression.map(String::from))
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?,
            ),
            Write::Check { key, .. } => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(&key)))
                    // A check must have a condition; "Always" checks that the table answers.
                    .condition_expression(expression.unwrap_or("attribute_exists(pk) OR attribute_not_exists(pk)"))
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?,
            ),
        };
        Ok(item.build())
    }

    async fn write_transaction(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let token = request_token(&writes);
        let written: Vec<Item> = writes
            .iter()
            .filter_map(|w| if let Write::Put { item, .. } = w { Some(item.clone()) } else { None })
            .collect();
        let items = writes.into_iter().map(|w| self.transact_item(w)).collect::<Result<Vec<_>, _>>()?;
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match sent {
            Ok(out) => {
                self.report(false, out.consumed_capacity());
                written.iter().for_each(|i| self.remember_size(i));
                Ok(())
            }
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    Err(from_cancellation(cancelled.cancellation_reasons().iter().map(|r| r.code())))
                }
                other => Err(classify_code(other.code(), &format!("{other:?}"))),
            },
            Err(e) => Err(classify(e)),
        }
    }
}

/// The idempotency token of a transaction: a hash of everything it writes, so the same
/// transaction sent again (an SDK or caller retry after a lost answer) carries the same token and
/// DynamoDB answers it without applying it twice, while any other transaction gets another.
fn request_token(writes: &[Write]) -> String {
    let text = format!("{writes:?}");
    let a = crate::hash::mixed64(text.as_bytes());
    let b = crate::hash::mixed64(&[text.as_bytes(), b"#2"].concat());
    format!("{a:016x}{b:016x}")
}

/// Turns DynamoDB's per-item cancellation codes into the port's error.
fn from_cancellation<'a>(codes: impl Iterator<Item = Option<&'a str>>) -> StoreError {
    let codes: Vec<Option<&str>> = codes.collect();
    let failed: Vec<usize> =
        codes.iter().enumerate().filter(|(_, c)| **c == Some("ConditionalCheckFailed")).map(|(i, _)| i).collect();
    if !failed.is_empty() {
        return StoreError::ConditionFailed { failed };
    }
    if codes.contains(&Some("TransactionConflict")) {
        return StoreError::Conflict;
    }
    if codes
        .iter()
        .any(|c| matches!(c, Some("ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded")))
    {
        return StoreError::Throttled;
    }
    if let Some(Some(code)) =
        codes.iter().find(|c| matches!(c, Some("ValidationError" | "ItemCollectionSizeLimitExceeded")))
    {
        return StoreError::Invalid(format!("transaction cancelled: {code}"));
    }
    StoreError::Unavailable(format!("transaction cancelled: {codes:?}"))
}

fn classify_code(code: Option<&str>, detail: &str) -> StoreError {
    match code {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { failed: vec![] },
        Some("TransactionConflictException") => StoreError::Conflict,
        Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
            StoreError::Throttled
        }
        Some("ValidationException" | "ResourceNotFoundException" | "ItemCollectionSizeLimitExceededException") => {
            StoreError::Invalid(detail.to_string())
        }
        _ => StoreError::Unavailable(detail.to_string()),
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            classify_code(e.code(), e.message().unwrap_or(e.code().unwrap_or("service error")))
        }
        SdkError::ConstructionFailure(_) => StoreError::Invalid(format!("{err:?}")),
        // The full chain: "dispatch failure" alone does not say that the connection was refused.
        _ => StoreError::Unavailable(DisplayErrorContext(&err).to_string()),
    }
}

impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        self.report(true, out.consumed_capacity());
        let item = out.item.map(Self::from_attributes).transpose()?;
        self.meter.read(cost::item_reads(
            item.as_ref().map(item_size).into_iter(),
            usize::from(item.is_none()),
            Consistency::Strong,
        ));
        if let Some(i) = &item {
            self.remember_size(i);
        }
        Ok(item)
    }

    async fn get_many(&self, keys: &[Key], consistency: Consistency) -> Result<Vec<Fetched>, StoreError> {
        let mut found: HashMap<Key, Result<Item, StoreError>> = HashMap::with_capacity(keys.len());
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| Self::key_attributes(k)).collect()))
                    .consistent_read(consistency == Consistency::Strong)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            let mut attempt = 0_u32;
            while let Some(request) = pending.take() {
                let asked = request.keys().len();
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(classify)?;
                self.report(true, out.consumed_capacity());
                let mut sizes = Vec::new();
                for attrs in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    // An item that cannot be decoded fails only itself.
                    let key = Self::key_of(&attrs);
                    match Self::from_attributes(attrs) {
                        Ok(item) => {
                            sizes.push(item_size(&item));
                            self.remember_size(&item);
                            found.insert(item.key.clone(), Ok(item));
                        }
                        Err(e) => {
                            sizes.push(0);
                            if let Some(key) = key {
                                found.insert(key, Err(e));
                            }
                        }
                    }
                }
                let unprocessed =
                    out.unprocessed_keys.as_ref().and_then(|u| u.get(&self.table)).map_or(0, |k| k.keys().len());
                let missing = asked.saturating_sub(sizes.len() + unprocessed);
                self.meter.read(cost::item_reads(sizes.into_iter(), missing, consistency));
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Throttled);
                    }
                    // Unprocessed keys mean throughput was exceeded: back off before asking again.
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned().transpose()).collect())
    }

    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(pk.to_string()))]);
        // DynamoDB refuses an empty string in a key condition: no prefix means the whole partition.
        let condition = if query.sk_prefix.is_empty() {
            "pk = :pk"
        } else {
            values.insert(":prefix".into(), AttributeValue::S(query.sk_prefix.clone()));
            "pk = :pk AND begins_with(sk, :prefix)"
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!query.descending)
            .limit(i32::try_from(query.limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(query.after.as_ref().map(Self::key_attributes))
            .consistent_read(query.consistency == Consistency::Strong)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        self.report(true, out.consumed_capacity());
        self.page(out.items, out.last_evaluated_key, query.consistency, Wanted::Every)
    }

    async fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: Wanted<'_>,
    ) -> Result<Page, StoreError> {
        let segment = Segment::new(segment.index, segment.total)?;
        let total = i32::try_from(segment.total).map_err(|_| StoreError::Invalid("too many segments".into()))?;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment.index as i32)
            .total_segments(total)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(Self::key_attributes))
            .consistent_read(consistency == Consistency::Strong)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        self.report(true, out.consumed_capacity());
        // Filtered here rather than by a filter expression: the table bills every item read
        // either way, and the meter models the bill from the sizes of the items read.
        self.page(out.items, out.last_evaluated_key, consistency, wanted)
    }

    async fn write(&self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        let sizes = check_writes(&writes)?;
        // Billed whether or not the conditions hold.
        self.meter.wrote(self.modelled_write_units(&writes, &sizes));
        match writes.as_slice() {
            [Write::Put { .. } | Write::Delete { .. }] => self.write_one(writes.remove(0)).await,
            _ => self.write_transaction(writes).await,
        }
    }

    fn meter(&self) -> &Meter {
        &self.meter
    }
}

impl DynamoStore {
    /// A query or scan page: its items (each decoded on its own; see [`super::Page`]) and where
    /// the next starts.
    fn page(
        &self,
        items: Option<Vec<Attributes>>,
        last: Option<Attributes>,
        consistency: Consistency,
        wanted: Wanted<'_>,
    ) -> Result<Page, StoreError> {
        let (mut decoded, mut corrupt) = (Vec::new(), Vec::new());
        for attrs in items.unwrap_or_default() {
            // An item the reader does not want is no concern of theirs even when it cannot be
            // read (it is decoded only for the meter).
            let unwanted = matches!(attrs.get("sk"), Some(AttributeValue::S(sk)) if !wanted.accepts(sk));
            match Self::from_attributes(attrs) {
                Ok(item) => decoded.push(item),
                Err(e) if !unwanted => corrupt.push(e),
                Err(_) => {}
            }
        }
        self.meter.read(cost::page_reads(decoded.iter().map(item_size), consistency));
        let items: Vec<Item> = decoded.into_iter().filter(|i| wanted.accepts(&i.key.sk)).collect();
        items.iter().for_each(|i| self.remember_size(i));
        let next = match last {
            Some(mut k) => match (k.remove("pk"), k.remove("sk")) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(Key::new(pk, sk)),
                _ => {
                    return Err(StoreError::Corrupt {
                        key: "LastEvaluatedKey".into(),
                        reason: "not a pk/sk pair".into(),
                    });
                }
            },
            None => None,
        };
        Ok(Page { items, next, corrupt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_codes_map_to_port_errors() {
        let e = from_cancellation(
            [Some("None"), Some("ConditionalCheckFailed"), None, Some("ConditionalCheckFailed")].into_iter(),
        );
        assert_eq!(e, StoreError::ConditionFailed { failed: vec![1, 3] });
        assert_eq!(from_cancellation([Some("None"), Some("TransactionConflict")].into_iter()), StoreError::Conflict);
        assert_eq!(from_cancellation([Some("ThrottlingError")].into_iter()), StoreError::Throttled);
        assert!(matches!(from_cancellation([Some("ValidationError")].into_iter()), StoreError::Invalid(_)));
    }

    #[test]
    fn documents_become_native_attributes_and_back() {
        let body: Document =
            serde_json::from_str(r#"{"name":"x","n":3,"f":0.5,"list":[1,{"a":null}],"flag":true}"#).unwrap();
        let item = Item::new(Key::new("C#1", "PROFILE"), 4, body).expiring(1_900_000_000);
        let attrs = DynamoStore::to_attributes(item.clone()).unwrap();
        assert_eq!(attrs["pk"], AttributeValue::S("C#1".into()));
        assert_eq!(attrs["v"], AttributeValue::N("4".into()));
        assert_eq!(attrs["ttl"], AttributeValue::N("1900000000".into()));
        assert_eq!(attrs["n"], AttributeValue::N("3".into()));
        assert_eq!(DynamoStore::from_attributes(attrs).unwrap(), item);
    }
}
