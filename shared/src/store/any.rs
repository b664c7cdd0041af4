//! A store chosen at run time: the command line runs on the embedded store by default and on
//! DynamoDB when given a table.

use super::dynamo::DynamoStore;
use super::embedded::EmbeddedStore;
use super::{Consistency, Fetched, Item, Key, Meter, Page, Query, Segment, Store, StoreError, Wanted, Write};

pub enum AnyStore {
    Embedded(EmbeddedStore),
    Dynamo(DynamoStore),
}

impl Store for AnyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.get(key).await,
            AnyStore::Dynamo(s) => s.get(key).await,
        }
    }

    async fn get_many(&self, keys: &[Key], consistency: Consistency) -> Result<Vec<Fetched>, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.get_many(keys, consistency).await,
            AnyStore::Dynamo(s) => s.get_many(keys, consistency).await,
        }
    }

    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.query(pk, query).await,
            AnyStore::Dynamo(s) => s.query(pk, query).await,
        }
    }

    async fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: Wanted<'_>,
    ) -> Result<Page, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.scan(segment, after, limit, consistency, wanted).await,
            AnyStore::Dynamo(s) => s.scan(segment, after, limit, consistency, wanted).await,
        }
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.write(writes).await,
            AnyStore::Dynamo(s) => s.write(writes).await,
        }
    }

    fn meter(&self) -> &Meter {
        match self {
            AnyStore::Embedded(s) => s.meter(),
            AnyStore::Dynamo(s) => s.meter(),
        }
    }
}
