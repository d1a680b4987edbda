//! The lead's page for SLA breaches: what waits now, what was escalated and
//! whether the email went out, acknowledgements, and the weekly breach rate.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, render};
use crate::sla::report;
use crate::web::chart::{self, Bar};
use crate::web::format;
use crate::web::session::Lead;
use crate::web::{AppState, WebError};

pub struct WaitingView {
    id: String,
    contact: String,
    category: String,
    team: String,
    assignee: String,
    target: String,
    state: String,
    class: &'static str,
}

pub struct EscalationView {
    id: String,
    when: String,
    conversation_id: String,
    target: String,
    team: String,
    assignee: String,
    level: i64,
    delivery: String,
    failing: bool,
    last_error: Option<String>,
    acknowledged_by: Option<String>,
    ack_comment: Option<String>,
}

pub struct RateView {
    team: String,
    week: String,
    opened: i64,
    breached: i64,
    rate: String,
}

#[derive(Template)]
#[template(path = "breaches.html")]
struct BreachesPage {
    chrome: Chrome,
    message: Option<String>,
    waiting: Vec<WaitingView>,
    escalations: Vec<EscalationView>,
    rates: Vec<RateView>,
    chart: String,
}

async fn build(
    state: &AppState,
    lead: &Lead,
    message: Option<String>,
) -> Result<BreachesPage, WebError> {
    let user = &lead.0.user;
    let now = state.clock.now_ms();
    let all: Vec<String> = state.config.teams.iter().map(|t| t.name.clone()).collect();
    let waiting = report::waiting(&state.db, user, &all, now).await?;
    let escalations = report::escalations(&state.db, user, &all, now - 14 * 86_400_000).await?;
    let rates = report::weekly_rates(&state.db, user, &all, now - 8 * 7 * 86_400_000).await?;
    let bars: Vec<Bar> = rates
        .iter()
        .map(|r| {
            let share = if r.opened > 0 {
                r.breached as f64 / r.opened as f64
            } else {
                0.0
            };
            Bar {
                label: format!("{} · {}", r.team, &format::when(r.week)[..10]),
                value: share,
                text: format!("{:.0}%", share * 100.0),
            }
        })
        .collect();
    Ok(BreachesPage {
        chrome: Chrome::for_user(state, &lead.0, "breaches").await,
        message,
        waiting: waiting
            .into_iter()
            .map(|w| {
                let (state, class) = format::sla(Some(w.due_at), Some(now), now);
                WaitingView {
                    id: w.id,
                    contact: w.contact,
                    category: w.category,
                    team: w.team.unwrap_or_default(),
                    assignee: w.assignee.unwrap_or_else(|| "unassigned".into()),
                    target: w.target.unwrap_or_default().replace('_', " "),
                    state: if w.breached {
                        state
                    } else {
                        format!("at risk: {state}")
                    },
                    class,
                }
            })
            .collect(),
        escalations: escalations
            .into_iter()
            .map(|e| EscalationView {
                when: format::when(e.at),
                failing: e.delivery == "pending" && e.attempts > 0,
                delivery: match (e.delivery.as_str(), e.attempts) {
                    ("pending", 0) => "queued".into(),
                    ("pending", n) => format!("retrying ({n} attempts)"),
                    (other, _) => other.to_string(),
                },
                id: e.id,
                conversation_id: e.conversation_id,
                target: e.target.replace('_', " "),
                team: e.team.unwrap_or_default(),
                assignee: e.assignee.unwrap_or_else(|| "unassigned".into()),
                level: e.level,
                last_error: e.last_error,
                acknowledged_by: e.acknowledged_by,
                ack_comment: e.ack_comment,
            })
            .collect(),
        rates: rates
            .iter()
            .map(|r| RateView {
                team: r.team.clone(),
                week: format::when(r.week)[..10].to_string(),
                opened: r.opened,
                breached: r.breached,
                rate: if r.opened > 0 {
                    format!("{:.0}%", r.breached as f64 * 100.0 / r.opened as f64)
                } else {
                    "-".into()
                },
            })
            .collect(),
        chart: chart::bars(
            "Breach rate per team per week",
            "Share of conversations that breached their SLA, by team and week",
            &bars,
        ),
    })
}

pub async fn page(State(state): State<AppState>, lead: Lead) -> Result<Response, WebError> {
    Ok(render(&build(&state, &lead, None).await?))
}

#[derive(Deserialize)]
pub struct AckForm {
    comment: String,
}

/// Acknowledges an escalation with a comment.
pub async fn acknowledge(
    State(state): State<AppState>,
    lead: Lead,
    Path(id): Path<String>,
    Form(form): Form<AckForm>,
) -> Result<Response, WebError> {
    let comment = form.comment.trim();
    if comment.is_empty() {
        return Err(WebError::bad("comment", "say what was done about it"));
    }
    let all: Vec<String> = state.config.teams.iter().map(|t| t.name.clone()).collect();
    if !report::acknowledge(
        &state.db,
        &lead.0.user,
        &all,
        &id,
        comment,
        state.clock.now_ms(),
    )
    .await?
    {
        return Err(WebError::Conflict(
            "this escalation was already acknowledged, or is not one of your teams'".into(),
        ));
    }
    Ok(Redirect::to("/breaches").into_response())
}
