//! What leads see about SLAs: conversations breached or at risk now,
//! escalations sent and their delivery, and the breach rate per team per week.

use serde::Serialize;
use sqlx::Row;

use crate::auth::users::User;
use crate::clock::Millis;
use crate::store::{Db, StoreError, StoreResult, placeholders};

#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub id: String,
    pub contact: String,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub category: String,
    pub target: Option<String>,
    pub due_at: Millis,
    pub breached: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub id: String,
    pub conversation_id: String,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub target: String,
    pub level: i64,
    pub at: Millis,
    pub due_at: Millis,
    /// Outbox state of the email: pending, sent, or none when nobody was emailed.
    pub delivery: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<Millis>,
    pub ack_comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeekRate {
    pub team: String,
    /// Monday of the week, epoch milliseconds (UTC).
    pub week: Millis,
    pub opened: i64,
    pub breached: i64,
}

const WEEK: Millis = 7 * 86_400_000;
/// The Unix epoch was a Thursday; shifting by three days starts weeks on Monday.
const MONDAY_SHIFT: Millis = 3 * 86_400_000;

/// The teams a lead answers for: all for admins.
fn teams_of(user: &User, all: &[String]) -> Vec<String> {
    if user.is_admin() {
        all.to_vec()
    } else {
        user.teams.clone()
    }
}

fn team_filter(column: &str, teams: &[String], first: usize) -> String {
    if teams.is_empty() {
        "1 = 0".into()
    } else {
        format!("{column} IN ({})", placeholders(first, teams.len()))
    }
}

/// Open conversations past their at-risk instant, most overdue first.
pub async fn waiting(
    db: &Db,
    user: &User,
    all_teams: &[String],
    now: Millis,
) -> StoreResult<Vec<Waiting>> {
    let teams = teams_of(user, all_teams);
    let sql = format!(
        "SELECT c.id, k.name, k.phone, c.team, c.assignee, c.category, c.sla_target, c.due_at \
         FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id \
         WHERE c.status = 'open' AND c.at_risk_at <= $1 AND {} ORDER BY c.due_at LIMIT 200",
        team_filter("c.team", &teams, 2)
    );
    let mut q = sqlx::query(&sql).bind(now);
    for t in &teams {
        q = q.bind(t);
    }
    let mut out = Vec::new();
    for r in q.fetch_all(db.reader()).await? {
        let name: Option<String> = r.try_get(1)?;
        let phone: Option<String> = r.try_get(2)?;
        let due_at: Millis = r.try_get(7)?;
        out.push(Waiting {
            id: r.try_get(0)?,
            contact: name
                .or_else(|| phone.as_deref().map(crate::web::format::mask_phone))
                .unwrap_or_else(|| "unknown".into()),
            team: r.try_get(3)?,
            assignee: r.try_get(4)?,
            category: r.try_get(5)?,
            target: r.try_get(6)?,
            due_at,
            breached: due_at <= now,
        });
    }
    Ok(out)
}

/// Recent breaches and escalations with the state of their emails.
pub async fn escalations(
    db: &Db,
    user: &User,
    all_teams: &[String],
    since: Millis,
) -> StoreResult<Vec<Escalation>> {
    let teams = teams_of(user, all_teams);
    let sql = format!(
        "SELECT e.id, e.conversation_id, e.team, e.assignee, e.target, e.level, e.at, e.due_at, \
                o.state, o.attempts, o.last_error, e.acknowledged_by, e.acknowledged_at, e.ack_comment \
         FROM sla_events e LEFT JOIN outbox o ON o.idempotency_key = \
              'sla:' || e.conversation_id || ':' || e.target || ':' || CAST(e.level AS TEXT) || ':' || CAST(e.due_at AS TEXT) \
         WHERE e.level >= 1 AND e.at >= $1 AND {} ORDER BY e.at DESC LIMIT 200",
        team_filter("e.team", &teams, 2)
    );
    let mut q = sqlx::query(&sql).bind(since);
    for t in &teams {
        q = q.bind(t);
    }
    let rows = q.fetch_all(db.reader()).await?;
    rows.iter()
        .map(|r| {
            Ok(Escalation {
                id: r.try_get(0)?,
                conversation_id: r.try_get(1)?,
                team: r.try_get(2)?,
                assignee: r.try_get(3)?,
                target: r.try_get(4)?,
                level: r.try_get(5)?,
                at: r.try_get(6)?,
                due_at: r.try_get(7)?,
                delivery: r
                    .try_get::<Option<String>, _>(8)?
                    .unwrap_or_else(|| "not emailed".into()),
                attempts: r.try_get::<Option<i64>, _>(9)?.unwrap_or(0),
                last_error: r.try_get(10)?,
                acknowledged_by: r.try_get(11)?,
                acknowledged_at: r.try_get(12)?,
                ack_comment: r.try_get(13)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Conversations opened per team per week since `since`, and how many breached.
pub async fn weekly_rates(
    db: &Db,
    user: &User,
    all_teams: &[String],
    since: Millis,
) -> StoreResult<Vec<WeekRate>> {
    let teams = teams_of(user, all_teams);
    let sql = format!(
        "SELECT c.team, (c.opened_at + $1) / $2 AS wk, COUNT(*), \
                COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM sla_events e WHERE e.conversation_id = c.id AND e.kind = 'breached') \
                                  THEN 1 ELSE 0 END), 0) \
         FROM conversations c WHERE c.opened_at >= $3 AND {} GROUP BY c.team, (c.opened_at + $1) / $2 ORDER BY c.team, wk",
        team_filter("c.team", &teams, 4)
    );
    let mut q = sqlx::query(&sql).bind(MONDAY_SHIFT).bind(WEEK).bind(since);
    for t in &teams {
        q = q.bind(t);
    }
    let rows = q.fetch_all(db.reader()).await?;
    rows.iter()
        .map(|r| {
            let wk: i64 = r.try_get(1)?;
            Ok(WeekRate {
                team: r.try_get(0)?,
                week: wk * WEEK - MONDAY_SHIFT,
                opened: r.try_get(2)?,
                breached: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Acknowledges an escalation once; false if it was already acknowledged or is not the user's to see.
pub async fn acknowledge(
    db: &Db,
    user: &User,
    all_teams: &[String],
    id: &str,
    comment: &str,
    now: Millis,
) -> StoreResult<bool> {
    let teams = teams_of(user, all_teams);
    let sql = format!(
        "UPDATE sla_events SET acknowledged_at = $1, acknowledged_by = $2, ack_comment = $3 \
         WHERE id = $4 AND acknowledged_at IS NULL AND {}",
        team_filter("team", &teams, 5)
    );
    let mut q = sqlx::query(&sql)
        .bind(now)
        .bind(&user.email)
        .bind(comment)
        .bind(id);
    for t in &teams {
        q = q.bind(t);
    }
    Ok(q.execute(db.writer()).await?.rows_affected() == 1)
}
