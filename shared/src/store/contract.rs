//! The store contract: what every adapter must do, as executable cases.
//!
//! [`crate::store_contract_tests!`] expands to one test per case for a store factory; the
//! embedded store runs it in this crate's unit tests, the DynamoDB store against the emulator
//! in the integration tests. A case gets a fresh, empty store.

use std::sync::Arc;

use serde_json::json;

use super::{Condition, Consistency, Document, Item, Key, Query, Segment, Store, StoreError, Wanted, Write};

fn doc(value: serde_json::Value) -> Document {
    match value {
        serde_json::Value::Object(m) => m,
        other => panic!("test document must be an object, got {other}"),
    }
}

fn put(pk: &str, sk: &str, version: u64, condition: Condition) -> Write {
    Write::Put { item: Item::new(Key::new(pk, sk), version, doc(json!({"n": version}))), condition }
}

async fn version_of<S: Store>(store: &S, pk: &str, sk: &str) -> Option<u64> {
    store.get(&Key::new(pk, sk)).await.expect("get").map(|i| i.version)
}

pub async fn get_of_a_missing_item_is_none<S: Store>(store: S) {
    assert_eq!(store.get(&Key::new("C#nobody", "PROFILE")).await.unwrap(), None);
}

pub async fn items_round_trip_with_every_kind_of_value<S: Store>(store: S) {
    let body = doc(json!({
        "text": "héllo ✓", "empty": "", "int": 42, "neg": -7, "big": 9_007_199_254_740_993_u64, "float": 2.5,
        "yes": true, "nothing": null, "list": [1, "two", [3], {"four": 4}], "map": {"a": {"b": [true, null]}},
        "empty_list": [], "empty_map": {}
    }));
    let item = Item::new(Key::new("C#1", "PROFILE"), 1, body).expiring(1_900_000_000);
    store.write(vec![Write::Put { item: item.clone(), condition: Condition::NotExists }]).await.unwrap();
    let got = store.get(&item.key).await.unwrap().expect("item was written");
    assert_eq!(got, item);
}

pub async fn not_exists_guards_creation<S: Store>(store: S) {
    store.write(vec![put("C#1", "EVT#a", 1, Condition::NotExists)]).await.unwrap();
    let err = store.write(vec![put("C#1", "EVT#a", 7, Condition::NotExists)]).await.unwrap_err();
    assert_eq!(err, StoreError::ConditionFailed { failed: vec![0] });
    assert_eq!(version_of(&store, "C#1", "EVT#a").await, Some(1), "a failed write changed nothing");
}

pub async fn versions_guard_updates<S: Store>(store: S) {
    store.write(vec![put("C#1", "PROFILE", 1, Condition::NotExists)]).await.unwrap();
    store.write(vec![put("C#1", "PROFILE", 2, Condition::VersionIs(1))]).await.unwrap();
    let stale = store.write(vec![put("C#1", "PROFILE", 2, Condition::VersionIs(1))]).await.unwrap_err();
    assert_eq!(stale, StoreError::ConditionFailed { failed: vec![0] });
    let missing = store.write(vec![put("C#2", "PROFILE", 2, Condition::VersionIs(1))]).await.unwrap_err();
    assert_eq!(missing, StoreError::ConditionFailed { failed: vec![0] });
    assert_eq!(version_of(&store, "C#1", "PROFILE").await, Some(2));
    assert_eq!(version_of(&store, "C#2", "PROFILE").await, None);
}

