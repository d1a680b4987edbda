//! Preferences: the ledger of who may be contacted, on which channel, for
//! which purpose, and why.
//!
//! Owns the ledger table, the precedence rules ("which signal wins"), the
//! status-code effects file, and the answers given to sending platforms
//! (eligibility, suppression list). Signals are recorded inside the ingest
//! transaction; the current state is always derived from the ledger, never
//! stored beside it.

mod ledger;
pub mod precedence;
mod signals;
pub mod status_codes;

use serde::Serialize;
use sqlx::Row;

use crate::clock::Millis;
use crate::ingest::event::contact_id_for_phone;
use crate::model::{PrefChannel, Purpose};
use crate::store::{Db, StoreResult};
pub use ledger::{NewPreference, fallback_for, history};
use precedence::{Decision, Effect, LedgerEvent, Query, Reason};
pub use signals::SignalContext;
pub(crate) use signals::record_from_events;

/// The answer to "may I send to this number?".
#[derive(Debug, Serialize)]
pub struct Eligibility {
    pub contact: String,
    pub channel: PrefChannel,
    pub purpose: Purpose,
    pub allowed: bool,
    pub reason: Reason,
    pub deciding_event: Option<LedgerEvent>,
    pub fallback: Option<PrefChannel>,
}

/// Eligibility of a phone number (E.164) for a channel and purpose.
pub async fn eligibility_for_phone(
    db: &Db,
    phone: &str,
    channel: PrefChannel,
    purpose: Purpose,
) -> StoreResult<Eligibility> {
    eligibility_for_contact(db, &contact_id_for_phone(phone), phone, channel, purpose).await
}

/// Eligibility of a known contact; `label` is how the answer names them.
pub async fn eligibility_for_contact(
    db: &Db,
    contact_id: &str,
    label: &str,
    channel: PrefChannel,
    purpose: Purpose,
) -> StoreResult<Eligibility> {
    let query = Query { channel, purpose };
    let decision: Decision = ledger::eligibility(db, contact_id, query).await?;
    let fallback = ledger::fallback_for(db, contact_id, query, &decision).await?;
    Ok(Eligibility {
        contact: label.to_string(),
        channel,
        purpose,
        allowed: decision.allowed,
        reason: decision.reason,
        deciding_event: decision.deciding,
        fallback,
    })
}

/// Sets (or lifts) an administrator's do-not-contact on every channel.
pub async fn set_do_not_contact(
    db: &Db,
    contact_id: &str,
    set: bool,
    actor: &str,
    reason: &str,
    now: Millis,
) -> StoreResult<()> {
    let effect = if set { Effect::DncSet } else { Effect::DncLift };
    let rows: Vec<NewPreference> = PrefChannel::ALL
        .iter()
        .map(|channel| NewPreference {
            dedupe_key: format!(
                "dnc|{contact_id}|{}|{}|{now}|{}",
                channel.as_str(),
                effect.as_str(),
                uuid::Uuid::new_v4()
            ),
            contact_id: contact_id.to_string(),
            channel: *channel,
            purpose: Purpose::All,
            effect,
            signal: if set {
                "manual_do_not_contact".into()
            } else {
                "manual_do_not_contact_lifted".into()
            },
            source: "admin",
            evidence_message_id: None,
            evidence_status: None,
            evidence_code: None,
            rule_id: None,
            actor: Some(actor.to_string()),
            reason: Some(reason.to_string()),
            occurred_at: now,
        })
        .collect();
    let mut tx = db.writer().begin().await?;
    ledger::insert(&mut tx, &rows, now).await?;
    crate::admin::audit::record(
        &mut *tx,
        actor,
        if set {
            "preference.dnc_set"
        } else {
            "preference.dnc_lift"
        },
        contact_id,
        None,
        Some(&serde_json::json!({ "do_not_contact": set, "reason": reason })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One change to the ledger, for sending platforms to sync.
#[derive(Debug, Serialize)]
pub struct Change {
    pub cursor: String,
    pub contact: Option<String>,
    pub wa_user_id: Option<String>,
    pub event: LedgerEvent,
    pub recorded_at: Millis,
    /// The state of (contact, channel, the event's purpose) now.
    pub allowed_now: bool,
    pub reason_now: Reason,
}

/// Ledger changes recorded after `cursor` (`"<recorded_at>.<id>"`, or empty for all).
pub async fn changes_since(db: &Db, cursor: &str, limit: i64) -> StoreResult<Vec<Change>> {
    let (at, id): (i64, String) = cursor.split_once('.').map_or((0, String::new()), |(t, i)| {
        (t.parse().unwrap_or(0), i.to_string())
    });
    let rows = sqlx::query(
        "SELECT p.id, p.channel, p.purpose, p.effect, p.signal, p.source, p.occurred_at, p.evidence_message_id, \
                p.evidence_status, p.evidence_code, p.actor, p.reason, p.recorded_at, p.contact_id, c.phone, c.wa_user_id \
         FROM preference_events p LEFT JOIN contacts c ON c.id = p.contact_id \
         WHERE p.recorded_at > $1 OR (p.recorded_at = $1 AND p.id > $2) \
         ORDER BY p.recorded_at, p.id LIMIT $3",
    )
    .bind(at)
    .bind(&id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let event = ledger::event_from_row(&row)?;
        let recorded_at: Millis = row.try_get("recorded_at")?;
        let contact_id: String = row.try_get("contact_id")?;
        let now = ledger::eligibility(
            db,
            &contact_id,
            Query {
                channel: event.channel,
                purpose: event.purpose,
            },
        )
        .await?;
        out.push(Change {
            cursor: format!("{recorded_at}.{}", event.id),
            contact: row.try_get("phone")?,
            wa_user_id: row.try_get("wa_user_id")?,
            event,
            recorded_at,
            allowed_now: now.allowed,
            reason_now: now.reason,
        });
    }
    Ok(out)
}

/// One line of the current suppression list.
#[derive(Debug, Serialize)]
pub struct Suppression {
    pub contact: Option<String>,
    pub wa_user_id: Option<String>,
    pub channel: PrefChannel,
    pub purpose: Purpose,
    pub reason: Reason,
    pub since: Millis,
    pub signal: String,
    pub source: String,
}

/// Every contact currently suppressed on some channel and purpose.
pub async fn current_suppressions(db: &Db) -> StoreResult<Vec<Suppression>> {
    let contacts: Vec<(String, Option<String>, Option<String>)> = sqlx::query(
        "SELECT DISTINCT p.contact_id, c.phone, c.wa_user_id FROM preference_events p \
         LEFT JOIN contacts c ON c.id = p.contact_id ORDER BY p.contact_id",
    )
    .fetch_all(db.reader())
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let mut out = Vec::new();
    for (contact_id, phone, user) in contacts {
        for channel in PrefChannel::ALL {
            for purpose in Purpose::ALL {
                let d = ledger::eligibility(
                    db,
                    &contact_id,
                    Query {
                        channel: *channel,
                        purpose: *purpose,
                    },
                )
                .await?;
                if let (false, Some(e)) = (d.allowed, d.deciding) {
                    out.push(Suppression {
                        contact: phone.clone(),
                        wa_user_id: user.clone(),
                        channel: *channel,
                        purpose: *purpose,
                        reason: d.reason,
                        since: e.occurred_at,
                        signal: e.signal,
                        source: e.source,
                    });
                }
            }
        }
    }
    Ok(out)
}
