//! Folding one conversation into another: when two open conversations turn
//! out to be one customer's on one channel (two records of one person
//! joined), the newer is folded into the older, which keeps every message,
//! every log line and the more urgent SLA clock. The folded one is closed as
//! `merged`, points at the one it went into, and keeps its SLA history.

use serde_json::json;
use sqlx::{Any, Row, Transaction};

use crate::clock::Millis;
use crate::store::{StoreError, StoreResult};

/// The columns folding reads and writes.
struct Side {
    team: Option<String>,
    assignee: Option<String>,
    last_text: Option<String>,
    message_count: i64,
    last_inbound_at: Millis,
    first_response_at: Option<Millis>,
    clock: Clock,
}

/// An SLA clock as the conversation row holds it.
#[derive(Clone)]
struct Clock {
    target: Option<String>,
    at_risk_at: Option<Millis>,
    due_at: Option<Millis>,
    level2_at: Option<Millis>,
    next_check_at: Option<Millis>,
}

async fn read(tx: &mut Transaction<'_, Any>, id: &str) -> StoreResult<Side> {
    let r = sqlx::query(
        "SELECT team, assignee, last_text, message_count, last_inbound_at, first_response_at, \
                sla_target, at_risk_at, due_at, level2_at, next_check_at FROM conversations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Side {
        team: r.try_get(0)?,
        assignee: r.try_get(1)?,
        last_text: r.try_get(2)?,
        message_count: r.try_get(3)?,
        last_inbound_at: r.try_get(4)?,
        first_response_at: r.try_get(5)?,
        clock: Clock {
            target: r.try_get(6)?,
            at_risk_at: r.try_get(7)?,
            due_at: r.try_get(8)?,
            level2_at: r.try_get(9)?,
            next_check_at: r.try_get(10)?,
        },
    })
}

/// Folds conversation `fold` into `keep`, inside the caller's transaction.
pub async fn fold(
    tx: &mut Transaction<'_, Any>,
    fold: &str,
    keep: &str,
    now: Millis,
) -> StoreResult<()> {
    let (gone, kept) = (read(tx, fold).await?, read(tx, keep).await?);
    // The customer is owed the earlier of the two answers.
    let clock = match (gone.clock.due_at, kept.clock.due_at) {
        (Some(g), Some(k)) if g < k => gone.clock.clone(),
        (Some(_), None) => gone.clock.clone(),
        _ => kept.clock.clone(),
    };
    let newer_text = if gone.last_inbound_at > kept.last_inbound_at {
        gone.last_text.clone()
    } else {
        kept.last_text.clone()
    };
    // The folded one is closed first: one open conversation per contact
    // and channel holds at every statement.
    sqlx::query(
        "UPDATE conversations SET status = 'closed', resolution = 'merged', resolved_at = $2, merged_into = $3, \
           message_count = 0, sla_target = NULL, at_risk_at = NULL, due_at = NULL, level2_at = NULL, \
           next_check_at = NULL, updated_at = $2 WHERE id = $1",
    )
    .bind(fold)
    .bind(now)
    .bind(keep)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE conversations SET message_count = $2, last_inbound_at = $3, last_text = $4, \
           first_response_at = $5, team = $6, assignee = $7, sla_target = $8, at_risk_at = $9, due_at = $10, \
           level2_at = $11, next_check_at = $12, updated_at = $13 WHERE id = $1",
    )
    .bind(keep)
    .bind(kept.message_count + gone.message_count)
    .bind(kept.last_inbound_at.max(gone.last_inbound_at))
    .bind(newer_text)
    .bind(kept.first_response_at.or(gone.first_response_at))
    .bind(kept.team.or(gone.team))
    .bind(kept.assignee.or(gone.assignee))
    .bind(clock.target)
    .bind(clock.at_risk_at)
    .bind(clock.due_at)
    .bind(clock.level2_at)
    .bind(clock.next_check_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for table in ["events", "conversation_log"] {
        sqlx::query(&format!(
            "UPDATE {table} SET conversation_id = $1 WHERE conversation_id = $2"
        ))
        .bind(keep)
        .bind(fold)
        .execute(&mut **tx)
        .await?;
    }
    for (on, detail) in [
        (
            keep,
            json!({ "from": fold, "messages": gone.message_count, "reason": "the same customer had two open conversations on this channel" }),
        ),
        (fold, json!({ "into": keep })),
    ] {
        sqlx::query("INSERT INTO conversation_log (id, conversation_id, at, actor, kind, detail) VALUES ($1, $2, $3, 'system', 'merged', $4)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(on)
            .bind(now)
            .bind(detail.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
