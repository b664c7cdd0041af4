//! Reading CSV files a row at a time: a row that does not parse is reported with its line, the
//! field and the rule it broke, and the rest are kept.

use std::io::Read;

use serde::de::DeserializeOwned;

use crate::redact::scrub;
use crate::validate::FieldError;

/// A rejected input row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub error: FieldError,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// Reads rows as `Raw` and turns each into a `T` with `parse`. `columns` must all be in the
/// header, which `expected` describes for the error when they are not. Fails only when the
/// header itself is unreadable or incomplete.
pub fn read_rows<R: Read, Raw: DeserializeOwned, T>(
    input: R,
    columns: &[&str],
    expected: &str,
    parse: impl Fn(Raw) -> Result<T, FieldError>,
) -> Result<(Vec<T>, Vec<RowError>), String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let headers = reader.headers().map_err(|e| format!("cannot read the header: {e}"))?.clone();
    if let Some(missing) = columns.iter().find(|c| !headers.iter().any(|h| h == **c)) {
        return Err(format!("the header has no {missing:?} column (expected {expected})"));
    }
    each_row(&mut reader, |record| {
        record
            .deserialize::<Raw>(Some(&headers))
            .map_err(|e| FieldError::new(".", scrub(&e.to_string())))
            .and_then(&parse)
    })
}

/// Most columns [`read_columns`] reads: a row's fields sit on the stack.
const MAX_COLUMNS: usize = 16;

/// Reads rows by column name without building a value per row: `parse` gets each row's fields
/// in the order of `columns` (trimmed; `None` for an optional column the file lacks), so a large
/// export costs no allocation per field. `required` of the `columns` must be in the header.
pub fn read_columns<R: Read, T>(
    input: R,
    columns: &[&str],
    required: usize,
    expected: &str,
    mut parse: impl FnMut(&[Option<&str>]) -> Result<T, FieldError>,
) -> Result<(Vec<T>, Vec<RowError>), String> {
    let mut reader = csv::ReaderBuilder::new().from_reader(input);
    let headers = reader.headers().map_err(|e| format!("cannot read the header: {e}"))?.clone();
    let positions: Vec<Option<usize>> = columns.iter().map(|c| headers.iter().position(|h| h.trim() == *c)).collect();
    if let Some(missing) = columns.iter().zip(&positions).take(required).find(|(_, p)| p.is_none()) {
        return Err(format!("the header has no {:?} column (expected {expected})", missing.0));
    }
    if columns.len() > MAX_COLUMNS {
        return Err(format!("at most {MAX_COLUMNS} columns can be read by name ({expected})"));
    }
    each_row(&mut reader, |record| {
        let mut fields = [None; MAX_COLUMNS];
        for (field, p) in fields.iter_mut().zip(&positions) {
            *field = p.and_then(|i| record.get(i)).map(str::trim);
        }
        let fields = &fields[..columns.len()];
        match columns.iter().zip(fields).take(required).find(|(_, f)| f.is_none()) {
            Some((column, _)) => Err(FieldError::new(*column, "is missing from this row")),
            None => parse(fields),
        }
    })
}

/// Reads a file whose columns are partly the shop's own (attributes named by their header):
/// rows may have fewer or more fields than the header. `check` sees the trimmed header first
/// and may refuse the file; `parse` gets the header and each row.
pub fn read_flexible<R: Read, T>(
    input: R,
    check: impl FnOnce(&[String]) -> Result<(), String>,
    mut parse: impl FnMut(&[String], &csv::StringRecord) -> Result<T, FieldError>,
) -> Result<(Vec<T>, Vec<RowError>), String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("cannot read the header: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    check(&headers)?;
    each_row(&mut reader, |record| parse(&headers, record))
}

/// Every row after the header through `parse`, one record buffer for all (a large export has
/// hundreds of thousands): the rows it accepts, and the ones it or the reader refused, by line.
fn each_row<R: Read, T>(
    reader: &mut csv::Reader<R>,
    mut parse: impl FnMut(&csv::StringRecord) -> Result<T, FieldError>,
) -> Result<(Vec<T>, Vec<RowError>), String> {
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError { line, error: FieldError::new(".", scrub(&e.to_string())) });
                // A row the reader cannot frame ends the file only if the reader says so.
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        match parse(&record) {
            Ok(row) => rows.push(row),
            Err(error) => errors.push(RowError { line, error }),
        }
    }
    Ok((rows, errors))
}

/// A finite number, or an error naming `field`.
pub fn number(field: &str, text: &str) -> Result<f64, FieldError> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| FieldError::new(field, "must be a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Raw {
        name: String,
        n: String,
    }

    #[test]
    fn bad_rows_are_named_and_the_rest_kept() {
        let csv = "name,n\na,1\nb,x\n\"c,2\nd,4\n";
        let (rows, errors) =
            read_rows(csv.as_bytes(), &["name", "n"], "name,n", |r: Raw| Ok((r.name, number("n", &r.n)?))).unwrap();
        assert_eq!(rows, vec![("a".to_string(), 1.0)]);
        assert_eq!(errors[0], RowError { line: 3, error: FieldError::new("n", "must be a number") });
        assert!(
            read_rows("x\n1".as_bytes(), &["name"], "name,n", |r: Raw| Ok(r.name)).unwrap_err().contains("\"name\"")
        );
    }
}
