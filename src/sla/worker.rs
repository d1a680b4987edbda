//! The SLA worker: finds conversations whose clock reached its next instant
//! (by the `next_check_at` index, not by scanning), records each transition
//! once, and queues escalation emails through the outbox. Several instances
//! on one PostgreSQL database share the work: rows are locked and skipped,
//! transitions and emails are unique by key, so each happens exactly once.

use askama::Template;
use sqlx::{Any, Row, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::clock::{SlaClock, Target};
use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::model::Category;
use crate::notify::email::{Email, queue_email_in};
use crate::store::{Backend, Db, StoreError, StoreResult};
use crate::web::format;

/// One conversation whose clock needs a look.
struct Due {
    id: String,
    status: String,
    team: Option<String>,
    assignee: Option<String>,
    category: Category,
    clock: Option<SlaClock>,
    text: Option<String>,
    contact: String,
}

#[derive(Debug)]
pub struct SlaWorker {
    db: Db,
    clock: SharedClock,
    config: Arc<Config>,
}

const BATCH: i64 = 100;

impl SlaWorker {
    pub fn new(db: Db, clock: SharedClock, config: Arc<Config>) -> SlaWorker {
        SlaWorker { db, clock, config }
    }

    /// Records every transition that is due now; returns how many.
    pub async fn run_once(&self) -> StoreResult<usize> {
        let mut total = 0;
        loop {
            let (looked, recorded) = self.batch().await?;
            total += recorded;
            if looked < usize::try_from(BATCH).unwrap_or(100) {
                return Ok(total);
            }
        }
    }

    pub async fn run(self: Arc<Self>, stop: CancellationToken, tick: Duration) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::error!(%error, "SLA worker could not check clocks; retrying");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {},
            }
        }
    }

    async fn batch(&self) -> StoreResult<(usize, usize)> {
        let now = self.clock.now_ms();
        let mut tx = self.db.writer().begin().await?;
        let due = claim(&mut tx, self.db.backend(), now).await?;
        let mut recorded = 0;
        for d in &due {
            recorded += self.advance(&mut tx, d, now).await?;
        }
        tx.commit().await?;
        Ok((due.len(), recorded))
    }

    /// Records the transitions `d` has reached and sets its next check.
    async fn advance(
        &self,
        tx: &mut Transaction<'static, Any>,
        d: &Due,
        now: Millis,
    ) -> StoreResult<usize> {
        let Some(clock) = d.clock.filter(|_| d.status == "open") else {
            sqlx::query("UPDATE conversations SET next_check_at = NULL WHERE id = $1")
                .bind(&d.id)
                .execute(&mut **tx)
                .await?;
            return Ok(0);
        };
        let reached: Vec<(u8, &str)> = [
            (0, clock.at_risk_at, "at_risk"),
            (1, clock.due_at, "breached"),
            (2, clock.level2_at, "escalated"),
        ]
        .into_iter()
        .filter(|(_, at, _)| *at <= now)
        .map(|(level, _, kind)| (level, kind))
        .collect();
        let mut recorded = 0;
        for (level, kind) in &reached {
            if record(tx, d, &clock, *level, kind, now).await? {
                recorded += 1;
                metrics::counter!("replydesk_sla_transitions_total", "kind" => *kind).increment(1);
                if *level >= 1 {
                    self.escalate(tx, d, &clock, *level, now).await?;
                }
            }
        }
        let next = clock.next_check(reached.last().map(|(l, _)| *l));
        sqlx::query("UPDATE conversations SET next_check_at = $1 WHERE id = $2")
            .bind(next)
            .bind(&d.id)
            .execute(&mut **tx)
            .await?;
        Ok(recorded)
    }

    /// Queues the escalation email for a level, once.
    async fn escalate(
        &self,
        tx: &mut Transaction<'static, Any>,
        d: &Due,
        clock: &SlaClock,
        level: u8,
        now: Millis,
    ) -> StoreResult<()> {
        let to = self.recipients(d, level);
        if to.is_empty() {
            tracing::warn!(conversation = %d.id, team = d.team.as_deref().unwrap_or("-"), level,
                "SLA breached but nobody to email: give the team leads ([[team]] leads) or the policy escalate_to addresses");
            return Ok(());
        }
        let email = self.email(d, clock, level, to, now);
        let key = format!(
            "sla:{}:{}:{}:{}",
            d.id,
            clock.target.as_str(),
            level,
            clock.due_at
        );
        queue_email_in(tx, &key, &email, now)
            .await
            .map_err(|e| match e {
                crate::notify::email::EmailError::Store(s) => s,
                other => StoreError::Conflict(other.to_string()),
            })
    }

    fn recipients(&self, d: &Due, level: u8) -> Vec<String> {
        let team = d.team.as_deref().and_then(|t| self.config.team(t));
        let leads = team.map(|t| t.leads.clone()).unwrap_or_default();
        if level < 2 {
            return leads;
        }
        let named: Vec<String> = self
            .config
            .slas
            .iter()
            .filter(|s| {
                Some(s.team.as_str()) == d.team.as_deref()
                    && s.category.is_none_or(|c| c == d.category)
            })
            .flat_map(|s| s.escalate_to.clone())
            .collect();
        if named.is_empty() { leads } else { named }
    }

    fn email(&self, d: &Due, clock: &SlaClock, level: u8, to: Vec<String>, now: Millis) -> Email {
        let base = self
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.config.bind));
        let team = d.team.clone().unwrap_or_else(|| "(none)".into());
        let late = format!("overdue by {}", format::span(now - clock.due_at));
        let view = EscalationText {
            intro: if level >= 2 {
                format!(
                    "Second-level escalation: a customer reply is still waiting, well past the {} target of team {team}.",
                    clock.target.label()
                )
            } else {
                format!(
                    "A customer reply has waited longer than the {} target of team {team}.",
                    clock.target.label()
                )
            },
            category: d.category.label().to_string(),
            contact: d.contact.clone(),
            team: team.clone(),
            assignee: d.assignee.as_ref().map_or_else(
                || "not assigned to anyone".into(),
                |a| format!("assigned to {a}"),
            ),
            target: clock.target.label().to_string(),
            due: format::when(clock.due_at),
            late: late.clone(),
            text: d.text.clone().unwrap_or_else(|| "(no text)".into()),
            link: format!("{}/conversations/{}", base.trim_end_matches('/'), d.id),
            why: if level >= 2 {
                "You get this because you are named for second-level escalations of this team's SLA policy.".into()
            } else {
                format!(
                    "You get this because you lead team {team}. Acknowledge it on the breaches page."
                )
            },
        };
        let html = EscalationHtml { v: &view };
        let subject = format!(
            "{}: {} reply waiting, {late} (team {team})",
            if level >= 2 {
                "Escalation"
            } else {
                "SLA breached"
            },
            d.category.label()
        );
        Email::new(
            to,
            subject,
            view.render().unwrap_or_default(),
            html.render().unwrap_or_default(),
        )
    }
}

