//! The audit log: who changed rules, preferences, assignments, users, roles
//! and settings, when, and from what to what. Rows are only ever added
//! (`record`, called inside the transaction that makes the change); the
//! database refuses updates and deletes, and no route offers them.

use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Executor, Row};

use crate::clock::Millis;
use crate::store::{Db, StoreResult};

/// Records one change. Call it with the transaction that makes the change,
/// so the change and its audit row commit together or not at all.
pub async fn record<'e, E>(
    executor: E,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    now: Millis,
) -> StoreResult<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, target, before_state, after_state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now)
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(before.map(ToString::to_string))
    .bind(after.map(ToString::to_string))
    .execute(executor)
    .await?;
    Ok(())
}

/// One audit row.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: String,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What the audit page and the CSV export filter on; empty fields match all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    /// An action, or its prefix such as `rules.` or `user.`.
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

/// Rows matching `filter`, newest first, after the `before` cursor (an id).
pub async fn list(
    db: &Db,
    filter: &Filter,
    before: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<Entry>> {
    // Every condition is always present; an empty value switches it off, so
    // the statement has one shape for the prepared-statement cache.
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, before_state, after_state FROM audit_log \
         WHERE ($1 = '' OR actor = $1) \
           AND ($2 = '' OR action = $2 OR action LIKE $3) \
           AND ($4 = '' OR target = $4) \
           AND at >= $5 AND at < $6 \
           AND ($7 = '' OR id < $7) \
         ORDER BY id DESC LIMIT $8",
    )
    .bind(filter.actor.as_deref().unwrap_or(""))
    .bind(filter.action.as_deref().unwrap_or(""))
    .bind(like_prefix(filter.action.as_deref().unwrap_or("")))
    .bind(filter.target.as_deref().unwrap_or(""))
    .bind(filter.from.unwrap_or(0))
    .bind(filter.to.unwrap_or(Millis::MAX))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                target: r.try_get(4)?,
                before: r.try_get(5)?,
                after: r.try_get(6)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// `rules.` matches every rules action; a full action name matches itself.
fn like_prefix(action: &str) -> String {
    if action.ends_with('.') {
        let escaped = action.replace(['%', '_'], "");
        format!("{escaped}%")
    } else {
        String::new()
    }
}

/// Every row matching `filter` as CSV, newest first, in pages so a long log
/// never sits in memory twice.
pub async fn csv(db: &Db, filter: &Filter) -> Result<Vec<u8>, super::AdminError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: &[&str]| {
        crate::csv_export::write_row(out, row).map_err(|e| super::AdminError::Io(e.to_string()))
    };
    write(
        &mut out,
        &["id", "at", "actor", "action", "target", "before", "after"],
    )?;
    let mut cursor: Option<String> = None;
    loop {
        let page = list(db, filter, cursor.as_deref(), 1000).await?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.id.clone());
        for e in &page {
            let at = jiff::Timestamp::from_millisecond(e.at)
                .map_or_else(|_| e.at.to_string(), |t| t.to_string());
            write(
                &mut out,
                &[
                    &e.id,
                    &at,
                    &e.actor,
                    &e.action,
                    &e.target,
                    e.before.as_deref().unwrap_or(""),
                    e.after.as_deref().unwrap_or(""),
                ],
            )?;
        }
    }
    out.into_inner()
        .map_err(|e| super::AdminError::Io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_dot_filters_by_prefix() {
        assert_eq!(like_prefix("rules."), "rules.%");
        assert_eq!(like_prefix("rules.activate"), "");
        assert_eq!(like_prefix("a_b%."), "ab.%");
    }
}
