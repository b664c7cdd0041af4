//! Values of any size kept in a run's partition: a job's gathered statistics, a hand-over's
//! carried state, a fitted model.
//!
//! DynamoDB items stop at 400 KB and SQS messages at 256 KiB, while what a job gathers grows
//! with the shop (segments of priors, samples). A value is stored as JSON text: inline in its
//! head item when it is small, else in chunks the head names. Chunk keys carry a hash of the
//! whole text, so a racing writer of different content writes other chunks and can never mix
//! its pieces into a head someone else wrote; orphaned chunks expire with the run.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::keys;
use crate::store::{Condition, Consistency, Item, Key, Store, StoreError, Write};

/// Text per item: well under the item limit, whatever the key and attribute overhead.
const CHUNK_BYTES: usize = 300_000;

/// What a head item says.
#[derive(serde::Deserialize)]
struct Head {
    /// The value itself, when it fits.
    #[serde(default)]
    d: Option<String>,
    /// Otherwise: how many chunks, and the tag in their keys.
    #[serde(default)]
    chunks: u32,
    #[serde(default)]
    tag: String,
}

/// Splits `text` into pieces of at most `max` bytes, on character boundaries.
fn pieces(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        out.push(piece);
        rest = tail;
    }
    out
}

/// Writes `value` at `head` (under `condition`), its chunks first. Returns whether the head was
/// written (`false`: its condition did not hold).
pub async fn put<S: Store, T: Serialize>(
    store: &S,
    head: &Key,
    value: &T,
    condition: Condition,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let text = serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("item {head} could not be encoded: {e}")))?;
    let body = if text.len() <= CHUNK_BYTES {
        json!({ "d": text })
    } else {
        let tag = format!("{:016x}", crate::hash::mixed64(text.as_bytes()));
        let parts = pieces(&text, CHUNK_BYTES);
        for (i, piece) in parts.iter().enumerate() {
            let key = keys::blob_chunk(head, &tag, i as u32);
            let mut doc = crate::store::Document::new();
            doc.insert("d".into(), (*piece).into());
            let item = Item::new(key, 1, doc).expiring(expires_at);
            store.write(vec![Write::Put { item, condition: Condition::Always }]).await?;
        }
        json!({ "chunks": parts.len(), "tag": tag })
    };
    let serde_json::Value::Object(doc) = body else { unreachable!("a JSON object literal") };
    let item = Item::new(head.clone(), 1, doc).expiring(expires_at);
    match store.write(vec![Write::Put { item, condition }]).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The value at a head item already read (its chunks are read strongly: they were written
/// before the head).
pub async fn read<S: Store, T: DeserializeOwned>(store: &S, head: Item) -> Result<T, StoreError> {
    let key = head.key.clone();
    let corrupt = |reason: String| StoreError::Corrupt { key: key.to_string(), reason };
    let h: Head = crate::store::decode(head)?;
    let text = match h.d {
        Some(text) => text,
        None => {
            let chunk_keys: Vec<Key> = (0..h.chunks).map(|i| keys::blob_chunk(&key, &h.tag, i)).collect();
            let mut text = String::new();
            for fetched in store.get_many(&chunk_keys, Consistency::Strong).await? {
                let item = fetched?.ok_or_else(|| corrupt("a chunk it names is missing".into()))?;
                match item.body.get("d").and_then(|d| d.as_str()) {
                    Some(piece) => text.push_str(piece),
                    None => return Err(corrupt("a chunk has no text".into())),
                }
            }
            text
        }
    };
    serde_json::from_str(&text).map_err(|e| corrupt(format!("stored value: {e}")))
}

/// The value at `head`, if it exists.
pub async fn get<S: Store, T: DeserializeOwned>(store: &S, head: &Key) -> Result<Option<T>, StoreError> {
    match store.get(head).await? {
        Some(item) => Ok(Some(read(store, item).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[test]
    fn pieces_keep_characters_whole() {
        let text = "añb€c".repeat(1000);
        let parts = pieces(&text, 7);
        assert!(parts.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(parts.concat(), text);
    }

    #[tokio::test]
    async fn small_and_large_values_read_back() {
        let store = EmbeddedStore::new();
        let small = Key::new("JOB#x#r", "GATHER#00001");
        assert!(put(&store, &small, &vec![1, 2, 3], Condition::NotExists, 0).await.unwrap());
        assert_eq!(get::<_, Vec<u32>>(&store, &small).await.unwrap(), Some(vec![1, 2, 3]));
        // A second writer under NotExists changes nothing.
        assert!(!put(&store, &small, &vec![9], Condition::NotExists, 0).await.unwrap());
        assert_eq!(get::<_, Vec<u32>>(&store, &small).await.unwrap(), Some(vec![1, 2, 3]));

        // 1.3 MB of text: five chunks, every one under the item limit.
        let big: Vec<String> = (0..100_000).map(|i| format!("segment-{i}")).collect();
        let head = Key::new("JOB#x#r", "MODEL");
        assert!(put(&store, &head, &big, Condition::Always, 0).await.unwrap());
        assert_eq!(get::<_, Vec<String>>(&store, &head).await.unwrap().as_ref(), Some(&big));
        // A different value racing under NotExists leaves the first whole.
        assert!(!put(&store, &head, &vec!["other".to_string(); 200_000], Condition::NotExists, 0).await.unwrap());
        assert_eq!(get::<_, Vec<String>>(&store, &head).await.unwrap().as_ref(), Some(&big));
        assert!(get::<_, Vec<String>>(&store, &Key::new("JOB#x#r", "nothing")).await.unwrap().is_none());
    }
}
