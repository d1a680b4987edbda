//! The reports page for leads and admins: the period's numbers, two charts
//! drawn on the server with their tables beside them, a CSV download per
//! table, and the Attention panel of alerts with acknowledge.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, htmx, render};
use crate::reports::alerts::{self, AlertView};
use crate::reports::charts::{self, Funnel, LineChart};
use crate::reports::tables::{self, Cell, Table};
use crate::reports::{self, GroupBy, Period, Report, ReportsError};
use crate::web::format;
use crate::web::session::Lead;
use crate::web::{AppState, WebError};

impl From<ReportsError> for WebError {
    fn from(error: ReportsError) -> Self {
        match error {
            ReportsError::Store(e) => e.into(),
            other => WebError::Internal(other.to_string()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    table: Option<String>,
}

impl ReportQuery {
    fn read(&self, now: i64) -> Result<(Period, GroupBy), WebError> {
        let period = Period::parse(self.from.as_deref(), self.to.as_deref(), now)
            .map_err(|e| WebError::bad(e.field, e.message))?;
        let by = match self.by.as_deref().filter(|b| !b.is_empty()) {
            None => GroupBy::default(),
            Some(b) => GroupBy::parse(b).ok_or_else(|| {
                WebError::bad("by", "group by journey, campaign, template or team")
            })?,
        };
        Ok((period, by))
    }
}

pub struct CellView {
    text: String,
    number: bool,
}

pub struct TableView {
    id: &'static str,
    title: &'static str,
    caption: String,
    headers: Vec<String>,
    rows: Vec<Vec<CellView>>,
    csv: String,
}

pub struct Tile {
    label: String,
    value: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    chrome: Chrome,
    from: String,
    to: String,
    /// (value, selected)
    groupings: Vec<(&'static str, bool)>,
    refreshed: String,
    tiles: Vec<Tile>,
    daily: LineChart,
    funnel: Funnel,
    tables: Vec<TableView>,
    alerts: Vec<AlertRow>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "reports.html", block = "attention")]
struct AttentionPanel<'a> {
    alerts: &'a [AlertRow],
    csrf: &'a str,
}

pub struct AlertRow {
    id: String,
    label: &'static str,
    scope: String,
    owner: String,
    summary: String,
    when: String,
    iso: String,
}

fn alert_rows(alerts: Vec<AlertView>) -> Vec<AlertRow> {
    alerts
        .into_iter()
        .map(|a| AlertRow {
            when: format::when(a.at),
            iso: format::iso(a.at),
            owner: a.owner.unwrap_or_else(|| "no owner".into()),
            id: a.id,
            label: a.label,
            scope: a.scope,
            summary: a.summary,
        })
        .collect()
}

fn query_string(report: &Report) -> String {
    serde_urlencoded::to_string([
        ("from", report.period.from_label()),
        ("to", report.period.to_label()),
        ("by", report.by.as_str().to_string()),
    ])
    .unwrap_or_default()
}

fn table_view(t: Table, query: &str) -> TableView {
    TableView {
        csv: format!("/reports.csv?table={}&{query}", t.id),
        id: t.id,
        title: t.title,
        caption: t.caption,
        headers: t.headers,
        rows: t
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c: &Cell| CellView {
                        text: c.display(),
                        number: c.is_number(),
                    })
                    .collect()
            })
            .collect(),
    }
}

fn build(report: &Report, chrome: Chrome, alerts: Vec<AlertRow>) -> ReportsPage {
    let query = query_string(report);
    let mut all = tables::tables(report);
    let tiles = all
        .iter()
        .find(|t| t.id == "summary")
        .map(|t| {
            t.rows
                .iter()
                .filter_map(|r| match (r.first(), r.get(1)) {
                    (Some(Cell::Text(label)), Some(v)) => Some(Tile {
                        label: label.clone(),
                        value: v.display(),
                    }),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let tables = all.drain(..).map(|t| table_view(t, &query)).collect();
    ReportsPage {
        csrf: chrome.csrf.clone(),
        chrome,
        from: report.period.from_label(),
        to: report.period.to_label(),
        groupings: GroupBy::ALL
            .iter()
            .map(|g| (g.as_str(), *g == report.by))
            .collect(),
        refreshed: report
            .refreshed_at
            .map_or_else(|| "not yet".into(), format::when),
        tiles,
        daily: charts::daily(report),
        funnel: charts::funnel(report),
        tables,
        alerts,
    }
}

/// Whose numbers a person may read: a lead their teams', an administrator all.
fn audience(current: &crate::web::session::CurrentUser) -> Option<&[String]> {
    (!current.user.is_admin()).then_some(current.user.teams.as_slice())
}

/// `/reports`: the numbers for a period (default: the last 30 days).
pub async fn page(
    State(state): State<AppState>,
    Lead(current): Lead,
    Query(q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let (period, by) = q.read(state.clock.now_ms())?;
    let report = reports::load(&state.db, &state.config, period, by, audience(&current)).await?;
    let alerts = alert_rows(alerts::open_alerts(&state.db, &current.user).await?);
    let chrome = Chrome::for_user(&state, &current, "reports").await;
    Ok(render(&build(&report, chrome, alerts)))
}

/// `/reports.csv?table=…`: one table of the page as CSV.
pub async fn csv(
    State(state): State<AppState>,
    Lead(current): Lead,
    Query(q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let (period, by) = q.read(state.clock.now_ms())?;
    let id = q.table.as_deref().unwrap_or_default();
    if !tables::TABLE_IDS.contains(&id) {
        return Err(WebError::bad(
            "table",
            format!("table must be one of {}", tables::TABLE_IDS.join(", ")),
        ));
    }
    let report = reports::load(&state.db, &state.config, period, by, audience(&current)).await?;
    let table = tables::table(&report, id).ok_or(WebError::NotFound("table"))?;
    let body = table
        .to_csv()
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let name = format!(
        "attachment; filename=\"replydesk-{id}-{}-{}.csv\"",
        period.from_label(),
        period.to_label()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

/// The Attention panel alone, for pages that load it with htmx (the queue).
pub async fn attention(
    State(state): State<AppState>,
    Lead(current): Lead,
) -> Result<Response, WebError> {
    let alerts = alert_rows(alerts::open_alerts(&state.db, &current.user).await?);
    Ok(render(&AttentionPanel {
        alerts: &alerts,
        csrf: &current.csrf,
    }))
}

/// Acknowledges an alert; htmx gets the panel back, a plain form the page.
pub async fn acknowledge(
    State(state): State<AppState>,
    Lead(current): Lead,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let done = alerts::acknowledge(&state.db, &current.user, &id, state.clock.now_ms()).await?;
    if !done {
        return Err(WebError::NotFound("open alert"));
    }
    if !htmx(&headers) {
        return Ok(Redirect::to("/reports#attention").into_response());
    }
    let alerts = alert_rows(alerts::open_alerts(&state.db, &current.user).await?);
    Ok(render(&AttentionPanel {
        alerts: &alerts,
        csrf: &current.csrf,
    }))
}
