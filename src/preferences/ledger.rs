//! The ledger in the database: recording signals, and answering for one
//! contact with an indexed lookup of the few events that can decide.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::precedence::{Decision, Effect, LedgerEvent, Query, Reason, decide};
use crate::clock::Millis;
use crate::contacts::identity;
use crate::model::{PrefChannel, Purpose};
use crate::store::{Backend, Db, StoreError, StoreResult, fixed_chunks, placeholders, values_rows};

/// A preference event about to be written.
#[derive(Debug, Clone)]
pub struct NewPreference {
    pub dedupe_key: String,
    pub contact_id: String,
    pub channel: PrefChannel,
    pub purpose: Purpose,
    pub effect: Effect,
    pub signal: String,
    pub source: String,
    pub evidence_message_id: Option<String>,
    pub evidence_status: Option<String>,
    pub evidence_code: Option<String>,
    pub rule_id: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub policy: Option<String>,
    pub occurred_at: Millis,
}

/// Writes preference events; one already recorded (same dedupe key) is skipped.
/// Returns how many were new.
pub async fn insert(
    tx: &mut Transaction<'static, Any>,
    rows: &[NewPreference],
    now: Millis,
) -> StoreResult<u64> {
    const COLS: usize = 17;
    let backend = crate::store::backend_of(tx);
    let mut added = 0;
    // One statement per chunk, not per row: an opt-out writes a row per
    // scope, and ingest records a whole batch's signals at once.
    for chunk in fixed_chunks(rows) {
        let sql = format!(
            "INSERT{} INTO preference_events (id, dedupe_key, contact_id, channel, purpose, effect, signal, source, \
               evidence_message_id, evidence_status, evidence_code, rule_id, actor, reason, occurred_at, recorded_at, policy) \
             VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
            crate::store::or_fail(backend),
            values_rows(backend, chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for p in chunk {
            q = q
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(&p.dedupe_key)
                .bind(&p.contact_id)
                .bind(p.channel.as_str())
                .bind(p.purpose.as_str())
                .bind(p.effect.as_str())
                .bind(&p.signal)
                .bind(&p.source)
                .bind(&p.evidence_message_id)
                .bind(&p.evidence_status)
                .bind(&p.evidence_code)
                .bind(&p.rule_id)
                .bind(&p.actor)
                .bind(&p.reason)
                .bind(p.occurred_at)
                .bind(now)
                .bind(&p.policy);
        }
        added += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(added)
}

const COLUMNS: &str = "id, channel, purpose, effect, signal, source, occurred_at, evidence_message_id, \
                       evidence_status, evidence_code, actor, reason, policy";

pub(crate) fn event_from_row(row: &AnyRow) -> Result<LedgerEvent, sqlx::Error> {
    let text = |name: &str| row.try_get::<String, _>(name);
    let bad = |what: &str, v: String| {
        sqlx::Error::Decode(format!("unknown {what} {v:?} in preference_events").into())
    };
    let channel = text("channel")?;
    let purpose = text("purpose")?;
    let effect = text("effect")?;
    Ok(LedgerEvent {
        id: text("id")?,
        channel: PrefChannel::parse(&channel).ok_or_else(|| bad("channel", channel.clone()))?,
        purpose: Purpose::parse(&purpose).ok_or_else(|| bad("purpose", purpose.clone()))?,
        effect: Effect::parse(&effect).ok_or_else(|| bad("effect", effect.clone()))?,
        signal: text("signal")?,
        source: text("source")?,
        occurred_at: row.try_get("occurred_at")?,
        evidence_message_id: row.try_get("evidence_message_id")?,
        evidence_status: row.try_get("evidence_status")?,
        evidence_code: row.try_get("evidence_code")?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        policy: row.try_get("policy")?,
    })
}

/// Every contact id that is the same person (see [`identity::same_person`]).
async fn same_person(db: &Db, contact_id: &str) -> StoreResult<Vec<String>> {
    let mut conn = db.reader().acquire().await?;
    identity::same_person(&mut conn, contact_id).await
}

/// The state for one question, from the events that can decide it: for each
/// class (do-not-contact, customer statements, unreachability) only the
/// events at that class's latest instant. Index lookups, not a scan, however
/// long the contact's history.
pub async fn eligibility(db: &Db, contact_id: &str, query: Query) -> StoreResult<Decision> {
    let purposes: &[Purpose] = match query.purpose {
        Purpose::Marketing => &[Purpose::Marketing, Purpose::All],
        Purpose::All => &[Purpose::All],
    };
    if matches!(db.backend(), Backend::Postgres) {
        return eligibility_in_one_query(db, contact_id, query, purposes).await;
    }
    let ids = same_person(db, contact_id).await?;
    // The latest event of each effect and purpose that can decide: a handful
    // of index descents, whatever the length of the history.
    let mut parts = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    for effect in Effect::ALL {
        for purpose in purposes {
            let first = binds.len() + 1;
            parts.push(format!(
                "SELECT * FROM (SELECT {COLUMNS} FROM preference_events WHERE contact_id IN ({}) AND channel = ${} \
                 AND effect = '{}' AND purpose = '{}' ORDER BY occurred_at DESC LIMIT 1) AS t{}",
                placeholders(first, ids.len()),
                first + ids.len(),
                effect.as_str(),
                purpose.as_str(),
                parts.len()
            ));
            binds.extend(ids.iter().cloned());
            binds.push(query.channel.as_str().to_string());
        }
    }
    let sql = parts.join(" UNION ALL ");
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(db.reader()).await?;
    let events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let reach = match events
        .iter()
        .filter(|e| e.effect == Effect::Unreachable)
        .map(|e| e.occurred_at)
        .max()
    {
        Some(since) if query.channel == PrefChannel::Whatsapp => {
            reach_evidence_after(db, &ids, since).await?
        }
        _ => Vec::new(),
    };
    Ok(decide(query, &events, &reach))
}

/// The same answer on PostgreSQL in one round trip: the person's records
/// and, for each of them and each effect and purpose that can decide, the
/// latest event by a `LATERAL` index descent (SQLite, in process, has no
/// round trips to save and no `LATERAL`).
async fn eligibility_in_one_query(
    db: &Db,
    contact_id: &str,
    query: Query,
    purposes: &[Purpose],
) -> StoreResult<Decision> {
    let keys: Vec<String> = Effect::ALL
        .iter()
        .flat_map(|e| {
            purposes
                .iter()
                .map(move |p| format!("('{}', '{}')", e.as_str(), p.as_str()))
        })
        .collect();
    let sql = format!(
        "WITH person AS (SELECT $1::text AS id UNION SELECT id FROM contacts WHERE wa_user_id IS NOT NULL \
           AND wa_user_id = (SELECT wa_user_id FROM contacts WHERE id = $1)) \
         SELECT e.* FROM person p CROSS JOIN (VALUES {}) AS k(effect, purpose) CROSS JOIN LATERAL \
           (SELECT {COLUMNS} FROM preference_events WHERE contact_id = p.id AND channel = $2 \
            AND effect = k.effect AND purpose = k.purpose ORDER BY occurred_at DESC LIMIT 1) AS e",
        keys.join(", ")
    );
    let rows = sqlx::query(&sql)
        .bind(contact_id)
        .bind(query.channel.as_str())
        .fetch_all(db.reader())
        .await?;
    let events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let unreachable_since = events
        .iter()
        .filter(|e| e.effect == Effect::Unreachable)
        .map(|e| e.occurred_at)
        .max();
    let reach = match unreachable_since {
        Some(since) if query.channel == PrefChannel::Whatsapp => {
            let ids = same_person(db, contact_id).await?;
            reach_evidence_after(db, &ids, since).await?
        }
        _ => Vec::new(),
    };
    Ok(decide(query, &events, &reach))
}

/// The time of a sign of life on WhatsApp after `since`: an inbound message
/// or a delivered or read status.
async fn reach_evidence_after(db: &Db, ids: &[String], since: Millis) -> StoreResult<Vec<Millis>> {
    let sql = format!(
        "SELECT occurred_at FROM events WHERE contact_id IN ({}) AND occurred_at > ${} \
         AND ((kind = 'message' AND direction = 'in') OR (kind = 'status' AND status IN ('delivered', 'read', 'played'))) \
         LIMIT 1",
        placeholders(1, ids.len()),
        ids.len() + 1
    );
    let mut q = sqlx::query_scalar::<_, i64>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.bind(since).fetch_all(db.reader()).await?)
}

/// Everything in one contact's ledger, oldest first, for the contact page.
pub async fn history(db: &Db, contact_id: &str) -> StoreResult<Vec<LedgerEvent>> {
    let ids = same_person(db, contact_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM preference_events WHERE contact_id IN ({}) ORDER BY occurred_at, id",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(db.reader()).await?;
    rows.iter()
        .map(event_from_row)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// Whether a suggested fallback channel is open: WhatsApp is denied because
/// the number cannot be reached, and the contact has an email address that
/// is not suppressed for this purpose.
pub async fn fallback_for(
    db: &Db,
    contact_id: &str,
    query: Query,
    decision: &Decision,
) -> StoreResult<Option<PrefChannel>> {
    if query.channel != PrefChannel::Whatsapp || decision.reason != Reason::Unreachable {
        return Ok(None);
    }
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM contacts WHERE id = $1")
        .bind(contact_id)
        .fetch_optional(db.reader())
        .await?
        .flatten();
    if email.is_none() {
        return Ok(None);
    }
    let by_email = eligibility(
        db,
        contact_id,
        Query {
            channel: PrefChannel::Email,
            purpose: query.purpose,
        },
    )
    .await?;
    Ok(by_email.allowed.then_some(PrefChannel::Email))
}
