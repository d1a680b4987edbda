//! Contacts the policy holds for a person to decide, and journey exclusions
//! an administrator may lift. Every decision is written to the ledger with
//! who, when and why.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::ledger::{self, NewPreference};
use super::precedence::Effect;
use crate::auth::users::User;
use crate::clock::Millis;
use crate::model::{PrefChannel, Purpose};
use crate::store::{Db, StoreError, StoreResult};

#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub id: String,
    pub contact_id: String,
    pub contact: String,
    pub signal: String,
    pub policy: Option<String>,
    pub team: Option<String>,
    pub evidence_message_id: Option<String>,
    pub evidence_code: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing wrong: contact may go ahead.
    Clear,
    /// Keep the contact suppressed on WhatsApp until they opt in again.
    Confirm,
    /// Stop all contact until an administrator lifts it (on the contact's page).
    DoNotContact,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Clear => "cleared",
            Decision::Confirm => "confirmed",
            Decision::DoNotContact => "do_not_contact",
        }
    }
}

fn visible(user: &User, team: Option<&str>) -> bool {
    user.is_admin() || team.is_some_and(|t| user.teams.iter().any(|m| m == t))
}

fn contact_label(name: Option<String>, phone: Option<String>, email: Option<String>) -> String {
    name.or(phone)
        .or(email)
        .unwrap_or_else(|| "unknown contact".into())
}

/// Open reviews the user may decide: their teams', or all for admins.
pub async fn open_reviews(db: &Db, user: &User) -> StoreResult<Vec<Review>> {
    let rows = sqlx::query(
        "SELECT r.id, r.contact_id, k.name, k.phone, k.email, r.signal, r.policy, r.team, r.evidence_message_id, r.evidence_code, r.created_at \
         FROM reviews r LEFT JOIN contacts k ON k.id = r.contact_id WHERE r.resolved_at IS NULL ORDER BY r.created_at LIMIT 500",
    )
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let team: Option<String> = r.try_get(7)?;
        if !visible(user, team.as_deref()) {
            continue;
        }
        out.push(Review {
            id: r.try_get(0)?,
            contact_id: r.try_get(1)?,
            contact: contact_label(r.try_get(2)?, r.try_get(3)?, r.try_get(4)?),
            signal: r.try_get(5)?,
            policy: r.try_get(6)?,
            team,
            evidence_message_id: r.try_get(8)?,
            evidence_code: r.try_get(9)?,
            created_at: r.try_get(10)?,
        });
    }
    Ok(out)
}

/// Decides a review; false when it was already decided or is not the user's to decide.
pub async fn decide(
    db: &Db,
    user: &User,
    id: &str,
    decision: Decision,
    reason: &str,
    now: Millis,
) -> StoreResult<bool> {
    let mut tx = db.writer().begin().await?;
    let row =
        sqlx::query("SELECT contact_id, team FROM reviews WHERE id = $1 AND resolved_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = row else { return Ok(false) };
    let (contact_id, team): (String, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
    if !visible(user, team.as_deref()) {
        return Ok(false);
    }
    sqlx::query("UPDATE reviews SET resolved_at = $1, resolved_by = $2, resolution = $3, reason = $4 WHERE id = $5")
        .bind(now)
        .bind(&user.email)
        .bind(decision.as_str())
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // A decision comes after the hold it answers, even when the provider's
    // clock put the hold a little ahead of ours.
    let held: Option<Millis> = sqlx::query_scalar("SELECT MAX(occurred_at) FROM preference_events WHERE contact_id = $1 AND effect = 'review_set'")
        .bind(&contact_id)
        .fetch_one(&mut *tx)
        .await?;
    let now = held.map_or(now, |h| now.max(h + 1));
    let mut rows: Vec<NewPreference> = PrefChannel::ALL
        .iter()
        .map(|c| {
            manual(
                id,
                &contact_id,
                *c,
                Purpose::All,
                Effect::ReviewCleared,
                user,
                reason,
                now,
            )
        })
        .collect();
    match decision {
        Decision::Clear => {}
        Decision::Confirm => rows.push(manual(
            id,
            &contact_id,
            PrefChannel::Whatsapp,
            Purpose::All,
            Effect::OptOut,
            user,
            reason,
            now,
        )),
        Decision::DoNotContact => rows.extend(PrefChannel::ALL.iter().map(|c| {
            manual(
                id,
                &contact_id,
                *c,
                Purpose::All,
                Effect::DncSet,
                user,
                reason,
                now,
            )
        })),
    }
    ledger::insert(&mut tx, &rows, now).await?;
    crate::admin::audit::record(
        &mut *tx,
        &user.email,
        "preference.review_decided",
        &contact_id,
        None,
        Some(&serde_json::json!({ "review": id, "decision": decision.as_str(), "reason": reason })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn manual(
    review: &str,
    contact_id: &str,
    channel: PrefChannel,
    purpose: Purpose,
    effect: Effect,
    user: &User,
    reason: &str,
    now: Millis,
) -> NewPreference {
    NewPreference {
        dedupe_key: format!("review|{review}|{}|{}", channel.as_str(), effect.as_str()),
        contact_id: contact_id.to_string(),
        channel,
        purpose,
        effect,
        signal: format!("review_{}", effect.as_str()),
        source: "review".into(),
        evidence_message_id: None,
        evidence_status: None,
        evidence_code: None,
        rule_id: None,
        actor: Some(user.email.clone()),
        reason: Some(reason.to_string()),
        policy: None,
        occurred_at: now,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExclusionRow {
    pub id: String,
    pub contact_id: String,
    pub contact: String,
    pub journey: String,
    pub signal: String,
    pub policy: Option<String>,
    pub created_at: Millis,
}

/// Journey exclusions still in force.
pub async fn active_exclusions(db: &Db) -> StoreResult<Vec<ExclusionRow>> {
    let rows = sqlx::query(
        "SELECT x.id, x.contact_id, k.name, k.phone, k.email, x.journey, x.signal, x.policy, x.created_at \
         FROM journey_exclusions x LEFT JOIN contacts k ON k.id = x.contact_id WHERE x.lifted_at IS NULL ORDER BY x.created_at DESC LIMIT 500",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ExclusionRow {
                id: r.try_get(0)?,
                contact_id: r.try_get(1)?,
                contact: contact_label(r.try_get(2)?, r.try_get(3)?, r.try_get(4)?),
                journey: r.try_get(5)?,
                signal: r.try_get(6)?,
                policy: r.try_get(7)?,
                created_at: r.try_get(8)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Lifts an exclusion (administrators); false when already lifted.
pub async fn lift_exclusion(
    db: &Db,
    admin: &User,
    id: &str,
    reason: &str,
    now: Millis,
) -> StoreResult<bool> {
    let mut tx = db.writer().begin().await?;
    let done = sqlx::query("UPDATE journey_exclusions SET lifted_at = $1, lifted_by = $2, lift_reason = $3 WHERE id = $4 AND lifted_at IS NULL")
        .bind(now)
        .bind(&admin.email)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let (contact_id, journey): (String, String) =
        sqlx::query_as("SELECT contact_id, journey FROM journey_exclusions WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    crate::admin::audit::record(
        &mut *tx,
        &admin.email,
        "preference.exclusion_lifted",
        &contact_id,
        Some(&serde_json::json!({ "excluded_from": journey })),
        Some(&serde_json::json!({ "exclusion": id, "reason": reason })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