pub async fn exists_and_delete<S: Store>(store: S) {
    let missing = store.write(vec![put("C#1", "X", 1, Condition::Exists)]).await.unwrap_err();
    assert_eq!(missing, StoreError::ConditionFailed { failed: vec![0] });
    store.write(vec![put("C#1", "X", 1, Condition::Always)]).await.unwrap();
    store.write(vec![put("C#1", "X", 5, Condition::Always)]).await.unwrap();
    assert_eq!(version_of(&store, "C#1", "X").await, Some(5), "Always overwrites");
    let stale =
        store.write(vec![Write::Delete { key: Key::new("C#1", "X"), condition: Condition::VersionIs(4) }]).await;
    assert_eq!(stale.unwrap_err(), StoreError::ConditionFailed { failed: vec![0] });
    store.write(vec![Write::Delete { key: Key::new("C#1", "X"), condition: Condition::VersionIs(5) }]).await.unwrap();
    assert_eq!(version_of(&store, "C#1", "X").await, None);
    // Deleting what is not there is not an error unless a condition says so.
    store.write(vec![Write::Delete { key: Key::new("C#1", "X"), condition: Condition::Always }]).await.unwrap();
}

pub async fn transactions_are_all_or_nothing<S: Store>(store: S) {
    store.write(vec![put("C#1", "B", 1, Condition::Always)]).await.unwrap();
    let writes = vec![
        put("C#1", "A", 1, Condition::NotExists),
        put("C#1", "B", 2, Condition::NotExists),
        put("C#2", "C", 1, Condition::NotExists),
    ];
    let err = store.write(writes).await.unwrap_err();
    assert_eq!(err, StoreError::ConditionFailed { failed: vec![1] });
    assert_eq!(version_of(&store, "C#1", "A").await, None);
    assert_eq!(version_of(&store, "C#2", "C").await, None);
    assert_eq!(version_of(&store, "C#1", "B").await, Some(1));

    let ok = vec![
        put("C#1", "A", 1, Condition::NotExists),
        put("C#1", "B", 2, Condition::VersionIs(1)),
        Write::Delete { key: Key::new("C#9", "Z"), condition: Condition::Always },
    ];
    store.write(ok).await.unwrap();
    assert_eq!(version_of(&store, "C#1", "A").await, Some(1));
    assert_eq!(version_of(&store, "C#1", "B").await, Some(2));
}

pub async fn transactions_name_every_failed_condition<S: Store>(store: S) {
    store.write(vec![put("C#1", "A", 1, Condition::Always)]).await.unwrap();
    store.write(vec![put("C#1", "C", 1, Condition::Always)]).await.unwrap();
    let writes = vec![
        put("C#1", "A", 1, Condition::NotExists),
        put("C#1", "B", 1, Condition::NotExists),
        put("C#1", "C", 2, Condition::VersionIs(9)),
    ];
    assert_eq!(store.write(writes).await.unwrap_err(), StoreError::ConditionFailed { failed: vec![0, 2] });
}

pub async fn checks_guard_other_writes<S: Store>(store: S) {
    store.write(vec![put("C#1", "ACCOUNT", 3, Condition::Always)]).await.unwrap();
    let guarded = vec![
        Write::Check { key: Key::new("C#1", "ACCOUNT"), condition: Condition::VersionIs(2) },
        put("C#1", "ENTRY", 1, Condition::NotExists),
    ];
    assert_eq!(store.write(guarded).await.unwrap_err(), StoreError::ConditionFailed { failed: vec![0] });
    assert_eq!(version_of(&store, "C#1", "ENTRY").await, None);
    let guarded = vec![
        Write::Check { key: Key::new("C#1", "ACCOUNT"), condition: Condition::VersionIs(3) },
        put("C#1", "ENTRY", 1, Condition::NotExists),
    ];
    store.write(guarded).await.unwrap();
    assert_eq!(version_of(&store, "C#1", "ENTRY").await, Some(1));
}

