//! What every CSV import shares: a forgiving reader, a header checked
//! against the columns the import knows, and bad rows reported by line.

use std::io::Read;

/// A CSV row that was not applied, by its line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// A reader that trims fields and accepts rows of any length (a short row is
/// a row with empty fields, reported by the import if that matters).
pub fn reader<R: Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input)
}

/// Where each of `columns` stands in the header line. An unknown column or a
/// missing required one refuses the whole file, before any row is read.
pub fn column_index(
    reader: &mut csv::Reader<impl Read>,
    columns: &[&str],
    required: &[&str],
) -> Result<Vec<Option<usize>>, String> {
    let header = reader.headers().map_err(|e| format!("line 1: {e}"))?;
    if let Some(unknown) = header.iter().find(|h| !columns.contains(h)) {
        return Err(format!(
            "line 1: unknown column {unknown:?}; the columns are {}",
            columns.join(",")
        ));
    }
    let index: Vec<Option<usize>> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == *c))
        .collect();
    for (name, at) in columns.iter().zip(&index) {
        if at.is_none() && required.contains(name) {
            return Err(format!(
                "line 1: the header has no {name:?} column; required: {}",
                required.join(",")
            ));
        }
    }
    Ok(index)
}
