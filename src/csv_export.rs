//! CSV the desk writes for people to open in a spreadsheet (reports, the
//! audit log, the suppression list). Excel, LibreOffice and Google Sheets
//! run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//! return as a formula, so a customer's name or a rule's reason could carry
//! one. Following OWASP's advice on CSV injection, such a cell is written
//! with a leading `'`, which spreadsheets show as text. A cell that is only
//! a number (`-3`, `+31612345678`) cannot do anything and is written as it
//! is, so phone numbers and amounts stay machine-readable.

use std::borrow::Cow;

/// The cell as it is safe to write.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    let starts_formula = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    if starts_formula && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().any(|b| b.is_ascii_digit())
}

/// Writes one record with every cell neutralized.
pub fn write_row<W, I, T>(out: &mut csv::Writer<W>, cells: I) -> csv::Result<()>
where
    W: std::io::Write,
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let cells: Vec<String> = cells
        .into_iter()
        .map(|c| neutralize(c.as_ref()).into_owned())
        .collect();
    out.write_record(&cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_numbers_stay_numbers() {
        for (cell, written) in [
            (
                "=HYPERLINK(\"http://evil\")",
                "'=HYPERLINK(\"http://evil\")",
            ),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("+31612345678", "+31612345678"),
            ("-3.5", "-3.5"),
            ("Ana", "Ana"),
            ("", ""),
        ] {
            assert_eq!(neutralize(cell), written, "{cell:?}");
        }
    }
}
