//! YAML files people edit by hand, read into JSON values with the line of every value, so a
//! problem found later (a type, a template, a lint) names the line it is on.
//!
//! Scalars resolve by the YAML 1.2 core schema, decimal forms only: unquoted `true`/`false`,
//! `null`/`~`/empty, decimal integers and finite decimal floats become those; everything else, and anything quoted or in a block,
//! is a string. Anchors, aliases, tags other than `!!str` and multiple documents are refused:
//! a campaign file should read the same to a person and to Kairos.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::validate::join_path;

/// Deepest nesting read: a campaign needs a dozen levels; thousands would exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// A document and where its values are.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    lines: HashMap<String, usize>,
    /// Paths whose value is a block (`|` or `>`), whose text starts on the next line.
    blocks: std::collections::HashSet<String>,
}

/// A file that is not YAML Kairos reads: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub problem: String,
}

impl Document {
    /// The line (1-based) of the value at `path` (as field errors spell it: `a.b[2].c`), or of
    /// the closest enclosing value that has one.
    pub fn line_of(&self, path: &str) -> usize {
        let mut path = path.to_string();
        loop {
            if let Some(&line) = self.lines.get(&path) {
                return line;
            }
            match path.rfind(['.', '[']) {
                Some(i) => path.truncate(i),
                None if path.is_empty() => return 1,
                None => path.clear(),
            }
        }
    }
}

impl Document {
    /// The file line of line `inner` (1-based) of the text at `path`: in a block, the lines
    /// after its key; in a one-line value, the key's line.
    pub fn line_within(&self, path: &str, inner: usize) -> usize {
        let line = self.line_of(path);
        if self.blocks.contains(path) { line + inner.max(1) } else { line }
    }

    /// The one key of the mapping at `path`, if it has exactly one: a misspelt enum name such
    /// as `cart_abandonned:` is reported by serde at its parent, but sits on the key's line.
    pub fn only_key(&self, path: &str) -> Option<String> {
        let prefix = if path.is_empty() || path == "." { String::new() } else { format!("{path}.") };
        let mut keys = self
            .lines
            .keys()
            .filter(|k| k.strip_prefix(&prefix).is_some_and(|rest| !rest.is_empty() && !rest.contains(['.', '['])));
        match (keys.next(), keys.next()) {
            (Some(k), None) => Some(k.clone()),
            _ => None,
        }
    }
}

/// Reads one YAML document.
pub fn read(text: &str) -> Result<Document, YamlError> {
    let mut events = Vec::new();
    for next in Parser::new_from_str(text) {
        match next {
            Ok((event, span)) => events.push((event, span)),
            Err(e) => return Err(YamlError { line: e.marker().line(), problem: e.info().to_string() }),
        }
    }
    let mut reader = Reader { events: events.into_iter(), lines: HashMap::new(), blocks: Default::default() };
    let mut value = None;
    while let Some((event, span)) = reader.events.next() {
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) if value.is_some() => {
                return Err(YamlError {
                    line: span.start.line(),
                    problem: "a second document (`---`): a file holds one campaign".into(),
                });
            }
            Event::DocumentStart(_) => {}
            other => value = Some(reader.value(other, span, "", 0)?),
        }
    }
    Ok(Document { value: value.unwrap_or(Value::Null), lines: reader.lines, blocks: reader.blocks })
}

struct Reader<'a> {
    events: std::vec::IntoIter<(Event<'a>, Span)>,
    lines: HashMap<String, usize>,
    blocks: std::collections::HashSet<String>,
}