pub async fn impossible_writes_are_refused<S: Store>(store: S) {
    let twice = vec![put("C#1", "A", 1, Condition::Always), put("C#1", "A", 2, Condition::Always)];
    assert!(matches!(store.write(twice).await, Err(StoreError::Invalid(_))));
    let many: Vec<Write> = (0..101).map(|i| put("C#1", &format!("E{i}"), 1, Condition::Always)).collect();
    assert!(matches!(store.write(many).await, Err(StoreError::Invalid(_))));
    let reserved =
        Write::Put { item: Item::new(Key::new("C#1", "A"), 1, doc(json!({"pk": "x"}))), condition: Condition::Always };
    assert!(matches!(store.write(vec![reserved]).await, Err(StoreError::Invalid(_))));
    let huge = Write::Put {
        item: Item::new(Key::new("C#1", "A"), 1, doc(json!({"blob": "x".repeat(410 * 1024)}))),
        condition: Condition::Always,
    };
    assert!(matches!(store.write(vec![huge]).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.write(vec![]).await, Err(StoreError::Invalid(_))));
    for tiny_or_huge in [1e-200, -3e-131, 1e127] {
        let bad = Write::Put {
            item: Item::new(Key::new("C#1", "A"), 1, doc(json!({"x": [1, {"y": tiny_or_huge}]}))),
            condition: Condition::Always,
        };
        assert!(matches!(store.write(vec![bad]).await, Err(StoreError::Invalid(_))), "{tiny_or_huge} is refused");
    }
    let empty_name = Write::Put {
        item: Item::new(Key::new("C#1", "A"), 1, doc(json!({"map": {"": 1}}))),
        condition: Condition::Always,
    };
    assert!(matches!(store.write(vec![empty_name]).await, Err(StoreError::Invalid(_))));
    let mut deep = json!(1);
    for _ in 0..33 {
        deep = json!([deep]);
    }
    let too_deep = Write::Put {
        item: Item::new(Key::new("C#1", "A"), 1, doc(json!({"deep": deep}))),
        condition: Condition::Always,
    };
    assert!(matches!(store.write(vec![too_deep]).await, Err(StoreError::Invalid(_))));
    assert_eq!(version_of(&store, "C#1", "A").await, None);
    // A large item under the limit is fine.
    let large = Write::Put {
        item: Item::new(Key::new("C#1", "A"), 1, doc(json!({"blob": "x".repeat(300 * 1024)}))),
        condition: Condition::Always,
    };
    store.write(vec![large]).await.unwrap();
}

pub async fn batch_get_keeps_order<S: Store>(store: S) {
    for i in (0..150).step_by(2) {
        store.write(vec![put(&format!("C#{i}"), "PROFILE", 1, Condition::Always)]).await.unwrap();
    }
    let keys: Vec<Key> = (0..150).rev().map(|i| Key::new(format!("C#{i}"), "PROFILE")).collect();
    for consistency in [Consistency::Strong, Consistency::Eventual] {
        let got = store.get_many(&keys, consistency).await.unwrap();
        assert_eq!(got.len(), keys.len());
        for (key, item) in keys.iter().zip(&got) {
            let number: u32 = key.pk[2..].parse().unwrap();
            match item.as_ref().unwrap() {
                Some(item) => assert_eq!(&item.key, key),
                None => assert!(number % 2 == 1, "{key} was written but not returned"),
            }
            assert_eq!(item.as_ref().unwrap().is_some(), number % 2 == 0, "{key}");
        }
    }
    assert!(store.get_many(&[], Consistency::Strong).await.unwrap().is_empty());
}

/// A write sent again after its answer was lost applies once: the retry of a single conditional
/// write fails its condition; the retry of a transaction is recognised or fails its conditions.
pub async fn retried_writes_apply_once<S: Store>(store: S) {
    let create = vec![put("C#1", "PART", 1, Condition::NotExists), put("C#1", "MARK", 1, Condition::NotExists)];
    store.write(create.clone()).await.unwrap();
    match store.write(create).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
        Err(e) => panic!("unexpected error on a retried transaction: {e}"),
    }
    let update = vec![put("C#1", "PART", 2, Condition::VersionIs(1))];
    store.write(update.clone()).await.unwrap();
    assert_eq!(store.write(update).await.unwrap_err(), StoreError::ConditionFailed { failed: vec![0] });
    assert_eq!(version_of(&store, "C#1", "PART").await, Some(2));
    assert_eq!(version_of(&store, "C#1", "MARK").await, Some(1));
}

