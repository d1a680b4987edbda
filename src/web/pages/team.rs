//! The lead's view of their teams' load.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use sqlx::Row;

use super::{Chrome, render};
use crate::auth::users;
use crate::web::session::Lead;
use crate::web::{AppState, WebError};

pub struct AgentLoad {
    email: String,
    away: bool,
    open: i64,
    overdue: i64,
}

pub struct TeamLoad {
    name: String,
    agents: Vec<AgentLoad>,
    unassigned: i64,
    unassigned_overdue: i64,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    teams: Vec<TeamLoad>,
}

pub async fn page(
    State(state): State<AppState>,
    Lead(current): Lead,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let names: Vec<String> = if current.user.is_admin() {
        state.config.teams.iter().map(|t| t.name.clone()).collect()
    } else {
        current.user.teams.clone()
    };
    let mut teams = Vec::new();
    for name in names {
        let rows = sqlx::query(
            "SELECT assignee, COUNT(*), COALESCE(SUM(CASE WHEN due_at < $2 THEN 1 ELSE 0 END), 0) \
             FROM conversations WHERE team = $1 AND status = 'open' GROUP BY assignee",
        )
        .bind(&name)
        .bind(now)
        .fetch_all(state.db.reader())
        .await
        .map_err(crate::store::StoreError::from)?;
        let mut load = TeamLoad {
            name: name.clone(),
            agents: Vec::new(),
            unassigned: 0,
            unassigned_overdue: 0,
        };
        for email in users::team_members(&state.db, &state.config, &name).await? {
            let away = users::is_away(&state.db, &email).await?;
            load.agents.push(AgentLoad {
                email,
                away,
                open: 0,
                overdue: 0,
            });
        }
        for r in rows {
            let who: Option<String> = r.try_get(0).map_err(crate::store::StoreError::from)?;
            let (open, overdue): (i64, i64) = (
                r.try_get(1).map_err(crate::store::StoreError::from)?,
                r.try_get(2).map_err(crate::store::StoreError::from)?,
            );
            match who {
                None => (load.unassigned, load.unassigned_overdue) = (open, overdue),
                Some(email) => match load.agents.iter_mut().find(|a| a.email == email) {
                    Some(a) => (a.open, a.overdue) = (open, overdue),
                    None => load.agents.push(AgentLoad {
                        email,
                        away: false,
                        open,
                        overdue,
                    }),
                },
            }
        }
        teams.push(load);
    }
    Ok(render(&TeamPage {
        chrome: Chrome::for_user(&state, &current, "team").await,
        teams,
    }))
}
