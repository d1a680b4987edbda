//! What people do to a conversation. Each action checks who may do it, then
//! changes the conversation and writes the log entry in one transaction.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use super::{Conversation, get};
use crate::auth::users::{self, User};
use crate::clock::Millis;
use crate::config::Config;
use crate::model::Category;
use crate::sla::clock::{Calendars, Target, schedule};
use crate::store::{Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    Call,
    ReplyElsewhere,
    Email,
}

impl ResponseKind {
    pub const ALL: [ResponseKind; 3] = [
        ResponseKind::Call,
        ResponseKind::ReplyElsewhere,
        ResponseKind::Email,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseKind::Call => "call",
            ResponseKind::ReplyElsewhere => "reply_elsewhere",
            ResponseKind::Email => "email",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ResponseKind::Call => "Called the customer",
            ResponseKind::ReplyElsewhere => "Replied in another tool",
            ResponseKind::Email => "Sent an email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Converted,
    FollowUpBooked,
    NotInterested,
    WrongNumber,
    Handled,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Converted,
        Outcome::FollowUpBooked,
        Outcome::NotInterested,
        Outcome::WrongNumber,
        Outcome::Handled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Converted => "converted",
            Outcome::FollowUpBooked => "follow_up_booked",
            Outcome::NotInterested => "not_interested",
            Outcome::WrongNumber => "wrong_number",
            Outcome::Handled => "handled",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Converted => "Converted",
            Outcome::FollowUpBooked => "Follow-up booked",
            Outcome::NotInterested => "Not interested",
            Outcome::WrongNumber => "Wrong number",
            Outcome::Handled => "Handled",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    Claim,
    /// To an agent (by email) and/or another team.
    Assign {
        agent: Option<String>,
        team: Option<String>,
    },
    Reclassify {
        category: Category,
        note: Option<String>,
    },
    Note {
        text: String,
    },
    Respond {
        kind: ResponseKind,
        note: Option<String>,
    },
    Resolve {
        outcome: Outcome,
        note: Option<String>,
    },
    Reopen,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("conversation not found")]
    NotFound,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ActionError {
    fn from(e: sqlx::Error) -> Self {
        ActionError::Store(e.into())
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ActionError {
    ActionError::Invalid {
        field,
        message: message.into(),
    }
}

fn trimmed(text: Option<String>, max: usize) -> Result<Option<String>, ActionError> {
    let t = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    match t {
        Some(t) if t.chars().count() > max => {
            Err(invalid("note", format!("keep it under {max} characters")))
        }
        other => Ok(other),
    }
}

/// Applies `action` for `user`; the conversation must be one they may see.
pub async fn apply(
    db: &Db,
    config: &Config,
    calendars: &Calendars,
    user: &User,
    id: &str,
    action: Action,
    now: Millis,
) -> Result<(), ActionError> {
    let c = get(db, user, id).await?.ok_or(ActionError::NotFound)?;
    let mut tx = db.writer().begin().await?;
    let (kind, detail) = match action {
        Action::Claim => claim(&mut tx, user, &c, now).await?,
        Action::Assign { agent, team } => {
            assign(&mut tx, db, config, user, &c, agent, team, now).await?
        }
        Action::Reclassify { category, note } => {
            reclassify(&mut tx, user, &c, category, trimmed(note, 2000)?, now).await?
        }
        Action::Note { text } => {
            let text = trimmed(Some(text), 4000)?
                .ok_or_else(|| invalid("text", "write something first"))?;
            ("note", json!({ "text": text }))
        }
        Action::Respond { kind, note } => {
            respond(
                &mut tx,
                config,
                calendars,
                &c,
                kind,
                trimmed(note, 2000)?,
                now,
            )
            .await?
        }
        Action::Resolve { outcome, note } => {
            let logged = resolve(&mut tx, &c, outcome, trimmed(note, 2000)?, now).await?;
            // A conversion is recorded with the resolution, so reports count it.
            if outcome == Outcome::Converted {
                crate::reports::conversions::record_for_conversation(
                    &mut tx,
                    config,
                    &c.id,
                    &user.email,
                    now,
                )
                .await?;
            }
            logged
        }
        Action::Reopen => reopen(&mut tx, config, calendars, &c, now).await?,
    };
    if matches!(kind, "claimed" | "assigned") {
        crate::admin::audit::record(
            &mut *tx,
            &user.email,
            &format!("conversation.{kind}"),
            &c.id,
            Some(&json!({ "team": c.team, "assignee": c.assignee })),
            Some(&detail),
            now,
        )
        .await?;
    }
    sqlx::query("INSERT INTO conversation_log (id, conversation_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&c.id)
        .bind(now)
        .bind(&user.email)
        .bind(kind)
        .bind(detail.to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&c.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

type Logged = (&'static str, serde_json::Value);

async fn claim(
    tx: &mut Transaction<'static, Any>,
    user: &User,
    c: &Conversation,
    _now: Millis,
) -> Result<Logged, ActionError> {
    if c.status != "open" {
        return Err(invalid(
            "status",
            "only open conversations can be claimed; reopen it first",
        ));
    }
    match c.assignee.as_deref() {
        Some(me) if me == user.email => {
            return Err(ActionError::Conflict(
                "you already have this conversation".into(),
            ));
        }
        Some(other) if !user.is_lead() => {
            return Err(ActionError::Conflict(format!(
                "{other} already has this conversation; ask a lead to reassign it"
            )));
        }
        _ => {}
    }
    sqlx::query("UPDATE conversations SET assignee = $1 WHERE id = $2")
        .bind(&user.email)
        .bind(&c.id)
        .execute(&mut **tx)
        .await?;
    Ok(("claimed", json!({ "from": c.assignee, "to": user.email })))
}

#[allow(clippy::too_many_arguments)]
async fn assign(
    tx: &mut Transaction<'static, Any>,
    db: &Db,
    config: &Config,
    user: &User,
    c: &Conversation,
    agent: Option<String>,
    team: Option<String>,
    _now: Millis,
) -> Result<Logged, ActionError> {
    let team = team.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let agent = agent
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty());
    let target_team = team.clone().or_else(|| c.team.clone());
    if let Some(t) = &team
        && config.team(t).is_none()
    {
        return Err(invalid("team", format!("{t:?} is not a team")));
    }
    if let Some(a) = &agent {
        let Some(t) = &target_team else {
            return Err(invalid("agent", "choose a team first"));
        };
        if !users::team_members(db, config, t).await?.contains(a) {
            return Err(invalid("agent", format!("{a} is not a member of team {t}")));
        }
    }
    if team.is_none() && agent.is_none() {
        return Err(invalid("agent", "choose an agent or a team"));
    }
    // Like claiming: an agent takes an unassigned conversation (or hands on
    // their own); moving a colleague's conversation is for leads.
    if !user.is_lead() {
        if let Some(other) = c.assignee.as_deref().filter(|a| *a != user.email) {
            return Err(ActionError::Conflict(format!(
                "{other} has this conversation; ask a lead to reassign it"
            )));
        }
        if agent.as_deref().is_some_and(|a| a != user.email) {
            return Err(invalid(
                "agent",
                "agents assign conversations to themselves; ask a lead to give it to someone else",
            ));
        }
    }
    sqlx::query("UPDATE conversations SET team = $1, assignee = $2 WHERE id = $3")
        .bind(&target_team)
        .bind(&agent)
        .bind(&c.id)
        .execute(&mut **tx)
        .await?;
    let _ = user;
    Ok((
        "assigned",
        json!({ "from_team": c.team, "to_team": target_team, "from": c.assignee, "to": agent }),
    ))
}

async fn reclassify(
    tx: &mut Transaction<'static, Any>,
    user: &User,
    c: &Conversation,
    category: Category,
    note: Option<String>,
    now: Millis,
) -> Result<Logged, ActionError> {
    if category == c.category {
        return Err(invalid(
            "category",
            format!("it is already {}", category.label()),
        ));
    }
    // The correction is about the reply that decided the category: the
    // latest inbound reply of that category, else the latest reply.
    let row = sqlx::query(
        "SELECT id, category, rule_id, rules_version, body FROM events WHERE conversation_id = $1 AND kind = 'message' AND direction = 'in' \
         ORDER BY CASE WHEN category = $2 THEN 0 ELSE 1 END, occurred_at DESC, id DESC LIMIT 1",
    )
    .bind(&c.id)
    .bind(c.category.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let (event_id, original, rule, version): (
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = match &row {
        Some(r) => (
            Some(r.try_get(0)?),
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
        ),
        None => (None, None, None, None),
    };
    if let Some(event_id) = event_id {
        sqlx::query(
            "INSERT INTO corrections (id, event_id, conversation_id, original_category, original_rule, rules_version, corrected, note, actor, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(event_id)
        .bind(&c.id)
        .bind(&original)
        .bind(&rule)
        .bind(&version)
        .bind(category.as_str())
        .bind(&note)
        .bind(&user.email)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE conversations SET category = $1 WHERE id = $2")
        .bind(category.as_str())
        .bind(&c.id)
        .execute(&mut **tx)
        .await?;
    Ok((
        "reclassified",
        json!({ "from": c.category, "to": category, "rule": rule, "event": event_id, "text": note }),
    ))
}

async fn respond(
    tx: &mut Transaction<'static, Any>,
    config: &Config,
    calendars: &Calendars,
    c: &Conversation,
    kind: ResponseKind,
    note: Option<String>,
    now: Millis,
) -> Result<Logged, ActionError> {
    meet_first_response(tx, config, calendars, &c.id, now).await?;
    Ok((
        "response",
        json!({ "kind": kind.as_str(), "text": note, "first": c.first_response_at.is_none() }),
    ))
}

/// Meets the first-response clock of a conversation that had none: an
/// agent's recorded response and a reply the provider accepted both do.
/// The resolution clock, counted from when the conversation opened, runs on.
pub async fn meet_first_response(
    tx: &mut Transaction<'static, Any>,
    config: &Config,
    calendars: &Calendars,
    conversation: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT status, team, category, opened_at FROM conversations WHERE id = $1 AND first_response_at IS NULL",
    )
    .bind(conversation)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(()) };
    let (status, team, category, opened): (String, Option<String>, String, Millis) =
        (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
    sqlx::query("UPDATE conversations SET first_response_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(conversation)
        .execute(&mut **tx)
        .await?;
    if status == "open" {
        let category = Category::parse(&category).ok_or_else(|| {
            StoreError::Conflict(format!(
                "conversation {conversation} has the unknown category {category:?}"
            ))
        })?;
        let clock = schedule(
            config,
            calendars,
            team.as_deref(),
            category,
            Target::Resolution,
            opened,
        );
        crate::sla::write_clock(&mut **tx, conversation, Some(clock)).await?;
    }
    Ok(())
}

async fn resolve(
    tx: &mut Transaction<'static, Any>,
    c: &Conversation,
    outcome: Outcome,
    note: Option<String>,
    now: Millis,
) -> Result<Logged, ActionError> {
    if c.status != "open" {
        return Err(invalid("status", "this conversation is not open"));
    }
    sqlx::query("UPDATE conversations SET status = 'resolved', resolution = $1, resolved_at = $2 WHERE id = $3")
        .bind(outcome.as_str())
        .bind(now)
        .bind(&c.id)
        .execute(&mut **tx)
        .await?;
    crate::sla::write_clock(&mut **tx, &c.id, None).await?;
    Ok((
        "resolved",
        json!({ "outcome": outcome.as_str(), "text": note }),
    ))
}

async fn reopen(
    tx: &mut Transaction<'static, Any>,
    config: &Config,
    calendars: &Calendars,
    c: &Conversation,
    now: Millis,
) -> Result<Logged, ActionError> {
    if c.status == "open" {
        return Err(invalid("status", "this conversation is already open"));
    }
    sqlx::query("UPDATE conversations SET status = 'open', resolution = NULL, resolved_at = NULL WHERE id = $1")
        .bind(&c.id)
        .execute(&mut **tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            // One open conversation per contact and channel (migration 0011).
            StoreError::Conflict(_) => ActionError::Conflict(
                "this customer already has an open conversation on this channel; answer them there".into(),
            ),
            other => other.into(),
        })?;
    let target = if c.first_response_at.is_some() {
        Target::Resolution
    } else {
        Target::FirstResponse
    };
    let clock = schedule(
        config,
        calendars,
        c.team.as_deref(),
        c.category,
        target,
        now,
    );
    crate::sla::write_clock(&mut **tx, &c.id, Some(clock)).await?;
    Ok((
        "reopened",
        json!({ "was": c.status, "resolution": c.resolution }),
    ))
}