impl<'a> Reader<'a> {
    fn value(&mut self, event: Event<'a>, span: Span, path: &str, depth: usize) -> Result<Value, YamlError> {
        let line = span.start.line();
        if depth > MAX_DEPTH {
            return Err(YamlError { line, problem: format!("nests lists and mappings more than {MAX_DEPTH} deep") });
        }
        let refuse =
            |what: &str| Err(YamlError { line, problem: format!("{what} are not supported: write the value out") });
        self.lines.entry(path_or_root(path)).or_insert(line);
        match event {
            Event::Alias(_) => refuse("aliases (`*name`)"),
            Event::Scalar(_, _, anchor, _) | Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                refuse("anchors (`&name`)")
            }
            Event::Scalar(text, style, _, tag) => match tag {
                _ if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) && tag.is_none() => {
                    // A block's text starts on the line after its indicator (`html: |`).
                    self.blocks.insert(path_or_root(path));
                    Ok(Value::String(text.into_owned()))
                }
                Some(t) if !(t.handle == "tag:yaml.org,2002:" || t.handle == "!!") || t.suffix != "str" => {
                    refuse("tags (`!name`)")
                }
                Some(_) => Ok(Value::String(text.into_owned())),
                None => Ok(scalar(&text, style)),
            },
            Event::SequenceStart(_, tag) | Event::MappingStart(_, tag) if tag.is_some() => refuse("tags (`!name`)"),
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next(line)?;
                    if matches!(event, Event::SequenceEnd) {
                        return Ok(Value::Array(items));
                    }
                    let at = format!("{path}[{}]", items.len());
                    items.push(self.value(event, span, &at, depth + 1)?);
                }
            }
            Event::MappingStart(..) => {
                let mut map = Map::new();
                loop {
                    let (event, span) = self.next(line)?;
                    let key = match event {
                        Event::MappingEnd => return Ok(Value::Object(map)),
                        Event::Scalar(_, _, anchor, _) if anchor != 0 => return refuse("anchors (`&name`)"),
                        Event::Scalar(_, _, _, Some(_)) => return refuse("tags (`!name`)"),
                        Event::Scalar(text, ..) => text.into_owned(),
                        _ => {
                            return Err(YamlError {
                                line: span.start.line(),
                                problem: "a key that is a list or a mapping: keys are plain words".into(),
                            });
                        }
                    };
                    let at = join_path(path, &key);
                    if map.contains_key(&key) {
                        return Err(YamlError {
                            line: span.start.line(),
                            problem: format!("`{key}` is given twice in the same mapping"),
                        });
                    }
                    self.lines.insert(at.clone(), span.start.line());
                    let (event, span) = self.next(line)?;
                    let value = self.value(event, span, &at, depth + 1)?;
                    map.insert(key, value);
                }
            }
            _ => Err(YamlError { line, problem: "unexpected structure".into() }),
        }
    }

    fn next(&mut self, line: usize) -> Result<(Event<'a>, Span), YamlError> {
        self.events.next().ok_or(YamlError { line, problem: "the file ends inside a list or mapping".into() })
    }
}

fn path_or_root(path: &str) -> String {
    if path.is_empty() { ".".into() } else { path.into() }
}

/// A scalar by the core schema: only plain scalars are anything but text.
fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let numeric = text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE_".contains(&b))
        && text.bytes().any(|b| b.is_ascii_digit())
        && !text.contains('_');
    if numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_resolve_by_the_core_schema_and_every_path_has_its_line() {
        let text = "id: cart\nname: \"10\"\ncount: 10\nshare: 0.5\non: yes\nempty:\nlist:\n  - a\n  - b: 1\n    c: |\n      Hi {{ x }}\n      there\n";
        let doc = read(text).unwrap();
        assert_eq!(
            doc.value,
            json!({"id": "cart", "name": "10", "count": 10, "share": 0.5, "on": "yes", "empty": null,
                   "list": ["a", {"b": 1, "c": "Hi {{ x }}\nthere\n"}]})
        );
        assert_eq!(doc.line_of("id"), 1);
        assert_eq!(doc.line_of("list[0]"), 8);
        assert_eq!(doc.line_of("list[1].c"), 10);
        assert_eq!(doc.line_of("list[1].c.nothing[3]"), 10, "the closest known parent");
        assert_eq!(doc.line_of("nowhere"), 1);
        assert_eq!(doc.line_within("list[1].c", 2), 12, "the second line of the block");
        assert_eq!(doc.line_within("id", 3), 1, "a one-line value");
    }

    #[test]
    fn what_reads_differently_to_people_is_refused_with_its_line() {
        let cases = [
            ("a: 1\na: 2\n", 2, "given twice"),
            ("a: &x 1\nb: *x\n", 1, "anchors"),
            ("a: !custom 1\n", 1, "tags"),
            ("&k a: 1\n", 1, "anchors"),
            ("a: 1\n---\nb: 2\n", 2, "second document"),
            ("a: [1, 2\nb: 3\n", 2, ""),
            ("a:\n  - 1\n b: 2\n", 3, ""),
        ];
        for (text, line, says) in cases {
            let e = read(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e:?}");
            assert!(e.problem.contains(says), "{text:?}: {e:?}");
        }
        assert_eq!(read("a: !!str 12\n").unwrap().value, json!({"a": "12"}));
        let deep = format!("{}1\n", "- ".repeat(2000));
        assert!(read(&deep).unwrap_err().problem.contains("deep"));
    }
}
