//! A store chosen at run time: the command line runs on the embedded store by default and on
//! DynamoDB when given a table.

use super::dynamo::DynamoStore;
use super::embedded::EmbeddedStore;
use super::{Item, Key, Page, Query, Segment, Store, StoreError, StoreStats, Write};

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

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.get_many(keys).await,
            AnyStore::Dynamo(s) => s.get_many(keys).await,
        }
    }

    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.query(pk, query).await,
            AnyStore::Dynamo(s) => s.query(pk, query).await,
        }
    }

    async fn scan(&self, segment: Segment, after: Option<&Key>, limit: usize) -> Result<Page, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.scan(segment, after, limit).await,
            AnyStore::Dynamo(s) => s.scan(segment, after, limit).await,
        }
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.write(writes).await,
            AnyStore::Dynamo(s) => s.write(writes).await,
        }
    }

    fn stats(&self) -> &StoreStats {
        match self {
            AnyStore::Embedded(s) => s.stats(),
            AnyStore::Dynamo(s) => s.stats(),
        }
    }
}
