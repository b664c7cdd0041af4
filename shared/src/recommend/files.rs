//! The exports the command line reads: interactions (`user_id,item_id,timestamp[,event]`) and
//! an optional item file (`item_id,category[,brand][,attribute columns...]`). A row that does
//! not parse is reported with its line and field and the rest are kept.

use std::collections::HashMap;
use std::io::Read;

use chrono::DateTime;

use super::content::Describe;
use super::data::{Event, Interactions, Row, Signal, Vocabulary};
use crate::tabular::{RowError, read_columns, read_flexible};
use crate::validate::FieldError;

/// Longest id accepted (DynamoDB keys and CSV cells alike stay small).
pub const MAX_ID_BYTES: usize = 256;

fn id<'a>(field: &str, text: &'a str) -> Result<&'a str, FieldError> {
    match text.len() {
        0 => Err(FieldError::new(field, "is empty")),
        n if n > MAX_ID_BYTES => Err(FieldError::new(field, format!("is longer than {MAX_ID_BYTES} bytes"))),
        _ => Ok(text),
    }
}

/// Seconds since the epoch, or RFC 3339 with an offset.
fn timestamp(text: &str) -> Result<i64, FieldError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds.abs() < 1e15
    {
        return Ok(seconds.floor() as i64);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| FieldError::new("timestamp", "must be seconds since 1970 or an RFC 3339 time with an offset"))
}

/// Reads interactions; `items` may already hold a catalogue's ids (their indices are kept).
pub fn read_interactions<R: Read>(input: R, mut items: Vocabulary) -> Result<(Interactions, Vec<RowError>), String> {
    let mut users = Vocabulary::default();
    let columns = ["user_id", "item_id", "timestamp", "event"];
    let (rows, errors) = read_columns(input, &columns, 3, "user_id,item_id,timestamp[,event]", |f| {
        let (user, item, at) =
            (id("user_id", f[0].unwrap_or(""))?, id("item_id", f[1].unwrap_or(""))?, timestamp(f[2].unwrap_or(""))?);
        let signal = Signal::parse(f[3].unwrap_or(""))
            .ok_or_else(|| FieldError::new("event", "must be view, cart or order (or empty for a view)"))?;
        Ok(Row { user: users.intern(user), event: Event { item: items.intern(item), at, signal } })
    })?;
    Ok((Interactions::new(users, items, rows), errors))
}

/// A catalogue read from an item file: ids in file order and each item's description.
#[derive(Default)]
pub struct ItemFile {
    pub items: Vocabulary,
    pub describe: Vec<Describe>,
}

/// Reads `item_id,category[,brand][,...]`: the category is a path (`Shoes > Running` or
/// `Shoes/Running`), every other column an attribute named by its header. A repeated id keeps
/// its last row.
pub fn read_items<R: Read>(input: R) -> Result<(ItemFile, Vec<RowError>), String> {
    let column = |headers: &[String], name: &str| headers.iter().position(|h| h == name);
    let check = |headers: &[String]| match (column(headers, "item_id"), column(headers, "category")) {
        (Some(_), Some(_)) => Ok(()),
        _ => Err("the header needs item_id and category columns (expected item_id,category[,attributes...])".into()),
    };
    let (rows, errors) = read_flexible(input, check, |headers, record| {
        let (id_at, category_at) = (column(headers, "item_id").unwrap_or(0), column(headers, "category").unwrap_or(0));
        let brand_at = column(headers, "brand");
        let item = id("item_id", record.get(id_at).unwrap_or("").trim())?.to_string();
        let category = record.get(category_at).unwrap_or("");
        let describe = Describe {
            category: category.split(['>', '/']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
            brand: brand_at.and_then(|b| record.get(b)).map(str::trim).filter(|s| !s.is_empty()).map(String::from),
            attributes: headers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != id_at && *i != category_at && Some(*i) != brand_at)
                .filter_map(|(i, name)| {
                    record.get(i).map(str::trim).filter(|v| !v.is_empty()).map(|v| (name.clone(), v.to_string()))
                })
                .collect(),
        };
        Ok((item, describe))
    })?;
    let mut file = ItemFile::default();
    let mut last: HashMap<u32, usize> = HashMap::new();
    for (item, describe) in rows {
        let index = file.items.intern(&item);
        match last.get(&index) {
            Some(&at) => file.describe[at] = describe,
            None => {
                last.insert(index, file.describe.len());
                file.describe.push(describe);
            }
        }
    }
    Ok((file, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_read_both_time_forms_and_report_bad_rows() {
        let csv = "user_id,item_id,timestamp,event\nu,a,100,view\nu,b,1970-01-01T00:03:20Z,order\nu,,5,\nv,c,soon,\nv,d,7,wish\nv,e,8,\n";
        let (data, errors) = read_interactions(csv.as_bytes(), Vocabulary::default()).unwrap();
        assert_eq!(data.len(), 3);
        let u = data.users.get("u").unwrap();
        assert_eq!(data.history(u)[1], Event { item: data.items.get("b").unwrap(), at: 200, signal: Signal::Order });
        let fields: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.error.field.as_str())).collect();
        assert_eq!(fields, vec![(4, "item_id"), (5, "timestamp"), (6, "event")]);
        assert!(read_interactions("user,item\n".as_bytes(), Vocabulary::default()).unwrap_err().contains("user_id"));
    }

    #[test]
    fn items_read_paths_brands_and_attributes() {
        let csv = "item_id,category,brand,colour\nshoe,Shoes > Running,Fleet,red\nbook,Books,,\nshoe,Shoes/Trail,Fleet,blue\n,x,y,z\n";
        let (file, errors) = read_items(csv.as_bytes()).unwrap();
        assert_eq!(file.items.len(), 2);
        let shoe = &file.describe[file.items.get("shoe").unwrap() as usize];
        assert_eq!(shoe.category, vec!["Shoes", "Trail"], "the last row of an id wins");
        assert_eq!(shoe.brand.as_deref(), Some("Fleet"));
        assert_eq!(shoe.attributes, vec![("colour".to_string(), "blue".to_string())]);
        assert!(file.describe[1].brand.is_none() && file.describe[1].attributes.is_empty());
        assert_eq!((errors[0].line, errors[0].error.field.as_str()), (5, "item_id"));
    }
}
