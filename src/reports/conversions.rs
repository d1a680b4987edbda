//! Conversions: what customers did after a message (a purchase, a booking, a
//! form, a call, an accepted quote), posted by other systems, imported from
//! CSV, or recorded when an agent resolves a conversation as converted.
//!
//! Attribution, in this order:
//! 1. an explicit `message_id` of a registered send wins;
//! 2. otherwise the latest registered send to the contact within the
//!    attribution window before `occurred_at` (of the named `journey`, when
//!    one is given);
//! 3. otherwise the conversion is kept unattributed (under the named journey
//!    when one is given), never dropped.
//!
//! A conversion is identified by the caller's `external_id`: a repeat
//! changes nothing and answers what was recorded the first time.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};
use std::io::Read;

use super::ReportsError;
use super::period::parse_instant;
use crate::clock::Millis;
use crate::config::Config;
use crate::contacts::identity::{self, ContactKey};
use crate::store::{Db, StoreError};

/// `occurred_at` as epoch milliseconds or RFC 3339.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum When {
    Millis(i64),
    Text(String),
}

/// A conversion as another system posts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversion {
    pub external_id: String,
    /// E.164, e.g. `+31612345678`.
    pub contact: String,
    /// purchase, booking, form, call, quote_accepted, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
    pub occurred_at: When,
    /// The provider id of the registered send that led to it.
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub journey: Option<String>,
}

/// A field that cannot be accepted, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// A conversion that passed every check.
#[derive(Debug, Clone)]
struct Checked {
    external_id: String,
    /// Who converted; `None` for a conversion recorded on a conversation.
    contact: Option<ContactKey>,
    kind: String,
    value: Option<f64>,
    currency: Option<String>,
    occurred_at: Millis,
    message_id: Option<String>,
    journey: Option<String>,
}

/// What a conversion was attributed to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribution {
    /// `message_id` (named by the caller), `conversation` (the conversation
    /// an agent resolved), `window` (latest send within the window),
    /// `journey` (no send found; kept under the named journey) or `none`.
    pub by: &'static str,
    pub message_id: Option<String>,
    pub journey: Option<String>,
    pub sent_at: Option<Millis>,
    /// Why a message id the caller named was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The answer to a posted conversion.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub id: String,
    pub external_id: String,
    /// False when this external id was recorded before: nothing changed.
    pub created: bool,
    pub attributed_to: Attribution,
}

fn optional(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn check(c: &NewConversion, now: Millis) -> Result<Checked, Invalid> {
    let external_id = c.external_id.trim();
    if external_id.is_empty() || external_id.len() > 256 {
        return Err(invalid(
            "external_id",
            "expected your id for this conversion (1 to 256 characters)",
        ));
    }
    let contact = ContactKey::parse_whatsapp(&c.contact).map_err(|m| invalid("contact", m))?;
    let kind = c.kind.trim().to_lowercase();
    let kind_ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !kind_ok {
        return Err(invalid(
            "type",
            "expected a word such as purchase, booking, form, call or quote_accepted",
        ));
    }
    if c.value.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err(invalid("value", "expected a number of zero or more"));
    }
    let currency = optional(c.currency.as_deref()).map(|c| c.to_uppercase());
    if currency
        .as_deref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(invalid("currency", "expected an ISO 4217 code such as EUR"));
    }
    let occurred_at = match &c.occurred_at {
        When::Millis(ms) => *ms,
        When::Text(t) => parse_instant(t).ok_or_else(|| {
            invalid(
                "occurred_at",
                format!(
                    "{t:?} is not an RFC 3339 time (2026-11-26T10:00:00Z) or epoch milliseconds"
                ),
            )
        })?,
    };
    // A little clock skew is fine; a conversion days ahead is a mistake.
    if occurred_at > now + 86_400_000 {
        return Err(invalid("occurred_at", "is in the future"));
    }
    let message_id = optional(c.message_id.as_deref());
    let journey = optional(c.journey.as_deref());
    if message_id.as_ref().is_some_and(|m| m.len() > 256) {
        return Err(invalid("message_id", "at most 256 characters"));
    }
    if journey.as_ref().is_some_and(|j| j.len() > 200) {
        return Err(invalid("journey", "at most 200 characters"));
    }
    Ok(Checked {
        external_id: external_id.to_string(),
        contact: Some(contact),
        kind,
        value: c.value,
        currency,
        occurred_at,
        message_id,
        journey,
    })
}

/// Records a conversion posted by another system.
pub async fn record(
    db: &Db,
    config: &Config,
    conversion: &NewConversion,
    source: &str,
    now: Millis,
) -> Result<Result<Recorded, Invalid>, ReportsError> {
    let checked = match check(conversion, now) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
    let recorded = record_in(&mut tx, config, &checked, source, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Ok(recorded))
}

type Tx = Transaction<'static, Any>;

/// A registered send: (message id, journey, sent at).
type Send = (String, Option<String>, Millis);

