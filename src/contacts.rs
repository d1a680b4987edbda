//! Contacts as people and machines name them: phone numbers typed by humans
//! or sent by other systems, normalized to E.164 with the `phonenumber` crate;
//! and the CSV import that gives contacts their email address, so fallback
//! and cross-channel decisions have somewhere to point.

use sqlx::Row;
use std::io::Read;

use crate::clock::Millis;
use crate::ingest::event::contact_id_for_phone;
use crate::store::{Db, StoreError};

/// Parses a phone number given in international form (`+44 7700 900123`,
/// `+1 (415) 555-0100`) into E.164. Numbers without a country code are
/// refused: the desk serves many countries and will not guess.
pub fn parse_phone(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if !trimmed.starts_with('+') {
        return Err(format!(
            "{trimmed:?} has no country code; write it in international form, e.g. +447700900123"
        ));
    }
    let number = phonenumber::parse(None, trimmed)
        .map_err(|e| format!("{trimmed:?} is not a phone number: {e}"))?;
    if !phonenumber::is_valid(&number) {
        return Err(format!("{trimmed:?} is not a valid phone number"));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Parses the first time, so the crate's metadata is loaded before a request needs it.
pub fn warm_up() {
    let _ = parse_phone("+14155550100");
}

/// Makes sure a contact row exists for an E.164 number; returns its id.
pub async fn ensure<'c, E>(executor: E, phone: &str, now: Millis) -> Result<String, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let id = contact_id_for_phone(phone);
    sqlx::query(
        "INSERT INTO contacts (id, phone, created_at, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(phone)
    .bind(now)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(id)
}

pub use crate::csv_import::BadRow;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Already as the file says: nothing written.
    pub unchanged: u64,
    pub bad: Vec<BadRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole cannot be read (its header, most often).
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One good row: who, and what to record about them.
struct ContactRow {
    phone: String,
    email: String,
    name: Option<String>,
}

const COLUMNS: [&str; 3] = ["contact", "email", "name"];
const REQUIRED: [&str; 2] = ["contact", "email"];
/// Rows per transaction, so a large file never holds the SQLite writer long.
const BATCH: usize = 500;

/// Imports contacts' email addresses (and names) from CSV with a header
/// naming its columns: `contact` (E.164) and `email` are required, `name` is
/// optional. A contact is created when new; an email address replaces the
/// one on file (the file is the newer word); a name fills in only a contact
/// that has none (the customer's own WhatsApp profile name wins). Bad rows are
/// reported by line and skipped; running the same file twice changes nothing.
pub async fn import_csv(
    db: &Db,
    input: impl Read,
    now: Millis,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ImportError> {
    let mut reader = crate::csv_import::reader(input);
    let index = crate::csv_import::column_index(&mut reader, &COLUMNS, &REQUIRED)
        .map_err(ImportError::File)?;
    let mut summary = ImportSummary::default();
    let mut batch = Vec::with_capacity(BATCH);
    for record in reader.records() {
        summary.rows += 1;
        let checked = record
            .map_err(|e| (e.position().map_or(0, csv::Position::line), e.to_string()))
            .and_then(|row| {
                let line = row.position().map_or(0, csv::Position::line);
                progress(row.position().map_or(0, csv::Position::byte));
                check_row(&row, &index).map_err(|reason| (line, reason))
            });
        match checked {
            Ok(row) => batch.push(row),
            Err((line, reason)) => summary.bad.push(BadRow { line, reason }),
        }
        if batch.len() == BATCH {
            apply(db, &mut batch, now, &mut summary).await?;
        }
    }
    apply(db, &mut batch, now, &mut summary).await?;
    progress(u64::MAX);
    Ok(summary)
}

fn check_row(row: &csv::StringRecord, index: &[Option<usize>]) -> Result<ContactRow, String> {
    let field = |i: usize| {
        index[i]
            .and_then(|at| row.get(at))
            .filter(|v| !v.is_empty())
    };
    let phone =
        parse_phone(field(0).ok_or("contact: empty")?).map_err(|e| format!("contact: {e}"))?;
    let email = crate::auth::users::normalize_email(field(1).ok_or("email: empty")?)
        .map_err(|e| format!("email: {e}"))?;
    Ok(ContactRow {
        phone,
        email,
        name: field(2).map(str::to_string),
    })
}

async fn apply(
    db: &Db,
    batch: &mut Vec<ContactRow>,
    now: Millis,
    summary: &mut ImportSummary,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = db.writer().begin().await?;
    for row in batch.drain(..) {
        let id = contact_id_for_phone(&row.phone);
        let found = sqlx::query("SELECT email, name FROM contacts WHERE id = $1")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(found) = found else {
            sqlx::query("INSERT INTO contacts (id, phone, email, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&id)
                .bind(&row.phone)
                .bind(&row.email)
                .bind(&row.name)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            summary.created += 1;
            continue;
        };
        let (email, name): (Option<String>, Option<String>) =
            (found.try_get(0)?, found.try_get(1)?);
        let new_name = name.is_none() && row.name.is_some();
        if email.as_deref() == Some(row.email.as_str()) && !new_name {
            summary.unchanged += 1;
            continue;
        }
        sqlx::query("UPDATE contacts SET email = $1, name = COALESCE(name, $2), updated_at = $3 WHERE id = $4")
            .bind(&row.email)
            .bind(&row.name)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        summary.updated += 1;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_become_e164() {
        assert_eq!(parse_phone("+44 7911 123456").unwrap(), "+447911123456");
        assert_eq!(parse_phone("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert!(
            parse_phone("07700 900123")
                .unwrap_err()
                .contains("country code")
        );
        assert!(parse_phone("+1 555").is_err());
    }
}