#[derive(Template)]
#[template(path = "email/escalation.txt")]
struct EscalationText {
    intro: String,
    category: String,
    contact: String,
    team: String,
    assignee: String,
    target: String,
    due: String,
    late: String,
    text: String,
    link: String,
    why: String,
}

#[derive(Template)]
#[template(path = "email/escalation.html")]
struct EscalationHtml<'a> {
    v: &'a EscalationText,
}

impl std::ops::Deref for EscalationHtml<'_> {
    type Target = EscalationText;
    fn deref(&self) -> &EscalationText {
        self.v
    }
}

/// Takes the conversations whose next instant has come.
async fn claim(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    now: Millis,
) -> StoreResult<Vec<Due>> {
    let lock = match backend {
        Backend::Postgres => "FOR UPDATE OF c SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT c.id, c.status, c.team, c.assignee, c.category, c.sla_target, c.at_risk_at, c.due_at, c.level2_at, \
                c.last_text, k.name, k.phone \
         FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id \
         WHERE c.next_check_at IS NOT NULL AND c.next_check_at <= $1 ORDER BY c.next_check_at LIMIT {BATCH} {lock}"
    );
    let rows = sqlx::query(&sql).bind(now).fetch_all(&mut **tx).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let target: Option<String> = r.try_get("sla_target")?;
        let times: (Option<Millis>, Option<Millis>, Option<Millis>) = (
            r.try_get("at_risk_at")?,
            r.try_get("due_at")?,
            r.try_get("level2_at")?,
        );
        let clock = match (target.as_deref().and_then(Target::parse), times) {
            (Some(target), (Some(at_risk_at), Some(due_at), Some(level2_at))) => Some(SlaClock {
                target,
                at_risk_at,
                due_at,
                level2_at,
            }),
            _ => None,
        };
        let category: String = r.try_get("category")?;
        let name: Option<String> = r.try_get("name")?;
        let phone: Option<String> = r.try_get("phone")?;
        out.push(Due {
            id: r.try_get("id")?,
            status: r.try_get("status")?,
            team: r.try_get("team")?,
            assignee: r.try_get("assignee")?,
            category: Category::parse(&category).unwrap_or(Category::Service),
            clock,
            text: r.try_get("last_text")?,
            contact: name
                .or_else(|| phone.as_deref().map(format::mask_phone))
                .unwrap_or_else(|| "an unknown contact".into()),
        });
    }
    Ok(out)
}

/// Writes a transition; false when it was already recorded.
async fn record(
    tx: &mut Transaction<'static, Any>,
    d: &Due,
    clock: &SlaClock,
    level: u8,
    kind: &str,
    now: Millis,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO sla_events (id, conversation_id, target, kind, level, due_at, at, team, assignee) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (conversation_id, target, level, due_at) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&d.id)
    .bind(clock.target.as_str())
    .bind(kind)
    .bind(i64::from(level))
    .bind(clock.due_at)
    .bind(now)
    .bind(&d.team)
    .bind(&d.assignee)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