async fn record_in(
    tx: &mut Tx,
    config: &Config,
    c: &Checked,
    source: &str,
    now: Millis,
) -> Result<Recorded, StoreError> {
    if let Some(existing) = existing(tx, &c.external_id).await? {
        return Ok(existing);
    }
    let Some(key) = &c.contact else {
        return Err(StoreError::Conflict(
            "a posted conversion names its contact".into(),
        ));
    };
    let contact_id = identity::resolve(tx, key, now).await?;
    let window = config.reports.attribution_ms();
    let mut note = None;
    let mut attribution = None;
    if let Some(id) = &c.message_id {
        match send_by_id(tx, id).await? {
            Some(send) => attribution = Some(attributed("message_id", send)),
            None => note = Some(format!("message_id {id} is not a registered send")),
        }
    }
    if attribution.is_none() {
        attribution = latest_send(tx, &contact_id, c.occurred_at, window, c.journey.as_deref())
            .await?
            .map(|s| attributed("window", s));
    }
    let mut attribution = attribution.unwrap_or_else(|| unattributed(c.journey.clone()));
    attribution.note = note;
    let id = uuid::Uuid::now_v7().to_string();
    let done = insert(tx, &id, c, &contact_id, &attribution, None, source, now).await?;
    if !done {
        // Another request recorded the same external id meanwhile.
        return existing(tx, &c.external_id)
            .await?
            .ok_or(StoreError::NotFound);
    }
    Ok(Recorded {
        id,
        external_id: c.external_id.clone(),
        created: true,
        attributed_to: attribution,
    })
}

fn attributed(by: &'static str, (message_id, journey, sent_at): Send) -> Attribution {
    Attribution {
        by,
        message_id: Some(message_id),
        journey,
        sent_at: Some(sent_at),
        note: None,
    }
}

