//! Where records come from outside Lambda: files of events for the command line and backfills.
//!
//! One document can be a single event (bare or in an EventBridge envelope), a JSON array of
//! them, an SQS event as Lambda receives it (`{"Records": [...]}`), or JSON Lines. Each record
//! gets an id that says where it came from, so a rejected one can be found.

use serde_json::Value;

/// A record read from a document: its origin and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub id: String,
    pub body: String,
}

/// Splits `text` (named `name` in record ids) into records.
pub fn records(name: &str, text: &str) -> Vec<SourceRecord> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| SourceRecord { id: format!("{name}[{i}]"), body: v.to_string() })
            .collect(),
        Ok(Value::Object(mut doc)) if doc.get("Records").is_some_and(Value::is_array) => {
            let Some(Value::Array(messages)) = doc.remove("Records") else { return Vec::new() };
            messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    let id = m
                        .get("messageId")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("{name}[{i}]"), |id| format!("{name}:{id}"));
                    let body = match m.get("body") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    SourceRecord { id, body }
                })
                .collect()
        }
        Ok(_) => vec![SourceRecord { id: name.to_string(), body: text.to_string() }],
        // Not one JSON document: JSON Lines, one record per non-empty line.
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| SourceRecord { id: format!("{name}:{}", n + 1), body: l.to_string() })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_splits_into_records() {
        let one = records("a.json", r#"{"id": "e1"}"#);
        assert_eq!(one, vec![SourceRecord { id: "a.json".into(), body: r#"{"id": "e1"}"#.into() }]);
        let many = records("b.json", r#"[{"id": "e1"}, {"id": "e2"}]"#);
        assert_eq!(many.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b.json[0]", "b.json[1]"]);
        let sqs = records("c.json", r#"{"Records": [{"messageId": "m1", "body": "{\"id\":1}"}, {"body": "x"}]}"#);
        assert_eq!(sqs[0], SourceRecord { id: "c.json:m1".into(), body: r#"{"id":1}"#.into() });
        assert_eq!(sqs[1].id, "c.json[1]");
        let lines = records("d.jsonl", "{\"id\": 1}\n\nnot json\n{\"id\": 2}\n");
        assert_eq!(lines.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["d.jsonl:1", "d.jsonl:3", "d.jsonl:4"]);
    }
}
