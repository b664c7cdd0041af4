//! A shop's product feed as CSV, turned into the same `product_updated` events the event
//! stream carries, so an import is validated, stored and deduplicated exactly like them.
//!
//! Columns: `product_id` and `title` (required), `url`, `image_url`, `price` and `currency`
//! (together), `category` (a path, `Shoes > Running` or `Shoes/Running`), `brand`, `in_stock`
//! (true/false, yes/no, 1/0; default true), `updated_at` (RFC 3339; default the import's time);
//! every other column is a free attribute named by its header (empty cells are left out).
//!
//! A feed without `updated_at` is taken as of the import: its rows are newer than anything
//! stored before. An event's id is a hash of its row; a product listed twice keeps its last row.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::event::{Inbound, ProductEvent, parse_inbound};
use crate::redact::scrub;
use crate::tabular::{RowError, read_flexible};
use crate::validate::FieldError;

const KNOWN: [&str; 9] =
    ["product_id", "title", "url", "image_url", "price", "currency", "category", "brand", "in_stock"];

/// The events of a feed, and the rows that could not become one (by line, with the field).
pub fn read_feed<R: std::io::Read>(input: R, now: DateTime<Utc>) -> Result<(Vec<ProductEvent>, Vec<RowError>), String> {
    let check = |headers: &[String]| {
        for required in ["product_id", "title"] {
            if !headers.iter().any(|h| h == required) {
                return Err(format!(
                    "the header has no {required:?} column (expected product_id,title[,url,image_url,price,currency,category,brand,in_stock,updated_at,...])"
                ));
            }
        }
        Ok(())
    };
    let (mut events, errors) = read_flexible(input, check, |headers, record| {
        let cells: Vec<(&str, &str)> = headers
            .iter()
            .map(String::as_str)
            .zip(record.iter().map(str::trim))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        row_event(&cells, now)
    })?;
    // Rows of one product at the same time would be ordered by their hash: the last row wins.
    let mut last = std::collections::HashMap::new();
    for (i, e) in events.iter().enumerate() {
        last.insert((e.data.product_id.clone(), e.occurred_at), i);
    }
    let mut i = 0;
    events.retain(|e| {
        i += 1;
        last.get(&(e.data.product_id.clone(), e.occurred_at)) == Some(&(i - 1))
    });
    Ok((events, errors))
}

/// One row as an event, checked by the event parser (so its errors name `data.<column>`).
fn row_event(cells: &[(&str, &str)], now: DateTime<Utc>) -> Result<ProductEvent, FieldError> {
    let get = |name: &str| cells.iter().find(|(h, _)| *h == name).map(|(_, v)| *v);
    let mut data = Map::new();
    for name in ["product_id", "title", "url", "image_url", "price", "currency", "brand"] {
        if let Some(v) = get(name) {
            data.insert(name.into(), Value::String(v.into()));
        }
    }
    if let Some(path) = get("category") {
        let levels: Vec<Value> =
            path.split(['>', '/']).map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.into())).collect();
        data.insert("category_path".into(), Value::Array(levels));
    }
    if let Some(flag) = get("in_stock") {
        let value = match flag.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "in stock" | "in_stock" => true,
            "false" | "no" | "0" | "out of stock" | "out_of_stock" => false,
            _ => return Err(FieldError::new("data.in_stock", "must be true or false (yes/no, 1/0)")),
        };
        data.insert("in_stock".into(), Value::Bool(value));
    }
    let mut attributes = Map::new();
    for (name, value) in cells {
        if !KNOWN.contains(name) && *name != "updated_at" {
            attributes.insert((*name).to_string(), Value::String((*value).to_string()));
        }
    }
    if !attributes.is_empty() {
        data.insert("attributes".into(), Value::Object(attributes));
    }
    // The id hashes what the row says (not the import's clock), so an unchanged row is the same
    // event on every import and is recognised as already applied.
    let digest =
        crate::hash::mixed64(serde_json::to_string(&(&data, get("updated_at"))).unwrap_or_default().as_bytes());
    let at = get("updated_at").map_or_else(|| now.to_rfc3339(), String::from);
    let event = json!({"schema_version": 1, "id": format!("feed-{digest:016x}"), "occurred_at": at,
        "source": "catalogue-import", "type": "product_updated", "data": data});
    match parse_inbound(&event.to_string(), now) {
        Ok(Inbound::Product(p)) => Ok(p),
        Ok(Inbound::Customer(_)) => Err(FieldError::new(".", "is not a product")),
        Err(e) => Err(e.errors().first().cloned().unwrap_or_else(|| FieldError::new(".", scrub(&e.to_string())))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_feed_becomes_product_events_and_bad_rows_name_their_field() {
        let csv = "product_id,title,url,price,currency,category,brand,in_stock,colour\n\
                   sku-1,Trail runner,https://shop.example/p/1,89.90,EUR,Shoes > Running,Fleet,yes,red\n\
                   sku-2,Mug,,,,Home/Kitchen,,0,\n\
                   sku-3,Relative,/p/3,,,,,,\n\
                   sku-4,Yen,,1500.5,JPY,,,,\n\
                   sku-5,Odd stock,,,,,,maybe,\n\
                   ,No id,,,,,,,\n";
        let (events, errors) = read_feed(csv.as_bytes(), now()).unwrap();
        assert_eq!(events.len(), 2);
        let shoe = &events[0].data;
        assert_eq!(shoe.product_id.as_str(), "sku-1");
        assert_eq!(shoe.category_path.iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["Shoes", "Running"]);
        assert_eq!(shoe.attributes.get("colour"), Some(&json!("red")));
        assert!(!events[1].data.in_stock && events[1].data.attributes.is_empty());
        let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.error.field.as_str())).collect();
        assert_eq!(got, vec![(4, "data.url"), (5, "data.price"), (6, "data.in_stock"), (7, "data.product_id")]);
    }

    #[test]
    fn the_same_row_makes_the_same_event_and_a_changed_row_another() {
        let a = "product_id,title\nsku-1,Mug\n";
        let b = "product_id,title\nsku-1,Big mug\n";
        let id_at = |csv: &str, at| read_feed(csv.as_bytes(), at).unwrap().0[0].id.clone();
        let id = |csv: &str| id_at(csv, now());
        assert_eq!(id(a), id_at(a, now() + chrono::Duration::days(3)), "a later import of the same row");
        assert_ne!(id(a), id(b));
        let twice = "product_id,title\nsku-1,Mug\nsku-2,Cup\nsku-1,Big mug\n";
        let events = read_feed(twice.as_bytes(), now()).unwrap().0;
        let titles: Vec<&str> = events.iter().map(|e| e.data.title.as_str()).collect();
        assert_eq!(titles, ["Cup", "Big mug"], "a product listed twice keeps its last row");
        assert!(read_feed("sku,name\n".as_bytes(), now()).unwrap_err().contains("product_id"));
    }
}
