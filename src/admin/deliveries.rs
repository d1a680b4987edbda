//! Dead letters and the outbox as administrators see them: webhook bodies
//! that verified but could not be (fully) understood, re-processed after a
//! fix; and every outgoing email and fallback notice with its state, retried
//! now on request.

use bytes::Bytes;
use serde_json::json;
use sqlx::Row;

use super::{AdminError, audit};
use crate::clock::Millis;
use crate::ingest::Ingest;
use crate::model::Provider;
use crate::store::Db;

/// A kept webhook body whose normalization found problems.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: String,
    pub provider: String,
    pub channel: String,
    pub received_at: Millis,
    pub problem: String,
    pub event_count: i64,
    pub body: String,
    pub resolved_at: Option<Millis>,
    pub resolved_by: Option<String>,
}

pub async fn dead_letters(
    db: &Db,
    include_resolved: bool,
    limit: i64,
) -> Result<Vec<DeadLetter>, AdminError> {
    let rows = sqlx::query(
        "SELECT id, provider, channel, received_at, problem, event_count, body, resolved_at, resolved_by \
         FROM webhook_payloads WHERE problem IS NOT NULL AND ($1 = 1 OR resolved_at IS NULL) \
         ORDER BY received_at DESC, id LIMIT $2",
    )
    .bind(i64::from(include_resolved))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let body: Vec<u8> = r.try_get(6)?;
            Ok(DeadLetter {
                id: r.try_get(0)?,
                provider: r.try_get(1)?,
                channel: r.try_get(2)?,
                received_at: r.try_get(3)?,
                problem: r.try_get(4)?,
                event_count: r.try_get(5)?,
                body: String::from_utf8_lossy(&body).into_owned(),
                resolved_at: r.try_get(7)?,
                resolved_by: r.try_get(8)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// What re-processing a dead letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reprocessed {
    /// Events stored now for the first time.
    pub stored: usize,
    /// Events that were already stored (a retry changes nothing).
    pub duplicates: usize,
    /// The body now normalizes without problems and is marked resolved.
    pub resolved: bool,
}

/// Runs ingest again on a dead letter's stored body, as if the provider had
/// posted it again (its signature was verified when it first arrived).
/// Ingest is idempotent by the provider's message id, so what was already
/// stored is not stored twice.
pub async fn reprocess(
    db: &Db,
    ingest: &Ingest,
    id: &str,
    actor: &str,
    now: Millis,
) -> Result<Reprocessed, AdminError> {
    let row = sqlx::query("SELECT provider, channel, body, resolved_at FROM webhook_payloads WHERE id = $1 AND problem IS NOT NULL")
        .bind(id)
        .fetch_optional(db.reader())
        .await?
        .ok_or(AdminError::NotFound("dead letter"))?;
    let provider: String = row.try_get(0)?;
    let channel: String = row.try_get(1)?;
    let body: Vec<u8> = row.try_get(2)?;
    let body = Bytes::from(body);
    let accepted = match Provider::parse(&provider) {
        Some(Provider::Meta) => ingest.accept_meta(&channel, body).await,
        Some(Provider::Twilio) => ingest.accept_twilio(&channel, body).await,
        None => {
            return Err(super::invalid(
                "provider",
                format!("unknown provider {provider:?}"),
            ));
        }
    }
    .map_err(|e| match e {
        crate::ingest::IngestError::Store(s) => AdminError::Store(s),
    })?;
    let result = Reprocessed {
        stored: accepted.stored,
        duplicates: accepted.duplicates,
        resolved: !accepted.dead_letter,
    };
    let mut tx = db.writer().begin().await?;
    if result.resolved {
        sqlx::query("UPDATE webhook_payloads SET resolved_at = $1, resolved_by = $2 WHERE id = $3 AND resolved_at IS NULL")
            .bind(now)
            .bind(actor)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        "deliveries.reprocess",
        id,
        None,
        Some(&json!({ "stored": result.stored, "duplicates": result.duplicates, "resolved": result.resolved })),
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(payload = %id, stored = result.stored, duplicates = result.duplicates,
        resolved = result.resolved, "dead letter re-processed");
    Ok(result)
}

/// One outgoing delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub subject: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

/// Deliveries, newest first; `state` empty for all.
pub async fn outbox(db: &Db, state: &str, limit: i64) -> Result<Vec<Delivery>, AdminError> {
    let rows = sqlx::query(
        "SELECT id, kind, target, subject, state, attempts, next_attempt_at, last_error, created_at, sent_at \
         FROM outbox WHERE ($1 = '' OR state = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(state)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Delivery {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                target: r.try_get(2)?,
                subject: r.try_get(3)?,
                state: r.try_get(4)?,
                attempts: r.try_get(5)?,
                next_attempt_at: r.try_get(6)?,
                last_error: r.try_get(7)?,
                created_at: r.try_get(8)?,
                sent_at: r.try_get(9)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Makes an unsent delivery due now (the caller wakes the outbox worker).
/// A delivery a worker holds right now keeps its lease: it is being tried.
pub async fn retry_now(db: &Db, id: &str, actor: &str, now: Millis) -> Result<(), AdminError> {
    let mut tx = db.writer().begin().await?;
    let done = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1, state = 'pending' WHERE id = $2 AND state <> 'sent'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(super::invalid("delivery", "this delivery was already sent"));
    }
    audit::record(&mut *tx, actor, "deliveries.retry", id, None, None, now).await?;
    tx.commit().await?;
    Ok(())
}