fn unattributed(journey: Option<String>) -> Attribution {
    Attribution {
        by: if journey.is_some() { "journey" } else { "none" },
        message_id: None,
        journey,
        sent_at: None,
        note: None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut Tx,
    id: &str,
    c: &Checked,
    contact_id: &str,
    a: &Attribution,
    conversation_id: Option<&str>,
    source: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO conversions (id, external_id, contact_id, type, value, currency, occurred_at, message_id, journey, \
           attributed_by, conversation_id, source, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (external_id) DO NOTHING",
    )
    .bind(id)
    .bind(&c.external_id)
    .bind(contact_id)
    .bind(&c.kind)
    .bind(c.value)
    .bind(&c.currency)
    .bind(c.occurred_at)
    .bind(&a.message_id)
    .bind(&a.journey)
    .bind(a.by)
    .bind(conversation_id)
    .bind(source)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn existing(tx: &mut Tx, external_id: &str) -> Result<Option<Recorded>, StoreError> {
    let row = sqlx::query(
        "SELECT c.id, c.attributed_by, c.message_id, c.journey, o.sent_at FROM conversions c \
         LEFT JOIN outbound_messages o ON o.message_id = c.message_id WHERE c.external_id = $1",
    )
    .bind(external_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let by: String = r.try_get(1)?;
    Ok(Some(Recorded {
        id: r.try_get(0)?,
        external_id: external_id.to_string(),
        created: false,
        attributed_to: Attribution {
            by: ATTRIBUTIONS
                .into_iter()
                .find(|a| *a == by)
                .unwrap_or("none"),
            message_id: r.try_get(2)?,
            journey: r.try_get(3)?,
            sent_at: r.try_get(4)?,
            note: None,
        },
    }))
}

const ATTRIBUTIONS: [&str; 5] = ["message_id", "conversation", "window", "journey", "none"];

async fn send_by_id(tx: &mut Tx, message_id: &str) -> Result<Option<Send>, StoreError> {
    let row = sqlx::query(
        "SELECT message_id, journey, sent_at FROM outbound_messages WHERE message_id = $1",
    )
    .bind(message_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
}

/// The latest send to the contact in `(at - window, at]`, of `journey` when given.
async fn latest_send(
    tx: &mut Tx,
    contact_id: &str,
    at: Millis,
    window: Millis,
    journey: Option<&str>,
) -> Result<Option<Send>, StoreError> {
    let sql = format!(
        "SELECT message_id, journey, sent_at FROM outbound_messages \
         WHERE contact_id = $1 AND sent_at <= $2 AND sent_at > $3 {} \
         ORDER BY sent_at DESC, message_id DESC LIMIT 1",
        if journey.is_some() {
            "AND journey = $4"
        } else {
            ""
        }
    );
    let mut q = sqlx::query(&sql)
        .bind(contact_id)
        .bind(at)
        .bind(at - window);
    if let Some(j) = journey {
        q = q.bind(j);
    }
    let row = q.fetch_optional(&mut **tx).await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
}

/// Records the conversion of a conversation an agent resolved as converted,
/// in the caller's transaction. One per conversation: resolving it again
/// as converted changes nothing.
pub(crate) async fn record_for_conversation(
    tx: &mut Tx,
    config: &Config,
    conversation_id: &str,
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let row =
        sqlx::query("SELECT contact_id, outbound_id, journey FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_one(&mut **tx)
            .await?;
    let contact_id: String = row.try_get(0)?;
    let outbound_id: Option<String> = row.try_get(1)?;
    let journey: Option<String> = row.try_get(2)?;
    let mut attribution = None;
    if let Some(id) = &outbound_id {
        attribution = send_by_id(tx, id)
            .await?
            .map(|s| attributed("conversation", s));
    }
    if attribution.is_none() {
        let window = config.reports.attribution_ms();
        attribution = latest_send(tx, &contact_id, now, window, None)
            .await?
            .map(|s| attributed("window", s));
    }
    let attribution = attribution.unwrap_or_else(|| unattributed(journey));
    let c = Checked {
        external_id: format!("conversation:{conversation_id}"),
        contact: None,
        kind: "conversation".into(),
        value: None,
        currency: None,
        occurred_at: now,
        message_id: None,
        journey: None,
    };
    let id = uuid::Uuid::now_v7().to_string();
    insert(
        tx,
        &id,
        &c,
        &contact_id,
        &attribution,
        Some(conversation_id),
        &format!("agent:{actor}"),
        now,
    )
    .await?;
    Ok(())
}

pub use crate::csv_import::BadRow;

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub rows: u64,
    /// Recorded for the first time.
    pub recorded: u64,
    /// Already recorded (by an earlier import or the API): unchanged.
    pub repeats: u64,
    pub attributed: u64,
    pub bad: Vec<BadRow>,
}

const COLUMNS: [&str; 8] = [
    "external_id",
    "contact",
    "type",
    "value",
    "currency",
    "occurred_at",
    "message_id",
    "journey",
];
const REQUIRED: [&str; 4] = ["external_id", "contact", "type", "occurred_at"];
/// Rows per transaction: big enough to be quick, small enough not to hold
/// the SQLite writer for long.
const BATCH: usize = 500;

/// Imports conversions from CSV with a header line naming the columns
/// (`external_id,contact,type,value,currency,occurred_at,message_id,journey`;
/// the first four are required). Good rows are recorded; bad rows are
/// reported by line number with the reason. Safe to run twice: repeats are
/// counted and change nothing. `progress` gets the bytes read so far.
pub async fn import_csv(
    db: &Db,
    config: &Config,
    input: impl Read,
    source: &str,
    now: Millis,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ReportsError> {
    let mut reader = crate::csv_import::reader(input);
    let index = crate::csv_import::column_index(&mut reader, &COLUMNS, &REQUIRED)
        .map_err(ReportsError::Csv)?;
    let mut summary = ImportSummary::default();
    let mut batch: Vec<Checked> = Vec::with_capacity(BATCH);
    for record in reader.records() {
        summary.rows += 1;
        let (line, row) = match record {
            Ok(r) => (r.position().map_or(0, csv::Position::line), r),
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                summary.bad.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        match from_record(&row, &index).and_then(|c| check(&c, now)) {
            Ok(c) => batch.push(c),
            Err(e) => summary.bad.push(BadRow {
                line,
                reason: e.to_string(),
            }),
        }
        if batch.len() == BATCH {
            apply(db, config, &mut batch, source, now, &mut summary).await?;
            progress(row.position().map_or(0, csv::Position::byte));
        }
    }
    apply(db, config, &mut batch, source, now, &mut summary).await?;
    progress(u64::MAX);
    Ok(summary)
}

fn from_record(row: &csv::StringRecord, index: &[Option<usize>]) -> Result<NewConversion, Invalid> {
    let field = |i: usize| {
        index[i]
            .and_then(|at| row.get(at))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let value = match field(3) {
        Some(v) => Some(
            v.parse::<f64>()
                .map_err(|_| invalid("value", format!("{v:?} is not a number")))?,
        ),
        None => None,
    };
    Ok(NewConversion {
        external_id: field(0).unwrap_or_default(),
        contact: field(1).unwrap_or_default(),
        kind: field(2).unwrap_or_default(),
        value,
        currency: field(4),
        occurred_at: When::Text(field(5).unwrap_or_default()),
        message_id: field(6),
        journey: field(7),
    })
}

async fn apply(
    db: &Db,
    config: &Config,
    batch: &mut Vec<Checked>,
    source: &str,
    now: Millis,
    summary: &mut ImportSummary,
) -> Result<(), ReportsError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
    for c in batch.drain(..) {
        let r = record_in(&mut tx, config, &c, source, now).await?;
        if r.created {
            summary.recorded += 1;
            if r.attributed_to.message_id.is_some() {
                summary.attributed += 1;
            }
        } else {
            summary.repeats += 1;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