/// Every adapter prices its requests the way DynamoDB bills them, from the same item sizes.
pub async fn requests_are_metered_in_capacity_units<S: Store>(store: S) {
    let sized = |sk: &str, version: u64, bytes: usize| {
        Item::new(Key::new("C#1", sk), version, doc(json!({"blob": "x".repeat(bytes)})))
    };
    let before = store.meter().reading();
    // 3 KB new: 3 units. Shrunk to 500 bytes: still 3 (the larger of before and after).
    store.write(vec![Write::Put { item: sized("A", 1, 3000), condition: Condition::NotExists }]).await.unwrap();
    store.get(&Key::new("C#1", "A")).await.unwrap();
    store.write(vec![Write::Put { item: sized("A", 2, 500), condition: Condition::VersionIs(1) }]).await.unwrap();
    // A transaction of two small items: 2 × 2.
    let pair = vec![
        Write::Put { item: sized("B", 1, 100), condition: Condition::NotExists },
        Write::Put { item: sized("C", 1, 100), condition: Condition::NotExists },
    ];
    store.write(pair).await.unwrap();
    // A failed condition still costs its unit.
    let stale = store.write(vec![Write::Put { item: sized("B", 2, 100), condition: Condition::VersionIs(7) }]).await;
    assert!(matches!(stale, Err(StoreError::ConditionFailed { .. })));
    let writes = store.meter().reading().since(&before).units.writes;
    assert_eq!(writes, 3 + 3 + 4 + 1);

    store.write(vec![Write::Put { item: sized("D", 1, 5000), condition: Condition::NotExists }]).await.unwrap();
    let before = store.meter().reading();
    store.get(&Key::new("C#1", "D")).await.unwrap(); // 5 KB strong: 2
    let keys = [Key::new("C#1", "D"), Key::new("C#1", "B"), Key::new("C#1", "nothing")];
    store.get_many(&keys, Consistency::Eventual).await.unwrap(); // 1 + 0.5 + 0.5
    let reads = store.meter().reading().since(&before).units.reads();
    assert_eq!(reads, 2.0 + 2.0);

    // A scan page is priced by the sum of its items' sizes, not per item: here about 5.8 KB,
    // 2 units strong and half that eventually consistent.
    let before = store.meter().reading();
    let strong = store.scan(Segment::WHOLE, None, 100, Consistency::Strong, Wanted::Every).await.unwrap();
    assert_eq!(strong.items.len(), 4);
    let strong_units = store.meter().reading().since(&before).units.reads();
    let before = store.meter().reading();
    store.scan(Segment::WHOLE, None, 100, Consistency::Eventual, Wanted::Every).await.unwrap();
    let eventual_units = store.meter().reading().since(&before).units.reads();
    assert_eq!((strong_units, eventual_units), (2.0, 1.0));
}

