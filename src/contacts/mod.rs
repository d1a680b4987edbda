//! Contacts: who a message is from or for. One parser for phone numbers at
//! every boundary ([`phone`]), the keys people and machines name a contact
//! by and the joining of two records of one person ([`identity`]), and the
//! CSV import that gives contacts their email address, so fallback and
//! cross-channel decisions have somewhere to point.

pub mod export;
pub mod identity;
pub mod phone;
pub mod repair;

use sqlx::Row;
use std::io::Read;

use crate::clock::Millis;
use crate::store::{Db, StoreError};
use identity::id_for_phone;

/// Parses a phone number given in international form into the canonical
/// E.164 (see [`phone::parse`]), with the reason in words when it is not one.
pub fn parse_phone(input: &str) -> Result<String, String> {
    phone::parse(input).map_err(|e| e.to_string())
}

/// Loads the numbering plan before a request needs it.
pub fn warm_up() {
    phone::warm_up();
}

/// The contact id a key names (see [`identity::lookup`]), on a reader.
pub async fn lookup(db: &Db, key: &identity::ContactKey) -> Result<String, StoreError> {
    let mut conn = db.reader().acquire().await?;
    identity::lookup(&mut conn, key).await
}

/// Makes sure a contact row exists for a canonical E.164 number; returns its id.
pub async fn ensure<'c, E>(executor: E, phone: &str, now: Millis) -> Result<String, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let id = id_for_phone(phone);
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
        let id = id_for_phone(&row.phone);
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
