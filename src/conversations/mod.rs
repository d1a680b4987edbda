//! Conversations as people work them: the queue (what is waiting, for whom,
//! in SLA order), one conversation with its contact's whole timeline, and the
//! actions agents take. Every action is written to the conversation log with
//! who and when. Visibility is decided here, once: admins see everything,
//! everyone else their teams' conversations.

mod actions;
pub mod merge;
mod queue;
mod timeline;

pub use actions::{Action, ActionError, Outcome, ResponseKind, apply, meet_first_response};
pub use queue::{Counts, QueueFilter, QueuePage, QueueRow, Tab, list};
pub use timeline::{Item, ItemKind, timeline};

use serde::Serialize;
use sqlx::Row;

use crate::auth::users::User;
use crate::clock::Millis;
use crate::model::Category;
use crate::store::{Db, StoreResult};

/// One conversation's header.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    pub contact_id: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub wa_user_id: Option<String>,
    pub channel: String,
    pub status: String,
    pub category: Category,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub journey: Option<String>,
    pub lang: Option<String>,
    pub last_text: Option<String>,
    pub message_count: i64,
    pub opened_at: Millis,
    pub last_inbound_at: Millis,
    pub first_response_at: Option<Millis>,
    pub resolved_at: Option<Millis>,
    pub resolution: Option<String>,
    pub due_at: Option<Millis>,
    pub at_risk_at: Option<Millis>,
    /// Set when this conversation was folded into another (see [`merge`]).
    pub merged_into: Option<String>,
}

/// Loads a conversation if `user` may see it. `None` for both "no such
/// conversation" and "not yours": a page must not reveal which.
pub async fn get(db: &Db, user: &User, id: &str) -> StoreResult<Option<Conversation>> {
    Ok(load(db, id).await?.filter(|c| may_see(user, c)))
}

const COLUMNS: &str = "c.id, c.contact_id, k.name, k.phone, k.email, k.wa_user_id, c.channel, c.status, c.category, c.team, \
     c.assignee, c.journey, c.lang, c.last_text, c.message_count, c.opened_at, c.last_inbound_at, \
     c.first_response_at, c.resolved_at, c.resolution, c.due_at, c.at_risk_at, c.merged_into";

/// Loads a conversation for a caller that may see every one (an API key).
pub async fn load(db: &Db, id: &str) -> StoreResult<Option<Conversation>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The conversations of the contact `contact_id` and of records of the
/// same person, newest first (for an API key).
pub async fn of_contact(db: &Db, contact_id: &str) -> StoreResult<Vec<Conversation>> {
    let mut conn = db.reader().acquire().await?;
    let ids = crate::contacts::identity::same_person(&mut conn, contact_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id \
         WHERE c.contact_id IN ({}) AND c.merged_into IS NULL ORDER BY c.opened_at DESC, c.id LIMIT 100",
        crate::store::placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<Conversation> {
    let category: String = r.try_get("category")?;
    Ok(Conversation {
        id: r.try_get("id")?,
        contact_id: r.try_get("contact_id")?,
        contact_name: r.try_get("name")?,
        contact_phone: r.try_get("phone")?,
        contact_email: r.try_get("email")?,
        wa_user_id: r.try_get("wa_user_id")?,
        channel: r.try_get("channel")?,
        status: r.try_get("status")?,
        category: Category::parse(&category).unwrap_or(Category::Service),
        team: r.try_get("team")?,
        assignee: r.try_get("assignee")?,
        journey: r.try_get("journey")?,
        lang: r.try_get("lang")?,
        last_text: r.try_get("last_text")?,
        message_count: r.try_get("message_count")?,
        opened_at: r.try_get("opened_at")?,
        last_inbound_at: r.try_get("last_inbound_at")?,
        first_response_at: r.try_get("first_response_at")?,
        resolved_at: r.try_get("resolved_at")?,
        resolution: r.try_get("resolution")?,
        due_at: r.try_get("due_at")?,
        at_risk_at: r.try_get("at_risk_at")?,
        merged_into: r.try_get("merged_into")?,
    })
}

/// Admins see every conversation; agents and leads those of their teams
/// and those assigned to them.
pub fn may_see(user: &User, c: &Conversation) -> bool {
    user.sees_team(c.team.as_deref()) || c.assignee.as_deref() == Some(user.email.as_str())
}