pub async fn queries_read_one_partition_by_prefix_in_order<S: Store>(store: S) {
    for sk in ["MSG#2", "MSG#1", "MSG#3", "LOY", "MSG", "PROFILE", "MSG#10"] {
        store.write(vec![put("C#1", sk, 1, Condition::Always)]).await.unwrap();
    }
    store.write(vec![put("C#2", "MSG#1", 1, Condition::Always)]).await.unwrap();
    store.write(vec![put("C#10", "MSG#1", 1, Condition::Always)]).await.unwrap();
    let sks = |page: &super::Page| page.items.iter().map(|i| i.key.sk.clone()).collect::<Vec<_>>();

    let all = store.query("C#1", &Query::prefix("MSG#")).await.unwrap();
    assert_eq!(sks(&all), ["MSG#1", "MSG#10", "MSG#2", "MSG#3"]);
    assert_eq!(all.next, None);

    let desc = store.query("C#1", &Query { descending: true, ..Query::prefix("MSG#") }).await.unwrap();
    assert_eq!(sks(&desc), ["MSG#3", "MSG#2", "MSG#10", "MSG#1"]);

    // An eventually consistent query reads the same items (settled long since) for half the units.
    let before = store.meter().reading();
    store.query("C#1", &Query::prefix("MSG#")).await.unwrap();
    let strong = store.meter().reading().since(&before).units.reads();
    let before = store.meter().reading();
    let eventual =
        store.query("C#1", &Query { consistency: Consistency::Eventual, ..Query::prefix("MSG#") }).await.unwrap();
    assert_eq!(sks(&eventual), sks(&all));
    assert_eq!((strong, store.meter().reading().since(&before).units.reads()), (1.0, 0.5));

    for descending in [false, true] {
        let mut seen = Vec::new();
        let mut q = Query { limit: 3, descending, ..Query::prefix("MSG#") };
        loop {
            let page = store.query("C#1", &q).await.unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(sks(&page));
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        let mut expected = vec!["MSG#1", "MSG#10", "MSG#2", "MSG#3"];
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "descending: {descending}");
    }

    let everything = store.query("C#1", &Query::prefix("")).await.unwrap();
    assert_eq!(everything.items.len(), 7);
    assert!(store.query("C#3", &Query::prefix("")).await.unwrap().items.is_empty());
}

