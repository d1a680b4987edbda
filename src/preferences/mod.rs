//! Preferences: the ledger of who may be contacted, on which channel, for
//! which purpose, and why.
//!
//! Owns the ledger table, the precedence rules ("which signal wins"), the
//! status-code effects file, and the answers given to sending platforms
//! (eligibility, suppression list). Signals are recorded inside the ingest
//! transaction; the current state is always derived from the ledger, never
//! stored beside it.

pub mod external;
mod ledger;
pub mod policy;
pub mod precedence;
pub mod review;
mod signals;
pub mod status_codes;

use serde::Serialize;
use sqlx::Row;

use crate::clock::Millis;
use crate::contacts::identity::id_for_phone as contact_id_for_phone;
use crate::model::{PrefChannel, Purpose};
use crate::store::{Db, StoreResult};
pub use ledger::{NewPreference, fallback_for, history};
use precedence::{Decision, Effect, LedgerEvent, Query, Reason};
pub(crate) use signals::record_from_events;
pub use signals::{PolicyFiles, SignalContext};

/// The answer to "may I send to this number?", with why.
#[derive(Debug, Serialize)]
pub struct Eligibility {
    pub contact: String,
    pub channel: PrefChannel,
    pub purpose: Purpose,
    pub journey: Option<String>,
    pub allowed: bool,
    pub reason: Reason,
    /// The rule that decided, in words, with the policy line that applied.
    pub explanation: String,
    /// The policy line (`file:line [signal]`) that produced the deciding event.
    pub policy: Option<String>,
    pub deciding_event: Option<LedgerEvent>,
    pub exclusion: Option<Exclusion>,
    pub fallback: Option<PrefChannel>,
}

/// A contact taken out of one journey by the policy.
#[derive(Debug, Clone, Serialize)]
pub struct Exclusion {
    pub id: String,
    pub journey: String,
    pub signal: String,
    pub policy: Option<String>,
    pub created_at: Millis,
}

/// Eligibility of a phone number (E.164) for a channel and purpose.
pub async fn eligibility_for_phone(
    db: &Db,
    phone: &str,
    channel: PrefChannel,
    purpose: Purpose,
) -> StoreResult<Eligibility> {
    eligibility_for_contact(
        db,
        &contact_id_for_phone(phone),
        phone,
        channel,
        purpose,
        None,
    )
    .await
}

/// Eligibility of a known contact; `label` is how the answer names them.
pub async fn eligibility_for_contact(
    db: &Db,
    contact_id: &str,
    label: &str,
    channel: PrefChannel,
    purpose: Purpose,
    journey: Option<&str>,
) -> StoreResult<Eligibility> {
    let query = Query { channel, purpose };
    let decision: Decision = ledger::eligibility(db, contact_id, query).await?;
    let fallback = ledger::fallback_for(db, contact_id, query, &decision).await?;
    let exclusion = match journey {
        Some(j) if decision.allowed => active_exclusion(db, contact_id, j).await?,
        _ => None,
    };
    let (allowed, reason) = match &exclusion {
        Some(_) => (false, Reason::ExcludedFromJourney),
        None => (decision.allowed, decision.reason),
    };
    let explanation = explain(reason, decision.deciding.as_ref(), exclusion.as_ref());
    Ok(Eligibility {
        contact: label.to_string(),
        channel,
        purpose,
        journey: journey.map(str::to_string),
        allowed,
        reason,
        explanation,
        policy: exclusion
            .as_ref()
            .and_then(|x| x.policy.clone())
            .or_else(|| decision.deciding.as_ref().and_then(|e| e.policy.clone())),
        deciding_event: decision.deciding,
        exclusion,
        fallback,
    })
}

/// The rule that decided, as a person would say it.
fn explain(reason: Reason, e: Option<&LedgerEvent>, x: Option<&Exclusion>) -> String {
    let signal = e.map(|e| e.signal.replace('_', " ")).unwrap_or_default();
    let at = e
        .map(|e| crate::web::format::when(e.occurred_at))
        .unwrap_or_default();
    let by = e
        .and_then(|e| e.actor.clone())
        .unwrap_or_else(|| "unknown".into());
    let mut text = match reason {
        Reason::NoSignal => "Nothing in the ledger speaks against it.".to_string(),
        Reason::OptedIn => format!(
            "Rule 2: the customer's latest statement by event time is an opt-in ({signal}, {at})."
        ),
        Reason::DncLifted => format!(
            "Rule 1: an administrator lifted the do-not-contact ({at}) and nothing else suppresses."
        ),
        Reason::Reachable => format!(
            "Rule 3: the number was unreachable ({signal}), but a later reply or delivery showed it is reachable."
        ),
        Reason::DoNotContact => format!(
            "Rule 1: a person set do-not-contact ({at}, {by}); it wins over everything until an administrator lifts it."
        ),
        Reason::UnderReview => format!(
            "The preference policy holds this contact for review after a {signal} signal ({at}) until a person decides."
        ),
        Reason::OptedOut => format!(
            "Rule 2: the customer's latest statement by event time is an opt-out ({signal}, {at})."
        ),
        Reason::Unreachable => format!(
            "Rule 3: {signal} ({at}); WhatsApp stays suppressed until a later reply or delivered status."
        ),
        Reason::ExcludedFromJourney => match x {
            Some(x) => format!(
                "The preference policy took the contact out of journey {} after a {} signal.",
                x.journey,
                x.signal.replace('_', " ")
            ),
            None => "The contact is excluded from this journey.".into(),
        },
    };
    if let Some(line) = x
        .and_then(|x| x.policy.as_deref())
        .or_else(|| e.and_then(|e| e.policy.as_deref()))
    {
        text.push_str(&format!(" Policy: {line}."));
    }
    text
}

async fn active_exclusion(
    db: &Db,
    contact_id: &str,
    journey: &str,
) -> StoreResult<Option<Exclusion>> {
    let row = sqlx::query(
        "SELECT x.id, x.journey, x.signal, x.policy, x.created_at FROM journey_exclusions x \
         WHERE x.journey = $2 AND x.lifted_at IS NULL AND (x.contact_id = $1 OR x.contact_id IN \
           (SELECT id FROM contacts WHERE wa_user_id IS NOT NULL AND wa_user_id = (SELECT wa_user_id FROM contacts WHERE id = $1))) \
         ORDER BY x.created_at LIMIT 1",
    )
    .bind(contact_id)
    .bind(journey)
    .fetch_optional(db.reader())
    .await?;
    Ok(match row {
        Some(r) => Some(Exclusion {
            id: r.try_get(0)?,
            journey: r.try_get(1)?,
            signal: r.try_get(2)?,
            policy: r.try_get(3)?,
            created_at: r.try_get(4)?,
        }),
        None => None,
    })
}

/// Whether a manual do-not-contact is in force for the contact (it covers
/// every channel and purpose, so one question answers it).
pub async fn do_not_contact(db: &Db, contact_id: &str) -> StoreResult<bool> {
    let query = Query {
        channel: PrefChannel::Whatsapp,
        purpose: Purpose::Marketing,
    };
    let decision = ledger::eligibility(db, contact_id, query).await?;
    Ok(decision.reason == Reason::DoNotContact)
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
            source: "admin".into(),
            evidence_message_id: None,
            evidence_status: None,
            evidence_code: None,
            rule_id: None,
            actor: Some(actor.to_string()),
            reason: Some(reason.to_string()),
            policy: None,
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
                p.evidence_status, p.evidence_code, p.actor, p.reason, p.policy, p.recorded_at, p.contact_id, c.phone, c.wa_user_id \
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
