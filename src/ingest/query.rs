//! Reading back what was received, for the events API.

use serde::Serialize;
use sqlx::{FromRow, Row};

use crate::store::{Db, StoreResult};

#[derive(Debug, Serialize)]
pub struct Classified {
    pub category: String,
    pub rule: Option<String>,
    pub matched: Option<String>,
    pub lang: Option<String>,
    pub rules_version: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ContactView {
    pub id: String,
    pub phone: Option<String>,
    pub wa_user_id: Option<String>,
    pub name: Option<String>,
}

/// One stored event as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: i64,
    pub kind: String,
    pub direction: Option<String>,
    pub provider: String,
    pub channel: String,
    pub provider_id: Option<String>,
    pub contact: Option<ContactView>,
    pub occurred_at: i64,
    pub received_at: i64,
    #[serde(rename = "type")]
    pub msg_type: Option<String>,
    pub text: Option<String>,
    pub payload: Option<String>,
    pub title: Option<String>,
    pub context_id: Option<String>,
    pub status: Option<String>,
    pub error_code: Option<String>,
    pub error_title: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub classification: Option<Classified>,
}

#[derive(FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    direction: Option<String>,
    provider: String,
    channel: String,
    provider_id: Option<String>,
    contact_id: Option<String>,
    phone: Option<String>,
    wa_user_id: Option<String>,
    name: Option<String>,
    occurred_at: i64,
    received_at: i64,
    msg_type: Option<String>,
    body: Option<String>,
    payload: Option<String>,
    title: Option<String>,
    context_id: Option<String>,
    status: Option<String>,
    error_code: Option<String>,
    error_title: Option<String>,
    detail: Option<String>,
    category: Option<String>,
    rule_id: Option<String>,
    match_start: Option<i64>,
    match_end: Option<i64>,
    lang: Option<String>,
    rules_version: Option<String>,
}

impl From<EventRow> for EventView {
    fn from(r: EventRow) -> Self {
        let matched = match (&r.body, r.match_start, r.match_end) {
            (Some(body), Some(s), Some(e)) => usize::try_from(s)
                .ok()
                .zip(usize::try_from(e).ok())
                .and_then(|(s, e)| body.get(s..e))
                .map(str::to_string),
            _ => None,
        };
        let classification = r.category.map(|category| Classified {
            category,
            rule: r.rule_id,
            matched,
            lang: r.lang,
            rules_version: r.rules_version,
        });
        EventView {
            id: r.id,
            kind: r.kind,
            direction: r.direction,
            provider: r.provider,
            channel: r.channel,
            provider_id: r.provider_id,
            contact: r.contact_id.map(|id| ContactView {
                id,
                phone: r.phone,
                wa_user_id: r.wa_user_id,
                name: r.name,
            }),
            occurred_at: r.occurred_at,
            received_at: r.received_at,
            msg_type: r.msg_type,
            text: r.body,
            payload: r.payload,
            title: r.title,
            context_id: r.context_id,
            status: r.status,
            error_code: r.error_code,
            error_title: r.error_title,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
            classification,
        }
    }
}

/// Events after the cursor `after`, in arrival order.
pub async fn list_events(db: &Db, after: i64, limit: i64) -> StoreResult<Vec<EventView>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT e.id, e.kind, e.direction, e.provider, e.channel, e.provider_id, e.contact_id, \
                c.phone, c.wa_user_id, c.name, e.occurred_at, e.received_at, e.msg_type, e.body, \
                e.payload, e.title, e.context_id, e.status, e.error_code, e.error_title, e.detail, \
                e.category, e.rule_id, e.match_start, e.match_end, e.lang, e.rules_version \
         FROM events e LEFT JOIN contacts c ON c.id = e.contact_id \
         WHERE e.id > $1 ORDER BY e.id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.into_iter().map(EventView::from).collect())
}

/// Replies stored and not yet routed, for the load benchmark's check that
/// the router catches up.
pub async fn unrouted(db: &Db) -> StoreResult<i64> {
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE routed_at IS NULL")
        .fetch_one(db.reader())
        .await?;
    Ok(n)
}

/// Counts, for tests and the load generator's check: (events, payloads, dead letters).
pub async fn counts(db: &Db) -> StoreResult<(i64, i64, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM webhook_payloads), \
                (SELECT COUNT(*) FROM webhook_payloads WHERE problem IS NOT NULL)",
    )
    .fetch_one(db.reader())
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}