pub async fn scan_segments_partition_the_table<S: Store>(store: S) {
    let mut expected = Vec::new();
    for c in 0..60 {
        for sk in ["PROFILE", "EVT#1"] {
            store.write(vec![put(&format!("C#{c}"), sk, 1, Condition::Always)]).await.unwrap();
            expected.push(Key::new(format!("C#{c}"), sk));
        }
    }
    // Long partitions (a scan may pass over another segment's in one step), with names that
    // sort right next to each other.
    for pk in ["LONG", "LONG\u{1}", "LONG0"] {
        for n in 0..40 {
            let sk = format!("E#{n:02}");
            store.write(vec![put(pk, &sk, 1, Condition::Always)]).await.unwrap();
            expected.push(Key::new(pk, sk));
        }
    }
    let total = 4;
    let mut seen: Vec<(u32, Key)> = Vec::new();
    for index in 0..total {
        let segment = Segment::new(index, total).unwrap();
        let mut after: Option<Key> = None;
        loop {
            // Eventual pages and strong pages cut the table the same way.
            let consistency = if index % 2 == 0 { Consistency::Strong } else { Consistency::Eventual };
            let page = store.scan(segment, after.as_ref(), 7, consistency, Wanted::Every).await.unwrap();
            assert!(page.items.len() <= 7);
            seen.extend(page.items.into_iter().map(|i| (index, i.key)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let mut keys: Vec<Key> = seen.iter().map(|(_, k)| k.clone()).collect();
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected, "every item exactly once across segments");
    let segments_used: std::collections::BTreeSet<u32> = seen.iter().map(|(s, _)| *s).collect();
    assert!(segments_used.len() > 1, "items spread over segments");
    for (segment, key) in &seen {
        assert!(seen.iter().all(|(s, k)| k.pk != key.pk || s == segment), "all of partition {} in one segment", key.pk);
    }
    let whole = store.scan(Segment::WHOLE, None, 1000, Consistency::Eventual, Wanted::Every).await.unwrap();
    assert_eq!(whole.items.len(), expected.len());
    assert!(store.scan(Segment { index: 4, total: 4 }, None, 10, Consistency::Strong, Wanted::Every).await.is_err());
}

pub async fn filtered_scans_hand_back_wanted_items_and_bill_every_item_read<S: Store>(store: S) {
    let mut wanted_keys = Vec::new();
    for c in 0..12 {
        let pk = format!("C#{c}");
        // Profile parts and an output a reader wants; traces and ledger entries it does not
        // (one of them sharing the output's name as a prefix); customer 5 has none it wants.
        let sks: &[&str] = if c == 5 {
            &["WHY#1", "WHY#2", "LOY#E#a"]
        } else {
            &["P#B", "P#O", "P#O#a1", "LOY", "LOY#E#a", "WHY#1", "WHY#2"]
        };
        for sk in sks {
            let body = doc(json!({"pad": "x".repeat(700)}));
            let item = Item::new(Key::new(&pk, *sk), 1, body);
            store.write(vec![Write::Put { item, condition: Condition::Always }]).await.unwrap();
            if sk.starts_with("P#") || *sk == "LOY" {
                wanted_keys.push(Key::new(&pk, *sk));
            }
        }
    }
    let wanted = Wanted::SortKeys { prefixes: &["P#"], exact: &["LOY"] };
    for limit in [1, 3, 1000] {
        let (mut seen, mut pages, mut empty_pages) = (Vec::new(), 0, 0);
        let mut after: Option<Key> = None;
        let before = store.meter().reading();
        loop {
            let page = store.scan(Segment::WHOLE, after.as_ref(), limit, Consistency::Strong, wanted).await.unwrap();
            assert!(page.items.len() <= limit, "the limit counts the items read");
            pages += 1;
            empty_pages += usize::from(page.items.is_empty() && page.next.is_some());
            seen.extend(page.items.into_iter().map(|i| i.key));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let filtered_units = store.meter().reading().since(&before).units.reads();
        seen.sort();
        wanted_keys.sort();
        assert_eq!(seen, wanted_keys, "limit {limit}: exactly the wanted items, once");
        if limit == 1 {
            assert!(pages >= 80, "one item read per page, wanted or not: {pages} pages for 80 items");
            assert!(empty_pages > 0, "a page of unwanted items is empty and says where to go on");
        }
        // Every item read is billed, wanted or not: the same as reading them all.
        let before = store.meter().reading();
        let mut after: Option<Key> = None;
        loop {
            let page =
                store.scan(Segment::WHOLE, after.as_ref(), limit, Consistency::Strong, Wanted::Every).await.unwrap();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let all_units = store.meter().reading().since(&before).units.reads();
        assert_eq!(filtered_units, all_units, "limit {limit}");
    }
}

pub async fn optimistic_increments_never_lose_updates<S: Store + 'static>(store: S) {
    let store = Arc::new(store);
    let key = Key::new("C#1", "COUNTER");
    store
        .write(vec![Write::Put {
            item: Item::new(key.clone(), 1, doc(json!({"count": 0}))),
            condition: Condition::NotExists,
        }])
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            let key = key.clone();
            tokio::spawn(async move {
                loop {
                    let item = store.get(&key).await.unwrap().unwrap();
                    let count = item.body["count"].as_i64().unwrap();
                    let next = Item::new(key.clone(), item.version + 1, doc(json!({"count": count + 1})));
                    match store
                        .write(vec![Write::Put { item: next, condition: Condition::VersionIs(item.version) }])
                        .await
                    {
                        Ok(()) => break,
                        Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => {
                            tokio::task::yield_now().await
                        }
                        Err(e) => panic!("unexpected store error: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let item = store.get(&key).await.unwrap().unwrap();
    assert_eq!(item.body["count"].as_i64(), Some(16));
    assert_eq!(item.version, 17);
}

/// Expands to one `#[tokio::test]` per contract case, each with a store from `$make`
/// (an async expression producing a fresh, empty store).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@cases $make;
            get_of_a_missing_item_is_none,
            items_round_trip_with_every_kind_of_value,
            not_exists_guards_creation,
            versions_guard_updates,
            exists_and_delete,
            transactions_are_all_or_nothing,
            transactions_name_every_failed_condition,
            checks_guard_other_writes,
            impossible_writes_are_refused,
            batch_get_keeps_order,
            retried_writes_apply_once,
            requests_are_metered_in_capacity_units,
            queries_read_one_partition_by_prefix_in_order,
            scan_segments_partition_the_table,
            filtered_scans_hand_back_wanted_items_and_bill_every_item_read,
            optimistic_increments_never_lose_updates,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::store::contract::$case($make.await).await;
            }
        )*
    };
}
