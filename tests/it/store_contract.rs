//! The store contract, against the DynamoDB adapter on the emulator.

kairos::store_contract_tests!(kairos_tests::fresh_store());

/// An item a filtered scan's reader does not want is no concern of theirs even when it cannot
/// be read: a damaged decision trace does not mark its customer's page as having a corrupt item.
#[tokio::test]
async fn an_unreadable_item_a_scan_does_not_want_is_not_reported_to_it() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use kairos::store::{Consistency, Segment, Store, Wanted};
    let store = kairos_tests::fresh_store().await;
    let s = |v: &str| AttributeValue::S(v.to_string());
    for (sk, version) in [("P#B", AttributeValue::N("1".into())), ("WHY#1", s("not a number"))] {
        store
            .client()
            .put_item()
            .table_name(store.table())
            .item("pk", s("C#damaged"))
            .item("sk", s(sk))
            .item("v", version)
            .send()
            .await
            .unwrap();
    }
    let profiles = Wanted::SortKeys { prefixes: &["P#"], exact: &[] };
    let page = store.scan(Segment::WHOLE, None, 100, Consistency::Strong, profiles).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.corrupt.is_empty(), "{:?}", page.corrupt);
    let page = store.scan(Segment::WHOLE, None, 100, Consistency::Strong, Wanted::Every).await.unwrap();
    assert_eq!((page.items.len(), page.corrupt.len()), (1, 1), "a reader of everything is told");
}
